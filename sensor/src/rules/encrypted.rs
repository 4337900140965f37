//! When a flow's payload turns to ciphertext. Suricata's default
//! `encryption-handling` stops inspecting the payload of a TLS flow once
//! application data flows (`APP_LAYER_PARSER_NO_INSPECTION_PAYLOAD`), and
//! of an SSH flow once both sides have sent NEWKEYS; content rules then
//! meet only what came before, while header rules and the application
//! buffers (certificates, fingerprints) still match. Mekong does the same,
//! so its alerts agree and no ciphertext is scanned for patterns.
//!
//! The walk reads record and packet headers only (TLS: 5-byte records;
//! SSH: the banner line, then 4-byte packet lengths and the message code),
//! from in-order stream bytes delivered in pieces.

use mekong_signatures::App;

/// TLS record type of application data.
const TLS_APPLICATION_DATA: u8 = 23;
/// TLS record type of handshake messages.
const TLS_HANDSHAKE: u8 = 22;
/// SSH message code of NEWKEYS.
const SSH_NEWKEYS: u8 = 21;
/// Header bytes gathered before a decision: TLS 5, SSH 6.
const HDR: usize = 6;

/// One direction's walk.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    /// Stream offset of the next record or packet header.
    next: u64,
    /// Bytes of that header gathered so far.
    hdr: [u8; HDR],
    have: u8,
    /// SSH: the banner line has ended.
    banner_done: bool,
    /// The walk has stopped (NEWKEYS sent, or bytes that are not the
    /// protocol).
    stopped: bool,
    /// TLS: a handshake record was seen from this side.
    handshake: bool,
    /// SSH: NEWKEYS was sent.
    newkeys: bool,
}

/// A flow's walk of both directions.
#[derive(Clone, Copy, Debug, Default)]
pub struct Encryption {
    sides: [Side; 2],
    /// The payload is ciphertext from here on.
    pub encrypted: bool,
}

impl Encryption {
    /// Walks `bytes` at stream `offset` of direction `dir` of a flow of
    /// `app`; true when the flow has just turned encrypted.
    pub fn feed(&mut self, app: Option<App>, dir: usize, offset: u64, bytes: &[u8]) -> bool {
        if self.encrypted || dir > 1 {
            return false;
        }
        match app {
            Some(App::Tls) => self.tls(dir, offset, bytes),
            Some(App::Ssh) => self.ssh(dir, offset, bytes),
            _ => {}
        }
        self.encrypted
    }

    /// Gathers header bytes at the side's next header; returns the header
    /// when `need` bytes are in, and the stream offset just past them.
    fn gather(s: &mut Side, offset: u64, bytes: &[u8], need: usize) -> Option<([u8; HDR], u64)> {
        let end = offset + bytes.len() as u64;
        let at = s.next + u64::from(s.have);
        if at < offset || at >= end {
            return None;
        }
        let mut i = (at - offset) as usize;
        while usize::from(s.have) < need && i < bytes.len() {
            s.hdr[usize::from(s.have)] = bytes[i];
            s.have += 1;
            i += 1;
        }
        (usize::from(s.have) == need).then(|| (s.hdr, s.next + need as u64))
    }

    fn tls(&mut self, dir: usize, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        loop {
            let s = &mut self.sides[dir];
            if s.stopped || s.next >= end {
                return;
            }
            let Some((h, body)) = Self::gather(s, offset, bytes, 5) else {
                return;
            };
            s.have = 0;
            // A record header: type 20..=24, version 3.x.
            if !(20..=24).contains(&h[0]) || h[1] != 3 {
                s.stopped = true;
                return;
            }
            let len = u64::from(u16::from_be_bytes([h[3], h[4]]));
            s.next = body + len;
            if h[0] == TLS_HANDSHAKE {
                s.handshake = true;
            }
            // Application data once the server has spoken (TLS 1.3 early
            // data before the ServerHello does not end the handshake).
            if h[0] == TLS_APPLICATION_DATA && self.sides[1].handshake {
                self.encrypted = true;
                return;
            }
        }
    }

