//! The end-to-end benchmark of `mekong-sensor`.
//!
//! Figures are ratios to floors measured in the same run on the same file,
//! because the machines are shared and noisy: libpcap's read floor
//! (`tcpdump -r FILE -w /dev/null`) and the page-cache floor (`cat FILE`).
//! Each measurement is the median of several runs.
#![deny(missing_docs)]
#![recursion_limit = "256"]

pub mod heap;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use mekong_datasets::generate::{generate, Options};
use mekong_detect::event::HostEvent;
use mekong_detect::host::HostStage;
use mekong_sensor::app::AppStage;
use mekong_sensor::capture::CaptureFile;
use mekong_sensor::decode::{Decoded, Decoder, DefragConfig};
use mekong_sensor::detect::DetectStage;
use mekong_sensor::engine::Engine;
use mekong_sensor::flow::{EndReason, FlowConfig};
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, Detection, RunConfig, RunSummary, Stages};
use mekong_sensor::rules::load::{load, RuleSources};
use mekong_sensor::rules::{Rules, RulesConfig};
use mekong_signatures::engine::LoadReport;
use mekong_signatures::prefilter::Backend;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Packets in the mixed capture.
    pub packets: u64,
    /// Runs per measurement (the median is reported).
    pub runs: usize,
    /// Directory for the captures and output.
    pub workdir: PathBuf,
    /// Flows in the memory measurement.
    pub memory_flows: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            packets: 2_000_000,
            runs: 3,
            workdir: PathBuf::from("target/bench"),
            memory_flows: 1_000_000,
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time_cmd(cmd: &mut Command) -> Result<f64> {
    let t = Instant::now();
    let st = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running a floor command")?;
    if !st.success() {
        bail!("{cmd:?} failed");
    }
    Ok(t.elapsed().as_secs_f64())
}

fn ensure_capture(path: &Path, opts: &Options) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    generate(opts, std::fs::File::create(&tmp)?, std::io::sink())?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn sense(pcap: &Path, out: &Path, workers: usize, max_flows: usize) -> Result<RunSummary> {
    sense_with(pcap, out, workers, max_flows, true, true)
}

/// Where the rules of the benchmark come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RuleLoad {
    /// Mekong's shipped rules (the sensor's default).
    Shipped,
    /// ET Open (the shipped rules too, as `--rules` adds to them).
    EtOpen(Backend),
    /// Generated content rules, alone.
    Generated,
}

/// ET Open's rule files: `MEKONG_ET_OPEN` or `../shared/rules/et-open`.
fn et_open_dir() -> PathBuf {
    std::env::var_os("MEKONG_ET_OPEN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/rules/et-open"),
        PathBuf::from,
    )
}

/// `n` content rules of every kind of inspection, from a fixed seed: raw
/// stream and packet contents, URIs, user agents, DNS names, SNIs, with
/// relative second contents and some pcre.
pub fn generated_rules(n: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut word = |len: usize| -> String {
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect()
    };
    let mut s = String::new();
    for i in 0..n {
        let (a, b) = (word(6 + i % 5), word(4));
        let sid = 8_000_000 + i;
        let body = match i % 6 {
            0 => format!("flow:established,to_server; content:\"{a}\"; content:\"{b}\"; distance:0; within:40;"),
            1 => format!("flow:established,to_client; content:\"{a}\"; nocase;"),
            2 => format!("flow:established,to_server; http.uri; content:\"/{a}\"; pcre:\"/\\/{a}[0-9]+/\";"),
            3 => format!("flow:established,to_server; http.user_agent; content:\"{a}\"; startswith;"),
            4 => format!("dns.query; content:\"{a}.\"; nocase;"),
            _ => format!("tls.sni; content:\".{a}\"; endswith;"),
        };
        let proto = match i % 6 {
            0 | 1 => "tcp",
            2 | 3 => "http",
            4 => "dns",
            _ => "tls",
        };
        s.push_str(&format!(
            "alert {proto} any any -> any any (msg:\"generated {i}\"; {body} classtype:misc-activity; sid:{sid}; rev:1;)\n"
        ));
    }
    s
}

