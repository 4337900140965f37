//! Bidirectional flows: canonical keys, per-flow state and statistics, TCP
//! state, and the bounded flow table with timer-driven expiry.

pub mod entry;
pub mod key;
pub mod stats;
pub mod summary;
pub mod table;
pub mod tcp;

pub use entry::FlowEntry;
pub use key::FlowKey;
pub use summary::FlowSummary;
pub use table::{EndReason, FlowConfig, FlowHooks, FlowRecord, FlowTable, Hit, TableStats};

#[cfg(test)]
mod size {
    /// The flow entry stays under 1 KiB with its slot: stages keep their
    /// state in side tables, never in the entry.
    #[test]
    fn the_flow_entry_stays_under_one_kib() {
        let entry = std::mem::size_of::<super::FlowEntry>();
        eprintln!(
            "FlowEntry {entry} bytes; DirStats {} TcpState {} Summary {} Splt {} Tunnel {}",
            std::mem::size_of::<super::entry::DirStats>(),
            std::mem::size_of::<super::tcp::TcpState>(),
            std::mem::size_of::<super::stats::Summary>(),
            std::mem::size_of::<super::stats::Splt>(),
            std::mem::size_of::<crate::decode::Tunnel>()
        );
        assert!(entry + 12 < 1024, "FlowEntry is {entry} bytes");
    }
}
