//! TLS 1.2 and 1.3 handshakes: ClientHello from real client profiles (cipher
//! suites, extensions, SNI, ALPN, GREASE where the client sends it),
//! ServerHello, the TLS 1.2 certificate flight, and the records that follow.

use crate::rng::Rng;

/// Content types.
pub mod content {
    /// change_cipher_spec.
    pub const CCS: u8 = 20;
    /// handshake.
    pub const HANDSHAKE: u8 = 22;
    /// application_data.
    pub const APPLICATION_DATA: u8 = 23;
}

/// A client's TLS fingerprint-relevant behaviour.
#[derive(Clone, Copy, Debug)]
pub struct ClientProfile {
    /// Short name (documentation and tests).
    pub name: &'static str,
    /// Sends GREASE values (RFC 8701).
    pub grease: bool,
    /// Offers TLS 1.3.
    pub tls13: bool,
    /// Cipher suites in order (without GREASE).
    pub ciphers: &'static [u16],
    /// Extension types in order (without GREASE); contents are generated.
    pub extensions: &'static [u16],
    /// Supported groups.
    pub groups: &'static [u16],
    /// Signature algorithms.
    pub sig_algs: &'static [u16],
    /// ALPN protocols offered.
    pub alpn: &'static [&'static str],
}

const SIG_MODERN: &[u16] = &[
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
];
const SIG_WIDE: &[u16] = &[
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080a, 0x080b, 0x0804, 0x0805, 0x0806, 0x0401,
    0x0501, 0x0601, 0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602,
];

/// Client profiles; office clients pick one by browser family.
pub const PROFILES: [ClientProfile; 7] = [
    ClientProfile {
        name: "chrome",
        grease: true,
        tls13: true,
        ciphers: &[
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ],
        extensions: &[
            0, 23, 65281, 10, 11, 35, 16, 5, 13, 18, 51, 45, 43, 27, 17513,
        ],
        groups: &[0x001d, 0x0017, 0x0018],
        sig_algs: SIG_MODERN,
        alpn: &["h2", "http/1.1"],
    },
    ClientProfile {
        name: "firefox",
        grease: false,
        tls13: true,
        ciphers: &[
            0x1301, 0x1303, 0x1302, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0xc02c, 0xc030, 0xc00a, 0xc009,
            0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
        ],
        extensions: &[0, 23, 65281, 10, 11, 35, 16, 5, 34, 51, 43, 13, 45, 28],
        groups: &[0x001d, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101],
        sig_algs: &[
            0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201,
        ],
        alpn: &["h2", "http/1.1"],
    },
    ClientProfile {
        name: "schannel-tls12",
        grease: false,
        tls13: false,
        ciphers: &[
            0xc02c, 0xc02b, 0xc030, 0xc02f, 0xc024, 0xc023, 0xc028, 0xc027, 0xc00a, 0xc009, 0xc014,
            0xc013, 0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x000a,
        ],
        extensions: &[0, 10, 11, 13, 35, 16, 23, 65281],
        groups: &[0x001d, 0x0017, 0x0018],
        sig_algs: &[
            0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0201, 0x0403, 0x0503, 0x0203, 0x0202, 0x0601,
            0x0603,
        ],
        alpn: &["h2", "http/1.1"],
    },
    ClientProfile {
        name: "curl-openssl",
        grease: false,
        tls13: true,
        ciphers: &[
            0x1302, 0x1303, 0x1301, 0xc02c, 0xc030, 0x009f, 0xcca9, 0xcca8, 0xccaa, 0xc02b, 0xc02f,
            0x009e, 0xc024, 0xc028, 0x006b, 0xc023, 0xc027, 0x0067, 0xc00a, 0xc014, 0x0039, 0xc009,
            0xc013, 0x0033, 0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x00ff,
        ],
        extensions: &[0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51],
        groups: &[0x001d, 0x0017, 0x001e, 0x0019, 0x0018],
        sig_algs: SIG_WIDE,
        alpn: &["h2", "http/1.1"],
    },
    ClientProfile {
        name: "edge",
        grease: true,
        tls13: true,
        ciphers: &[
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ],
        extensions: &[
            0, 23, 65281, 10, 11, 35, 16, 5, 13, 18, 51, 45, 43, 27, 17513, 21,
        ],
        groups: &[0x001d, 0x0017, 0x0018],
        sig_algs: SIG_MODERN,
        alpn: &["h2", "http/1.1"],
    },
    ClientProfile {
        name: "python-requests",
        grease: false,
        tls13: true,
        ciphers: &[
            0x1302, 0x1303, 0x1301, 0xc02c, 0xc030, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0x009f, 0x009e,
            0xccaa, 0xc0af, 0xc0ad, 0xc0ae, 0xc0ac, 0xc024, 0xc028, 0xc023, 0xc027, 0xc00a, 0xc014,
            0xc009, 0xc013, 0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x00ff,
        ],
        extensions: &[0, 11, 10, 35, 22, 23, 13, 43, 45, 51],
        groups: &[0x001d, 0x0017, 0x001e, 0x0019, 0x0018],
        sig_algs: SIG_WIDE,
        alpn: &[],
    },
    // A compiled implant's TLS stack: no ALPN, TLS 1.3 offered, fixed order.
    ClientProfile {
        name: "implant-go",
        grease: false,
        tls13: true,
        ciphers: &[
            0xc02f, 0xc030, 0xc02b, 0xc02c, 0xcca8, 0xcca9, 0xc013, 0xc009, 0xc014, 0xc00a, 0x009c,
            0x009d, 0x002f, 0x0035, 0xc012, 0x000a, 0x1301, 0x1302, 0x1303,
        ],
        extensions: &[0, 5, 10, 11, 13, 65281, 18, 43, 51],
        groups: &[0x001d, 0x0017, 0x0018, 0x0019],
        sig_algs: &[
            0x0804, 0x0403, 0x0807, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0503, 0x0603, 0x0201,
            0x0203,
        ],
        alpn: &[],
    },
];

