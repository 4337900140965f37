//! A Mekong output tree as SQL tables: `flows` from `DIR/flows` and `alerts`
//! from `DIR/alerts`, each Hive-partitioned as the sensor writes them
//! (`sensor=ID/date=YYYY-MM-DD/hour=HH/part-N.parquet`), so the partition
//! columns `sensor`, `date` and `hour` are there to filter on and a filter
//! on them reads only the matching directories. One sensor's tree or many
//! copied side by side under one directory read the same way.

use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

use crate::error::AnalyzerError;

/// The partition columns of both tables, in directory order.
pub fn partition_cols() -> Vec<(String, DataType)> {
    vec![
        ("sensor".to_string(), DataType::Utf8),
        ("date".to_string(), DataType::Utf8),
        ("hour".to_string(), DataType::Utf8),
    ]
}

/// True when `dir` holds at least one Parquet file (at any depth).
fn has_parquet(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            has_parquet(&p)
        } else {
            p.extension().is_some_and(|x| x == "parquet")
        }
    })
}

/// A session over the tree at `dir` with the tables and the address
/// functions registered. A table whose directory holds no file is left out
/// (a query naming it gets DataFusion's "table not found").
pub async fn open(dir: &Path) -> Result<(SessionContext, Vec<&'static str>), AnalyzerError> {
    if !dir.is_dir() {
        return Err(AnalyzerError::NotATree(dir.to_path_buf()));
    }
    let cfg = SessionConfig::new()
        .with_information_schema(true)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true);
    let ctx = SessionContext::new_with_config(cfg);
    crate::udf::register(&ctx);
    let mut tables = Vec::new();
    for name in ["flows", "alerts"] {
        let path: PathBuf = dir.join(name);
        if !has_parquet(&path) {
            continue;
        }
        let url = format!("{}/", path.display());
        let opts = ParquetReadOptions::default().table_partition_cols(partition_cols());
        ctx.register_parquet(name, &url, opts)
            .await
            .map_err(|e| AnalyzerError::Table(name, e.to_string()))?;
        tables.push(name);
    }
    if tables.is_empty() {
        return Err(AnalyzerError::NotATree(dir.to_path_buf()));
    }
    Ok((ctx, tables))
}
