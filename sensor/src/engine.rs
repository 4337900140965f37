//! One worker's data path after decoding: the flow table, the stream engine
//! and the stages, wired one way.
//!
//! For each packet the table finds (or makes) its flow; the stages see the
//! packet; TCP payload goes through the stream engine, whose in-order bytes
//! go to the stages that want them; the application events the packet
//! raised go to every stage. When the table ends a record, the flow summary
//! is computed once, the stages add to the record (application metadata)
//! and may raise alerts, and the record joins the output; when it forgets a
//! slot, the stream engine and the stages forget theirs.

use mekong_appmeta::{AppMeta, Events};
use mekong_detect::event::HostEvent;

use crate::decode::{PacketView, Transport};
use crate::flow::{EndReason, FlowConfig, FlowHooks, FlowRecord, FlowSummary, FlowTable};
use crate::stage::{FlowCtx, RecordExtras, Stage, StageOut};
use crate::stream::{Chunk, StreamEngine, StreamStats};

/// A finished record on its way to the output.
#[derive(Clone, Debug)]
pub struct FlowOut {
    /// The record, summarised.
    pub summary: FlowSummary,
    /// Application metadata.
    pub app: Option<Box<AppMeta>>,
    /// Alerts the record raised (filled by the writer from the host stage).
    pub alerts: Option<Box<AlertNote>>,
}

/// The alerts of a record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertNote {
    /// How many.
    pub count: u32,
    /// Their techniques, each once, in the order first raised.
    pub techniques: Vec<String>,
}

/// Everything but the table, so the table can call it while it works.
struct Rest<S> {
    stream: StreamEngine,
    stages: S,
    app: Events,
    events: Vec<HostEvent>,
    out: Vec<FlowOut>,
    sensor: std::sync::Arc<str>,
}

impl<S: Stage> FlowHooks for Rest<S> {
    fn ended(&mut self, slot: u32, r: FlowRecord) {
        let last = !r.continues;
        if last {
            // A direction still waiting for a hole to fill ends with a gap.
            for d in 0..2 {
                if self.stream.waiting(slot, d) {
                    let f = FlowCtx {
                        slot,
                        dir: d,
                        entry: &r.entry,
                        new: false,
                        closed: false,
                        ts_ns: r.entry.last_ns,
                        sensor: &self.sensor,
                    };
                    let mut out = StageOut {
                        events: &mut self.events,
                        app: &mut self.app,
                    };
                    self.stages.on_stream(&f, Chunk::Gap, &mut out);
                    self.stream.stop(slot, d);
                }
            }
        }
        let summary = FlowSummary::of(&r);
        let mut extras = RecordExtras::default();
        let mut out = StageOut {
            events: &mut self.events,
            app: &mut self.app,
        };
        self.stages
            .on_flow_end(slot, &summary, last, &mut extras, &mut out);
        self.out.push(FlowOut {
            summary,
            app: extras.app,
            alerts: None,
        });
    }

    fn forget(&mut self, slot: u32) {
        self.stream.forget(slot);
        self.stages.on_forget(slot);
    }

    fn backlog(&self) -> usize {
        self.out.len()
    }
}

/// A worker's table, stream engine and stages.
pub struct Engine<S: Stage> {
    table: FlowTable,
    rest: Rest<S>,
}

impl<S: Stage> Engine<S> {
    /// An engine with `stages` over a table configured by `cfg`.
    pub fn new(cfg: FlowConfig, stages: S) -> Engine<S> {
        let sensor = cfg.sensor_id.clone();
        Engine {
            rest: Rest {
                stream: StreamEngine::new(cfg.stream),
                stages,
                app: Events::new(),
                events: Vec::with_capacity(1024),
                out: Vec::with_capacity(512),
                sensor,
            },
            table: FlowTable::new(cfg),
        }
    }

    /// The flow table.
    pub fn table(&self) -> &FlowTable {
        &self.table
    }

    /// The stages.
    pub fn stages(&self) -> &S {
        &self.rest.stages
    }

    /// The stages, to change (a reload of rules or detectors: the flows
    /// and their table stay).
    pub fn stages_mut(&mut self) -> &mut S {
        &mut self.rest.stages
    }

    /// Reassembly counters.
    pub fn stream_stats(&self) -> StreamStats {
        self.rest.stream.stats()
    }

    /// Records finished and not yet taken.
    pub fn records(&mut self) -> &mut Vec<FlowOut> {
        &mut self.rest.out
    }

    /// Host events raised and not yet taken.
    pub fn events(&mut self) -> &mut Vec<HostEvent> {
        &mut self.rest.events
    }

    /// Accounts one packet.
    pub fn process(&mut self, p: &PacketView<'_>) {
        let hit = self.table.process(p, &mut self.rest);
        let r = &mut self.rest;
        let entry = self.table.entry(hit.slot);
        let f = FlowCtx {
            slot: hit.slot,
            dir: hit.dir,
            entry,
            new: hit.new,
            closed: hit.closed,
            ts_ns: p.ts_ns.max(self.table.now()),
            sensor: &r.sensor,
        };
        let mut out = StageOut {
            events: &mut r.events,
            app: &mut r.app,
        };
        r.stages.on_packet(&f, p, &mut out);
        if let Transport::Tcp(t) = p.transport {
            if !p.payload.is_empty() {
                if let Some(offset) = r.stream.offset(hit.slot, hit.dir) {
                    if r.stages.wants_stream(hit.slot, hit.dir, offset) {
                        let cut = p.payload.len() < p.payload_len as usize;
                        let stages = &mut r.stages;
                        r.stream
                            .segment(hit.slot, hit.dir, entry, &t, p.payload, cut, &mut |c| {
                                stages.on_stream(&f, c, &mut out)
                            });
                    } else {
                        r.stream.stop(hit.slot, hit.dir);
                    }
                }
            }
        }
        if !r.app.is_empty() {
            let evs = std::mem::take(&mut r.app);
            let mut out = StageOut {
                events: &mut r.events,
                app: &mut r.app,
            };
            for ev in evs.iter() {
                r.stages.on_app_event(&f, &ev, &mut out);
            }
            let mut evs = evs;
            evs.clear();
            r.app = evs;
        }
        let mut out = StageOut {
            events: &mut r.events,
            app: &mut r.app,
        };
        r.stages.after_packet(&f, p, &mut out);
    }

    /// Asks the parsers for raw application data (HTTP heads and bodies,
    /// certificate DER): the rule engine inspects them.
    pub fn want_raw_app_data(&mut self, yes: bool) {
        self.rest.app.want_raw = yes;
    }

    /// Moves packet time to `now` (a packet that could not be decoded),
    /// ending the flows it makes due; false when work is left.
    pub fn advance(&mut self, now: u64) -> bool {
        self.table.advance(now, &mut self.rest)
    }

    /// Ends every flow at the end of input, handing records to `drain`
    /// every so often.
    pub fn flush(
        &mut self,
        end_ns: u64,
        reason: EndReason,
        drain: &mut dyn FnMut(&mut Vec<FlowOut>, &mut Vec<HostEvent>),
    ) {
        let mut d = |r: &mut Rest<S>| drain(&mut r.out, &mut r.events);
        self.table.flush(end_ns, reason, &mut self.rest, &mut d);
    }
}