/// Loads rules; the load's seconds and its report.
fn load_rules(which: RuleLoad, cache: Option<&Path>) -> Result<(Rules, f64, LoadReport)> {
    let t = Instant::now();
    let src = match which {
        RuleLoad::Shipped => RuleSources {
            builtin: true,
            ..RuleSources::default()
        },
        RuleLoad::EtOpen(b) => RuleSources {
            builtin: true,
            files: vec![et_open_dir()],
            backend: Some(b),
            cache: cache.map(Path::to_path_buf),
            ..RuleSources::default()
        },
        RuleLoad::Generated => {
            let file =
                std::env::temp_dir().join(format!("mekong-bench-{}.rules", std::process::id()));
            std::fs::write(&file, generated_rules(5000))?;
            RuleSources {
                builtin: false,
                files: vec![file],
                cache: cache.map(Path::to_path_buf),
                ..RuleSources::default()
            }
        }
    };
    let (rules, rep) = load(&src, RulesConfig::default()).with_context(|| {
        format!(
            "loading rules ({which:?}; ET Open from {})",
            et_open_dir().display()
        )
    })?;
    if which == RuleLoad::Generated {
        for f in &src.files {
            let _ = std::fs::remove_file(f);
        }
    }
    Ok((rules, t.elapsed().as_secs_f64(), rep))
}

/// A run with the detectors and `rules`, loaded first (and timed with the run).
fn sense_rules(
    pcap: &Path,
    out: &Path,
    which: RuleLoad,
    cache: Option<&Path>,
) -> Result<(RunSummary, f64)> {
    let _ = std::fs::remove_dir_all(out);
    let t = Instant::now();
    let (rules, _, _) = load_rules(which, cache)?;
    let det = Detection {
        rules: Some(Arc::new(rules)),
        ..Detection::default()
    };
    let cfg = RunConfig {
        inputs: vec![pcap.to_path_buf()],
        filter: None,
        workers: 1,
        flow: FlowConfig::default(),
        defrag: DefragConfig::default(),
        sink: SinkConfig::new(out.to_path_buf(), "bench".into()),
        progress: false,
        detect: Some(Arc::new(det)),
    };
    let s = run(&cfg)?;
    Ok((s, t.elapsed().as_secs_f64()))
}

/// A run with application parsing (`app`) and detection (`detect`) on or off.
fn sense_with(
    pcap: &Path,
    out: &Path,
    workers: usize,
    max_flows: usize,
    app: bool,
    detect: bool,
) -> Result<RunSummary> {
    let _ = std::fs::remove_dir_all(out);
    let mut flow = FlowConfig {
        max_flows,
        ..FlowConfig::default()
    };
    flow.app.enabled = app;
    let cfg = RunConfig {
        inputs: vec![pcap.to_path_buf()],
        filter: None,
        workers,
        flow,
        defrag: DefragConfig::default(),
        sink: SinkConfig::new(out.to_path_buf(), "bench".into()),
        progress: false,
        detect: detect.then(|| Arc::new(Detection::default())),
    };
    Ok(run(&cfg)?)
}

/// Peak heap bytes (counted by [`heap`]) while reading a flood of `n` flows,
/// and the number of flows held at once.
fn flood_peak(cfg: &BenchConfig, n: u64) -> Result<(u64, u64)> {
    let rate = (n / 10).max(1);
    let flood = cfg.workdir.join(format!("synflood-{n}.pcap"));
    let mut fo = Options {
        packets: 0,
        seed: 2,
        scenarios: vec!["syn_flood".into()],
        ..Options::default()
    };
    fo.params = vec![
        ("syn_flood".into(), "rate".into(), rate.to_string()),
        ("syn_flood".into(), "synack_ratio".into(), "0".into()),
        ("syn_flood".into(), "at".into(), "0".into()),
    ];
    ensure_capture(&flood, &fo)?;
    heap::reset_peak();
    let before = heap::live();
    let s = sense(&flood, &cfg.workdir.join("out-flood"), 1, n as usize + 1);
    let grown = u64::try_from(heap::peak() - before).unwrap_or(0);
    heap::stop();
    let s = s?;
    let _ = std::fs::remove_dir_all(cfg.workdir.join("out-flood"));
    Ok((grown, s.table.peak_flows))
}

