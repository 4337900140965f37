//! Generation of one capture and its labels: builds the network, the
//! scenarios and the background, and runs the scheduler into a capture writer.

use std::io::Write;
use std::rc::Rc;

use thiserror::Error;

use crate::background::{count_packets, Background, Factory};
use crate::engine::Scheduler;
use crate::labels::Label;
use crate::net::Network;
use crate::pcap::{CaptureWriter, Format};
use crate::rng::Rng;
use crate::scenarios::{self, Params, Scenario};
use crate::sessions::SEC;

/// Errors of generation.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// Writing the capture or the labels failed.
    #[error("writing {what}: {source}")]
    Io {
        /// What was being written.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A scenario name or parameter is wrong.
    #[error(transparent)]
    Scenario(#[from] scenarios::ScenarioError),
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Target number of packets in the capture (background fills up to it).
    pub packets: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Scenarios to include, by name.
    pub scenarios: Vec<String>,
    /// Parameter overrides `(scenario, key, value)`.
    pub params: Vec<(String, String, String)>,
    /// Container format.
    pub format: Format,
    /// Capture start, nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// Capture duration, nanoseconds (scenario times are placed within it).
    pub duration_ns: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            packets: 200_000,
            seed: 1,
            scenarios: scenarios::ALL
                .iter()
                .map(|s| s.name().to_string())
                .collect(),
            params: Vec::new(),
            format: Format::Pcap,
            // 2026-03-02T01:00:00Z, 08:00 in the office (UTC+7).
            start_ns: 1_772_413_200 * SEC,
            duration_ns: 3 * 3600 * SEC,
        }
    }
}

/// What was generated.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Packets written.
    pub packets: u64,
    /// Packets of the background.
    pub background_packets: u64,
    /// Packets of each scenario instance, in label order.
    pub scenario_packets: Vec<u64>,
    /// The labels written.
    pub labels: Vec<Label>,
}

/// Generates a capture into `capture` and its labels into `labels`.
pub fn generate<W: Write, L: Write>(
    opts: &Options,
    capture: W,
    labels: L,
) -> Result<Summary, GenerateError> {
    let mut root = Rng::new(opts.seed, 0);
    let net = Rc::new(Network::build(&mut root.fork(1)));
    let selected = scenarios::select(&opts.scenarios)?;
    let mut instances: Vec<(&dyn Scenario, Params)> = Vec::new();
    for s in &selected {
        let mut p = s.defaults();
        for (name, key, value) in &opts.params {
            if name == s.name() {
                p.set(s.name(), key, value)?;
            }
        }
        instances.push((*s, p));
    }
    for (name, _, _) in &opts.params {
        if !selected.iter().any(|s| s.name() == name) {
            return Err(scenarios::ScenarioError::NotSelected(name.clone()).into());
        }
    }
    let ctx = scenarios::Ctx {
        net: &net,
        start_ns: opts.start_ns,
        duration_ns: opts.duration_ns,
    };
    // Each scenario has its own generator stream (by its fixed id), so turning
    // one on or off does not change another.
    let mut scheduler = Scheduler::new(instances.len() + 1);
    let mut scenario_budget = 0u64;
    let mut meta = Vec::new();
    for (i, (s, p)) in instances.iter().enumerate() {
        let rng = Rng::new(opts.seed, 1000 + s.id());
        let (mut pilot, _) = s.build(&ctx, p, rng.clone())?;
        scenario_budget += count_packets(&mut pilot);
        let (source, label) = s.build(&ctx, p, rng)?;
        scheduler.add(i + 1, source);
        meta.push(label);
    }
    let budget = opts.packets.saturating_sub(scenario_budget);
    let factory = Factory::new(Rc::clone(&net), opts.start_ns, budget);
    if budget > 0 {
        let per_session = Background::mean_packets_per_session(&factory, opts.seed, 3000);
        let sessions = budget as f64 / per_session.max(1.0);
        let mean_gap = opts.duration_ns as f64 / sessions.max(1.0);
        let bg = Background::new(
            factory,
            Rng::new(opts.seed, 2),
            opts.start_ns,
            mean_gap,
            budget,
            scheduler.stats(0),
        );
        scheduler.add(0, Box::new(bg));
    }
    let mut writer = CaptureWriter::new(
        std::io::BufWriter::with_capacity(1 << 20, capture),
        opts.format,
    )
    .map_err(|source| GenerateError::Io {
        what: "capture header",
        source,
    })?;
    let packets = scheduler
        .run(&mut writer)
        .map_err(|source| GenerateError::Io {
            what: "capture",
            source,
        })?;
    let mut summary = Summary {
        packets,
        background_packets: scheduler.stats(0).packets.get(),
        ..Summary::default()
    };
    for (i, mut label) in meta.into_iter().enumerate() {
        let st = scheduler.stats(i + 1);
        label.start_us = st.first_ns.get().unwrap_or(opts.start_ns) / 1000;
        label.end_us = st.last_ns.get().unwrap_or(opts.start_ns) / 1000;
        label.packets = st.packets.get();
        summary.scenario_packets.push(st.packets.get());
        summary.labels.push(label);
    }
    crate::labels::write_csv(labels, &summary.labels).map_err(|source| GenerateError::Io {
        what: "labels",
        source,
    })?;
    Ok(summary)
}
