//! The command line: documented options, exit codes, clear errors, and a BPF
//! filter that selects what tcpdump selects.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use mekong_datasets::generate::{generate, Options};
use mekong_testkit::read_rows;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mekong-sensor"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = bin().args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

fn small_capture() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sensor-cli");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("small.pcap");
        let opts = Options {
            packets: 20_000,
            seed: 3,
            scenarios: vec![
                "portscan_syn".into(),
                "dns_tunnel".into(),
                "brute_ftp".into(),
            ],
            ..Options::default()
        };
        generate(&opts, std::fs::File::create(&p).unwrap(), std::io::sink()).unwrap();
        p
    })
}

#[test]
fn help_documents_every_option() {
    let (code, out, _) = run(&["read", "--help"]);
    assert_eq!(code, 0);
    for opt in [
        "--out",
        "--filter",
        "--workers",
        "--sensor-id",
        "--max-flows",
        "--idle-tcp",
        "--idle-udp",
        "--idle-icmp",
        "--idle-other",
        "--active-timeout",
        "--tcp-linger",
        "--frag-timeout",
        "--frag-max-datagrams",
        "--rows-per-file",
        "--zstd-level",
        "--quiet",
        "--summary-json",
    ] {
        assert!(out.contains(opt), "{opt} missing from --help");
    }
}

#[test]
fn errors_are_clear_with_documented_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let (code, _, err) = run(&["read", "/nonexistent/x.pcap", "--out", o]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/x.pcap"), "{err}");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "these are not packets, just some words in a file").unwrap();
    let (code, _, err) = run(&["read", text.to_str().unwrap(), "--out", o]);
    assert_eq!(code, 1);
    assert!(err.contains("not a valid capture"), "{err}");
    let cap = small_capture().to_str().unwrap();
    let (code, _, err) = run(&["read", cap, "--out", o, "--filter", "tcp port port"]);
    assert_eq!(code, 1);
    assert!(err.contains("BPF filter"), "{err}");
    let (code, _, err) = run(&["read", cap, "--out", o, "--sensor-id", "a/b"]);
    assert_eq!(code, 1);
    assert!(err.contains("--sensor-id"), "{err}");
    let (code, _, err) = run(&["read", cap, "--out", o, "--idle-tcp", "0"]);
    assert_eq!(code, 1);
    assert!(err.contains("--idle-tcp"), "{err}");
    let (code, _, _) = run(&["read", cap]);
    assert_eq!(code, 2, "missing --out is a usage error");
}

#[test]
fn a_truncated_file_yields_its_flows_and_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(small_capture()).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 37]).unwrap();
    let out = dir.path().join("out");
    let js = dir.path().join("s.json");
    let (code, _, err) = run(&[
        "read",
        cut.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--summary-json",
        js.to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("truncated"), "{err}");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&js).unwrap()).unwrap();
    assert!(s["records"].as_u64().unwrap() > 100);
    assert_eq!(
        read_rows(&out.join("flows")).len() as u64,
        s["records"].as_u64().unwrap()
    );
}

#[test]
fn filter_selects_what_tcpdump_selects() {
    let dir = tempfile::tempdir().unwrap();
    let cap = small_capture();
    let expr = "udp and port 53";
    let td = Command::new("tcpdump")
        .arg("-r")
        .arg(cap)
        .arg("--count")
        .arg(expr)
        .output()
        .expect("tcpdump (scripts/setup.sh installs it)");
    let text =
        String::from_utf8_lossy(&td.stdout).to_string() + &String::from_utf8_lossy(&td.stderr);
    let expected: u64 = text
        .lines()
        .find_map(|l| {
            l.strip_suffix(" packets").or_else(|| {
                l.split(" packets")
                    .next()
                    .filter(|_| l.contains(" packets"))
            })
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("tcpdump --count said: {text}"));
    let out = dir.path().join("out");
    let js = dir.path().join("s.json");
    let (code, _, err) = run(&[
        "read",
        cap.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--filter",
        expr,
        "--quiet",
        "--summary-json",
        js.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&js).unwrap()).unwrap();
    let passed = s["packets"].as_u64().unwrap() - s["filtered"].as_u64().unwrap();
    assert_eq!(passed, expected);
    let rows = read_rows(&out.join("flows"));
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r["proto"] == 17 && (r["orig_port"] == 53 || r["resp_port"] == 53)));
    let pkts: i64 = rows
        .iter()
        .map(|r| r["orig_pkts"].as_i64().unwrap() + r["resp_pkts"].as_i64().unwrap())
        .sum();
    assert_eq!(pkts as u64, expected);
}

