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
use mekong_sensor::app::{AppConfig, PROTOCOLS};
use mekong_sensor::decode::{DefragConfig, Reason};
use mekong_sensor::flow::table::SEC;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::output::SinkConfig;
use mekong_sensor::pipeline::{run, Detection, RunConfig, RunSummary};
use mekong_sensor::rules::load::{default_cache, load as load_rules, report_lines, RuleSources};
use mekong_sensor::rules::RulesConfig;
use mekong_sensor::stream::StreamConfig;
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
    /// Output directory; flows go to DIR/flows/sensor=ID/date=YYYY-MM-DD/hour=HH/.
    #[arg(long)]
    out: PathBuf,
    /// BPF filter, as in tcpdump (compiled by libpcap).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Flow worker threads [default: number of cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Sensor identifier (letters, digits, '.', '_', '-') [default: host name].
    #[arg(long)]
    sensor_id: Option<String>,
    /// Flows held in memory at once; beyond it the flow closest to expiry is evicted.
    #[arg(long, default_value_t = 1_000_000)]
    max_flows: usize,
    /// TCP idle timeout, seconds.
    #[arg(long, default_value_t = 300)]
    idle_tcp: u64,
    /// UDP idle timeout, seconds.
    #[arg(long, default_value_t = 60)]
    idle_udp: u64,
    /// ICMP and ICMPv6 idle timeout, seconds.
    #[arg(long, default_value_t = 60)]
    idle_icmp: u64,
    /// Idle timeout of other protocols, seconds.
    #[arg(long, default_value_t = 60)]
    idle_other: u64,
    /// Active timeout: long flows are cut into records of at most this many seconds.
    #[arg(long, default_value_t = 1800)]
    active_timeout: u64,
    /// Seconds a closed TCP connection (FIN both ways, or RST) waits for trailing packets.
    #[arg(long, default_value_t = 5)]
    tcp_linger: u64,
    /// Seconds a fragmented datagram may wait for its fragments.
    #[arg(long, default_value_t = 30)]
    frag_timeout: u64,
    /// Datagrams in reassembly at once, per worker.
    #[arg(long, default_value_t = 4096)]
    frag_max_datagrams: usize,
    /// Records per Parquet file before a new file is started.
    #[arg(long, default_value_t = 2_000_000)]
    rows_per_file: usize,
    /// ZSTD compression level of the Parquet files (1-22).
    #[arg(long, default_value_t = 3)]
    zstd_level: i32,
    /// Do not read application metadata (DNS, TLS, HTTP, SSH, QUIC columns stay null).
    #[arg(long)]
    no_app: bool,
    /// Bytes of each direction of a flow a parser may hold while it waits for the rest of a message.
    #[arg(long, default_value_t = 8192, value_name = "BYTES")]
    stream_depth: usize,
    /// Stream buffers held at once, all flows together, in MiB.
    #[arg(long, default_value_t = 128, value_name = "MIB")]
    stream_budget: usize,
    /// Bytes of each direction of a TCP flow put in order for the stages (Suricata's stream.reassembly.depth).
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    reassembly_depth: u64,
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

fn default_sensor_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| {
            s.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "mekong".to_string())
}

fn secs(name: &str, v: u64) -> Result<u64> {
    if v == 0 || v > 30 * 86_400 {
        bail!("--{name} must be between 1 and 2592000 seconds (got {v})");
    }
    Ok(v * SEC)
}

