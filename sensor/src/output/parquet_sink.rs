//! Writes records as Parquet under
//! `DIR/TABLE/sensor=ID/date=YYYY-MM-DD/hour=HH/part-NNNNN.parquet`, where
//! TABLE is `flows` or `alerts`.
//!
//! The partition is the hour of a flow record's first packet, of an
//! alert's time. Each file is
//! written under a hidden temporary name (`.part-NNNNN.parquet.tmp`, which
//! readers skip), renamed when complete, and its SHA-256 is then added to
//! `_SHA256SUMS` in the same directory (`sha256sum -c _SHA256SUMS` checks
//! them; readers skip names starting with `_`). A
//! partition's file is closed when packet time has passed the end of its hour
//! by more than the longest a record can take to be emitted (active timeout
//! plus idle timeout plus linger), when it reaches the row limit, or at the
//! end. Footers carry the schema version and the capture provenance.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_schema::ArrowError;
use chrono::{DateTime, SecondsFormat, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};
use thiserror::Error;

use arrow_schema::SchemaRef;

use super::alert_columns::AlertOut;
use super::columns::Columns;
use crate::engine::FlowOut;
use mekong_schema::meta;

/// A table of the output tree: its directory, schema and rows.
pub trait Table {
    /// The row type.
    type Row;
    /// Directory under the output root.
    const DIR: &'static str;
    /// Empty column builders.
    fn columns() -> Columns;
    /// The Arrow schema.
    fn schema() -> SchemaRef;
    /// Its version (for the footer).
    fn schema_version() -> u32;
    /// The partition hour of a row (hours since the epoch).
    fn hour(r: &Self::Row) -> u64;
    /// Appends a row.
    fn append(c: &mut Columns, r: &Self::Row, sensor_id: &str);
}

/// Flow records.
pub struct Flows;

impl Table for Flows {
    type Row = FlowOut;
    const DIR: &'static str = "flows";
    fn columns() -> Columns {
        Columns::flows()
    }
    fn schema() -> SchemaRef {
        mekong_schema::flow_schema()
    }
    fn schema_version() -> u32 {
        mekong_schema::SCHEMA_VERSION
    }
    fn hour(r: &FlowOut) -> u64 {
        (r.summary.first_us.max(0) as u64) / (HOUR_NS / 1000)
    }
    fn append(c: &mut Columns, r: &FlowOut, sensor_id: &str) {
        super::flow_columns::append(c, r, sensor_id);
    }
}

/// Alert records.
pub struct Alerts;

impl Table for Alerts {
    type Row = AlertOut;
    const DIR: &'static str = "alerts";
    fn columns() -> Columns {
        Columns::alerts()
    }
    fn schema() -> SchemaRef {
        mekong_schema::alert::alert_schema()
    }
    fn schema_version() -> u32 {
        mekong_schema::alert::ALERT_SCHEMA_VERSION
    }
    fn hour(r: &AlertOut) -> u64 {
        r.alert.ts_ns / HOUR_NS
    }
    fn append(c: &mut Columns, r: &AlertOut, sensor_id: &str) {
        super::alert_columns::append(c, r, sensor_id);
    }
}

/// Errors while writing output.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SinkError {
    /// A file or directory could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The Parquet encoder failed.
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// Arrow arrays could not be built.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SinkError + '_ {
    move |source| SinkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Output settings.
#[derive(Clone, Debug)]
pub struct SinkConfig {
    /// Root directory of the tree.
    pub out_dir: PathBuf,
    /// Sensor identifier (a path-safe name).
    pub sensor_id: String,
    /// Rows buffered before they are encoded.
    pub batch_rows: usize,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Rows per file before a new file is started.
    pub max_rows_per_file: usize,
    /// ZSTD level.
    pub zstd_level: i32,
    /// How long after an hour ends its partition may still receive records, ns.
    pub close_after_ns: u64,
    /// Close every open file this often (packet time, ns), so that a crash
    /// loses at most this much; `None`: files stay open until their hour
    /// is done (offline runs).
    pub rotate_ns: Option<u64>,
}

