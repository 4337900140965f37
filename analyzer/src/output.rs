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

/// The rows of `sql` as JSON objects (the analyzer's own reports read
/// their queries this way).
pub async fn rows(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
) -> Result<Vec<serde_json::Value>, AnalyzerError> {
    let df = ctx.sql(sql).await?;
    let mut buf = Vec::new();
    write(df, Format::Json, &mut buf).await?;
    String::from_utf8_lossy(&buf)
        .lines()
        .map(|l| {
            serde_json::from_str(l).map_err(|e| {
                AnalyzerError::Request(format!("a row did not read back as JSON: {e}"))
            })
        })
        .collect()
}

/// Microseconds since the epoch as RFC 3339 UTC with microseconds
/// (`2026-03-02T01:09:00.028000Z`), the analyzer's one time format.
pub fn utc_us(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn microsecond_times_by_hand() {
        // 1772413200 s = 2026-03-02T01:00:00Z (the generator's start).
        assert_eq!(
            super::utc_us(1_772_413_200_000_000),
            "2026-03-02T01:00:00.000000Z"
        );
        assert_eq!(
            super::utc_us(951_782_400_000_001),
            "2000-02-29T00:00:00.000001Z"
        );
        assert_eq!(super::utc_us(-1), "1969-12-31T23:59:59.999999Z");
    }
}
