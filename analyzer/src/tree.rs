//! A Mekong output tree as SQL tables: `flows` from `DIR/flows` and `alerts`
//! from `DIR/alerts`, each Hive-partitioned as the sensor writes them
//! (`sensor=ID/date=YYYY-MM-DD/hour=HH/part-N.parquet`), so the partition
//! columns `sensor`, `date` and `hour` are there to filter on and a filter
//! on them reads only the matching directories. One sensor's tree or many
//! copied side by side under one directory read the same way.

use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
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

/// The memory a query may hold before it spills or fails: 4 GiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 4 << 30;

/// The memory limit: `MEKONG_MEMORY_LIMIT` in MiB, else
/// [`DEFAULT_MEMORY_LIMIT`].
pub fn memory_limit() -> usize {
    std::env::var("MEKONG_MEMORY_LIMIT")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&m| m > 0)
        .map_or(DEFAULT_MEMORY_LIMIT, |m| m << 20)
}

/// `schema` with its top-level text columns as `Utf8View`.
fn with_string_views(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
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
    // DataFusion's own settings from the environment (`DATAFUSION_*`,
    // e.g. `DATAFUSION_EXECUTION_TARGET_PARTITIONS`), then Mekong's.
    let mut cfg = SessionConfig::from_env()
        .map_err(|e| AnalyzerError::Table("session", e.to_string()))?
        .with_information_schema(true);
    // Statistics are not gathered when a table is opened: that reads every
    // file's footer (the flow record has some 240 columns) before the
    // query starts, and a tree of thousands of files pays it on every
    // query, where the scan prunes row groups by the same statistics
    // anyway (the scale benchmark: a third of a filtered aggregate's time).
    if std::env::var_os("DATAFUSION_EXECUTION_COLLECT_STATISTICS").is_none() {
        cfg = cfg.set_bool("datafusion.execution.collect_statistics", false);
    }
    // Page indexes are not read: DataFusion loads them for every column of
    // a file it filters, some 240 for a flow file, and an hour's file is
    // rarely pruned by pages where its row groups were not (the scale
    // benchmark: a filtered aggregate 15% faster without). Mekong's writer
    // writes no bloom filters, so looking for them is not done either.
    for (env, key) in [
        (
            "DATAFUSION_EXECUTION_PARQUET_ENABLE_PAGE_INDEX",
            "datafusion.execution.parquet.enable_page_index",
        ),
        (
            "DATAFUSION_EXECUTION_PARQUET_BLOOM_FILTER_ON_READ",
            "datafusion.execution.parquet.bloom_filter_on_read",
        ),
    ] {
        if std::env::var_os(env).is_none() {
            cfg = cfg.set_bool(key, false);
        }
    }
    // Twice as many partitions as cores: a partition waiting on a file
    // read leaves its core to another's decoding (the scale benchmark:
    // a tenth faster on two cores).
    if std::env::var_os("DATAFUSION_EXECUTION_TARGET_PARTITIONS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        cfg = cfg.with_target_partitions(2 * cores);
    }
    let views = cfg.options().execution.parquet.schema_force_view_types;
    // Queries stream; what must be held (hash tables, sorts) is bounded by
    // the memory limit and spills to disk beyond it.
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(memory_limit(), 1.0)
        .build_arc()
        .map_err(|e| AnalyzerError::Table("session", e.to_string()))?;
    let ctx = SessionContext::new_with_config_rt(cfg, runtime);
    crate::udf::register(&ctx);
    let mut tables = Vec::new();
    for name in ["flows", "alerts"] {
        let path: PathBuf = dir.join(name);
        if !has_parquet(&path) {
            continue;
        }
        let url = format!("{}/", path.display());
        // The record's schema as this version writes it, not one inferred
        // from every file's footer: opening a tree of thousands of files
        // reads none of them, and files of an older schema version read
        // with their missing columns as nulls.
        let schema = match name {
            "flows" => mekong_schema::flow_schema(),
            _ => mekong_schema::alert::alert_schema(),
        };
        // Text read as string views, as DataFusion reads an inferred
        // schema: no copy out of the pages, faster grouping and hashing.
        let schema = if views {
            with_string_views(&schema)
        } else {
            (*schema).clone()
        };
        let opts = ParquetReadOptions::default()
            .table_partition_cols(partition_cols())
            .schema(&schema);
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
