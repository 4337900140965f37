//! Application messages: pure functions that build protocol bytes for the
//! generator. Each module follows the protocol's wire format closely enough
//! that tshark dissects it without a malformed-packet warning.

pub mod dns;
pub mod http;
pub mod kerberos;
pub mod mail;
pub mod ntp;
pub mod rdp;
pub mod smb;
pub mod ssh;
pub mod tls;
pub mod windows;
pub mod x509;
