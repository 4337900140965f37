//! Sessions of the office domain's services, shared by the background
//! (benign file access, logons, mail, DHCP, a database client) and the
//! attack scenarios (PsExec, Kerberoasting, spraying, DHCP starvation,
//! mail out): SMB2 with NTLM, Kerberos over UDP and TCP, SMTP, DHCP,
//! MySQL.

use crate::net::Host;
use crate::proto::kerberos;
use crate::proto::mail;
use crate::proto::windows::{self as win, Smb2};
use crate::rng::Rng;
use crate::sessions::{self, Timed, MS};
use crate::tcp::Msg;

/// The domain's NetBIOS name and Kerberos realm.
pub const DOMAIN: &str = "CORP";
/// The Kerberos realm.
pub const REALM: &str = "CORP.LOCAL";

/// What one SMB2 session does after logging on.
pub enum SmbOp<'a> {
    /// Connect a tree (`\\server\share`); `ipc` for `IPC$`.
    Tree(&'a str, bool),
    /// Open a file and read `size` bytes of it.
    Read(&'a str, usize),
    /// Create a file and write `size` bytes.
    Write(&'a str, usize),
    /// Open the named pipe, bind `iface`, and call each opnum.
    Rpc(&'a str, &'a str, &'a [u16]),
}

fn pair(m: &mut Vec<Msg>, req: Vec<u8>, resp: Vec<u8>, rng: &mut Rng) {
    m.push(Msg::client(rng.range(1, 30) * MS, req));
    m.push(Msg::server(rng.range(1, 5) * MS, resp));
}

/// The messages of an SMB2 session: NEGOTIATE, an NTLM logon of
/// `DOMAIN\user` from `workstation` (refused when `!accepted`, and then
/// nothing more), then `ops`.
pub fn smb_session(
    now_ns: u64,
    user: &str,
    workstation: &str,
    accepted: bool,
    ops: &[SmbOp<'_>],
    rng: &mut Rng,
) -> Vec<Msg> {
    let mut s = Smb2::new(rng);
    let mut m = vec![
        Msg::client(0, crate::proto::smb::negotiate_request(rng)),
        Msg::server(
            rng.range(1, 5) * MS,
            crate::proto::smb::negotiate_response(now_ns, rng),
        ),
    ];
    let (req, mid) = s.session_setup(&win::spnego_negotiate());
    let resp = s.session_setup_response(
        mid,
        win::STATUS_MORE_PROCESSING,
        &win::spnego_challenge(DOMAIN, rng),
    );
    pair(&mut m, req, resp, rng);
    let (req, mid) = s.session_setup(&win::spnego_authenticate(DOMAIN, user, workstation, rng));
    let status = if accepted {
        win::STATUS_SUCCESS
    } else {
        win::STATUS_LOGON_FAILURE
    };
    let resp = s.session_setup_response(mid, status, &win::spnego_result(accepted));
    pair(&mut m, req, resp, rng);
    if !accepted {
        return m;
    }
    let mut call = 1u32;
    for op in ops {
        match *op {
            SmbOp::Tree(path, ipc) => {
                let (req, mid) = s.tree_connect(path);
                let resp = s.tree_connect_response(mid, ipc, rng);
                pair(&mut m, req, resp, rng);
            }
            SmbOp::Read(name, size) => {
                let (req, mid) = s.create(name, false);
                let (resp, id) = s.create_response(mid, size as u64, rng);
                pair(&mut m, req, resp, rng);
                let mut off = 0;
                while off < size {
                    let n = (size - off).min(65_536);
                    let (req, mid) = s.read(&id, off as u64, n as u32);
                    let resp = s.read_response(mid, &rng.bytes(n));
                    pair(&mut m, req, resp, rng);
                    off += n;
                }
                let (req, mid) = s.close(&id);
                let resp = s.close_response(mid);
                pair(&mut m, req, resp, rng);
            }
            SmbOp::Write(name, size) => {
                let (req, mid) = s.create(name, true);
                let (resp, id) = s.create_response(mid, 0, rng);
                pair(&mut m, req, resp, rng);
                let mut off = 0;
                while off < size {
                    let n = (size - off).min(65_536);
                    let (req, mid) = s.write(&id, off as u64, &rng.bytes(n));
                    let resp = s.write_response(mid, n as u32);
                    pair(&mut m, req, resp, rng);
                    off += n;
                }
                let (req, mid) = s.close(&id);
                let resp = s.close_response(mid);
                pair(&mut m, req, resp, rng);
            }
            SmbOp::Rpc(pipe, iface, opnums) => {
                let (req, mid) = s.create(pipe, false);
                let (resp, id) = s.create_response(mid, 0, rng);
                pair(&mut m, req, resp, rng);
                let bind = win::rpc_bind(call, iface, 2);
                let (req, mid) = s.write(&id, 0, &bind);
                let resp = s.write_response(mid, bind.len() as u32);
                pair(&mut m, req, resp, rng);
                let (req, mid) = s.read(&id, 0, 1024);
                let resp = s.read_response(mid, &win::rpc_bind_ack(call, pipe));
                pair(&mut m, req, resp, rng);
                for &op in opnums {
                    call += 1;
                    let stub = win::svcctl_stub(op, true, "PSEXESVC", "%SystemRoot%\\PSEXESVC.exe");
                    let r = win::rpc_request(call, op, &stub);
                    let (req, mid) = s.write(&id, 0, &r);
                    let resp = s.write_response(mid, r.len() as u32);
                    pair(&mut m, req, resp, rng);
                    let (req, mid) = s.read(&id, 0, 1024);
                    let answer = win::svcctl_stub(op, false, "", "");
                    let resp = s.read_response(mid, &win::rpc_response(call, &answer));
                    pair(&mut m, req, resp, rng);
                }
                let (req, mid) = s.close(&id);
                let resp = s.close_response(mid);
                pair(&mut m, req, resp, rng);
            }
        }
    }
    m
}

/// One Kerberos exchange over UDP 88 from `client` to the KDC `dc` at `t`:
/// the request and the answer, `think` apart.
pub fn krb_udp(
    rng: &mut Rng,
    client: &Host,
    dc: &Host,
    t: u64,
    req: &[u8],
    answer: &[u8],
) -> Vec<Timed> {
    let sport = sessions::ephemeral_port(rng, client);
    let mut v: Vec<Timed> = sessions::udp_frames(rng, client, dc, sport, 88, req)
        .into_iter()
        .map(|f| (t, f))
        .collect();
    let back = t + rng.range(1, 4) * MS;
    v.extend(
        sessions::udp_frames(rng, dc, client, 88, sport, answer)
            .into_iter()
            .map(|f| (back, f)),
    );
    v
}

/// A benign logon: AS-REQ with pre-authentication and its AS-REP, then a
/// TGS-REQ for `spn` and its TGS-REP, all in AES.
pub fn krb_logon(
    rng: &mut Rng,
    client: &Host,
    dc: &Host,
    t: u64,
    user: &str,
    spn: &str,
) -> Vec<Timed> {
    let aes = [kerberos::AES256, kerberos::AES128, kerberos::RC4];
    let as_req = kerberos::as_req(user, REALM, true, &aes, rng);
    let as_rep = kerberos::rep(
        true,
        user,
        REALM,
        &format!("krbtgt/{REALM}"),
        kerberos::AES256,
        rng,
    );
    let mut v = krb_udp(rng, client, dc, t, &as_req, &as_rep);
    let tgs_req = kerberos::tgs_req(REALM, spn, &aes, rng);
    let tgs_rep = kerberos::rep(false, user, REALM, spn, kerberos::AES256, rng);
    v.extend(krb_udp(rng, client, dc, t + 20 * MS, &tgs_req, &tgs_rep));
    v
}

/// The messages of an SMTP session (see [`mail::smtp_session`]).
pub fn smtp_messages(lines: Vec<(bool, Vec<u8>)>, rng: &mut Rng) -> Vec<Msg> {
    lines
        .into_iter()
        .map(|(client, b)| {
            let think = if client {
                rng.range(1, 20)
            } else {
                rng.range(1, 8)
            } * MS;
            if client {
                Msg::client(think, b)
            } else {
                Msg::server(think, b)
            }
        })
        .collect()
}

/// A MySQL login of `user` and its outcome, then a query or two.
pub fn mysql_messages(user: &str, ok: bool, rng: &mut Rng) -> Vec<Msg> {
    let mut m = vec![
        Msg::server(MS, mail::mysql_greeting(rng)),
        Msg::client(2 * MS, mail::mysql_login(user, "inventory", rng)),
        Msg::server(MS, mail::mysql_result(2, ok, user)),
    ];
    if ok {
        m.push(Msg::client(
            5 * MS,
            mail::mysql_packet(0, b"\x03SELECT id, name FROM items WHERE qty < 10"),
        ));
        m.push(Msg::server(3 * MS, mail::mysql_packet(1, &rng.bytes(200))));
    }
    m
}
