//! Telnet, POP3 and IMAP logins: greetings, and the session over a stream
//! whose first byte picks the protocol and where the stream is cut between
//! the two directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::{AppMeta, AppProto, AppSession, Events, Step};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else { return };
    let _ = mekong_appmeta::login::detect(data, (40000, 21));
    let _ = mekong_appmeta::login::detect(data, (40000, 23));
    let protos = [AppProto::Telnet, AppProto::Pop3, AppProto::Imap];
    let proto = protos[usize::from(sel) % protos.len()];
    let mut meta = AppMeta::default();
    let Some(mut s) = AppSession::new(proto, &mut meta) else { return };
    let mut ev = Events::new();
    let cut = usize::from(sel >> 2).min(data.len());
    for (dir, part) in [(1, &data[..cut]), (0, &data[cut..]), (1, data), (0, data)] {
        let mut pos = 0;
        while pos < part.len() {
            match s.parse(dir, &part[pos..], &mut meta, &mut ev) {
                Step::Consumed(n) => {
                    assert!(n > 0 && n <= part.len() - pos);
                    pos += n;
                }
                _ => break,
            }
        }
    }
    if let Some(l) = &meta.login {
        assert!(l.users.len() <= mekong_appmeta::login::MAX_USERS);
        assert!(l.failures + l.successes == l.attempts);
    }
});
