//! Application messages built by hand for tests: TLS records and hellos,
//! SSH KEXINIT packets, DNS names and headers. Expected values of the
//! fingerprints were computed from these bytes with Python's hashlib.

/// `v` as a big-endian 16-bit length.
pub fn u16be(v: usize) -> [u8; 2] {
    (v as u16).to_be_bytes()
}

/// A TLS extension: type, length, data.
pub fn ext(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut v = kind.to_be_bytes().to_vec();
    v.extend_from_slice(&u16be(data.len()));
    v.extend_from_slice(data);
    v
}

/// A handshake message: type, 24-bit length, body.
pub fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(body);
    v
}

/// A TLS record.
pub fn record(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 3, 1];
    v.extend_from_slice(&u16be(body.len()));
    v.extend_from_slice(body);
    v
}

/// A ClientHello message: TLS 1.2 legacy version, ciphers 1301 and c02f,
/// extensions server_name, ALPN h2 and http/1.1, supported_versions
/// (1.3, 1.2), supported_groups (x25519, secp256r1), ec_point_formats
/// (uncompressed), signature_algorithms (0403, 0804).
pub fn client_hello(sni: &str) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]);
    body.extend_from_slice(&[1, 0]);
    let mut name = vec![0];
    name.extend_from_slice(&u16be(sni.len()));
    name.extend_from_slice(sni.as_bytes());
    let mut sni_ext = u16be(name.len()).to_vec();
    sni_ext.extend_from_slice(&name);
    let mut alpn = Vec::new();
    for p in ["h2", "http/1.1"] {
        alpn.push(p.len() as u8);
        alpn.extend_from_slice(p.as_bytes());
    }
    let mut alpn_ext = u16be(alpn.len()).to_vec();
    alpn_ext.extend_from_slice(&alpn);
    let mut exts = Vec::new();
    exts.extend(ext(0x0000, &sni_ext));
    exts.extend(ext(0x0010, &alpn_ext));
    exts.extend(ext(0x002b, &[4, 3, 4, 3, 3]));
    exts.extend(ext(0x000a, &[0, 4, 0, 0x1d, 0, 0x17]));
    exts.extend(ext(0x000b, &[1, 0]));
    exts.extend(ext(0x000d, &[0, 4, 4, 3, 8, 4]));
    body.extend_from_slice(&u16be(exts.len()));
    body.extend_from_slice(&exts);
    handshake(1, &body)
}

/// JA4 of [`client_hello`]: t, 13, d, 02 ciphers, 06 extensions, h2;
/// sha256("1301,c02f")[:12]; sha256("000a,000b,000d,002b_0403,0804")[:12].
pub const JA4: &str = "t13d0206h2_c1929292aa6b_fb71836bce29";
/// md5("771,4865-49199,0-16-43-10-11-13,29-23,0").
pub const JA3: &str = "b7938aa8c6716e481ce6d39fd183f22a";

/// A TLS 1.2 ServerHello choosing c02f with extensions renegotiation_info
/// and server_name (JA3S in [`JA3S`]).
pub fn server_hello() -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[9; 32]);
    body.push(0);
    body.extend_from_slice(&[0xc0, 0x2f, 0]);
    let mut exts = ext(0xff01, &[0]);
    exts.extend(ext(0x0000, &[]));
    body.extend_from_slice(&u16be(exts.len()));
    body.extend_from_slice(&exts);
    handshake(2, &body)
}
/// JA3S of [`server_hello`]: md5("771,49199,65281-0").
pub const JA3S: &str = "ebc4d9674023776e56b32a2cd3cb5e97";

/// Appends `n` as an uncompressed DNS name.
pub fn dns_name(out: &mut Vec<u8>, n: &str) {
    for l in n.split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
}

/// A DNS header: id, flags, question and answer counts.
pub fn dns_header(id: u16, flags: u16, qd: u16, an: u16) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [id, flags, qd, an, 0, 0] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v
}

/// A KEXINIT binary packet with the given name-lists (both directions alike).
pub fn kexinit(kex: &str, cipher: &str, mac: &str, comp: &str) -> Vec<u8> {
    let mut payload = vec![20];
    payload.extend_from_slice(&[0x42; 16]);
    for l in [
        kex,
        "ssh-ed25519",
        cipher,
        cipher,
        mac,
        mac,
        comp,
        comp,
        "",
        "",
    ] {
        payload.extend_from_slice(&(l.len() as u32).to_be_bytes());
        payload.extend_from_slice(l.as_bytes());
    }
    payload.extend_from_slice(&[0, 0, 0, 0, 0]); // first_kex_packet_follows, reserved
    let pad = 8 - (payload.len() + 5) % 8 + 4;
    let mut v = ((payload.len() + pad + 1) as u32).to_be_bytes().to_vec();
    v.push(pad as u8);
    v.extend_from_slice(&payload);
    v.extend(std::iter::repeat_n(0u8, pad));
    v
}
