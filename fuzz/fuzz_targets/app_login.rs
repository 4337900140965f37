//! FTP, Telnet, POP3 and IMAP logins: greetings, and the session over a
//! stream whose first byte picks the protocol and where the stream is cut
//! between the two directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::event::LoginProto;
use mekong_appmeta::login::{self, LoginSession};
use mekong_appmeta::{Events, Step};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else { return };
    let _ = login::detect(data, (40000, 21));
    let _ = login::detect(data, (40000, 23));
    let proto = [LoginProto::Ftp, LoginProto::Telnet, LoginProto::Pop3, LoginProto::Imap][usize::from(sel & 3)];
    let mut s = LoginSession::new(proto);
    let mut ev = Events::new();
    let cut = usize::from(sel >> 2).min(data.len());
    for (dir, part) in [(1, &data[..cut]), (0, &data[cut..]), (1, data)] {
        let mut pos = 0;
        while pos < part.len() {
            match s.parse(dir, &part[pos..], &mut ev) {
                Step::Consumed(n) => pos += n.max(1),
                _ => break,
            }
        }
    }
    assert!(ev.len() as u32 <= s.attempts);
});
