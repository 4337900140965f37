//! Mekong's sensor: reads packets (pcap and pcapng files), decodes them,
//! tracks bidirectional flows, computes flow features, reads light
//! application metadata (DNS, TLS, HTTP, SSH, QUIC) and writes one Parquet
//! record per flow.
//!
//! Data flows one way: [`capture`] → [`decode`] → [`flow`] (with [`app`])
//! → [`output`];
//! [`pipeline`] wires them to threads.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod app;
pub mod capture;
pub mod decode;
pub mod flow;
pub mod output;
pub mod pipeline;
