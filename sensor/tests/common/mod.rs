//! What the application-metadata tests share: a run of the sensor over one
//! capture, its records read back from Parquet.

#![allow(dead_code)] // each test file uses part of it

use std::path::Path;
use std::sync::Arc;

use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, RunConfig, RunSummary};
use mekong_testkit::read_rows;
use serde_json::{Map, Value};

/// A record read back.
pub type Row = Map<String, Value>;

/// One worker over `pcap`, default settings, output under `dir/out`.
pub fn config(dir: &Path, pcap: &Path) -> RunConfig {
    RunConfig {
        inputs: vec![pcap.to_path_buf()],
        filter: None,
        workers: 1,
        flow: FlowConfig {
            sensor_id: Arc::from("test"),
            ..FlowConfig::default()
        },
        defrag: DefragConfig::default(),
        sink: SinkConfig::new(dir.join("out"), "test".into()),
        progress: false,
        detect: Some(Default::default()),
    }
}

/// The records of `pcap` (written under `dir`), or `None` when the file is
/// not a capture the sensor reads.
pub fn records(dir: &Path, pcap: &Path) -> Option<(RunSummary, Vec<Row>)> {
    let summary = run(&config(dir, pcap)).ok()?;
    Some((summary, read_rows(&dir.join("out/flows"))))
}