#[test]
fn progress_and_summary_go_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, err) = run(&[
        "read",
        small_capture().to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(stdout.is_empty());
    for k in [
        "packets",
        "not IP",
        "decode errors",
        "flows",
        "evicted",
        "records",
        "files",
    ] {
        assert!(err.contains(k), "summary lacks {k}: {err}");
    }
}

#[test]
fn every_cause_of_an_error_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("out");
    let (code, _, err) = run(&["read", "/nonexistent/y.pcap", "--out", o.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    // An output directory under a regular file cannot be made.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let bad = file.join("out");
    let cap = small_capture().to_str().unwrap();
    let (code, _, err) = run(&["read", cap, "--out", bad.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 1);
    assert_eq!(err.matches("Not a directory").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_configuration_file_sets_the_run_and_its_errors_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cap = small_capture().to_str().unwrap();
    // The file's output directory and sensor id are used; a flag overrides the file.
    let conf = dir.path().join("mekong.toml");
    std::fs::write(
        &conf,
        "[sensor]\nid = \"from-file\"\nworkers = 1\n\n[output]\ndir = \"tree\"\n",
    )
    .unwrap();
    let (code, _, err) = run(&["read", cap, "--config", conf.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(dir.path().join("tree/flows/sensor=from-file").is_dir());
    let (code, _, err) = run(&[
        "read",
        cap,
        "--config",
        conf.to_str().unwrap(),
        "--sensor-id",
        "from-flag",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(dir.path().join("tree/flows/sensor=from-flag").is_dir());
    // Bad files: a value out of range, an unknown field, a wrong type.
    for (text, want) in [
        (
            "[flows]\n\nidle_udp_s = 0\n",
            "line 3: flows.idle_udp_s: must be between 1 and",
        ),
        (
            "[capture]\nbufer_mib = 4\n",
            "line 2: capture.bufer_mib: unknown field `bufer_mib`",
        ),
        (
            "[output]\nzstd_level = \"high\"\n",
            "line 2: output.zstd_level: ",
        ),
        ("[detection\n", "line 1"),
    ] {
        std::fs::write(&conf, text).unwrap();
        let (code, _, err) = run(&[
            "read",
            cap,
            "--out",
            "x",
            "--config",
            conf.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{text}: {err}");
        assert!(err.contains(conf.to_str().unwrap()), "{err}");
        assert!(err.contains(want), "{text}: {err}");
    }
    // Indicator lists named in the file (relative to it) are loaded: the
    // scanner of the capture is on this one.
    std::fs::write(dir.path().join("bad.txt"), "# a feed\n45.155.205.233\n").unwrap();
    std::fs::write(
        &conf,
        "[sensor]\nid = \"ind\"\nworkers = 1\n[output]\ndir = \"tree\"\n[[detection.indicators]]\nname = \"feed\"\npath = \"bad.txt\"\n",
    )
    .unwrap();
    let (code, _, err) = run(&["read", cap, "--config", conf.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let alerts = read_rows(&dir.path().join("tree/alerts/sensor=ind"));
    assert!(
        alerts.iter().any(|a| a["detector"] == "indicator"
            && (a["src_addr"] == "45.155.205.233" || a["dest_addr"] == "45.155.205.233")),
        "{alerts:?}"
    );
    // The shipped sample is valid as it is.
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/dist/mekong.toml");
    let (code, out, err) = run(&["check-config", sample]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("valid"), "{out}");
}

#[test]
fn a_bad_capture_method_or_xdp_mode_is_named_before_any_capture_opens() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = out.to_str().unwrap();
    for (args, want) in [
        (
            &["--method", "dpdk"][..],
            "--method \"dpdk\": pcap, af-packet or af-xdp",
        ),
        (
            &["--method", "af-xdp", "--xdp-mode", "fast"][..],
            "--xdp-mode \"fast\": auto, native or generic",
        ),
        (
            &["--xdp-mode", "native"][..],
            "--xdp-mode goes with --method af-xdp",
        ),
    ] {
        let mut a = vec!["live", "-i", "lo", "--out", o, "--no-rule-cache"];
        a.extend(args);
        let (code, _, err) = run(&a);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    assert!(!out.exists(), "nothing written");
}
