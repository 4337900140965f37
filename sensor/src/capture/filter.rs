//! BPF filters as in tcpdump: compiled by libpcap for each link type met, and
//! applied to packets from Mekong's own readers.

use std::collections::HashMap;

use pcap::{BpfProgram, Capture, Linktype};
use thiserror::Error;

/// A filter expression libpcap rejected.
#[derive(Debug, Error)]
#[error("BPF filter {expr:?} does not compile for link type {linktype}: {msg}")]
pub struct FilterError {
    /// The expression.
    pub expr: String,
    /// Link type it was compiled for.
    pub linktype: u16,
    /// libpcap's message.
    pub msg: String,
}

/// A compiled filter (one program per link type).
pub struct Filter {
    expr: String,
    programs: HashMap<u16, BpfProgram>,
}

impl Filter {
    /// Compiles `expr` for Ethernet at once, so a bad expression is reported
    /// before any packet is read.
    pub fn new(expr: &str) -> Result<Filter, FilterError> {
        let mut f = Filter {
            expr: expr.to_string(),
            programs: HashMap::new(),
        };
        f.program(crate::capture::linktype::ETHERNET)?;
        Ok(f)
    }

    /// The expression.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    fn program(&mut self, linktype: u16) -> Result<&BpfProgram, FilterError> {
        if !self.programs.contains_key(&linktype) {
            let err = |msg: String| FilterError {
                expr: self.expr.clone(),
                linktype,
                msg,
            };
            let dead =
                Capture::dead(Linktype(i32::from(linktype))).map_err(|e| err(e.to_string()))?;
            let p = dead
                .compile(&self.expr, true)
                .map_err(|e| err(e.to_string()))?;
            self.programs.insert(linktype, p);
        }
        Ok(&self.programs[&linktype])
    }

    /// True when the packet passes. libpcap sees the captured bytes (length
    /// tests such as `greater N` use the captured length).
    pub fn matches(&mut self, linktype: u16, data: &[u8]) -> Result<bool, FilterError> {
        Ok(self.program(linktype)?.filter(data))
    }
}
