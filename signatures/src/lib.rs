//! Mekong's rule engine: Suricata's rule language, parsed, compiled and
//! matched.
//!
//! - [`parse`]: rule files into typed [`rule::Rule`]s, with errors that name
//!   the line and the keyword; [`rule`] prints a rule back as text.
//! - [`compile`]: variables resolved, options into per-buffer inspection
//!   steps, the inspection point and the fast pattern chosen; what Mekong
//!   does not support is refused with a reason.
//! - [`engine`]: a [`engine::RuleSet`] indexes compiled rules by inspection
//!   point and buffer behind a multi-pattern [`prefilter`] (Hyperscan or
//!   aho-corasick) and inspects packets, stream messages and application
//!   transactions; [`matcher`] matches one buffer, [`state`] keeps flowbits,
//!   flowints and xbits.
//! - [`threshold`]: `threshold`, `detection_filter` and `threshold.config`
//!   (suppress, threshold, rate_filter), applied where every alert of a
//!   host arrives.
//!
//! The crate knows nothing of packets' wire formats: the sensor hands it
//! header fields and buffers.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod addr;
pub mod buffers;
pub mod classify;
pub mod compile;
pub mod engine;
pub mod matcher;
pub mod parse;
pub mod prefilter;
pub mod rule;
pub mod state;
pub mod threshold;
pub mod transform;

pub use engine::{RuleSet, RuleSetOptions};

/// Mekong's shipped rules (`signatures/rules/mekong.rules`).
pub const BUILTIN_RULES: &str = include_str!("../rules/mekong.rules");
pub use parse::{parse_rule, RuleError};

/// Application protocols rules name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum App {
    /// HTTP/1.x.
    Http,
    /// DNS.
    Dns,
    /// TLS.
    Tls,
    /// SSH.
    Ssh,
    /// FTP (control).
    Ftp,
    /// SMTP.
    Smtp,
    /// SMB.
    Smb,
    /// DCE/RPC.
    Dcerpc,
    /// POP3.
    Pop3,
    /// IMAP.
    Imap,
    /// Telnet.
    Telnet,
    /// Kerberos.
    Krb5,
}

impl App {
    /// The protocol keyword.
    pub fn name(self) -> &'static str {
        match self {
            App::Http => "http",
            App::Dns => "dns",
            App::Tls => "tls",
            App::Ssh => "ssh",
            App::Ftp => "ftp",
            App::Smtp => "smtp",
            App::Smb => "smb",
            App::Dcerpc => "dcerpc",
            App::Pop3 => "pop3",
            App::Imap => "imap",
            App::Telnet => "telnet",
            App::Krb5 => "krb5",
        }
    }
}