impl SinkConfig {
    /// Defaults for `out_dir` and `sensor_id`.
    pub fn new(out_dir: PathBuf, sensor_id: String) -> SinkConfig {
        SinkConfig {
            out_dir,
            sensor_id,
            batch_rows: 8192,
            row_group_rows: 256 * 1024,
            max_rows_per_file: 2_000_000,
            zstd_level: 3,
            close_after_ns: (1800 + 300 + 5 + 2) * 1_000_000_000,
            rotate_ns: None,
        }
    }
}

/// Capture-wide facts recorded in every file's footer; the counters are
/// updated by the reader while files are written.
#[derive(Debug, Default)]
pub struct Provenance {
    /// Input files or interface.
    pub inputs: Vec<String>,
    /// BPF filter ("" when none).
    pub bpf_filter: String,
    /// Packets read.
    pub packets_seen: AtomicU64,
    /// Packets dropped before Mekong saw them.
    pub packets_dropped: AtomicU64,
    /// Packets rejected by the filter.
    pub packets_filtered: AtomicU64,
    /// First packet time, ns (0 before any).
    pub first_ns: AtomicU64,
    /// Last packet time, ns.
    pub last_ns: AtomicU64,
    /// Of the dropped packets, those the interface dropped.
    pub packets_if_dropped: AtomicU64,
    /// `file`, or the live capture method (`pcap`).
    pub method: String,
    /// When a live capture started, ns (0 for files).
    pub started_ns: u64,
}

