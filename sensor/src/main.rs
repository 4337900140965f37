//! `mekong-sensor`: packets in, flows out.
//!
//! Exit codes: 0 success; 1 error (unreadable or invalid input, bad filter,
//! output not writable); 2 command-line usage error; 3 finished, but an
//! input file was damaged (truncated or corrupt): the packets before the
//! damage were processed and their flows written.

/// The sensor's allocator: mimalloc, which keeps freed memory per thread
/// for reuse (loading tens of thousands of rules and the writer's batches
/// allocate much; the workers' hot path allocates nothing).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use mekong_detect::config::DetectConfig;
use mekong_sensor::app::PROTOCOLS;
use mekong_sensor::capture::afpacket::fanout_group;
use mekong_sensor::capture::afxdp;
use mekong_sensor::capture::{AfPacketCapture, LiveCapture, LiveOptions};
use mekong_sensor::config::{CaptureMethod, SensorConfig, XdpAttach};
use mekong_sensor::control::retention::Retention;
use mekong_sensor::control::{privileges, ControlConfig, Reloader};
use mekong_sensor::decode::Reason;
use mekong_sensor::pipeline::live::{run_live, Opened};
use mekong_sensor::pipeline::{run, Detection, Live, RunConfig, RunSummary};
use mekong_sensor::rules::load::{default_cache, load as load_rules, report_lines, RuleSources};
use mekong_sensor::rules::RulesConfig;
use mekong_signatures::prefilter::Backend;

#[derive(Parser)]
#[command(
    name = "mekong-sensor",
    version,
    about = "Mekong's sensor: packets in, bidirectional flow records and ATT&CK-mapped alerts out (Parquet, EVE JSON)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Read pcap or pcapng files: a Parquet record for every flow, and alerts.
    Read(Box<ReadArgs>),
    /// Capture on interfaces (a SPAN port) until SIGINT or SIGTERM; SIGHUP
    /// reloads rules, indicator lists and thresholds.
    Live(Box<LiveArgs>),
    /// Check a configuration file (and the detector file and rules it names).
    CheckConfig {
        /// The TOML file.
        file: PathBuf,
    },
    /// Check a detector configuration file (and load its indicator lists).
    CheckDetectors {
        /// The TOML file.
        file: PathBuf,
    },
    /// Suricata-syntax rules.
    Rules {
        #[command(subcommand)]
        cmd: RulesCmd,
    },
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Load rule files and report every problem in one pass (file, line,
    /// sid, keyword); exits 1 when a rule is invalid (unsupported rules
    /// are reported and skipped, not errors).
    Check {
        /// Rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Set an address or port variable (NAME=VALUE), as in suricata.yaml.
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// A classification.config adding classtypes.
        #[arg(long, value_name = "FILE")]
        classification_file: Option<PathBuf>,
        /// List unsupported rules one by one too.
        #[arg(long)]
        all: bool,
    },
}

#[derive(clap::Args)]
struct ReadArgs {
    /// Capture files (pcap or pcapng), read in the order given.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output directory; flows go to DIR/flows/sensor=ID/date=YYYY-MM-DD/hour=HH/ [default: output.dir of --config].
    #[arg(long, required_unless_present = "config")]
    out: Option<PathBuf>,
    #[command(flatten)]
    run: RunFlags,
}

#[derive(clap::Args)]
struct LiveArgs {
    /// Interface to capture on (repeat for several) [default: capture.interfaces of --config].
    #[arg(long = "interface", short = 'i', value_name = "NAME")]
    interfaces: Vec<String>,
    /// Output directory [default: output.dir of --config].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Serve Prometheus metrics at ADDRESS:PORT (GET /metrics).
    #[arg(long, value_name = "ADDRESS:PORT")]
    metrics: Option<String>,
    /// Once the capture is open, run as this user (it gets the output tree's directories).
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Close every open file this often, s (a crash loses at most this much).
    #[arg(long, value_name = "SECONDS")]
    rotate: Option<u64>,
    /// Kernel capture buffer per interface, MiB.
    #[arg(long, value_name = "MIB")]
    buffer: Option<u32>,
    /// Bytes kept of each packet.
    #[arg(long)]
    snaplen: Option<u32>,
    /// Do not put the interface in promiscuous mode.
    #[arg(long)]
    no_promiscuous: bool,
    /// How packets are read: pcap (libpcap), af-packet (a TPACKET_V3 ring per worker, in a fanout group) or af-xdp (an AF_XDP socket per receive queue).
    #[arg(long, value_name = "METHOD")]
    method: Option<String>,
    /// With af-xdp, how the XDP program is attached: auto, native or generic.
    #[arg(long, value_name = "MODE")]
    xdp_mode: Option<String>,
    #[command(flatten)]
    run: RunFlags,
}

