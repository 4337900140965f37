//! Helpers shared by the integration tests: run the generator, run tshark.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The generator binary built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mekong-datasets"))
}

/// A scratch directory under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("mekong-datasets")
        .join(name);
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// Runs `mekong-datasets generate` and returns (capture, labels).
pub fn generate(dir: &Path, stem: &str, args: &[&str]) -> (PathBuf, PathBuf) {
    let pcap = dir.join(format!("{stem}.pcap"));
    let labels = dir.join(format!("{stem}.labels.csv"));
    let out = Command::new(bin())
        .arg("generate")
        .arg("--out")
        .arg(&pcap)
        .arg("--labels")
        .arg(&labels)
        .args(args)
        .output()
        .expect("run mekong-datasets");
    assert!(
        out.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (pcap, labels)
}

/// tshark, or a clear failure telling how to install it.
pub fn tshark() -> Command {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "tshark is required by this test (Debian package `tshark`; scripts/setup.sh installs it)"
    );
    let mut c = Command::new("tshark");
    c.env("LC_ALL", "C");
    c
}

/// Output of `tshark -T fields`, one row per packet.
pub struct Table {
    /// Field names, in column order.
    pub cols: Vec<String>,
    /// Values; repeated occurrences are joined with `|`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Index of a column.
    pub fn col(&self, name: &str) -> usize {
        self.cols
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    /// First occurrence of a field in a row.
    pub fn first<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        row[self.col(name)].split('|').next().unwrap_or("")
    }
}

/// Runs tshark over `pcap` and returns the requested fields of the packets
/// matching `filter` (all packets when empty).
pub fn fields(pcap: &Path, filter: &str, names: &[&str]) -> Table {
    fields_with(pcap, &[], filter, names)
}

/// [`fields`] with tshark preferences (`-o name:value`).
pub fn fields_with(pcap: &Path, prefs: &[&str], filter: &str, names: &[&str]) -> Table {
    let mut c = tshark();
    for p in prefs {
        c.arg("-o").arg(p);
    }
    c.arg("-r").arg(pcap).args([
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
        "-E",
        "quote=n",
    ]);
    if !filter.is_empty() {
        c.arg("-Y").arg(filter);
    }
    for n in names {
        c.arg("-e").arg(n);
    }
    let out = c.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows = text
        .lines()
        .map(|l| {
            let mut v: Vec<String> = l.split('\t').map(str::to_string).collect();
            v.resize(names.len(), String::new());
            v
        })
        .collect();
    Table {
        cols: names.iter().map(|s| s.to_string()).collect(),
        rows,
    }
}