    fn ssh(&mut self, dir: usize, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        let s = &mut self.sides[dir];
        if !s.banner_done {
            let start = s.next.max(offset);
            if start >= end {
                return;
            }
            let from = (start - offset) as usize;
            match bytes[from..].iter().position(|&b| b == b'\n') {
                Some(p) => {
                    s.banner_done = true;
                    s.next = start + p as u64 + 1;
                }
                None => {
                    s.next = end;
                    return;
                }
            }
        }
        loop {
            let s = &mut self.sides[dir];
            if s.stopped || s.newkeys || s.next >= end {
                break;
            }
            let Some((h, _)) = Self::gather(s, offset, bytes, 6) else {
                break;
            };
            s.have = 0;
            let len = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
            if !(5..=35_000).contains(&len) {
                s.stopped = true;
                break;
            }
            s.next += 4 + len;
            if h[5] == SSH_NEWKEYS {
                s.newkeys = true;
            }
        }
        if self.sides[0].newkeys && self.sides[1].newkeys {
            self.encrypted = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(t: u8, body: usize) -> Vec<u8> {
        let mut v = vec![t, 3, 3, (body >> 8) as u8, body as u8];
        v.extend(std::iter::repeat_n(0xaa, body));
        v
    }

    #[test]
    fn tls_turns_encrypted_at_application_data_after_the_server_hello() {
        let mut e = Encryption::default();
        let client: Vec<u8> = record(22, 300);
        let mut server = record(22, 90);
        server.extend(record(20, 1));
        server.extend(record(22, 40));
        assert!(!e.feed(Some(App::Tls), 0, 0, &client));
        // Delivered in pieces that cut headers in two.
        let (a, b) = server.split_at(93);
        assert!(!e.feed(Some(App::Tls), 1, 0, a));
        assert!(!e.feed(Some(App::Tls), 1, 93, b));
        assert!(!e.encrypted);
        let app = record(23, 500);
        let at = client.len() as u64;
        assert!(!e.feed(Some(App::Tls), 0, at, &app[..3]));
        assert!(e.feed(Some(App::Tls), 0, at + 3, &app[3..]));
        assert!(e.encrypted);
    }

    #[test]
    fn early_data_before_the_server_hello_is_not_the_end() {
        let mut e = Encryption::default();
        let mut client = record(22, 200);
        client.extend(record(23, 50));
        e.feed(Some(App::Tls), 0, 0, &client);
        assert!(!e.encrypted);
    }

    #[test]
    fn bytes_that_are_not_tls_stop_the_walk() {
        let mut e = Encryption::default();
        e.feed(Some(App::Tls), 1, 0, b"HTTP/1.1 200 OK\r\n\r\n");
        e.feed(Some(App::Tls), 0, 0, &record(23, 10));
        assert!(!e.encrypted);
    }

    fn ssh_packet(code: u8, payload: usize) -> Vec<u8> {
        // length = padding length byte + payload + padding (4 here).
        let len = 1 + 1 + payload + 4;
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.push(4);
        v.push(code);
        v.extend(std::iter::repeat_n(0, payload + 4));
        v
    }

    #[test]
    fn ssh_turns_encrypted_when_both_sides_sent_newkeys() {
        let mut e = Encryption::default();
        for dir in 0..2 {
            let mut b = b"SSH-2.0-OpenSSH_9.6\r\n".to_vec();
            b.extend(ssh_packet(20, 300));
            b.extend(ssh_packet(30 + dir as u8, 40));
            b.extend(ssh_packet(21, 0));
            b.extend([0x55; 64]); // ciphertext
            let done = e.feed(Some(App::Ssh), dir, 0, &b[..10])
                | e.feed(Some(App::Ssh), dir, 10, &b[10..]);
            assert_eq!(done, dir == 1, "direction {dir}");
        }
        assert!(e.encrypted);
    }

    #[test]
    fn other_protocols_never_turn_encrypted() {
        let mut e = Encryption::default();
        e.feed(None, 0, 0, &record(23, 10));
        e.feed(Some(App::Http), 1, 0, &record(23, 10));
        assert!(!e.encrypted);
    }
}