/// Settings of both `read` and `live`: each overrides the `--config` file.
#[derive(clap::Args, Clone)]
struct RunFlags {
    /// The configuration file (TOML; sensor/dist/mekong.toml documents every field).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// BPF filter, as in tcpdump (compiled by libpcap).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Flow worker threads [default: number of cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Sensor identifier (letters, digits, '.', '_', '-') [default: host name].
    #[arg(long)]
    sensor_id: Option<String>,
    /// Flows held in memory at once; beyond it the flow closest to expiry is evicted [default: 1000000].
    #[arg(long)]
    max_flows: Option<usize>,
    /// TCP idle timeout, seconds [default: 300].
    #[arg(long)]
    idle_tcp: Option<u64>,
    /// UDP idle timeout, seconds [default: 60].
    #[arg(long)]
    idle_udp: Option<u64>,
    /// ICMP and ICMPv6 idle timeout, seconds [default: 60].
    #[arg(long)]
    idle_icmp: Option<u64>,
    /// Idle timeout of other protocols, seconds [default: 60].
    #[arg(long)]
    idle_other: Option<u64>,
    /// Active timeout: long flows are cut into records of at most this many seconds [default: 1800].
    #[arg(long)]
    active_timeout: Option<u64>,
    /// Seconds a closed TCP connection (FIN both ways, or RST) waits for trailing packets [default: 5].
    #[arg(long)]
    tcp_linger: Option<u64>,
    /// Seconds a fragmented datagram may wait for its fragments [default: 30].
    #[arg(long)]
    frag_timeout: Option<u64>,
    /// Datagrams in reassembly at once, per worker [default: 4096].
    #[arg(long)]
    frag_max_datagrams: Option<usize>,
    /// Records per Parquet file before a new file is started [default: 2000000].
    #[arg(long)]
    rows_per_file: Option<usize>,
    /// ZSTD compression level of the Parquet files (1-22) [default: 3].
    #[arg(long)]
    zstd_level: Option<i32>,
    /// Do not read application metadata (DNS, TLS, HTTP, SSH, QUIC columns stay null).
    #[arg(long)]
    no_app: bool,
    /// Bytes of each direction of a flow a parser may hold while it waits for the rest of a message [default: 8192].
    #[arg(long, value_name = "BYTES")]
    stream_depth: Option<usize>,
    /// Stream buffers held at once, all flows together, in MiB [default: 128].
    #[arg(long, value_name = "MIB")]
    stream_budget: Option<usize>,
    /// Bytes of each direction of a TCP flow put in order for the stages (Suricata's stream.reassembly.depth) [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    reassembly_depth: Option<u64>,
    /// Detector thresholds, windows, allow-lists and indicator lists (TOML; signatures/detectors.toml documents every field) [default: built-in defaults].
    #[arg(long, value_name = "FILE")]
    detectors: Option<PathBuf>,
    /// Do not run the detectors or the rules (no alerts).
    #[arg(long)]
    no_detect: bool,
    /// A rule file (Suricata syntax), or a directory of `*.rules` files, loaded beside
    /// Mekong's shipped rules; repeat for several.
    #[arg(long = "rules", value_name = "FILE|DIR")]
    rules: Vec<PathBuf>,
    /// Do not load Mekong's shipped rules (signatures/rules/mekong.rules).
    #[arg(long)]
    no_default_rules: bool,
    /// Run no rules at all (the behavioural detectors still run).
    #[arg(long)]
    no_rules: bool,
    /// Set a rule variable (NAME=VALUE: HOME_NET=[10.0.0.0/8], HTTP_PORTS=[80,8080]); defaults are Suricata's.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// A classification.config adding classtypes to Mekong's.
    #[arg(long, value_name = "FILE")]
    classification_file: Option<PathBuf>,
    /// A threshold.config (suppress, threshold, event_filter, rate_filter).
    #[arg(long, value_name = "FILE")]
    threshold_file: Option<PathBuf>,
    /// The rules' multi-pattern prefilter: hyperscan or aho-corasick [default: hyperscan when built in].
    #[arg(long, value_name = "NAME")]
    prefilter: Option<String>,
    /// Keep compiled prefilters here between runs, named by the hash of their patterns
    /// [default: $XDG_CACHE_HOME/mekong/rules, else ~/.cache/mekong/rules].
    #[arg(long, value_name = "DIR")]
    rule_cache: Option<PathBuf>,
    /// Compile the prefilters at every run (no cache).
    #[arg(long, conflicts_with = "rule_cache")]
    no_rule_cache: bool,
    /// Do not print the progress line.
    #[arg(long)]
    quiet: bool,
    /// Also write the run summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,
}

