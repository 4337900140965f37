//! FTP control connections: commands, replies, logins and data channels
//! over a stream cut between the two directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::AppProto;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };

    let protos = [AppProto::Ftp];
    let Some(meta) = mekong_fuzz::session(&protos, sel, data) else {
        return;
    };
    if let Some(f) = &meta.ftp {
        assert!(
            f.commands.len() <= mekong_appmeta::MAX_LIST
                && f.files.len() <= mekong_appmeta::MAX_LIST
        );
    }
});
