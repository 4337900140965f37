//! X.509: certificate fields from arbitrary DER.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mekong_appmeta::x509::parse(data);
});