fn rfc3339(ns: u64) -> String {
    DateTime::<Utc>::from_timestamp((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// What was written.
#[derive(Clone, Debug, Default)]
pub struct SinkStats {
    /// Records written.
    pub records: u64,
    /// Files completed.
    pub files: Vec<PathBuf>,
    /// Bytes of completed Parquet files.
    pub bytes: u64,
    /// Alerts written.
    pub alerts: u64,
    /// Alert files completed (Parquet and EVE JSON).
    pub alert_files: Vec<PathBuf>,
}

pub(crate) struct HashingFile {
    inner: BufWriter<File>,
    hash: Sha256,
    bytes: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct OpenFile {
    writer: ArrowWriter<HashingFile>,
    tmp: PathBuf,
    path: PathBuf,
    rows: usize,
}

struct Part {
    cols: Columns,
    file: Option<OpenFile>,
}

/// The Parquet writer of one table.
pub struct ParquetSink<T: Table> {
    cfg: SinkConfig,
    prov: Arc<Provenance>,
    props: WriterProperties,
    parts: BTreeMap<u64, Part>,
    stats: SinkStats,
    /// Packet time of the last rotation.
    rotated_ns: u64,
    _t: std::marker::PhantomData<T>,
}

/// Nanoseconds in an hour.
pub const HOUR_NS: u64 = 3_600_000_000_000;

/// Encoded bytes a row group may buffer before it is written out.
const ROW_GROUP_BYTES: usize = 16 << 20;

/// Name of the checksum list in each partition directory.
pub const SUMS_FILE: &str = "_SHA256SUMS";

impl<T: Table> ParquetSink<T> {
    /// A sink writing under `cfg.out_dir`.
    pub fn new(cfg: SinkConfig, prov: Arc<Provenance>) -> Result<ParquetSink<T>, SinkError> {
        let root = cfg.out_dir.join(T::DIR);
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        let level = ZstdLevel::try_new(cfg.zstd_level)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(cfg.row_group_rows))
            .set_created_by(format!("mekong-sensor {}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(ParquetSink {
            cfg,
            prov,
            props,
            parts: BTreeMap::new(),
            stats: SinkStats::default(),
            rotated_ns: 0,
            _t: std::marker::PhantomData,
        })
    }

    /// What has been written so far.
    pub fn stats(&self) -> &SinkStats {
        &self.stats
    }

    fn dir_of(&self, hour: u64) -> PathBuf {
        partition_dir(&self.cfg, T::DIR, hour)
    }

    /// Adds one record.
    pub fn write(&mut self, r: &T::Row) -> Result<(), SinkError> {
        let hour = T::hour(r);
        let part = self.parts.entry(hour).or_insert_with(|| Part {
            cols: T::columns(),
            file: None,
        });
        T::append(&mut part.cols, r, &self.cfg.sensor_id);
        self.stats.records += 1;
        if part.cols.rows() >= self.cfg.batch_rows {
            self.flush_part(hour, false)?;
        }
        Ok(())
    }

    /// Packet time has reached `now_ns`: closes the partitions that can no
    /// longer receive records.
    pub fn watermark(&mut self, now_ns: u64) -> Result<(), SinkError> {
        let closable: Vec<u64> = self
            .parts
            .keys()
            .copied()
            .filter(|h| (h + 1) * HOUR_NS + self.cfg.close_after_ns < now_ns)
            .collect();
        for h in closable {
            self.flush_part(h, true)?;
            self.parts.remove(&h);
        }
        if let Some(every) = self.cfg.rotate_ns {
            if self.rotated_ns == 0 {
                self.rotated_ns = now_ns;
            } else if now_ns >= self.rotated_ns.saturating_add(every) {
                self.rotated_ns = now_ns;
                self.rotate()?;
            }
        }
        Ok(())
    }

    /// Writes what is buffered and closes every open file (partitions stay
    /// open: their next records start new files).
    pub fn rotate(&mut self) -> Result<(), SinkError> {
        let hours: Vec<u64> = self.parts.keys().copied().collect();
        for h in hours {
            self.flush_part(h, true)?;
        }
        Ok(())
    }

    /// Gives up every open file and buffered row (writing failed): the
    /// temporary files are removed, finished files stay. Returns the rows
    /// lost.
    pub fn abandon(&mut self) -> u64 {
        let mut lost = 0u64;
        for (_, p) in std::mem::take(&mut self.parts) {
            lost += p.cols.rows() as u64;
            if let Some(f) = p.file {
                lost += f.rows as u64;
                let tmp = f.tmp.clone();
                drop(f);
                let _ = fs::remove_file(tmp);
            }
        }
        lost
    }

    /// Closes every file.
    pub fn finish(&mut self) -> Result<SinkStats, SinkError> {
        let hours: Vec<u64> = self.parts.keys().copied().collect();
        for h in hours {
            self.flush_part(h, true)?;
        }
        self.parts.clear();
        Ok(self.stats.clone())
    }

    fn flush_part(&mut self, hour: u64, close: bool) -> Result<(), SinkError> {
        let dir = self.dir_of(hour);
        let Some(part) = self.parts.get_mut(&hour) else {
            return Ok(());
        };
        if part.cols.rows() > 0 {
            let batch = part.cols.finish()?;
            if part.file.is_none() {
                part.file = Some(open_file(&dir, &self.props, T::schema())?);
            }
            if let Some(f) = part.file.as_mut() {
                f.writer.write(&batch)?;
                f.rows += batch.num_rows();
                // Bound the encoder's buffer: end the row group early when
                // it holds more than ROW_GROUP_BYTES of encoded data.
                if f.writer.in_progress_size() > ROW_GROUP_BYTES {
                    f.writer.flush()?;
                }
            }
        }
        let full = part
            .file
            .as_ref()
            .is_some_and(|f| f.rows >= self.cfg.max_rows_per_file);
        if close || full {
            if let Some(f) = part.file.take() {
                let (path, bytes) =
                    close_file(f, &self.prov, &self.cfg.sensor_id, T::schema_version())?;
                self.stats.bytes += bytes;
                self.stats.files.push(path);
            }
        }
        Ok(())
    }
}

/// The directory of a table's partition.
pub fn partition_dir(cfg: &SinkConfig, table: &str, hour: u64) -> PathBuf {
    let dt = DateTime::<Utc>::from_timestamp((hour * 3600) as i64, 0).unwrap_or_default();
    cfg.out_dir
        .join(table)
        .join(format!("sensor={}", cfg.sensor_id))
        .join(format!("date={}", dt.format("%Y-%m-%d")))
        .join(format!("hour={}", dt.format("%H")))
}

fn open_file(
    dir: &Path,
    props: &WriterProperties,
    schema: SchemaRef,
) -> Result<OpenFile, SinkError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut n = 0u32;
    let (path, tmp) = loop {
        let name = format!("part-{n:05}.parquet");
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        if !path.exists() && !tmp.exists() {
            break (path, tmp);
        }
        n += 1;
    };
    let file = File::create(&tmp).map_err(io_err(&tmp))?;
    let hf = HashingFile {
        inner: BufWriter::with_capacity(1 << 20, file),
        hash: Sha256::new(),
        bytes: 0,
    };
    let writer = ArrowWriter::try_new(hf, schema, Some(props.clone()))?;
    Ok(OpenFile {
        writer,
        tmp,
        path,
        rows: 0,
    })
}

fn close_file(
    mut f: OpenFile,
    prov: &Provenance,
    sensor_id: &str,
    version: u32,
) -> Result<(PathBuf, u64), SinkError> {
    let kv = [
        (meta::SCHEMA_VERSION, version.to_string()),
        (meta::SENSOR_ID, sensor_id.to_string()),
        (
            meta::SOFTWARE,
            format!("mekong-sensor {}", env!("CARGO_PKG_VERSION")),
        ),
        (
            meta::INPUTS,
            serde_json::to_string(&prov.inputs).unwrap_or_default(),
        ),
        (meta::BPF_FILTER, prov.bpf_filter.clone()),
        (
            meta::PACKETS_SEEN,
            prov.packets_seen.load(Ordering::Relaxed).to_string(),
        ),
        (
            meta::PACKETS_DROPPED,
            prov.packets_dropped.load(Ordering::Relaxed).to_string(),
        ),
        (
            meta::PACKETS_FILTERED,
            prov.packets_filtered.load(Ordering::Relaxed).to_string(),
        ),
        (
            meta::FIRST_TS,
            rfc3339(prov.first_ns.load(Ordering::Relaxed)),
        ),
        (meta::LAST_TS, rfc3339(prov.last_ns.load(Ordering::Relaxed))),
        (meta::RECORDS, f.rows.to_string()),
        (
            meta::PACKETS_IF_DROPPED,
            prov.packets_if_dropped.load(Ordering::Relaxed).to_string(),
        ),
        (
            meta::CAPTURE_METHOD,
            if prov.method.is_empty() {
                "file".to_string()
            } else {
                prov.method.clone()
            },
        ),
    ];
    let started = (prov.started_ns > 0).then(|| (meta::CAPTURE_STARTED, rfc3339(prov.started_ns)));
    for (k, v) in kv.into_iter().chain(started) {
        f.writer
            .append_key_value_metadata(KeyValue::new(k.to_string(), v));
    }
    let mut hf = f.writer.into_inner()?;
    hf.flush().map_err(io_err(&f.tmp))?;
    let file = hf.inner.into_inner().map_err(|e| SinkError::Io {
        path: f.tmp.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io_err(&f.tmp))?;
    drop(file);
    fs::rename(&f.tmp, &f.path).map_err(io_err(&f.path))?;
    add_checksum(&f.path, hf.hash)?;
    Ok((f.path, hf.bytes))
}

/// Adds a finished file's SHA-256 to the `_SHA256SUMS` of its directory
/// (`sha256sum -c` checks it; the leading underscore keeps Parquet dataset
/// readers from opening it).
pub(crate) fn add_checksum(path: &Path, hash: Sha256) -> Result<(), SinkError> {
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("part.parquet");
    let sums = path.with_file_name(SUMS_FILE);
    let sums_tmp = path.with_file_name(format!(".{SUMS_FILE}.tmp"));
    let mut text = fs::read_to_string(&sums).unwrap_or_default();
    text.push_str(&format!("{digest}  {name}\n"));
    fs::write(&sums_tmp, text).map_err(io_err(&sums_tmp))?;
    fs::rename(&sums_tmp, &sums).map_err(io_err(&sums))?;
    Ok(())
}

/// Removes the temporary files a killed run left in `sensor`'s part of the
/// tree (`.part-*.parquet.tmp`, `._SHA256SUMS.tmp`): finished files were
/// renamed into place, so nothing finished is touched. Returns how many.
pub fn remove_temporaries(out_dir: &Path, sensor_id: &str) -> usize {
    fn walk(dir: &Path, n: &mut usize) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&p, n),
                Ok(t)
                    if t.is_file()
                        && name.starts_with('.')
                        && name.ends_with(".tmp")
                        && fs::remove_file(&p).is_ok() =>
                {
                    *n += 1;
                }
                _ => {}
            }
        }
    }
    let mut n = 0;
    for table in [Flows::DIR, Alerts::DIR] {
        walk(
            &out_dir.join(table).join(format!("sensor={sensor_id}")),
            &mut n,
        );
    }
    n
}
