//! SMTP: detection, commands, AUTH, messages and attachments over a stream
//! cut between the two directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::AppProto;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    let _ = mekong_appmeta::smtp::detect(data, (40000, 25));
    let protos = [AppProto::Smtp];
    let Some(meta) = mekong_fuzz::session(&protos, sel, data) else {
        return;
    };
    if let Some(m) = &meta.smtp {
        assert!(m.attachments.len() <= mekong_appmeta::MAX_LIST);
        assert!(m.message_sizes.len() <= mekong_appmeta::MAX_LIST);
    }
});
