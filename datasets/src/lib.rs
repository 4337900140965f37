//! Labelled synthetic network traffic for Mekong, and scoring of detections
//! against the labels.
//!
//! The generator writes a capture of an office network seen on a SPAN port
//! (benign background plus switchable attack scenarios, each labelled with its
//! MITRE ATT&CK technique) and a CSV file of labels. The scorer compares
//! EVE-style alert lines with those labels.
//!
//! Data flows one way: [`net`] describes the hosts, [`proto`] builds
//! application messages, [`tcp`] and [`engine`] turn conversations into
//! time-ordered frames built by [`wire`], and [`pcap`] streams them to disk.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod background;
pub mod engine;
pub mod generate;
pub mod labels;
pub mod net;
pub mod pcap;
pub mod proto;
pub mod rng;
pub mod scenarios;
pub mod score;
pub mod sessions;
pub mod sessions_win;
pub mod tcp;
pub mod wire;