/// Index of the implant profile in [`PROFILES`].
pub const IMPLANT_PROFILE: usize = 6;

const GREASE: [u16; 16] = [
    0x0a0a, 0x1a1a, 0x2a2a, 0x3a3a, 0x4a4a, 0x5a5a, 0x6a6a, 0x7a7a, 0x8a8a, 0x9a9a, 0xaaaa, 0xbaba,
    0xcaca, 0xdada, 0xeaea, 0xfafa,
];

fn u16v(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// `len16 || body`.
fn vec16(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn ext(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    u16v(out, kind);
    out.extend_from_slice(&vec16(body));
}

/// Wraps handshake messages (type + 24-bit length + body each) in records of
/// at most 16 KiB.
pub fn records(content_type: u8, version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    for chunk in payload.chunks(16_384) {
        out.push(content_type);
        u16v(&mut out, version);
        out.extend_from_slice(&vec16(chunk));
    }
    out
}

/// A handshake message: type, 24-bit length, body.
pub fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

/// The ClientHello record for `sni` (may be empty: no SNI extension).
/// Chrome-like profiles permute their extensions, as Chrome does since 2023.
pub fn client_hello(p: &ClientProfile, sni: &str, rng: &mut Rng) -> Vec<u8> {
    let grease_c = *rng.pick(&GREASE);
    let grease_e1 = *rng.pick(&GREASE);
    let mut grease_e2 = *rng.pick(&GREASE);
    if grease_e2 == grease_e1 {
        grease_e2 ^= 0x1010;
    }
    let grease_g = *rng.pick(&GREASE);
    let mut body = Vec::with_capacity(512);
    u16v(&mut body, 0x0303);
    body.extend(rng.bytes(32));
    if p.tls13 {
        body.push(32);
        body.extend(rng.bytes(32));
    } else {
        body.push(0);
    }
    let mut cs = Vec::new();
    if p.grease {
        u16v(&mut cs, grease_c);
    }
    for &c in p.ciphers {
        u16v(&mut cs, c);
    }
    body.extend(vec16(&cs));
    body.extend_from_slice(&[1, 0]); // null compression
    let mut order: Vec<u16> = p.extensions.to_vec();
    if p.grease {
        // Chrome shuffles every extension except GREASE and padding.
        let padding = order.iter().position(|&e| e == 21).map(|i| order.remove(i));
        for i in (1..order.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        order.extend(padding);
    }
    let mut exts = Vec::with_capacity(400);
    if p.grease {
        ext(&mut exts, grease_e1, &[]);
    }
    for &e in &order {
        let mut b = Vec::new();
        match e {
            0 => {
                if sni.is_empty() {
                    continue;
                }
                let mut name = vec![0u8];
                name.extend(vec16(sni.as_bytes()));
                b.extend(vec16(&name));
            }
            5 => b.extend_from_slice(&[1, 0, 0, 0, 0]),
            10 => {
                let mut g = Vec::new();
                if p.grease {
                    u16v(&mut g, grease_g);
                }
                for &x in p.groups {
                    u16v(&mut g, x);
                }
                b.extend(vec16(&g));
            }
            11 => {
                if p.name.starts_with("curl") || p.name.starts_with("python") {
                    b.extend_from_slice(&[3, 0, 1, 2]);
                } else {
                    b.extend_from_slice(&[1, 0]);
                }
            }
            13 => {
                let mut s = Vec::new();
                for &x in p.sig_algs {
                    u16v(&mut s, x);
                }
                b.extend(vec16(&s));
            }
            16 => {
                if p.alpn.is_empty() {
                    continue;
                }
                let mut l = Vec::new();
                for a in p.alpn {
                    l.push(a.len() as u8);
                    l.extend_from_slice(a.as_bytes());
                }
                b.extend(vec16(&l));
            }
            17513 => {
                b.extend(vec16(&[2, b'h', b'2']));
            }
            21 => b.extend(vec![0u8; rng.range(20, 200) as usize]),
            27 => b.extend_from_slice(&[2, 0, 2]),
            28 => b.extend_from_slice(&[0x40, 0x01]),
            34 => b.extend(vec16(&[0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x02, 0x03])),
            43 => {
                let mut v = Vec::new();
                if p.grease {
                    u16v(&mut v, grease_g);
                }
                if p.tls13 {
                    u16v(&mut v, 0x0304);
                }
                u16v(&mut v, 0x0303);
                b.push(v.len() as u8);
                b.extend(v);
            }
            45 => b.extend_from_slice(&[1, 1]),
            51 => {
                let mut ks = Vec::new();
                if p.grease {
                    u16v(&mut ks, grease_g);
                    ks.extend(vec16(&[0]));
                }
                u16v(&mut ks, 0x001d);
                ks.extend(vec16(&rng.bytes(32)));
                b.extend(vec16(&ks));
            }
            // Empty-bodied extensions: extended_master_secret, session_ticket,
            // SCT, encrypt_then_mac, renegotiation_info (one zero byte).
            65281 => b.push(0),
            _ => {}
        }
        ext(&mut exts, e, &b);
    }
    if p.grease {
        ext(&mut exts, grease_e2, &[0]);
    }
    body.extend(vec16(&exts));
    records(content::HANDSHAKE, 0x0301, &handshake(1, &body))
}

/// The server's choice for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerChoice {
    /// Negotiated version (0x0303 or 0x0304).
    pub version: u16,
    /// Chosen cipher suite.
    pub cipher: u16,
    /// ALPN chosen, if any.
    pub alpn: Option<&'static str>,
}

/// What a server that offers TLS 1.3 (or not) picks for a client profile.
pub fn negotiate(p: &ClientProfile, server_tls13: bool) -> ServerChoice {
    let alpn = p.alpn.first().copied();
    if p.tls13 && server_tls13 {
        let cipher = if p.ciphers.contains(&0x1301) {
            0x1301
        } else {
            0x1302
        };
        ServerChoice {
            version: 0x0304,
            cipher,
            alpn,
        }
    } else {
        let cipher = [0xc02f, 0xc030, 0xc02b, 0x009c]
            .into_iter()
            .find(|c| p.ciphers.contains(c))
            .unwrap_or(0x002f);
        ServerChoice {
            version: 0x0303,
            cipher,
            alpn,
        }
    }
}

/// ServerHello handshake message (not yet in a record). `session_id` echoes
/// the client's legacy session id for TLS 1.3.
pub fn server_hello(choice: &ServerChoice, rng: &mut Rng) -> Vec<u8> {
    let mut body = Vec::with_capacity(128);
    u16v(&mut body, 0x0303);
    body.extend(rng.bytes(32));
    body.push(32);
    body.extend(rng.bytes(32));
    u16v(&mut body, choice.cipher);
    body.push(0);
    let mut exts = Vec::new();
    if choice.version == 0x0304 {
        ext(&mut exts, 43, &[0x03, 0x04]);
        let mut ks = Vec::new();
        u16v(&mut ks, 0x001d);
        ks.extend(vec16(&rng.bytes(32)));
        ext(&mut exts, 51, &ks);
    } else {
        ext(&mut exts, 65281, &[0]);
        ext(&mut exts, 11, &[1, 0]);
        ext(&mut exts, 23, &[]);
        if let Some(a) = choice.alpn {
            let mut l = vec![a.len() as u8];
            l.extend_from_slice(a.as_bytes());
            ext(&mut exts, 16, &vec16(&l));
        }
    }
    body.extend(vec16(&exts));
    handshake(2, &body)
}

/// The TLS 1.2 server flight: ServerHello, Certificate (the given DER
/// certificates), ServerKeyExchange (ECDHE x25519, RSA-PSS signature),
/// ServerHelloDone, as handshake records.
pub fn server_flight_tls12(choice: &ServerChoice, certs: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut hs = server_hello(choice, rng);
    let mut list = Vec::new();
    for c in certs {
        list.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
        list.extend_from_slice(c);
    }
    let mut cert_body = (list.len() as u32).to_be_bytes()[1..].to_vec();
    cert_body.extend(list);
    hs.extend(handshake(11, &cert_body));
    let mut ske = vec![3];
    u16v(&mut ske, 0x001d);
    ske.push(32);
    ske.extend(rng.bytes(32));
    u16v(&mut ske, 0x0804);
    ske.extend(vec16(&rng.bytes(256)));
    hs.extend(handshake(12, &ske));
    hs.extend(handshake(14, &[]));
    records(content::HANDSHAKE, 0x0303, &hs)
}

/// The TLS 1.2 client's second flight: ClientKeyExchange, ChangeCipherSpec,
/// encrypted Finished.
pub fn client_finish_tls12(rng: &mut Rng) -> Vec<u8> {
    let mut cke = vec![32];
    cke.extend(rng.bytes(32));
    let mut out = records(content::HANDSHAKE, 0x0303, &handshake(16, &cke));
    out.extend(change_cipher_spec());
    out.extend(records(content::HANDSHAKE, 0x0303, &rng.bytes(40)));
    out
}

/// The TLS 1.2 server's last flight: ChangeCipherSpec, encrypted Finished.
pub fn server_finish_tls12(rng: &mut Rng) -> Vec<u8> {
    let mut out = change_cipher_spec();
    out.extend(records(content::HANDSHAKE, 0x0303, &rng.bytes(40)));
    out
}

/// A ChangeCipherSpec record.
pub fn change_cipher_spec() -> Vec<u8> {
    vec![content::CCS, 0x03, 0x03, 0x00, 0x01, 0x01]
}

/// The TLS 1.3 server flight: ServerHello record, ChangeCipherSpec and the
/// encrypted handshake (EncryptedExtensions..Finished) as application data of
/// about `encrypted_len` bytes.
pub fn server_flight_tls13(choice: &ServerChoice, encrypted_len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = records(content::HANDSHAKE, 0x0303, &server_hello(choice, rng));
    out.extend(change_cipher_spec());
    out.extend(records(
        content::APPLICATION_DATA,
        0x0303,
        &rng.bytes(encrypted_len),
    ));
    out
}

/// The TLS 1.3 client's Finished flight: ChangeCipherSpec and an encrypted record.
pub fn client_finish_tls13(rng: &mut Rng) -> Vec<u8> {
    let mut out = change_cipher_spec();
    out.extend(records(content::APPLICATION_DATA, 0x0303, &rng.bytes(53)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_lengths_are_consistent() {
        let mut rng = Rng::new(4, 4);
        for p in &PROFILES {
            let r = client_hello(p, "www.example.vn", &mut rng);
            assert_eq!(r[0], 22);
            let rec_len = u16::from_be_bytes([r[3], r[4]]) as usize;
            assert_eq!(rec_len + 5, r.len(), "{}", p.name);
            assert_eq!(r[5], 1);
            let hs_len = u32::from_be_bytes([0, r[6], r[7], r[8]]) as usize;
            assert_eq!(hs_len + 4, rec_len);
            // SNI appears verbatim.
            let s = b"www.example.vn";
            assert!(r.windows(s.len()).any(|w| w == s));
        }
    }

    #[test]
    fn tls12_only_server_picks_ecdhe_rsa() {
        let c = negotiate(&PROFILES[0], false);
        assert_eq!(c.version, 0x0303);
        assert_eq!(c.cipher, 0xc02f);
        let c = negotiate(&PROFILES[0], true);
        assert_eq!(c.version, 0x0304);
        assert_eq!(c.cipher, 0x1301);
    }
}
