//! Mekong's sensor: reads packets (pcap and pcapng files), decodes them,
//! tracks bidirectional flows, computes flow features, reads application
//! metadata (DNS, TLS, HTTP, SSH, QUIC, FTP, Telnet, POP3, IMAP), detects
//! attack techniques, and writes one Parquet record per flow and its alerts
//! (Parquet and EVE JSON).
//!
//! Data flows one way: [`capture`] → [`decode`] → [`flow`] table →
//! [`stream`] reassembly → [`stage`]s ([`app`] parsing, then [`detect`]ion)
//! → [`host`] stage (detectors across every flow of a host) → [`output`];
//! [`engine`] is one worker's path, [`pipeline`] wires the threads (of a
//! file run, and of a live run on interfaces); [`config`] is the
//! configuration file, [`control`] the live run's control plane (signals,
//! metrics, retention, privileges).
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod app;
pub mod capture;
pub mod config;
pub mod control;
pub mod decode;
pub mod detect;
pub mod engine;
pub mod flow;
pub mod host;
pub mod memory;
pub mod output;
pub mod pipeline;
pub mod rules;
pub mod stage;
pub mod stream;
