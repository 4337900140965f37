//! `mekong-analyzer`: SQL over a Mekong output tree.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mekong_analyzer::output::Format;

/// Mekong's analyzer: SQL, profiles, hunts and evidence extracts over the Parquet tree the sensor writes.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
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
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
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
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mekong-analyzer: error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mekong-analyzer: error: {e}");
            ExitCode::FAILURE
        }
    }
}
