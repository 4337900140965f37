//! `mekong-analyzer`: SQL over a Mekong output tree.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mekong_analyzer::i18n::Lang;
use mekong_analyzer::output::Format;

/// Mekong's analyzer: SQL, profiles, hunts and evidence extracts over the Parquet tree the sensor writes.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Language of messages and reports: `vi` or `en` [default: MEKONG_LANG, else LANG, else en].
    #[arg(long, global = true, value_enum)]
    lang: Option<Lang>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run SQL over the tree: tables `flows` and `alerts`, partition columns `sensor`, `date`, `hour`, functions `in_cidr`, `is_private`, `network`.
    Query {
        /// The output tree (the sensor's `--out`, or several sensors' trees copied together).
        dir: PathBuf,
        /// The query.
        sql: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Write to this file instead of standard output (needed for Parquet).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The flow and alert records police request, as Parquet and CSV with a manifest of hashes; logged in the tree's audit log.
    Extract {
        /// The output tree.
        #[arg(required_unless_present = "verify")]
        dir: Option<PathBuf>,
        /// Case identifier.
        #[arg(long, required_unless_present = "verify")]
        case: Option<String>,
        /// Who asked for it.
        #[arg(long, required_unless_present = "verify")]
        requester: Option<String>,
        /// Who runs it [default: the login name].
        #[arg(long)]
        operator: Option<String>,
        /// The host whose records are wanted.
        #[arg(long)]
        host: Option<std::net::IpAddr>,
        /// Only its records with this peer.
        #[arg(long)]
        peer: Option<std::net::IpAddr>,
        /// Only records on this port (either side).
        #[arg(long)]
        port: Option<u16>,
        /// Window start, UTC (`2026-03-02T08:00:00Z`).
        #[arg(long)]
        from: Option<String>,
        /// Window end, UTC.
        #[arg(long)]
        to: Option<String>,
        /// Flow columns, comma-separated [default: who, when, how much: see the README].
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// Directory to write the extract into.
        #[arg(long, required_unless_present = "verify")]
        out: Option<PathBuf>,
        /// Re-check an extract's files against its manifest instead.
        #[arg(long, value_name = "EXTRACT_DIR", conflicts_with_all = ["dir", "case", "requester", "out"])]
        verify: Option<PathBuf>,
    },
    /// Totals, top talkers, top services, protocol mix, alerts by technique and tactic, capture completeness per sensor and hour.
    Summary {
        /// The output tree.
        dir: PathBuf,
        /// Window start, UTC (`2026-03-02T08:00:00Z`).
        #[arg(long)]
        from: Option<String>,
        /// Window end, UTC.
        #[arg(long)]
        to: Option<String>,
        /// `table` (text sections) or `json` (one object).
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Beaconing (scored Mekong's way and RITA's), long connections, rare destinations: findings with technique, score and evidence.
    Hunt {
        /// The output tree.
        dir: PathBuf,
        /// Servers or blocks never reported (an allow-list applied to past data), comma-separated.
        #[arg(long, value_delimiter = ',')]
        allow: Vec<String>,
        /// `table` (text sections) or `json` (one object).
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One host's behaviour (`--host`), or the attackers ranked with their method fingerprints and campaigns (`--attackers`).
    Profile {
        /// The output tree.
        dir: PathBuf,
        /// The host.
        #[arg(
            long,
            required_unless_present = "attackers",
            conflicts_with = "attackers"
        )]
        host: Option<std::net::IpAddr>,
        /// Rank the hosts that attack and group them into campaigns.
        #[arg(long)]
        attackers: bool,
        /// How many attackers to list.
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// `table` (text sections) or `json` (one object).
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One self-contained HTML report (inline SVG charts, no network needed): alerts over time, attackers, campaigns, hunt findings, completeness.
    Report {
        /// The output tree.
        dir: PathBuf,
        /// The HTML file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// The tree's audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every line of the log (changes, removals, reordering), and the receipts of extracts given.
    Verify {
        /// The output tree.
        dir: PathBuf,
        /// Extract directories whose receipts (AUDIT.json) must be in the log.
        #[arg(long = "receipt")]
        receipts: Vec<PathBuf>,
    },
}

fn verdict(lang: Lang, problems: Vec<String>, what: &str) -> anyhow::Result<()> {
    let t = lang.text();
    if problems.is_empty() {
        println!("{what}: {}", t.intact);
        Ok(())
    } else {
        for p in &problems {
            println!("{p}");
        }
        anyhow::bail!("{what}: {} {}", problems.len(), t.problems)
    }
}

async fn run(cli: Cli, lang: Lang) -> anyhow::Result<()> {
    let t = lang.text();
    match cli.command {
        Command::Report { dir, out } => {
            let html = mekong_analyzer::report::report(&dir, lang).await?;
            std::fs::write(&out, html).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
            println!("{} {}", t.report_written, out.display());
            Ok(())
        }
        Command::Query {
            dir,
            sql,
            format,
            out,
        } => {
            let mut sink: Box<dyn Write + Send> = match &out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?,
                )),
                None if format == Format::Parquet => {
                    anyhow::bail!("Parquet output needs --out FILE")
                }
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            mekong_analyzer::query(&dir, &sql, format, sink.as_mut()).await?;
            sink.flush()?;
            Ok(())
        }
        Command::Extract {
            verify: Some(x), ..
        } => verdict(
            lang,
            mekong_analyzer::extract::verify(&x)?,
            &x.display().to_string(),
        ),
        Command::Extract {
            dir,
            case,
            requester,
            operator,
            host,
            peer,
            port,
            from,
            to,
            columns,
            out,
            verify: None,
        } => {
            let (Some(dir), Some(out)) = (dir, out) else {
                anyhow::bail!("an extract needs the tree and --out");
            };
            let operator = operator
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "unknown".into());
            let req = mekong_analyzer::extract::Request {
                case: case.unwrap_or_default(),
                requester: requester.unwrap_or_default(),
                operator,
                host,
                peer,
                port,
                from,
                to,
                columns,
            };
            let rec = mekong_analyzer::extract::run_logged(&dir, &req, &out).await?;
            println!(
                "{} {}: {} {}, {} {}; {} {}",
                t.extract_written,
                out.display(),
                rec["rows"]["flows"],
                t.flow_records,
                rec["rows"]["alerts"],
                t.alerts,
                t.audit_line,
                rec["seq"]
            );
            Ok(())
        }
        Command::Profile {
            dir,
            host,
            attackers,
            top,
            format,
        } => {
            let p = match host {
                Some(h) if !attackers => mekong_analyzer::profile::host(&dir, h).await?,
                _ => mekong_analyzer::attackers::attackers(&dir, top).await?,
            };
            match format {
                Format::Json => println!("{p}"),
                _ => print!("{}", mekong_analyzer::summary::text(&p)),
            }
            Ok(())
        }
        Command::Hunt { dir, allow, format } => {
            let blocks = allow
                .iter()
                .map(|a| {
                    mekong_analyzer::udf::Block::parse(a)
                        .ok_or_else(|| anyhow::anyhow!("--allow {a:?} is not an address or block"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let h = mekong_analyzer::hunt::hunt(&dir, &blocks).await?;
            match format {
                Format::Json => println!("{h}"),
                _ => print!("{}", mekong_analyzer::summary::text(&h)),
            }
            Ok(())
        }
        Command::Summary {
            dir,
            from,
            to,
            format,
        } => {
            let s = mekong_analyzer::summary::summary(&dir, from.as_deref(), to.as_deref()).await?;
            match format {
                Format::Json => println!("{s}"),
                _ => print!("{}", mekong_analyzer::summary::text(&s)),
            }
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { dir, receipts },
        } => verdict(
            lang,
            mekong_analyzer::audit::verify(&dir, &receipts)?,
            &format!("audit log of {}", dir.display()),
        ),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let lang = cli.lang.unwrap_or_else(Lang::from_env);
    let t = lang.text();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mekong-analyzer: {}: {}: {e}", t.error, t.cannot_start);
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli, lang)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = match e.downcast_ref::<mekong_analyzer::AnalyzerError>() {
                Some(a) => a.localized(lang),
                None => e.to_string(),
            };
            eprintln!("mekong-analyzer: {}: {msg}", t.error);
            ExitCode::FAILURE
        }
    }
}
