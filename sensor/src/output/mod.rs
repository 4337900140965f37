//! Output: flow records to Parquet files in a Hive-partitioned tree.

pub mod columns;
pub mod parquet_sink;

pub use parquet_sink::{ParquetSink, Provenance, SinkConfig, SinkError, SinkStats};
