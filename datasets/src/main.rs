//! `mekong-datasets`: generate labelled captures and score detections.
//!
//! Exit codes: 0 success, 1 runtime failure (I/O, bad input file), 2 bad
//! command line (clap's usage errors).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use mekong_datasets::generate::{self, Options};
use mekong_datasets::pcap::Format;
use mekong_datasets::scenarios::ALL;
use mekong_datasets::score;

#[derive(Parser)]
#[command(
    name = "mekong-datasets",
    version,
    about = "Labelled synthetic traffic for Mekong, and scoring of detections against the labels"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a capture of an office network with labelled attack scenarios.
    Generate(GenerateArgs),
    /// Score EVE-style alerts against a labels file.
    Score(ScoreArgs),
    /// List the scenarios, their ATT&CK techniques and parameters.
    Scenarios,
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// Capture file to write.
    #[arg(long)]
    out: PathBuf,
    /// Labels file (CSV) to write.
    #[arg(long)]
    labels: PathBuf,
    /// Target number of packets; the benign background fills what the
    /// scenarios leave (the exact count is printed).
    #[arg(long, default_value_t = 200_000)]
    packets: u64,
    /// Seed of every random choice; the same arguments give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `all`, `none`, or a comma-separated list of scenario names.
    #[arg(long, default_value = "all")]
    scenarios: String,
    /// Scenario parameter, `SCENARIO.KEY=VALUE` (repeatable), e.g.
    /// `--set portscan_syn.rate=100`.
    #[arg(long = "set", value_name = "SCENARIO.KEY=VALUE")]
    set: Vec<String>,
    /// Container format.
    #[arg(long, value_enum, default_value = "pcap")]
    format: Format,
    /// Capture start (RFC 3339, UTC).
    #[arg(long, default_value = "2026-03-02T01:00:00Z")]
    start: String,
    /// Capture duration: seconds, or with a unit (`90m`, `3h`).
    #[arg(long, default_value = "3h")]
    duration: String,
}

#[derive(clap::Args)]
struct ScoreArgs {
    /// Labels file written by `generate`.
    #[arg(long)]
    labels: PathBuf,
    /// Alerts, one EVE JSON object per line (non-alert events are skipped).
    #[arg(long)]
    alerts: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds an alert may come after a label's end and still match it.
    #[arg(long, default_value_t = 300)]
    slack_after: u64,
    /// Seconds an alert may come before a label's start and still match it.
    #[arg(long, default_value_t = 1)]
    slack_before: u64,
}

fn parse_duration(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86_400),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("bad duration {s:?} (use e.g. 600, 90m, 3h)"))?;
    if n == 0 {
        bail!("duration must be positive");
    }
    Ok(n * mult * 1_000_000_000)
}

/// Writes to `path` through a temporary name renamed on success, so a failed
/// run never leaves a file that looks complete.
fn create_atomic(path: &Path) -> Result<(File, PathBuf)> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out")
    ));
    let f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    Ok((f, tmp))
}

fn run_generate(a: GenerateArgs) -> Result<()> {
    let start = chrono::DateTime::parse_from_rfc3339(&a.start).with_context(|| {
        format!(
            "bad --start {:?} (RFC 3339, e.g. 2026-03-02T01:00:00Z)",
            a.start
        )
    })?;
    let start_ns = start
        .timestamp_nanos_opt()
        .filter(|&n| n > 0)
        .context("--start out of range")? as u64;
    let mut params = Vec::new();
    for s in &a.set {
        let (lhs, value) = s
            .split_once('=')
            .with_context(|| format!("--set {s:?}: expected SCENARIO.KEY=VALUE"))?;
        let (scenario, key) = lhs
            .split_once('.')
            .with_context(|| format!("--set {s:?}: expected SCENARIO.KEY=VALUE"))?;
        params.push((scenario.to_string(), key.to_string(), value.to_string()));
    }
    let opts = Options {
        packets: a.packets,
        seed: a.seed,
        scenarios: a
            .scenarios
            .split(',')
            .map(|s| s.trim().to_string())
            .collect(),
        params,
        format: a.format,
        start_ns,
        duration_ns: parse_duration(&a.duration)?,
    };
    let t = Instant::now();
    let (cap, cap_tmp) = create_atomic(&a.out)?;
    let (lab, lab_tmp) = create_atomic(&a.labels)?;
    let result = generate::generate(&opts, cap, BufWriter::new(lab));
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&cap_tmp);
            let _ = std::fs::remove_file(&lab_tmp);
            return Err(e).context("generation failed");
        }
    };
    std::fs::rename(&cap_tmp, &a.out)
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    std::fs::rename(&lab_tmp, &a.labels)
        .with_context(|| format!("cannot write {}", a.labels.display()))?;
    let secs = t.elapsed().as_secs_f64();
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "wrote {} packets ({} background, {} in {} scenarios) to {} in {:.1} s ({:.0} packets/s)",
        summary.packets,
        summary.background_packets,
        summary.packets - summary.background_packets,
        summary.labels.len(),
        a.out.display(),
        secs,
        summary.packets as f64 / secs.max(1e-9)
    )?;
    writeln!(
        err,
        "wrote {} labels to {}",
        summary.labels.len(),
        a.labels.display()
    )?;
    Ok(())
}

fn run_score(a: ScoreArgs) -> Result<()> {
    let labels = mekong_datasets::labels::read_csv(
        File::open(&a.labels).with_context(|| format!("cannot open {}", a.labels.display()))?,
    )
    .with_context(|| format!("reading {}", a.labels.display()))?;
    let alerts = score::read_alerts(std::io::BufReader::new(
        File::open(&a.alerts).with_context(|| format!("cannot open {}", a.alerts.display()))?,
    ))
    .with_context(|| format!("reading {}", a.alerts.display()))?;
    let rule = score::MatchRule {
        slack_before_us: a.slack_before * 1_000_000,
        slack_after_us: a.slack_after * 1_000_000,
    };
    let report = score::score(&labels, &alerts, &rule);
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.to_table())?;
    }
    Ok(())
}

fn run_list() -> Result<()> {
    let mut out = std::io::stdout().lock();
    for s in ALL {
        writeln!(
            out,
            "{:<18} {:<20} {}",
            s.name(),
            s.techniques().join(","),
            s.description()
        )?;
        for p in s.params() {
            writeln!(out, "    {:<18} {:<26} {}", p.key, p.default, p.doc)?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Generate(a) => run_generate(a),
        Cmd::Score(a) => run_score(a),
        Cmd::Scenarios => run_list(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mekong-datasets: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
