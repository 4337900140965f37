//! The stage interface: what the worker calls for every flow.
//!
//! A worker's data path is one way: decode → flow table → stages → host
//! events and records. The flow table only tracks flows; everything that
//! reads into them is a stage: application parsing first, then detection
//! (and the rule engine). A stage sees
//!
//! - every packet of every flow ([`Stage::on_packet`]), with the flow's
//!   state read-only and the packet's header fields;
//! - the in-order bytes of each TCP direction, up to the reassembly depth
//!   ([`Stage::on_stream`]), for as long as some stage wants them
//!   ([`Stage::wants_stream`]);
//! - every application event the parsers raise ([`Stage::on_app_event`]);
//! - the end of each record, with its [`FlowSummary`] and a sink for
//!   alerts ([`Stage::on_flow_end`]), and the moment a slot is forgotten
//!   ([`Stage::on_forget`]).
//!
//! Stages keep per-flow state in side tables indexed by the flow's slot (so
//! the flow entry itself stays under 1 KiB and knows nothing of them), and
//! are combined as tuples: `(AppStage, DetectStage)` is a stage that calls
//! both, in order, with static dispatch.

use mekong_appmeta::{AppEvent, AppMeta, Events};
use mekong_detect::event::{EventKind, Finding, FlowRef, HostEvent};

use crate::decode::PacketView;
use crate::flow::{FlowEntry, FlowSummary};
use crate::stream::Chunk;

/// The flow a call is about.
#[derive(Clone, Copy, Debug)]
pub struct FlowCtx<'a> {
    /// The flow's slot in the table.
    pub slot: u32,
    /// 0 when the packet (or bytes) came from the originator, 1 from the
    /// responder.
    pub dir: usize,
    /// The flow's state, after the packet was accounted.
    pub entry: &'a FlowEntry,
    /// The packet started the flow.
    pub new: bool,
    /// The packet closed the TCP connection.
    pub closed: bool,
    /// Packet time (never earlier than the worker's clock), ns.
    pub ts_ns: u64,
    /// Sensor id (part of flow identifiers).
    pub sensor: &'a str,
}

impl FlowCtx<'_> {
    /// The flow as events name it (built on demand: most packets raise no
    /// event).
    pub fn flow(&self) -> FlowRef {
        flow_ref(self.entry, self.sensor)
    }
}

/// A flow entry as events name it.
pub fn flow_ref(e: &FlowEntry, _sensor: &str) -> FlowRef {
    let (orig, resp) = e.addrs();
    FlowRef {
        uid: e.uid,
        proto: e.key.proto,
        vlan: e.key.vlan,
        orig,
        orig_port: e.orig_port,
        resp,
        resp_port: e.resp_port,
    }
}

/// Where stages put what they produce.
pub struct StageOut<'a> {
    /// Events for the host stage.
    pub events: &'a mut Vec<HostEvent>,
    /// Application events raised by this packet (the parsing stage fills
    /// it; the worker hands them to every stage after the packet).
    pub app: &'a mut Events,
}

impl StageOut<'_> {
    /// Sends an event of `flow` at `ts_ns` to the host stage.
    pub fn event(&mut self, ts_ns: u64, flow: FlowRef, kind: EventKind) {
        self.events.push(HostEvent { ts_ns, flow, kind });
    }

    /// Raises a flow-level finding (deduplicated by the host stage).
    pub fn alert(&mut self, ts_ns: u64, flow: FlowRef, f: Finding) {
        self.event(ts_ns, flow, EventKind::Finding(Box::new(f)));
    }
}

/// What the stages add to a record when it ends.
#[derive(Debug, Default)]
pub struct RecordExtras {
    /// Application metadata.
    pub app: Option<Box<AppMeta>>,
}

/// A stage of the worker (see the module documentation). Every method has
/// a default that does nothing.
pub trait Stage {
    /// A packet of the flow `f`.
    fn on_packet(&mut self, f: &FlowCtx<'_>, p: &PacketView<'_>, out: &mut StageOut<'_>) {
        let _ = (f, p, out);
    }

    /// True while the stage wants the in-order bytes of direction `dir` of
    /// `slot` from `offset` on. Once no stage wants them the direction
    /// stops for good, so a stage must not change its mind from false back
    /// to true.
    fn wants_stream(&self, slot: u32, dir: usize, offset: u64) -> bool {
        let _ = (slot, dir, offset);
        false
    }

    /// The next in-order bytes of direction `f.dir`, or a gap.
    fn on_stream(&mut self, f: &FlowCtx<'_>, chunk: Chunk<'_>, out: &mut StageOut<'_>) {
        let _ = (f, chunk, out);
    }

