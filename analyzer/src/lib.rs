//! Mekong's analyzer: SQL for forensic analysts and investigators over a
//! Mekong output tree (one sensor's, or many copied side by side), on
//! Apache DataFusion. The same Parquet files serve DuckDB, pandas and
//! Spark; this crate adds the tables' registration with partition pruning,
//! address functions, and output formats.
//!
//! ```no_run
//! # async fn f() -> Result<(), mekong_analyzer::AnalyzerError> {
//! let (ctx, _) = mekong_analyzer::tree::open(std::path::Path::new("out")).await?;
//! let df = ctx.sql("SELECT count(*) FROM flows WHERE in_cidr(orig_addr, '10.0.0.0/8')").await?;
//! df.show().await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod attackers;
pub mod audit;
pub mod beacon_eval;
pub mod error;
pub mod extract;
pub mod hunt;
pub mod i18n;
pub mod output;
pub mod profile;
pub mod report;
pub mod summary;
pub mod tree;
pub mod udf;

pub use error::AnalyzerError;

/// Runs `sql` over the tree at `dir`, writing the rows to `out`.
pub async fn query(
    dir: &std::path::Path,
    sql: &str,
    format: output::Format,
    out: &mut (dyn std::io::Write + Send),
) -> Result<u64, AnalyzerError> {
    let (ctx, _) = tree::open(dir).await?;
    let df = ctx.sql(sql).await?;
    output::write(df, format, out).await
}