fn path_str(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// The configuration: the file (or the defaults), then the flags over it,
/// checked again as a whole.
fn sensor_config(f: &RunFlags, out: Option<&PathBuf>) -> Result<SensorConfig> {
    let mut c = match &f.config {
        Some(p) => SensorConfig::load(p)?,
        None => SensorConfig::default(),
    };
    // The flags given, each with the field it set (for messages naming
    // the flag).
    let mut set: Vec<(&str, &str)> = Vec::new();
    macro_rules! over {
        ($flag:expr, $name:literal, $section:ident . $key:ident) => {
            if let Some(v) = $flag.clone() {
                c.$section.$key = v;
                set.push(($name, concat!(stringify!($section), ".", stringify!($key))));
            }
        };
    }
    over!(f.workers, "--workers", sensor.workers);
    if f.workers == Some(0) {
        bail!("--workers must be between 1 and 256 (got 0)");
    }
    over!(f.sensor_id, "--sensor-id", sensor.id);
    over!(f.max_flows, "--max-flows", flows.max_flows);
    over!(f.idle_tcp, "--idle-tcp", flows.idle_tcp_s);
    over!(f.idle_udp, "--idle-udp", flows.idle_udp_s);
    over!(f.idle_icmp, "--idle-icmp", flows.idle_icmp_s);
    over!(f.idle_other, "--idle-other", flows.idle_other_s);
    over!(f.active_timeout, "--active-timeout", flows.active_timeout_s);
    over!(f.tcp_linger, "--tcp-linger", flows.tcp_linger_s);
    over!(f.frag_timeout, "--frag-timeout", flows.frag_timeout_s);
    over!(
        f.frag_max_datagrams,
        "--frag-max-datagrams",
        flows.frag_max_datagrams
    );
    over!(f.rows_per_file, "--rows-per-file", output.rows_per_file);
    over!(f.zstd_level, "--zstd-level", output.zstd_level);
    over!(f.stream_depth, "--stream-depth", app.stream_depth);
    over!(f.stream_budget, "--stream-budget", app.stream_budget_mib);
    over!(
        f.reassembly_depth,
        "--reassembly-depth",
        app.reassembly_depth
    );
    over!(f.filter, "--filter", capture.filter);
    if f.sensor_id.as_deref() == Some("") {
        bail!("--sensor-id \"\": use 1-64 letters, digits, '.', '_' or '-', not starting with '.'");
    }
    if let Some(o) = out {
        c.output.dir = path_str(o);
        // A directory named on the command line is not relative to the file.
        if o.is_relative() {
            c.output.dir = path_str(&std::env::current_dir().unwrap_or_default().join(o));
        }
    }
    if c.output.dir.is_empty() {
        bail!("no output directory: give --out DIR or output.dir in the configuration file");
    }
    if f.no_app {
        c.app.enabled = false;
    }
    let d = &mut c.detection;
    if f.no_detect && f.detectors.is_some() {
        bail!("--no-detect and --detectors exclude each other");
    }
    if f.no_detect && (!f.rules.is_empty() || f.threshold_file.is_some()) {
        bail!("--no-detect turns the rules off too: it excludes --rules and --threshold-file");
    }
    if f.no_rules && !f.rules.is_empty() {
        bail!("--no-rules and --rules exclude each other");
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let abs = |p: &PathBuf| path_str(&cwd.join(p));
    if f.no_detect {
        d.enabled = false;
    }
    if let Some(p) = &f.detectors {
        d.detectors = abs(p);
    }
    d.rules.extend(f.rules.iter().map(abs));
    if f.no_default_rules {
        d.default_rules = false;
    }
    if f.no_rules {
        d.rules_enabled = false;
    }
    if let Some(p) = &f.classification_file {
        d.classification_file = abs(p);
    }
    if let Some(p) = &f.threshold_file {
        d.threshold_file = abs(p);
    }
    if let Some(p) = &f.prefilter {
        d.prefilter = p.clone();
    }
    if let Some(p) = &f.rule_cache {
        d.rule_cache = abs(p);
    }
    for (k, v) in parse_vars(&f.vars)? {
        c.net.groups.insert(k, v);
    }
    if let Err((section, key, msg)) = c.check() {
        let field = format!("{section}.{key}");
        let flag = set
            .iter()
            .find(|(_, fld)| *fld == field)
            .map(|(flag, _)| *flag);
        match (flag, &f.config) {
            (Some(flag), _) => bail!("{flag}: {msg}"),
            (None, Some(p)) => bail!("{}: {field}: {msg}", p.display()),
            (None, None) => bail!("{field}: {msg}"),
        }
    }
    Ok(c)
}

/// Loads what detection needs: the detector file, indicator lists, rules.
fn detection(c: &SensorConfig, quiet: bool, no_rule_cache: bool) -> Result<Option<Arc<Detection>>> {
    let d = &c.detection;
    if !d.enabled {
        return Ok(None);
    }
    let mut config = if d.detectors.is_empty() {
        DetectConfig::default()
    } else {
        DetectConfig::load(&c.path(&d.detectors))?
    };
    if !c.net.home_net.is_empty() {
        config.net.home_net = c.net.home_net.clone();
    }
    for l in &d.indicators {
        let mut l = l.clone();
        l.path = c.path(&l.path.to_string_lossy());
        config.indicators.push(l);
    }
    if let Err((field, msg)) = config.check() {
        bail!("detection.indicators: {field}: {msg}");
    }
    let mut det = Detection::new(config)?;
    if d.rules_enabled {
        let opt = |s: &str| (!s.is_empty()).then(|| c.path(s));
        let src = RuleSources {
            builtin: d.default_rules,
            files: d.rules.iter().map(|r| c.path(r)).collect(),
            vars: c.rule_vars(),
            classification: opt(&d.classification_file),
            threshold: opt(&d.threshold_file),
            backend: if d.prefilter.is_empty() {
                None
            } else {
                Backend::parse(&d.prefilter)
            },
            cache: if no_rule_cache {
                None
            } else {
                opt(&d.rule_cache).or_else(default_cache)
            },
        };
        if src.backend == Some(Backend::Hyperscan) && Backend::best() != Backend::Hyperscan {
            bail!("prefilter hyperscan: this build has no Hyperscan");
        }
        let (rules, report) = load_rules(&src, RulesConfig::default())?;
        if !quiet {
            for l in report_lines(&report, false) {
                eprintln!("mekong-sensor: {l}");
            }
        }
        det.rules = Some(Arc::new(rules));
    }
    Ok(Some(Arc::new(det)))
}

fn run_config(
    c: &SensorConfig,
    f: &RunFlags,
    inputs: Vec<PathBuf>,
    live: bool,
) -> Result<RunConfig> {
    let detect = detection(c, f.quiet, f.no_rule_cache)?;
    Ok(RunConfig {
        inputs,
        filter: (!c.capture.filter.is_empty()).then(|| c.capture.filter.clone()),
        workers: c.workers(),
        flow: c.flow_config(),
        defrag: c.defrag_config(),
        sink: c.sink_config(live),
        progress: !f.quiet,
        detect,
    })
}

/// `NAME=VALUE` pairs of `--var`.
fn parse_vars(v: &[String]) -> Result<Vec<(String, String)>> {
    v.iter()
        .map(|s| {
            let (k, val) = s
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--var {s:?}: expected NAME=VALUE"))?;
            let k = k.trim().trim_start_matches('$');
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bail!("--var {s:?}: bad variable name");
            }
            Ok((k.to_string(), val.trim().to_string()))
        })
        .collect()
}

fn check_rules(
    files: &[PathBuf],
    vars: &[String],
    classification: Option<PathBuf>,
    all: bool,
) -> Result<bool> {
    let src = RuleSources {
        builtin: false,
        files: files.to_vec(),
        vars: parse_vars(vars)?,
        classification,
        threshold: None,
        backend: None,
        cache: None,
    };
    let (_, report) = load_rules(&src, RulesConfig::default())?;
    for l in report_lines(&report, all) {
        println!("{l}");
    }
    Ok(report.invalid == 0)
}

fn summary_json(s: &RunSummary, workers: usize) -> serde_json::Value {
    let mut errors = serde_json::Map::new();
    for r in Reason::ALL {
        let (layer, name) = r.names();
        errors.insert(
            format!("{layer}.{name}"),
            s.decode.errors[r as usize].into(),
        );
    }
    let app = &s.app;
    let mut app_flows = serde_json::Map::new();
    for (p, n) in PROTOCOLS.iter().zip(app.flows) {
        app_flows.insert(p.name().to_string(), n.into());
    }
    serde_json::json!({
        "packets": s.packets,
        "bytes": s.bytes,
        "filtered": s.filtered,
        "not_ip": s.decode.not_ip,
        "decode_errors": errors,
        "fragments": s.decode.fragments,
        "reassembled": s.decode.reassembled,
        "flows": s.table.flows,
        "evicted": s.table.evicted,
        "peak_flows": s.table.peak_flows,
        "records": s.output.records,
        "app": {
            "flows": app_flows,
            "malformed_records": app.malformed,
            "gaps": app.gaps,
            "depth_exceeded": app.depth_exceeded,
            "budget_exhausted": app.budget_exhausted,
            "peak_buffer_bytes": app.peak_buffer_bytes,
            "events": app.events,
        },
        "stream": {
            "directions": s.stream.directions,
            "bytes": s.stream.bytes,
            "waited": s.stream.waited,
            "gaps": s.stream.gaps,
            "depth_reached": s.stream.depth_reached,
            "budget_exhausted": s.stream.budget_exhausted,
            "peak_buffer_bytes": s.stream.peak_buffer_bytes,
        },
        "detection": {
            "host_events": s.host_events,
            "host_events_handled": s.host.events,
            "alerts": s.output.alerts,
            "alerts_by_technique": s.alerts_by_technique,
            "alerts_by_detector": s.alerts_by_detector,
            "suppressed_hits": s.host.suppressed,
            "peak_state_keys": s.host.peak_state_keys,
            "peak_queue": s.host_peak_queue,
            "late_events": s.host.late,
            "refused_state_keys": s.host.refused_keys,
            "rule_inspections": s.rules.inspections,
            "rule_matches": s.rules.matches,
            "rule_stream_early_flushes": s.rules.early_flushes,
            "rule_encrypted_flows": s.rules.encrypted_flows,
            "rule_scanned_bytes": s.rules.scanned_bytes,
            "rule_candidates": s.rules.candidates,
        },
        "alert_files": s.output.alert_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "files": s.output.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "parquet_bytes": s.output.bytes,
        "input_problems": s.input_problems,
        "workers": workers,
        "elapsed_s": s.elapsed.as_secs_f64(),
    })
}

fn print_summary(s: &RunSummary) {
    let secs = s.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "mekong-sensor: read {} packets ({} bytes) in {:.2} s: {:.0} packets/s, {:.1} Mbit/s",
        s.packets,
        s.bytes,
        secs,
        s.packets as f64 / secs,
        s.bytes as f64 * 8.0 / secs / 1e6
    );
    if s.filtered > 0 {
        eprintln!("  filtered out: {}", s.filtered);
    }
    eprintln!(
        "  not IP: {}; fragments: {} ({} datagrams reassembled)",
        s.decode.not_ip, s.decode.fragments, s.decode.reassembled
    );
    let errs: Vec<String> = Reason::ALL
        .iter()
        .filter(|r| s.decode.errors[**r as usize] > 0)
        .map(|r| {
            let (l, n) = r.names();
            format!("{l}.{n}={}", s.decode.errors[*r as usize])
        })
        .collect();
    eprintln!(
        "  decode errors: {}",
        if errs.is_empty() {
            "none".to_string()
        } else {
            errs.join(", ")
        }
    );
    eprintln!(
        "  flows: {}; evicted: {}; records: {}",
        s.table.flows, s.table.evicted, s.output.records
    );
    let app = &s.app;
    let found: Vec<String> = PROTOCOLS
        .iter()
        .zip(app.flows)
        .map(|(p, n)| format!("{} {n}", p.name()))
        .collect();
    eprintln!(
        "  application: {}; malformed records: {}; gaps: {}; depth exceeded: {}; budget exhausted: {}",
        found.join(", "),
        app.malformed,
        app.gaps,
        app.depth_exceeded,
        app.budget_exhausted
    );
    let by: Vec<String> = s
        .alerts_by_technique
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    eprintln!(
        "  alerts: {}{}",
        s.output.alerts,
        if by.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        }
    );
    eprintln!(
        "  files: {} of flows, {} of alerts ({} bytes of Parquet)",
        s.output.files.len(),
        s.output.alert_files.len(),
        s.output.bytes
    );
    for p in &s.input_problems {
        eprintln!("  warning: {p}");
    }
}

