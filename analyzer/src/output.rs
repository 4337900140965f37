//! Query results out: an aligned table, CSV (lists and other nested values
//! as text, `[a, b]`), JSON lines or Parquet. CSV,
//! JSON lines and Parquet are written batch by batch as the query streams
//! them (bounded memory whatever the result's size); the aligned table
//! needs every row to size its columns.

use std::io::Write;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::parquet::arrow::ArrowWriter;
use futures::StreamExt;

use crate::error::AnalyzerError;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row.
    Json,
    /// Parquet (needs a file).
    Parquet,
}

/// A batch with its nested columns (lists, structs, maps) as text (`[a, b]`),
/// which CSV cannot hold otherwise.
fn flat(b: &RecordBatch) -> Result<RecordBatch, AnalyzerError> {
    use datafusion::arrow::array::{Array, ArrayRef, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let nested = |t: &DataType| t.is_nested();
    if !b.schema().fields().iter().any(|f| nested(f.data_type())) {
        return Ok(b.clone());
    }
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        if nested(f.data_type()) {
            let fmt =
                ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()).map_err(werr)?;
            let s: StringArray = (0..c.len())
                .map(|i| (!c.is_null(i)).then(|| fmt.value(i).to_string()))
                .collect();
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            cols.push(std::sync::Arc::new(s));
        } else {
            fields.push(f.as_ref().clone());
            cols.push(c.clone());
        }
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), cols).map_err(werr)
}

fn werr(e: impl std::fmt::Display) -> AnalyzerError {
    AnalyzerError::Write(e.to_string())
}

/// Runs `df` and writes its rows to `out` in `format`; returns the row count.
pub async fn write(
    df: DataFrame,
    format: Format,
    out: &mut (dyn Write + Send),
) -> Result<u64, AnalyzerError> {
    let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
    let mut stream = df.execute_stream().await?;
    let mut rows = 0u64;
    match format {
        Format::Table => {
            let mut all: Vec<RecordBatch> = Vec::new();
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                all.push(b);
            }
            let t = datafusion::arrow::util::pretty::pretty_format_batches(&all).map_err(werr)?;
            writeln!(out, "{t}").map_err(werr)?;
            writeln!(out, "{rows} rows").map_err(werr)?;
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&flat(&b)?).map_err(werr)?;
            }
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b).map_err(werr)?;
            }
            w.finish().map_err(werr)?;
        }
        Format::Parquet => {
            let mut w = ArrowWriter::try_new(out, schema, None).map_err(werr)?;
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b).map_err(werr)?;
            }
            w.close().map_err(werr)?;
        }
    }
    Ok(rows)
}
