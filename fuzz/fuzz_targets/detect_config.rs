//! The detector configuration: arbitrary text is a configuration or an
//! error naming what is wrong, never a panic; a parsed configuration builds
//! every detector.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mekong_detect::config::DetectConfig;
use mekong_detect::host::HostStage;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match DetectConfig::parse(text, Path::new("fuzz.toml")) {
        Ok(c) => {
            let _ = HostStage::new(&c);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