fn check_detectors(file: &std::path::Path) -> Result<()> {
    let c = DetectConfig::load(file)?;
    let d = Detection::new(c)?;
    println!("{}: valid", file.display());
    for st in &d.flow.indicators.stats {
        println!(
            "  indicator list {:?}: {} values, {} lines skipped{}",
            st.name,
            st.loaded,
            st.skipped,
            if st.skipped_lines.is_empty() {
                String::new()
            } else {
                format!(
                    " (lines {})",
                    st.skipped_lines
                        .iter()
                        .map(|l| l.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    Ok(())
}

/// An error and its causes, each said once: a cause whose text the
/// message before it already holds is left out.
fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let t = cause.to_string();
        if t.is_empty() || out.contains(&t) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&t);
    }
    out
}

fn fail(e: &anyhow::Error, code: u8) -> ExitCode {
    eprintln!("mekong-sensor: error: {}", report(e));
    ExitCode::from(code)
}

fn check_config(file: &std::path::Path) -> Result<()> {
    let c = SensorConfig::load(file)?;
    let d = detection(&c, true, true)?;
    println!("{}: valid", file.display());
    if let Some(d) = d {
        println!(
            "  rules: {}; indicator lists: {}",
            d.rules.as_ref().map_or(0, |r| r.set.len()),
            d.flow.indicators.stats.len()
        );
    }
    Ok(())
}

fn read(args: ReadArgs) -> Result<(RunSummary, usize)> {
    let c = sensor_config(&args.run, args.out.as_ref())?;
    let cfg = run_config(&c, &args.run, args.files.clone(), false)?;
    let s = run(&cfg).context("mekong-sensor read")?;
    write_summary(&args.run, &s, cfg.workers)?;
    let workers = cfg.workers;
    // The process ends here: tens of thousands of compiled rules are
    // left to the kernel rather than freed one by one (a tenth of a
    // second with ET Open).
    std::mem::forget(cfg);
    Ok((s, workers))
}

fn write_summary(f: &RunFlags, s: &RunSummary, workers: usize) -> Result<()> {
    if let Some(p) = &f.summary_json {
        std::fs::write(p, serde_json::to_vec_pretty(&summary_json(s, workers))?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn live(args: LiveArgs) -> Result<(RunSummary, usize)> {
    let mut c = sensor_config(&args.run, args.out.as_ref())?;
    if !args.interfaces.is_empty() {
        c.capture.interfaces = args.interfaces.clone();
    }
    if c.capture.interfaces.is_empty() {
        bail!(
            "no interface: give --interface NAME or capture.interfaces in the configuration file"
        );
    }
    if let Some(m) = &args.metrics {
        c.control.metrics = m.clone();
    }
    if let Some(u) = &args.user {
        c.control.user = u.clone();
    }
    if let Some(r) = args.rotate {
        c.output.rotate_s = r;
    }
    if let Some(b) = args.buffer {
        c.capture.buffer_mib = b;
    }
    if let Some(n) = args.snaplen {
        c.capture.snaplen = n;
    }
    if args.no_promiscuous {
        c.capture.promiscuous = false;
    }
    match args.method.as_deref() {
        None => {}
        Some("pcap") => c.capture.method = CaptureMethod::Pcap,
        Some("af-packet") => c.capture.method = CaptureMethod::AfPacket,
        Some("af-xdp") => c.capture.method = CaptureMethod::AfXdp,
        Some(m) => bail!("--method {m:?}: pcap, af-packet or af-xdp"),
    }
    match args.xdp_mode.as_deref() {
        None => {}
        Some("auto") => c.capture.xdp_mode = XdpAttach::Auto,
        Some("native") => c.capture.xdp_mode = XdpAttach::Native,
        Some("generic") => c.capture.xdp_mode = XdpAttach::Generic,
        Some(m) => bail!("--xdp-mode {m:?}: auto, native or generic"),
    }
    if args.xdp_mode.is_some() && c.capture.method != CaptureMethod::AfXdp {
        bail!("--xdp-mode goes with --method af-xdp (or capture.method = \"af-xdp\")");
    }
    if let Err((section, key, msg)) = c.check() {
        bail!("{section}.{key}: {msg}");
    }
    privileges::private_files();
    let cfg = run_config(
        &c,
        &args.run,
        c.capture.interfaces.iter().map(PathBuf::from).collect(),
        true,
    )?;
    let out = cfg.sink.out_dir.clone();
    std::fs::create_dir_all(&out).with_context(|| format!("output directory {}", out.display()))?;
    // The capture is opened as root (or with CAP_NET_RAW), then root is
    // given up.
    let opts = LiveOptions {
        snaplen: c.capture.snaplen,
        promiscuous: c.capture.promiscuous,
        buffer_bytes: c.capture.buffer_mib.saturating_mul(1 << 20),
        timeout_ms: c.capture.timeout_ms,
        filter: c.capture.filter.clone(),
    };
    let mut sources = Vec::new();
    for (i, name) in c.capture.interfaces.iter().enumerate() {
        match c.capture.method {
            CaptureMethod::Pcap => sources.push(Opened {
                interface: i,
                worker: None,
                source: Box::new(LiveCapture::open(name, &opts)?),
            }),
            CaptureMethod::AfXdp => {
                // A socket per receive queue; each reader dispatches by
                // Mekong's own hash (queues are not flow-symmetric).
                let mode = c.capture.xdp_mode;
                let socks = afxdp::open_all(name, &opts, mode, opts.buffer_bytes as usize)?;
                eprintln!(
                    "mekong-sensor: {name}: AF_XDP on {} receive queue(s), {}",
                    socks.len(),
                    if socks.iter().all(|s| s.zero_copy()) {
                        "zero-copy"
                    } else {
                        "packets copied into the frames"
                    }
                );
                for src in socks {
                    sources.push(Opened {
                        interface: i,
                        worker: None,
                        source: Box::new(src),
                    });
                }
            }
            CaptureMethod::AfPacket => {
                // One socket per worker, the ring split between them; the
                // kernel's fanout keeps each flow on one socket.
                let group = fanout_group(name);
                let share = (opts.buffer_bytes as usize / cfg.workers).max(4 << 20);
                for w in 0..cfg.workers {
                    sources.push(Opened {
                        interface: i,
                        worker: Some(w),
                        source: Box::new(AfPacketCapture::open(name, &opts, group, share)?),
                    });
                }
            }
        }
    }
    let method = match c.capture.method {
        CaptureMethod::Pcap => "pcap",
        CaptureMethod::AfPacket => "af-packet",
        CaptureMethod::AfXdp => "af-xdp",
    };
    let live = Arc::new(Live::new(cfg.workers, &c.capture.interfaces));
    let (tx, rx) = crossbeam_channel::unbounded();
    let reload_cfg = args.run.clone();
    let reload_out = args.out.clone();
    let reload: Reloader = Box::new(move || {
        let c = sensor_config(&reload_cfg, reload_out.as_ref()).map_err(|e| report(&e))?;
        detection(&c, true, reload_cfg.no_rule_cache).map_err(|e| report(&e))
    });
    let metrics = if c.control.metrics.is_empty() {
        None
    } else {
        Some(c.control.metrics.parse().map_err(|_| {
            anyhow::anyhow!(
                "metrics address {:?}: expected ADDRESS:PORT",
                c.control.metrics
            )
        })?)
    };
    let retention =
        (c.output.retention_days > 0 || c.output.retention_max_gib > 0.0).then(|| Retention {
            root: out.clone(),
            days: c.output.retention_days,
            max_bytes: (c.output.retention_max_gib * (1u64 << 30) as f64) as u64,
            keep_recent_s: (cfg.sink.close_after_ns / 1_000_000_000) + 2 * 3600,
        });
    mekong_sensor::control::start(
        ControlConfig {
            metrics,
            retention,
            reload,
            verbose: !args.run.quiet,
        },
        Arc::clone(&live),
        tx,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    if !c.control.user.is_empty() {
        let ids = privileges::lookup(&c.control.user).map_err(|e| anyhow::anyhow!(e))?;
        privileges::own_dirs(&out, ids).map_err(|e| anyhow::anyhow!(e))?;
        privileges::become_user(&c.control.user).map_err(|e| anyhow::anyhow!(e))?;
    }
    if !args.run.quiet {
        eprintln!(
            "mekong-sensor: capturing on {} as {} (workers: {}), writing to {}",
            c.capture.interfaces.join(", "),
            privileges::current_user(),
            cfg.workers,
            out.display()
        );
    }
    let heartbeat = std::time::Duration::from_millis(u64::from(c.capture.timeout_ms));
    let s = run_live(
        &cfg,
        method,
        &c.capture.interfaces,
        sources,
        rx,
        live,
        heartbeat,
    )
    .context("mekong-sensor live")?;
    write_summary(&args.run, &s, cfg.workers)?;
    let workers = cfg.workers;
    std::mem::forget(cfg);
    Ok((s, workers))
}

fn main() -> ExitCode {
    mekong_sensor::memory::no_transparent_huge_pages();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Read(a) => read(*a),
        Cmd::Live(a) => live(*a),
        Cmd::CheckConfig { file } => {
            return match check_config(&file) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e, 1),
            };
        }
        Cmd::CheckDetectors { file } => {
            return match check_detectors(&file) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e, 1),
            };
        }
        Cmd::Rules {
            cmd:
                RulesCmd::Check {
                    files,
                    vars,
                    classification_file,
                    all,
                },
        } => {
            return match check_rules(&files, &vars, classification_file, all) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => fail(&e, 2),
            };
        }
    };
    match result {
        Ok((s, _)) => {
            print_summary(&s);
            if s.input_problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => fail(&e, 1),
    }
}