/// The host stage alone: the events the workers raise on `pcap` (collected
/// first), then the time and memory the detectors take over them.
fn host_stage_alone(pcap: &Path) -> Result<(u64, f64, u64, u64)> {
    let file = CaptureFile::open(pcap)?;
    let cfg = FlowConfig::default();
    let det = Detection::default();
    let stages: Stages = (
        Some(AppStage::new(cfg.app)),
        Some(DetectStage::new(Arc::clone(&det.flow))),
        None,
    );
    let mut engine = Engine::new(cfg, stages);
    let mut dec = Decoder::new(DefragConfig::default());
    let mut events: Vec<HostEvent> = Vec::new();
    let mut last = 0;
    for raw in file.packets() {
        let raw = raw?;
        last = raw.ts_ns;
        if let Decoded::Packet(p) = dec.decode(&raw) {
            engine.process(&p);
        } else {
            engine.advance(raw.ts_ns);
        }
        events.append(engine.events());
        engine.records().clear();
    }
    engine.flush(last, EndReason::Eof, &mut |r, ev| {
        r.clear();
        events.append(ev);
    });
    drop(engine);
    heap::reset_peak();
    let before = heap::live();
    let t = Instant::now();
    let mut stage = HostStage::new(&det.config);
    for e in &events {
        stage.event(e);
    }
    stage.finish();
    let _alerts = stage.drain();
    let secs = t.elapsed().as_secs_f64();
    let grown = u64::try_from(heap::peak() - before).unwrap_or(0);
    heap::stop();
    Ok((
        events.len() as u64,
        secs,
        grown,
        stage.stats().peak_state_keys,
    ))
}