fn config(a: &ReadArgs) -> Result<RunConfig> {
    let sensor_id = a.sensor_id.clone().unwrap_or_else(default_sensor_id);
    if sensor_id.is_empty()
        || sensor_id.len() > 64
        || !sensor_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        || sensor_id.starts_with('.')
    {
        bail!("--sensor-id {sensor_id:?}: use 1-64 letters, digits, '.', '_' or '-', not starting with '.'");
    }
    let workers = a.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if workers == 0 || workers > 256 {
        bail!("--workers must be between 1 and 256 (got {workers})");
    }
    if a.max_flows == 0 {
        bail!("--max-flows must be at least 1");
    }
    if !(256..=1 << 20).contains(&a.stream_depth) {
        bail!(
            "--stream-depth must be between 256 and 1048576 bytes (got {})",
            a.stream_depth
        );
    }
    if !(1..=1 << 20).contains(&a.stream_budget) {
        bail!(
            "--stream-budget must be between 1 and 1048576 MiB (got {})",
            a.stream_budget
        );
    }
    if !(1..=22).contains(&a.zstd_level) {
        bail!("--zstd-level must be between 1 and 22");
    }
    if !(1024..=1 << 30).contains(&a.reassembly_depth) {
        bail!(
            "--reassembly-depth must be between 1024 and 1073741824 bytes (got {})",
            a.reassembly_depth
        );
    }
    if a.no_detect && a.detectors.is_some() {
        bail!("--no-detect and --detectors exclude each other");
    }
    if a.no_detect && (!a.rules.is_empty() || a.threshold_file.is_some()) {
        bail!("--no-detect turns the rules off too: it excludes --rules and --threshold-file");
    }
    if a.no_rules && !a.rules.is_empty() {
        bail!("--no-rules and --rules exclude each other");
    }
    let detect = if a.no_detect {
        None
    } else {
        let config = match &a.detectors {
            Some(p) => DetectConfig::load(p)?,
            None => DetectConfig::default(),
        };
        let mut d = Detection::new(config)?;
        if !a.no_rules {
            let src = RuleSources {
                builtin: !a.no_default_rules,
                files: a.rules.clone(),
                vars: parse_vars(&a.vars)?,
                classification: a.classification_file.clone(),
                threshold: a.threshold_file.clone(),
                backend: match &a.prefilter {
                    None => None,
                    Some(n) => Some(Backend::parse(n).ok_or_else(|| {
                        anyhow::anyhow!("--prefilter {n:?}: hyperscan or aho-corasick")
                    })?),
                },
                cache: if a.no_rule_cache {
                    None
                } else {
                    a.rule_cache.clone().or_else(default_cache)
                },
            };
            if src.backend == Some(Backend::Hyperscan) && Backend::best() != Backend::Hyperscan {
                bail!("--prefilter hyperscan: this build has no Hyperscan");
            }
            let (rules, report) = load_rules(&src, RulesConfig::default())?;
            if !a.quiet {
                for l in report_lines(&report, false) {
                    eprintln!("mekong-sensor: {l}");
                }
            }
            d.rules = Some(Arc::new(rules));
        }
        Some(Arc::new(d))
    };
    let flow = FlowConfig {
        sensor_id: Arc::from(sensor_id.as_str()),
        idle_tcp_ns: secs("idle-tcp", a.idle_tcp)?,
        idle_udp_ns: secs("idle-udp", a.idle_udp)?,
        idle_icmp_ns: secs("idle-icmp", a.idle_icmp)?,
        idle_other_ns: secs("idle-other", a.idle_other)?,
        active_ns: secs("active-timeout", a.active_timeout)?,
        linger_ns: secs("tcp-linger", a.tcp_linger)?,
        max_flows: a.max_flows,
        app: AppConfig {
            enabled: !a.no_app,
            stream_depth: a.stream_depth,
            budget: a.stream_budget.saturating_mul(1 << 20),
        },
        stream: StreamConfig {
            depth: a.reassembly_depth,
            ..StreamConfig::default()
        },
    };
    let max_idle = [
        flow.idle_tcp_ns,
        flow.idle_udp_ns,
        flow.idle_icmp_ns,
        flow.idle_other_ns,
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    let mut sink = SinkConfig::new(a.out.clone(), sensor_id);
    sink.max_rows_per_file = a.rows_per_file.max(1);
    sink.zstd_level = a.zstd_level;
    sink.close_after_ns = flow.active_ns + max_idle + flow.linger_ns + 2 * SEC;
    Ok(RunConfig {
        inputs: a.files.clone(),
        filter: a.filter.clone(),
        workers,
        flow,
        defrag: DefragConfig {
            max_datagrams: a.frag_max_datagrams.max(1),
            timeout_ns: secs("frag-timeout", a.frag_timeout)?,
            ..DefragConfig::default()
        },
        sink,
        progress: !a.quiet,
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

fn main() -> ExitCode {
    mekong_sensor::memory::no_transparent_huge_pages();
    let cli = Cli::parse();
    let args = match cli.cmd {
        Cmd::Read(a) => *a,
        Cmd::CheckDetectors { file } => {
            return match check_detectors(&file) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mekong-sensor: error: {e:#}");
                    ExitCode::from(1)
                }
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
                Err(e) => {
                    eprintln!("mekong-sensor: error: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
    };
    let result = (|| -> Result<(RunSummary, usize)> {
        let cfg = config(&args)?;
        let s = run(&cfg).context("mekong-sensor read")?;
        if let Some(p) = &args.summary_json {
            std::fs::write(
                p,
                serde_json::to_vec_pretty(&summary_json(&s, cfg.workers))?,
            )
            .with_context(|| format!("writing {}", p.display()))?;
        }
        let workers = cfg.workers;
        // The process ends here: tens of thousands of compiled rules are
        // left to the kernel rather than freed one by one (a tenth of a
        // second with ET Open).
        std::mem::forget(cfg);
        Ok((s, workers))
    })();
    match result {
        Ok((s, _)) => {
            print_summary(&s);
            if s.input_problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("mekong-sensor: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
