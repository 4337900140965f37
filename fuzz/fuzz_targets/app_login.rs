//! Telnet, POP3 and IMAP logins: greetings, and the session over a stream
//! whose first byte picks the protocol and where the stream is cut between
//! the two directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::AppProto;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    let _ = mekong_appmeta::login::detect(data, (40000, 21));
    let _ = mekong_appmeta::login::detect(data, (40000, 23));
    let protos = [AppProto::Telnet, AppProto::Pop3, AppProto::Imap];
    let Some(meta) = mekong_fuzz::session(&protos, sel, data) else {
        return;
    };
    if let Some(l) = &meta.login {
        assert!(l.users.len() <= mekong_appmeta::login::MAX_USERS);
        assert!(l.failures + l.successes == l.attempts);
    }
});
