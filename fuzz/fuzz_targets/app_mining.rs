//! Mining protocols: recognition, requests, masked logins, over a stream
//! cut between the two directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::AppProto;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    let _ = mekong_appmeta::mining::detect(data);
    let _ = mekong_appmeta::mining::mask(&String::from_utf8_lossy(data));
    let protos = [AppProto::Mining];
    let Some(meta) = mekong_fuzz::session(&protos, sel, data) else {
        return;
    };
    if let Some(m) = &meta.mining {
        assert!(m.methods.len() <= mekong_appmeta::mining::MAX_METHODS);
    }
});
