//! The TLS state of a connection: what the ClientHello, ServerHello and
//! server certificate say, for the record's `tls_*` columns.

use crate::fingerprint::{ja3, ja3s, ja4};
use crate::tls::{
    self, client_hello, first_certificate, handshake_bytes, messages, msg, server_hello,
};
use crate::x509::{self, CertInfo};
use crate::{flags, Outcome, Step};

/// What a flow's TLS handshake says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsMeta {
    /// Server name.
    pub sni: Option<String>,
    /// Versions offered.
    pub client_versions: Option<Vec<u16>>,
    /// ALPN protocols offered.
    pub alpn: Option<Vec<String>>,
    /// Cipher suites offered.
    pub ciphers: Option<Vec<u16>>,
    /// Extension types of the ClientHello.
    pub extensions: Option<Vec<u16>>,
    /// JA4.
    pub ja4: Option<String>,
    /// JA3.
    pub ja3: Option<String>,
    /// JA3S.
    pub ja3s: Option<String>,
    /// Version the server chose.
    pub server_version: Option<u16>,
    /// Cipher suite the server chose.
    pub server_cipher: Option<u16>,
    /// The server's certificate (TLS 1.2 and below).
    pub cert: Option<CertInfo>,
}

impl TlsMeta {
    /// The ClientHello just read, as an event.
    pub fn client_event(&self, ev: &mut crate::event::Events) {
        ev.tls_client_hello(
            self.sni.as_deref(),
            self.ja3.as_deref(),
            self.ja4.as_deref(),
        );
    }

    /// The ServerHello just read, as an event.
    pub fn server_event(&self, ev: &mut crate::event::Events) {
        ev.tls_server_hello(
            self.ja3s.as_deref(),
            self.server_version.unwrap_or(0),
            self.server_cipher.unwrap_or(0),
        );
    }

    /// Fills the server columns from a parsed ServerHello.
    pub fn server_hello(&mut self, sh: &tls::ServerHello) {
        self.ja3s = Some(ja3s(sh));
        self.server_version = Some(sh.negotiated());
        self.server_cipher = Some(sh.cipher);
    }

    /// Fills the client columns from a ClientHello body (sent over QUIC when `quic`).
    pub fn client_hello(&mut self, body: &[u8], quic: bool, anomalies: &mut u32) -> bool {
        let Some(ch) = client_hello(body) else {
            *anomalies |= flags::MALFORMED;
            return false;
        };
        if ch.truncated {
            *anomalies |= flags::TRUNCATED;
        }
        self.ja4 = Some(ja4(&ch, quic));
        self.ja3 = Some(ja3(&ch));
        self.client_versions = Some(ch.offered_versions());
        self.sni = ch.sni;
        self.alpn = (!ch.alpn.is_empty()).then_some(ch.alpn);
        self.ciphers = Some(ch.ciphers);
        self.extensions = Some(ch.extensions);
        true
    }
}

/// The TLS state of a connection: client direction 0, server direction 1.
///
/// The session reads each direction from the start of the stream every
/// time (it never consumes), so a message split over segments or records
/// is parsed once all of it is there; the caller bounds how much it keeps.
#[derive(Clone, Debug, Default)]
pub struct TlsSession {
    scratch: Vec<u8>,
    server_hello: bool,
}

impl TlsSession {
    /// Parses direction `dir` from the start of its stream (`data`).
    pub fn parse(
        &mut self,
        dir: usize,
        data: &[u8],
        meta: &mut TlsMeta,
        anomalies: &mut u32,
        ev: &mut crate::event::Events,
    ) -> Step {
        let mut scratch = std::mem::take(&mut self.scratch);
        let step = self.parse_with(dir, data, &mut scratch, meta, anomalies, ev);
        self.scratch = scratch;
        step
    }

    fn parse_with(
        &mut self,
        dir: usize,
        data: &[u8],
        scratch: &mut Vec<u8>,
        meta: &mut TlsMeta,
        anomalies: &mut u32,
        ev: &mut crate::event::Events,
    ) -> Step {
        if dir == 0 && tls::is_sslv2_hello(data) {
            return match tls::sslv2_hello(data) {
                Outcome::Parsed(h) => {
                    // No JA3 or JA4: both are defined over the TLS ClientHello.
                    meta.client_versions = Some(vec![h.version]);
                    meta.ciphers = Some(h.ciphers);
                    Step::Done
                }
                Outcome::Incomplete => Step::NeedMore,
                _ => Step::Malformed,
            };
        }
        let hs = match handshake_bytes(data, scratch) {
            Outcome::Parsed(h) => h,
            _ => return Step::Malformed,
        };
        for (i, m) in messages(hs.bytes).enumerate() {
            let first_ok = match (dir, i) {
                (0, 0) => m.kind == msg::CLIENT_HELLO,
                (_, 0) => m.kind == msg::SERVER_HELLO,
                _ => true,
            };
            if !first_ok {
                return Step::Malformed;
            }
            if !m.complete() && m.kind != msg::CERTIFICATE {
                return Step::NeedMore;
            }
            match (dir, m.kind) {
                (0, msg::CLIENT_HELLO) => {
                    return if meta.client_hello(m.body, false, anomalies) {
                        meta.client_event(ev);
                        Step::Done
                    } else {
                        Step::Malformed
                    };
                }
                (0, _) => return Step::Done,
                (_, msg::SERVER_HELLO) => {
                    let Some(sh) = server_hello(m.body) else {
                        return Step::Malformed;
                    };
                    if !self.server_hello {
                        self.server_hello = true;
                        meta.server_hello(&sh);
                        meta.server_event(ev);
                    }
                    if sh.negotiated() >= 0x0304 {
                        return Step::Done; // the certificate is encrypted
                    }
                }
                (_, msg::CERTIFICATE) => {
                    return match first_certificate(m.body, m.len) {
                        Outcome::Parsed(der) => {
                            match x509::parse(der) {
                                Some(c) => {
                                    if c.truncated {
                                        *anomalies |= flags::TRUNCATED;
                                    }
                                    ev.tls_certificate(&c.subject, &c.issuer, &c.sha256);
                                    ev.tls_cert_der(der);
                                    meta.cert = Some(c);
                                }
                                None => *anomalies |= flags::MALFORMED,
                            }
                            Step::Done
                        }
                        Outcome::Incomplete => Step::NeedMore,
                        _ => Step::Malformed,
                    };
                }
                // ServerKeyExchange, CertificateRequest, ServerHelloDone:
                // no certificate in this handshake.
                _ => return Step::Done,
            }
        }
        if hs.broken {
            Step::Malformed
        } else if hs.ended {
            Step::Done
        } else {
            Step::NeedMore
        }
    }
}