/// Runs the benchmark and returns its figures as JSON (also printed as a table).
pub fn bench(cfg: &BenchConfig) -> Result<serde_json::Value> {
    std::fs::create_dir_all(&cfg.workdir)?;
    let mixed = cfg.workdir.join(format!("mixed-{}.pcap", cfg.packets));
    eprintln!(
        "bench: capture {} ({} packets, generated by mekong-datasets when missing)",
        mixed.display(),
        cfg.packets
    );
    ensure_capture(
        &mixed,
        &Options {
            packets: cfg.packets,
            seed: 1,
            ..Options::default()
        },
    )?;
    let file_bytes = std::fs::metadata(&mixed)?.len();
    // Warm the page cache so every contender reads from memory.
    time_cmd(Command::new("cat").arg(&mixed))?;
    let runs = cfg.runs.max(1);
    let mut tcpdump = Vec::new();
    let mut cat = Vec::new();
    let mut w1 = Vec::new();
    let mut w2 = Vec::new();
    let mut spine = Vec::new();
    let mut no_detect = Vec::new();
    let out = cfg.workdir.join("out");
    let mut summary = None;
    // Rules: the cache of compiled prefilters is filled once, before the
    // timed runs (Suricata's figure is with its Hyperscan cache warm too).
    let cache = cfg.workdir.join("rule-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let et = RuleLoad::EtOpen(Backend::best());
    let (_, et_cold_load, et_report) = load_rules(et, Some(&cache))?;
    let (_, et_warm_load, _) = load_rules(et, Some(&cache))?;
    let (_, et_nocache_load, _) = load_rules(et, None)?;
    let (_, shipped_load, shipped_report) = load_rules(RuleLoad::Shipped, None)?;
    let (_, gen_cold_load, gen_report) = load_rules(RuleLoad::Generated, Some(&cache))?;
    let mut shipped = Vec::new();
    let mut et_open = Vec::new();
    let mut generated = Vec::new();
    let mut et_summary = None;
    for _ in 0..runs {
        let t = Instant::now();
        sense_rules(&mixed, &out, RuleLoad::Shipped, None)?;
        shipped.push(t.elapsed().as_secs_f64());
        let (es, t) = sense_rules(&mixed, &out, et, Some(&cache))?;
        et_open.push(t);
        et_summary = Some(es);
        let (_, t) = sense_rules(&mixed, &out, RuleLoad::Generated, Some(&cache))?;
        generated.push(t);
        tcpdump.push(time_cmd(
            Command::new("tcpdump")
                .arg("-r")
                .arg(&mixed)
                .args(["-w", "/dev/null"]),
        )?);
        cat.push(time_cmd(Command::new("cat").arg(&mixed))?);
        let t = Instant::now();
        let s = sense(&mixed, &out, 1, 1_000_000)?;
        w1.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        sense(&mixed, &out, 2, 1_000_000)?;
        w2.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        sense_with(&mixed, &out, 1, 1_000_000, true, false)?;
        no_detect.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        sense_with(&mixed, &out, 1, 1_000_000, false, false)?;
        spine.push(t.elapsed().as_secs_f64());
        summary = Some(s);
    }
    let s = summary.context("no run")?;
    let es = et_summary.context("no run")?;
    let (shipped, et_open, generated) = (median(shipped), median(et_open), median(generated));
    // The other prefilter, once (it is the slow one), and heap peaks.
    let (_, et_ac) = sense_rules(&mixed, &out, RuleLoad::EtOpen(Backend::AhoCorasick), None)?;
    let (_, et_hs_nocache) = sense_rules(&mixed, &out, et, None)?;
    heap::reset_peak();
    let before = heap::live();
    sense(&mixed, &out, 1, 1_000_000)?;
    let heap_no_rules = u64::try_from(heap::peak() - before).unwrap_or(0);
    heap::reset_peak();
    let before = heap::live();
    sense_rules(&mixed, &out, et, Some(&cache))?;
    let heap_et_open = u64::try_from(heap::peak() - before).unwrap_or(0);
    heap::stop();
    let (tcpdump, cat, w1, w2) = (median(tcpdump), median(cat), median(w1), median(w2));
    let (spine, no_detect) = (median(spine), median(no_detect));
    let (host_events, host_s, host_bytes, host_keys) = host_stage_alone(&mixed)?;
    let app = s.app;
    let pkts = s.packets as f64;
    let bytes_per_flow = s.output.bytes as f64 / s.output.records.max(1) as f64;

    // Memory per active flow: floods of SYNs from spoofed sources, every one
    // a flow held at once (TCP idle timeout 300 s > the flood's 10 s). Two
    // sizes: the slope between them is the cost of one more flow, free of
    // fixed costs (output buffers, queues); the larger run's average is an
    // upper bound.
    let (small_n, big_n) = (cfg.memory_flows / 2, cfg.memory_flows);
    let (small_peak, small_flows) = flood_peak(cfg, small_n)?;
    let (big_peak, big_flows) = flood_peak(cfg, big_n)?;
    let slope = big_peak.saturating_sub(small_peak) as f64
        / (big_flows.saturating_sub(small_flows).max(1)) as f64;
    let average = big_peak as f64 / big_flows.max(1) as f64;
    let (peak_kib, per_flow) = (big_peak / 1024, slope);
    let ms_flows = big_flows;

    let report = serde_json::json!({
        "capture": mixed.display().to_string(),
        "capture_bytes": file_bytes,
        "packets": s.packets,
        "flows": s.output.records,
        "runs": runs,
        "tcpdump_s": tcpdump,
        "cat_s": cat,
        "mekong_1_worker_s": w1,
        "mekong_2_workers_s": w2,
        "mekong_1_worker_pps": pkts / w1,
        "mekong_1_worker_gbps": file_bytes as f64 * 8.0 / w1 / 1e9,
        "ratio_1_worker_to_tcpdump": w1 / tcpdump,
        "ratio_2_workers_to_tcpdump": w2 / tcpdump,
        "ratio_cat_to_tcpdump": cat / tcpdump,
        "mekong_1_worker_no_detect_s": no_detect,
        "ratio_no_detect_to_tcpdump": no_detect / tcpdump,
        "ratio_detect_to_no_detect": w1 / no_detect,
        "mekong_1_worker_no_app_s": spine,
        "ratio_no_app_to_tcpdump": spine / tcpdump,
        "ratio_app_to_no_app": no_detect / spine,
        "alerts": s.output.alerts,
        "rules_shipped": shipped_report.loaded,
        "rules_et_open_read": et_report.read,
        "rules_et_open_loaded": et_report.loaded,
        "rules_generated": gen_report.loaded,
        "load_shipped_s": shipped_load,
        "load_et_open_cold_s": et_cold_load,
        "load_et_open_warm_s": et_warm_load,
        "load_et_open_no_cache_s": et_nocache_load,
        "load_generated_cold_s": gen_cold_load,
        "mekong_shipped_rules_s": shipped,
        "ratio_shipped_to_no_rules": shipped / w1,
        "mekong_et_open_s": et_open,
        "ratio_et_open_to_tcpdump": et_open / tcpdump,
        "et_open_alerts": es.output.alerts,
        "mekong_et_open_no_cache_s": et_hs_nocache,
        "mekong_et_open_aho_corasick_s": et_ac,
        "ratio_aho_corasick_to_hyperscan": et_ac / et_hs_nocache,
        "prefilter_default": Backend::best().name(),
        "mekong_generated_rules_s": generated,
        "ratio_generated_to_tcpdump": generated / tcpdump,
        "heap_peak_no_rules_bytes": heap_no_rules,
        "heap_peak_et_open_bytes": heap_et_open,
        "alerts_by_technique": s.alerts_by_technique,
        "host_events": host_events,
        "host_stage_s": host_s,
        "host_events_per_s": host_events as f64 / host_s.max(1e-9),
        "host_stage_peak_bytes": host_bytes,
        "host_stage_peak_keys": host_keys,
        "app_flows": mekong_sensor::app::PROTOCOLS
            .iter()
            .zip(app.flows)
            .map(|(p, n)| (p.name().to_string(), serde_json::json!(n)))
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "app_peak_buffer_bytes": app.peak_buffer_bytes,
        "parquet_bytes": s.output.bytes,
        "parquet_bytes_per_flow": bytes_per_flow,
        "memory_flows": ms_flows,
        "memory_heap_peak_kib": peak_kib,
        "memory_bytes_per_active_flow": per_flow,
        "memory_bytes_per_flow_average": average,
    });
    println!("Mekong end-to-end benchmark (median of {runs} runs, page cache warm)");
    println!(
        "  capture: {} packets, {:.2} GB, {} flow records",
        s.packets,
        file_bytes as f64 / 1e9,
        s.output.records
    );
    println!("  tcpdump -r FILE -w /dev/null : {tcpdump:.3} s  (the libpcap read floor, 1.00x)");
    println!(
        "  cat FILE > /dev/null         : {cat:.3} s  ({:.2}x)",
        cat / tcpdump
    );
    println!(
        "  mekong-sensor, 1 worker      : {w1:.3} s  ({:.2}x)  {:.2} Mpackets/s, {:.2} Gbit/s",
        w1 / tcpdump,
        pkts / w1 / 1e6,
        file_bytes as f64 * 8.0 / w1 / 1e9
    );
    println!(
        "  mekong-sensor, 2 workers     : {w2:.3} s  ({:.2}x)",
        w2 / tcpdump
    );
    println!(
        "  mekong-sensor, 1 worker, --no-detect: {no_detect:.3} s  ({:.2}x); detection costs {:.2}x ({} alerts)",
        no_detect / tcpdump,
        w1 / no_detect,
        s.output.alerts
    );
    println!(
        "  mekong-sensor, 1 worker, --no-app --no-detect (the spine alone): {spine:.3} s  ({:.2}x); application metadata costs {:.2}x the spine",
        spine / tcpdump,
        no_detect / spine
    );
    println!(
        "  rules: shipped ({} rules) {shipped:.3} s = {:.2}x detectors alone; ET Open ({} of {} rules, load included, cache warm) {et_open:.3} s = {:.2}x the floor ({} alerts); 5,000 generated rules {generated:.3} s = {:.2}x the floor",
        shipped_report.loaded,
        shipped / w1,
        et_report.loaded,
        et_report.read,
        et_open / tcpdump,
        es.output.alerts,
        generated / tcpdump
    );
    println!(
        "  rule loading: shipped {shipped_load:.3} s; ET Open {et_cold_load:.2} s with the cache cold, {et_warm_load:.2} s warm, {et_nocache_load:.2} s without; 5,000 generated {gen_cold_load:.2} s cold"
    );
    println!(
        "  prefilter on ET Open (no cache, load included): hyperscan {et_hs_nocache:.2} s, aho-corasick {et_ac:.2} s ({:.1}x); heap peak {:.0} MiB with ET Open, {:.0} MiB without rules",
        et_ac / et_hs_nocache,
        heap_et_open as f64 / f64::from(1 << 20),
        heap_no_rules as f64 / f64::from(1 << 20)
    );
    println!(
        "  host stage alone: {host_events} events in {host_s:.3} s = {:.2} M events/s; {host_keys} keys of state and {:.1} MiB at its peak",
        host_events as f64 / host_s.max(1e-9) / 1e6,
        host_bytes as f64 / (1 << 20) as f64
    );
    let flows: Vec<String> = mekong_sensor::app::PROTOCOLS
        .iter()
        .zip(app.flows)
        .map(|(p, n)| format!("{} {n}", p.name()))
        .collect();
    println!(
        "  application flows: {}; peak stream buffers {} bytes",
        flows.join(", "),
        app.peak_buffer_bytes
    );
    println!(
        "  Parquet: {} bytes for {} records = {bytes_per_flow:.1} bytes per flow",
        s.output.bytes, s.output.records
    );
    println!("  memory: {per_flow:.0} bytes per active flow (slope between {small_flows} and {ms_flows} flows held at once; average with fixed costs {average:.0} bytes, heap peak {peak_kib} KiB)");
    std::fs::write(
        cfg.workdir.join("results.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(cfg.workdir.join("out-flood"));
    Ok(report)
}

/// Start and end markers of the generated results in `benches/README.md`.
pub const README_MARKERS: (&str, &str) = (
    "<!-- results: generated by mekong-benches, do not edit -->",
    "<!-- end of results -->",
);

/// The results table (Markdown) of a report from [`bench`], with the targets
/// the issues set and whether each is met.
pub fn results_markdown(r: &serde_json::Value, date: &str, command: &str) -> String {
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let u = |k: &str| r[k].as_u64().unwrap_or(0);
    let met = |ok: bool| if ok { "met" } else { "**not met**" };
    let app = &r["app_flows"];
    let mut s = String::new();
    s.push_str(&format!(
        "{date}, 2-core development machine, `{command}`: {} packets, {:.2} GB, {} flow records, median of {} runs \
         (application metadata, flows: {}; {} alerts).\n\n",
        u("packets"),
        f("capture_bytes") / 1e9,
        u("flows"),
        u("runs"),
        app.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
                    .map(|(k, n)| format!("{} {k}", n.as_u64().unwrap_or(0)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        u("alerts"),
    ));
    s.push_str("| Measure | Result | Target |\n|---|---|---|\n");
    let t = f("tcpdump_s");
    s.push_str(&format!("| tcpdump read floor | {t:.3} s (1.00x) | |\n"));
    s.push_str(&format!(
        "| cat | {:.3} s ({:.2}x) | |\n",
        f("cat_s"),
        f("ratio_cat_to_tcpdump")
    ));
    let w1 = f("ratio_1_worker_to_tcpdump");
    s.push_str(&format!(
        "| mekong-sensor, 1 worker, every detector (no rules) | {:.3} s, **{w1:.2}x** the floor, {:.2} Mpackets/s, {:.1} Gbit/s | at most 2.0x: {} |\n",
        f("mekong_1_worker_s"),
        f("mekong_1_worker_pps") / 1e6,
        f("mekong_1_worker_gbps"),
        met(w1 <= 2.0)
    ));
    s.push_str(&format!(
        "| mekong-sensor, 2 workers | {:.3} s, {:.2}x | |\n",
        f("mekong_2_workers_s"),
        f("ratio_2_workers_to_tcpdump")
    ));
    s.push_str(&format!(
        "| 1 worker, `--no-detect` | {:.3} s, {:.2}x | |\n",
        f("mekong_1_worker_no_detect_s"),
        f("ratio_no_detect_to_tcpdump")
    ));
    let d = f("ratio_detect_to_no_detect");
    s.push_str(&format!(
        "| Detection (every detector) | **{d:.2}x** the sensor without it | at most 1.15x: {} |\n",
        met(d <= 1.15)
    ));
    s.push_str(&format!(
        "| 1 worker, `--no-app --no-detect` (the spine) | {:.3} s, {:.2}x | |\n",
        f("mekong_1_worker_no_app_s"),
        f("ratio_no_app_to_tcpdump")
    ));
    let a = f("ratio_app_to_no_app");
    let n = |k: &str| app[k].as_u64().unwrap_or(0);
    s.push_str(&format!(
        "| Application metadata (with {} SMB, {} Kerberos, {} DCE/RPC, {} SMTP, {} DHCP, {} MySQL flows) | **{a:.2}x** the spine | at most 1.3x: {} |\n",
        n("smb"),
        n("krb5"),
        n("dcerpc"),
        n("smtp"),
        n("dhcp"),
        n("mysql"),
        met(a <= 1.3)
    ));
    let sh = f("ratio_shipped_to_no_rules");
    s.push_str(&format!(
        "| Mekong's shipped rules ({} rules), 1 worker | {:.3} s, **{sh:.2}x** the detectors alone | at most 1.2x: {} |\n",
        u("rules_shipped"),
        f("mekong_shipped_rules_s"),
        met(sh <= 1.2)
    ));
    let et = f("ratio_et_open_to_tcpdump");
    s.push_str(&format!(
        "| ET Open ({} of {} rules) and the shipped rules, 1 worker, load included (prefilter cache warm) | {:.3} s, **{et:.2}x** the floor, {} alerts | at most 3.0x: {} |\n",
        u("rules_et_open_loaded"),
        u("rules_et_open_read"),
        f("mekong_et_open_s"),
        u("et_open_alerts"),
        met(et <= 3.0)
    ));
    s.push_str(&format!(
        "| 5,000 generated content rules, 1 worker, load included | {:.3} s, {:.2}x the floor | |\n",
        f("mekong_generated_rules_s"),
        f("ratio_generated_to_tcpdump")
    ));
    s.push_str(&format!(
        "| Rule loading | shipped {:.3} s; ET Open {:.2} s cold cache, {:.2} s warm, {:.2} s without cache; 5,000 generated {:.2} s | seconds, not minutes |\n",
        f("load_shipped_s"),
        f("load_et_open_cold_s"),
        f("load_et_open_warm_s"),
        f("load_et_open_no_cache_s"),
        f("load_generated_cold_s")
    ));
    s.push_str(&format!(
        "| Prefilter on ET Open (whole run, no cache) | Hyperscan {:.2} s, aho-corasick {:.2} s ({:.1}x): default {} | the faster |\n",
        f("mekong_et_open_no_cache_s"),
        f("mekong_et_open_aho_corasick_s"),
        f("ratio_aho_corasick_to_hyperscan"),
        r["prefilter_default"].as_str().unwrap_or("")
    ));
    s.push_str(&format!(
        "| Heap at its peak | {:.0} MiB with ET Open, {:.0} MiB with the detectors alone | |\n",
        f("heap_peak_et_open_bytes") / f64::from(1 << 20),
        f("heap_peak_no_rules_bytes") / f64::from(1 << 20)
    ));
    s.push_str(&format!(
        "| Host stage alone | {} events in {:.3} s, **{:.2} M events/s**; peak {} keys, {:.1} MiB of heap | |\n",
        u("host_events"),
        f("host_stage_s"),
        f("host_events_per_s") / 1e6,
        u("host_stage_peak_keys"),
        f("host_stage_peak_bytes") / f64::from(1 << 20)
    ));
    let p = f("parquet_bytes_per_flow");
    s.push_str(&format!(
        "| Parquet per flow | **{p:.0} bytes** ({} bytes) | at most 150: {} |\n",
        u("parquet_bytes"),
        met(p <= 150.0)
    ));
    let m = f("memory_bytes_per_active_flow");
    s.push_str(&format!(
        "| Memory per active flow | **{m:.0} bytes** (slope to {} flows; {:.0} bytes average with fixed costs, heap peak {} KiB) | at most 1 KiB: {} |\n",
        u("memory_flows"),
        f("memory_bytes_per_flow_average"),
        u("memory_heap_peak_kib"),
        met(m <= 1024.0)
    ));
    s
}

/// Replaces the generated section of a README text (between
/// [`README_MARKERS`]) with `md`; `None` when the markers are missing.
pub fn replace_results(readme: &str, md: &str) -> Option<String> {
    let (a, b) = README_MARKERS;
    let start = readme.find(a)? + a.len();
    let end = start + readme[start..].find(b)?;
    Some(format!("{}\n{md}{}", &readme[..start], &readme[end..]))
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_date(secs / 86_400)
}

/// Days since 1970-01-01 as a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Writes the results table to `WORKDIR/results.md` and, when `readme` is
/// given, into that README between [`README_MARKERS`].
pub fn publish(
    cfg: &BenchConfig,
    report: &serde_json::Value,
    command: &str,
    readme: Option<&Path>,
) -> Result<()> {
    let md = results_markdown(report, &today(), command);
    std::fs::write(cfg.workdir.join("results.md"), &md)?;
    if let Some(path) = readme {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let new = replace_results(&text, &md)
            .with_context(|| format!("{} has no results markers", path.display()))?;
        std::fs::write(path, new)?;
        eprintln!("bench: results written into {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_by_hand() {
        assert_eq!(civil_date(0), "1970-01-01");
        // 2000-03-01 is day 11,017; 2026-12-01 is day 20,788.
        assert_eq!(civil_date(11_017), "2000-03-01");
        assert_eq!(civil_date(20_788), "2026-12-01");
        assert_eq!(civil_date(19_782), "2024-02-29");
    }

    #[test]
    fn the_table_shows_figures_and_whether_targets_are_met() {
        let r = serde_json::json!({
            "packets": 10, "capture_bytes": 2e9, "flows": 3, "runs": 5,
            "tcpdump_s": 0.5, "cat_s": 0.1, "ratio_cat_to_tcpdump": 0.2,
            "mekong_1_worker_s": 1.05, "ratio_1_worker_to_tcpdump": 2.1,
            "mekong_1_worker_pps": 2e6, "mekong_1_worker_gbps": 15.0,
            "ratio_detect_to_no_detect": 1.1, "ratio_app_to_no_app": 1.2,
            "parquet_bytes_per_flow": 121.9, "memory_bytes_per_active_flow": 980.0,
            "app_flows": {"dns": 1, "tls": 2, "http": 3, "ssh": 4, "quic": 5, "smb": 7, "krb5": 8, "ftp": 0},
        });
        let md = results_markdown(&r, "2026-12-01", "cmd");
        assert!(md.contains("**2.10x** the floor"), "{md}");
        assert!(md.contains("at most 2.0x: **not met**"), "{md}");
        assert!(md.contains("at most 1.15x: met"), "{md}");
        assert!(md.contains("**122 bytes**"), "{md}");
        // Every protocol with flows, none without.
        assert!(
            md.contains("flows: 1 dns, 3 http, 8 krb5, 5 quic, 7 smb, 4 ssh, 2 tls;"),
            "{md}"
        );
        assert!(md.contains("with 7 SMB, 8 Kerberos, 0 DCE/RPC"), "{md}");
    }

    #[test]
    fn only_the_marked_section_is_replaced() {
        let (a, b) = README_MARKERS;
        let text = format!("head\n{a}\nold\n{b}\ntail\n");
        let new = replace_results(&text, "new\n").expect("markers");
        assert_eq!(new, format!("head\n{a}\nnew\n{b}\ntail\n"));
        assert!(replace_results("no markers", "x").is_none());
    }
}
