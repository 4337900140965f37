//! Output: flow records and alerts, as Parquet in a Hive-partitioned tree,
//! and alerts also as Suricata EVE JSON lines. The writer thread talks to
//! one [`Sink`]; [`Output`] is the sensor's, writing every table.

pub mod alert_columns;
pub mod columns;
pub mod eve;
pub mod flow_columns;
pub mod parquet_sink;

pub use alert_columns::AlertOut;
pub use parquet_sink::{Alerts, Flows, ParquetSink, Provenance, SinkConfig, SinkError, SinkStats};

use std::sync::Arc;

use crate::engine::FlowOut;

/// Where finished records and alerts go.
pub trait Sink {
    /// A finished flow record.
    fn flow(&mut self, r: &FlowOut) -> Result<(), SinkError>;
    /// An alert.
    fn alert(&mut self, a: &AlertOut) -> Result<(), SinkError>;
    /// A batch of alerts is complete (make it visible).
    fn alerts_flushed(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    /// Packet time has reached `now_ns` everywhere: partitions that can no
    /// longer receive rows may close.
    fn watermark(&mut self, now_ns: u64) -> Result<(), SinkError>;
    /// Closes everything.
    fn finish(&mut self) -> Result<SinkStats, SinkError>;
}

/// The sensor's output: flow Parquet, alert Parquet and EVE JSON.
pub struct Output {
    flows: ParquetSink<Flows>,
    alerts: ParquetSink<Alerts>,
    eve: eve::EveSink,
}

impl Output {
    /// Sinks under `cfg.out_dir`; alert partitions stay open `alert_delay_ns`
    /// longer than flow partitions (an incident's update alert comes up to
    /// its dedup window after the evidence that stamps it).
    pub fn new(
        cfg: SinkConfig,
        prov: Arc<Provenance>,
        alert_delay_ns: u64,
    ) -> Result<Output, SinkError> {
        let mut acfg = cfg.clone();
        acfg.close_after_ns = acfg.close_after_ns.saturating_add(alert_delay_ns);
        Ok(Output {
            flows: ParquetSink::new(cfg, Arc::clone(&prov))?,
            alerts: ParquetSink::new(acfg.clone(), prov)?,
            eve: eve::EveSink::new(acfg),
        })
    }
}

impl Output {
    /// Gives up every open file (writing failed); returns the flow records
    /// and alerts lost.
    pub fn abandon(&mut self) -> (u64, u64) {
        self.eve.abandon();
        (self.flows.abandon(), self.alerts.abandon())
    }

    /// Files completed so far (Parquet and EVE).
    pub fn files_done(&self) -> usize {
        self.flows.stats().files.len() + self.alerts.stats().files.len() + self.eve.done.len()
    }
}

impl Sink for Output {
    fn flow(&mut self, r: &FlowOut) -> Result<(), SinkError> {
        self.flows.write(r)
    }

    fn alert(&mut self, a: &AlertOut) -> Result<(), SinkError> {
        self.alerts.write(a)?;
        self.eve.write(a)
    }

    fn alerts_flushed(&mut self) -> Result<(), SinkError> {
        self.eve.flush()
    }

    fn watermark(&mut self, now_ns: u64) -> Result<(), SinkError> {
        self.flows.watermark(now_ns)?;
        self.alerts.watermark(now_ns)?;
        self.eve.watermark(now_ns)
    }

    fn finish(&mut self) -> Result<SinkStats, SinkError> {
        let mut s = self.flows.finish()?;
        let a = self.alerts.finish()?;
        self.eve.finish()?;
        s.alerts = a.records;
        s.alert_files = a.files;
        s.alert_files.append(&mut self.eve.done);
        s.bytes += a.bytes;
        Ok(s)
    }
}
