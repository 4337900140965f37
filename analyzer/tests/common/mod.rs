//! What the analyzer's tests share: a tree of two sensors' records of one
//! generated capture (made once per test binary).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use mekong_datasets::generate::{generate, Options, Summary};
use mekong_sensor::decode::DefragConfig;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, RunConfig};

/// The generated capture's labels.
pub fn labels() -> &'static Vec<mekong_datasets::labels::Label> {
    &made().1.labels
}

fn made() -> &'static (PathBuf, Summary) {
    static T: OnceLock<(PathBuf, Summary)> = OnceLock::new();
    T.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("analyzer-{}", env!("CARGO_CRATE_NAME")));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let pcap = d.join("c.pcap");
        // One campaign across two scenarios: the scanner probes the SSH
        // server, and a sibling address of its network then guesses
        // passwords there.
        let set = |s: &str, k: &str, v: &str| (s.to_string(), k.to_string(), v.to_string());
        let opts = Options {
            packets: 40_000,
            seed: 5,
            params: vec![
                set("portscan_syn", "target", "10.10.100.22"),
                set("portscan_syn", "campaign", "recon-ssh"),
                set("brute_ssh", "attacker", "45.155.205.240"),
                set("brute_ssh", "campaign", "recon-ssh"),
                // A slow scan: 150 ports, one every 50 s, over two hours.
                set("portscan_connect", "rate", "0.02"),
                set("portscan_connect", "ports", "1-150"),
                set("portscan_connect", "at", "0.1"),
            ],
            ..Options::default()
        };
        let summary = generate(
            &opts,
            std::fs::File::create(&pcap).unwrap(),
            std::io::sink(),
        )
        .unwrap();
        let out = d.join("tree");
        for sensor in ["hanoi", "hue"] {
            let cfg = RunConfig {
                inputs: vec![pcap.clone()],
                filter: None,
                workers: 1,
                flow: FlowConfig {
                    sensor_id: Arc::from(sensor),
                    ..FlowConfig::default()
                },
                defrag: DefragConfig::default(),
                sink: SinkConfig::new(out.clone(), sensor.into()),
                progress: false,
                detect: Some(Default::default()),
            };
            run(&cfg).unwrap();
        }
        (out, summary)
    })
}

/// The tree: sensors `hanoi` and `hue` each read the same capture.
pub fn tree() -> &'static PathBuf {
    &made().0
}

/// A runtime for the library's async calls.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}