    /// An application event of the flow `f` (raised by this packet).
    fn on_app_event(&mut self, f: &FlowCtx<'_>, ev: &AppEvent<'_>, out: &mut StageOut<'_>) {
        let _ = (f, ev, out);
    }

    /// The packet has been through every stage, its stream bytes and its
    /// application events too (the rule engine inspects packets here, the
    /// flow's protocol known).
    fn after_packet(&mut self, f: &FlowCtx<'_>, p: &PacketView<'_>, out: &mut StageOut<'_>) {
        let _ = (f, p, out);
    }

    /// A record of the flow in `slot` ends (`last` when the flow does).
    fn on_flow_end(
        &mut self,
        slot: u32,
        s: &FlowSummary,
        last: bool,
        rec: &mut RecordExtras,
        out: &mut StageOut<'_>,
    ) {
        let _ = (slot, s, last, rec, out);
    }

    /// The flow in `slot` is gone: its state goes.
    fn on_forget(&mut self, slot: u32) {
        let _ = slot;
    }
}

/// No stage.
impl Stage for () {}

macro_rules! tuple_stage {
    ($($name:ident . $i:tt),+) => {
        impl<$($name: Stage),+> Stage for ($($name,)+) {
            #[inline]
            fn on_packet(&mut self, f: &FlowCtx<'_>, p: &PacketView<'_>, out: &mut StageOut<'_>) {
                $(self.$i.on_packet(f, p, out);)+
            }
            #[inline]
            fn wants_stream(&self, slot: u32, dir: usize, offset: u64) -> bool {
                false $(|| self.$i.wants_stream(slot, dir, offset))+
            }
            #[inline]
            fn on_stream(&mut self, f: &FlowCtx<'_>, chunk: Chunk<'_>, out: &mut StageOut<'_>) {
                $(self.$i.on_stream(f, chunk, out);)+
            }
            #[inline]
            fn on_app_event(&mut self, f: &FlowCtx<'_>, ev: &AppEvent<'_>, out: &mut StageOut<'_>) {
                $(self.$i.on_app_event(f, ev, out);)+
            }
            #[inline]
            fn after_packet(&mut self, f: &FlowCtx<'_>, p: &PacketView<'_>, out: &mut StageOut<'_>) {
                $(self.$i.after_packet(f, p, out);)+
            }
            fn on_flow_end(
                &mut self,
                slot: u32,
                s: &FlowSummary,
                last: bool,
                rec: &mut RecordExtras,
                out: &mut StageOut<'_>,
            ) {
                $(self.$i.on_flow_end(slot, s, last, rec, out);)+
            }
            fn on_forget(&mut self, slot: u32) {
                $(self.$i.on_forget(slot);)+
            }
        }
    };
}

tuple_stage!(A.0);
tuple_stage!(A.0, B.1);
tuple_stage!(A.0, B.1, C.2);
tuple_stage!(A.0, B.1, C.2, D.3);

/// A stage that may be off: `None` does nothing.
impl<S: Stage> Stage for Option<S> {
    #[inline]
    fn on_packet(&mut self, f: &FlowCtx<'_>, p: &PacketView<'_>, out: &mut StageOut<'_>) {
        if let Some(s) = self {
            s.on_packet(f, p, out);
        }
    }
    #[inline]
    fn wants_stream(&self, slot: u32, dir: usize, offset: u64) -> bool {
        self.as_ref()
            .is_some_and(|s| s.wants_stream(slot, dir, offset))
    }
    #[inline]
    fn on_stream(&mut self, f: &FlowCtx<'_>, chunk: Chunk<'_>, out: &mut StageOut<'_>) {
        if let Some(s) = self {
            s.on_stream(f, chunk, out);
        }
    }
    #[inline]
    fn on_app_event(&mut self, f: &FlowCtx<'_>, ev: &AppEvent<'_>, out: &mut StageOut<'_>) {
        if let Some(s) = self {
            s.on_app_event(f, ev, out);
        }
    }
    #[inline]
    fn after_packet(&mut self, f: &FlowCtx<'_>, p: &PacketView<'_>, out: &mut StageOut<'_>) {
        if let Some(s) = self {
            s.after_packet(f, p, out);
        }
    }
    fn on_flow_end(
        &mut self,
        slot: u32,
        s: &FlowSummary,
        last: bool,
        rec: &mut RecordExtras,
        out: &mut StageOut<'_>,
    ) {
        if let Some(st) = self {
            st.on_flow_end(slot, s, last, rec, out);
        }
    }
    fn on_forget(&mut self, slot: u32) {
        if let Some(s) = self {
            s.on_forget(slot);
        }
    }
}
