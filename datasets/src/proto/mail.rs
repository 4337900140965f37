//! SMTP (RFC 5321) conversations and MIME messages with attachments, and
//! the DHCP and MySQL messages of an office's other services.

use crate::proto::http::base64;
use crate::rng::Rng;

/// A MIME message of `text` with one attachment `name` of `size` random
/// bytes (base64 in 76-character lines).
pub fn mime_message(
    from: &str,
    to: &str,
    subject: &str,
    name: &str,
    size: usize,
    rng: &mut Rng,
) -> Vec<u8> {
    let boundary = format!("----=_Part_{:08x}", rng.next_u32());
    let mut m = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease find the file attached.\r\n--{boundary}\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n"
    );
    let b64 = base64(&rng.bytes(size));
    for line in b64.as_bytes().chunks(76) {
        m.push_str(std::str::from_utf8(line).unwrap_or(""));
        m.push_str("\r\n");
    }
    m.push_str(&format!("--{boundary}--\r\n"));
    m.into_bytes()
}

/// The client's and server's lines of one SMTP transaction, in order:
/// (from the client, bytes). `auth` is (user, password) for `AUTH LOGIN`.
pub fn smtp_session(
    server_name: &str,
    helo: &str,
    auth: Option<(&str, &str)>,
    from: &str,
    to: &[&str],
    message: &[u8],
) -> Vec<(bool, Vec<u8>)> {
    let mut v = vec![
        (false, format!("220 {server_name} ESMTP ready\r\n").into_bytes()),
        (true, format!("EHLO {helo}\r\n").into_bytes()),
        (false, format!("250-{server_name}\r\n250-SIZE 52428800\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n").into_bytes()),
    ];
    if let Some((user, pass)) = auth {
        v.push((true, b"AUTH LOGIN\r\n".to_vec()));
        v.push((false, b"334 VXNlcm5hbWU6\r\n".to_vec()));
        v.push((
            true,
            format!("{}\r\n", base64(user.as_bytes())).into_bytes(),
        ));
        v.push((false, b"334 UGFzc3dvcmQ6\r\n".to_vec()));
        v.push((
            true,
            format!("{}\r\n", base64(pass.as_bytes())).into_bytes(),
        ));
        v.push((false, b"235 2.7.0 Authentication successful\r\n".to_vec()));
    }
    v.push((
        true,
        format!("MAIL FROM:<{from}> SIZE={}\r\n", message.len()).into_bytes(),
    ));
    v.push((false, b"250 2.1.0 Ok\r\n".to_vec()));
    for r in to {
        v.push((true, format!("RCPT TO:<{r}>\r\n").into_bytes()));
        v.push((false, b"250 2.1.5 Ok\r\n".to_vec()));
    }
    v.push((true, b"DATA\r\n".to_vec()));
    v.push((false, b"354 End data with <CR><LF>.<CR><LF>\r\n".to_vec()));
    let mut body = message.to_vec();
    body.extend_from_slice(b".\r\n");
    v.push((true, body));
    v.push((false, b"250 2.0.0 Ok: queued\r\n".to_vec()));
    v.push((true, b"QUIT\r\n".to_vec()));
    v.push((false, b"221 2.0.0 Bye\r\n".to_vec()));
    v
}

/// A DHCP message (RFC 2131) of `msg_type` from `mac`, with a host name.
pub fn dhcp(
    msg_type: u8,
    xid: u32,
    mac: [u8; 6],
    hostname: Option<&str>,
    yiaddr: [u8; 4],
    server: Option<[u8; 4]>,
) -> Vec<u8> {
    let mut b = vec![0u8; 236];
    b[0] = if matches!(msg_type, 2 | 5 | 6) { 2 } else { 1 };
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&xid.to_be_bytes());
    b[10] = 0x80; // broadcast
    b[16..20].copy_from_slice(&yiaddr);
    b[28..34].copy_from_slice(&mac);
    b.extend([99, 130, 83, 99]);
    b.extend([53, 1, msg_type]);
    if let Some(h) = hostname {
        b.extend([12, h.len() as u8]);
        b.extend(h.as_bytes());
        b.extend([60, 8]);
        b.extend(b"MSFT 5.0");
    }
    if let Some(s) = server {
        b.extend([54, 4]);
        b.extend(s);
        b.extend([51, 4, 0, 1, 0x51, 0x80]);
        b.extend([1, 4, 255, 255, 255, 0]);
    }
    b.push(255);
    b
}

/// A MySQL server greeting (protocol 10).
pub fn mysql_greeting(rng: &mut Rng) -> Vec<u8> {
    let mut g = vec![10];
    g.extend_from_slice(b"8.0.36\0");
    g.extend_from_slice(&rng.next_u32().to_le_bytes());
    g.extend(rng.bytes(8));
    g.push(0);
    g.extend_from_slice(&0xffffu16.to_le_bytes());
    g.push(255);
    g.extend_from_slice(&2u16.to_le_bytes());
    g.extend_from_slice(&0xdfffu16.to_le_bytes());
    g.push(21);
    g.extend_from_slice(&[0u8; 10]);
    g.extend(rng.bytes(12));
    g.push(0);
    g.extend_from_slice(b"caching_sha2_password\0");
    mysql_packet(0, &g)
}

/// A MySQL handshake response for `user` (the scramble is random bytes).
pub fn mysql_login(user: &str, db: &str, rng: &mut Rng) -> Vec<u8> {
    let mut b = (0x000a_a20du32 | 0x200 | 0x8).to_le_bytes().to_vec();
    b.extend_from_slice(&0x0100_0000u32.to_le_bytes());
    b.push(255);
    b.extend_from_slice(&[0u8; 23]);
    b.extend_from_slice(user.as_bytes());
    b.push(0);
    b.push(32);
    b.extend(rng.bytes(32));
    b.extend_from_slice(db.as_bytes());
    b.push(0);
    b.extend_from_slice(b"caching_sha2_password\0");
    mysql_packet(1, &b)
}

/// MySQL's OK (`ok`) or access-denied ERR for `user`.
pub fn mysql_result(seq: u8, ok: bool, user: &str) -> Vec<u8> {
    if ok {
        mysql_packet(seq, &[0, 0, 0, 2, 0, 0, 0])
    } else {
        let mut e = vec![0xff, 0x15, 0x04];
        e.extend_from_slice(
            format!("#28000Access denied for user '{user}'@'10.10.1.1' (using password: YES)")
                .as_bytes(),
        );
        mysql_packet(seq, &e)
    }
}

/// A MySQL packet: 3-byte length, sequence number, payload.
pub fn mysql_packet(seq: u8, body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(body);
    v
}
