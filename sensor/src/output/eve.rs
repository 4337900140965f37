//! Alerts as Suricata EVE JSON lines, one file per partition hour:
//! `DIR/alerts/sensor=ID/date=YYYY-MM-DD/hour=HH/_eve-NNNNN.json`, beside
//! the alert Parquet files (the leading underscore keeps Parquet dataset
//! readers from opening it). Lines are written whole and flushed as alerts
//! come, so a shipper tailing the file sees each alert when it is raised;
//! when the partition closes the file is synced and its SHA-256 added to
//! the directory's `_SHA256SUMS`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::alert_columns::AlertOut;
use super::parquet_sink::{add_checksum, io_err, partition_dir, SinkConfig, SinkError, HOUR_NS};

struct EveFile {
    w: BufWriter<File>,
    hash: Sha256,
    path: PathBuf,
    lines: u64,
}

/// The EVE JSON writer.
pub struct EveSink {
    cfg: SinkConfig,
    files: BTreeMap<u64, EveFile>,
    /// Files completed.
    pub done: Vec<PathBuf>,
    /// Lines written.
    pub lines: u64,
}

impl EveSink {
    /// A writer under `cfg.out_dir`.
    pub fn new(cfg: SinkConfig) -> EveSink {
        EveSink {
            cfg,
            files: BTreeMap::new(),
            done: Vec::new(),
            lines: 0,
        }
    }

    /// Writes one alert.
    pub fn write(&mut self, a: &AlertOut) -> Result<(), SinkError> {
        let hour = a.alert.ts_ns / HOUR_NS;
        if !self.files.contains_key(&hour) {
            let dir = partition_dir(&self.cfg, "alerts", hour);
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let mut n = 0u32;
            let path = loop {
                let p = dir.join(format!("_eve-{n:05}.json"));
                if !p.exists() {
                    break p;
                }
                n += 1;
            };
            let file = OpenOptions::new()
                .create_new(true)
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            self.files.insert(
                hour,
                EveFile {
                    w: BufWriter::new(file),
                    hash: Sha256::new(),
                    path,
                    lines: 0,
                },
            );
        }
        let Some(f) = self.files.get_mut(&hour) else {
            return Ok(());
        };
        let mut line = a
            .alert
            .to_eve(&self.cfg.sensor_id, a.community_id.as_deref())
            .to_string();
        line.push('\n');
        f.w.write_all(line.as_bytes()).map_err(io_err(&f.path))?;
        f.hash.update(line.as_bytes());
        f.lines += 1;
        self.lines += 1;
        Ok(())
    }

    /// Pushes what was written to the files (after each batch of alerts).
    pub fn flush(&mut self) -> Result<(), SinkError> {
        for f in self.files.values_mut() {
            f.w.flush().map_err(io_err(&f.path))?;
        }
        Ok(())
    }

    fn close(&mut self, hour: u64) -> Result<(), SinkError> {
        if let Some(mut f) = self.files.remove(&hour) {
            f.w.flush().map_err(io_err(&f.path))?;
            let file = f.w.into_inner().map_err(|e| SinkError::Io {
                path: f.path.clone(),
                source: e.into_error(),
            })?;
            file.sync_all().map_err(io_err(&f.path))?;
            add_checksum(&f.path, f.hash)?;
            self.done.push(f.path);
        }
        Ok(())
    }

    /// Closes the files of hours that can no longer receive alerts.
    pub fn watermark(&mut self, now_ns: u64) -> Result<(), SinkError> {
        let closable: Vec<u64> = self
            .files
            .keys()
            .copied()
            .filter(|h| (h + 1) * HOUR_NS + self.cfg.close_after_ns < now_ns)
            .collect();
        for h in closable {
            self.close(h)?;
        }
        Ok(())
    }

    /// Stops writing the open files (writing failed): the lines written
    /// stay, without a checksum.
    pub fn abandon(&mut self) {
        self.files.clear();
    }

    /// Closes every file.
    pub fn finish(&mut self) -> Result<(), SinkError> {
        let hours: Vec<u64> = self.files.keys().copied().collect();
        for h in hours {
            self.close(h)?;
        }
        Ok(())
    }
}
