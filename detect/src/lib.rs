//! Mekong's detection layer: the behavioural detectors that count across
//! every flow of a host (scans, sweeps, password guessing, floods,
//! reflection, DNS tunnels, beacons, large transfers), the detections one
//! flow shows alone (indicator lists, mining protocols and pools), and the
//! alerts they raise, named by MITRE ATT&CK technique, deduplicated into
//! incidents, and written as Suricata's EVE JSON.
//!
//! Nothing here knows packets or flow tables: the sensor's workers turn
//! packets into compact [`event::HostEvent`]s, the [`host::Merger`] puts the
//! events of every worker in packet-time order, and the [`host::HostStage`]
//! runs the detectors. Thresholds, windows and allow-lists come from one
//! TOML file ([`config::DetectConfig`]).
//!
//! ```
//! use mekong_detect::config::DetectConfig;
//! use mekong_detect::event::{EventKind, FlowRef, HostEvent};
//! use mekong_detect::host::HostStage;
//!
//! let cfg = DetectConfig::default();
//! let mut stage = HostStage::new(&cfg);
//! // One source sends SYNs to 25 ports of one host within a second.
//! for port in 1..=25u16 {
//!     let flow = FlowRef {
//!         uid: i64::from(port),
//!         proto: 6,
//!         vlan: 0,
//!         orig: "45.155.205.233".parse().unwrap(),
//!         orig_port: 40_000,
//!         resp: "10.10.100.10".parse().unwrap(),
//!         resp_port: port,
//!     };
//!     let kind = EventKind::Start { flags: 0x02, payload: 0, frags: 0, from_resp: false, incomplete: false };
//!     stage.event(&HostEvent { ts_ns: 1_000_000_000 + u64::from(port) * 1_000_000, flow, kind });
//! }
//! let alerts = stage.drain();
//! assert_eq!(alerts.len(), 1);
//! assert_eq!(alerts[0].techniques[0], "T1046");
//! assert_eq!(alerts[0].count, 15, "the probes when the threshold (15 ports) was crossed");
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod alert;
pub mod attack;
pub mod config;
pub mod detectors;
pub mod dnsname;
pub mod event;
pub mod flowside;
pub mod host;
pub mod incident;
pub mod indicators;
pub mod net;
pub mod window;

pub use alert::{Alert, Phase};
pub use config::DetectConfig;
pub use event::{EventKind, FlowRef, HostEvent};
pub use host::{HostStage, Merger};
