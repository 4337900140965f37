//! The sensor's configuration file: arbitrary text is a configuration or an
//! error naming the file (and, when it can, the line and field), never a
//! panic; a parsed configuration gives every setting the run uses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_sensor::config::SensorConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match SensorConfig::parse(text, "fuzz.toml") {
        Ok(c) => {
            let _ = (c.flow_config(), c.defrag_config(), c.sink_config(true), c.rule_vars());
            assert!(c.check().is_ok());
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.toml")),
    }
});
