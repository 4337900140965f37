//! SSH-2 (RFC 4253): version banners, KEXINIT with real algorithm lists,
//! curve25519 key exchange, NEWKEYS, and encrypted packets after it.

use crate::rng::Rng;

/// An SSH implementation's banner and algorithm preferences.
#[derive(Clone, Copy, Debug)]
pub struct SshImpl {
    /// Version banner without CR LF.
    pub banner: &'static str,
    /// kex_algorithms.
    pub kex: &'static str,
    /// server_host_key_algorithms.
    pub host_key: &'static str,
    /// encryption algorithms (both directions).
    pub ciphers: &'static str,
    /// MAC algorithms (both directions).
    pub macs: &'static str,
    /// compression algorithms (both directions).
    pub compression: &'static str,
}

/// An OpenSSH client on an administrator's workstation.
pub const OPENSSH_CLIENT: SshImpl = SshImpl {
    banner: "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
    kex: "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,ext-info-c",
    host_key: "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,rsa-sha2-512,rsa-sha2-256",
    ciphers: "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com",
    macs: "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    compression: "none,zlib@openssh.com,zlib",
};

/// An OpenSSH server on Debian.
pub const OPENSSH_SERVER: SshImpl = SshImpl {
    banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    kex: "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,sntrup761x25519-sha512@openssh.com,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com",
    host_key: "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519",
    ciphers: "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com",
    macs: "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    compression: "none,zlib@openssh.com",
};

/// A password-guessing tool built on libssh.
pub const LIBSSH_BRUTE: SshImpl = SshImpl {
    banner: "SSH-2.0-libssh_0.9.6",
    kex: "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group18-sha512,diffie-hellman-group16-sha512,diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256,diffie-hellman-group1-sha1,diffie-hellman-group14-sha1",
    host_key: "ssh-ed25519,ecdsa-sha2-nistp521,ecdsa-sha2-nistp384,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256,ssh-rsa",
    ciphers: "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr,aes256-cbc,aes192-cbc,aes128-cbc",
    macs: "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    compression: "none",
};

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// Wraps a payload in an unencrypted binary packet (block size 8).
pub fn binary_packet(payload: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut pad = 8 - (5 + payload.len()) % 8;
    if pad < 4 {
        pad += 8;
    }
    let len = 1 + payload.len() + pad;
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.push(pad as u8);
    out.extend_from_slice(payload);
    out.extend(rng.bytes(pad));
    out
}

/// The banner line.
pub fn banner(i: &SshImpl) -> Vec<u8> {
    format!("{}\r\n", i.banner).into_bytes()
}

/// SSH_MSG_KEXINIT in a binary packet.
pub fn kexinit(i: &SshImpl, rng: &mut Rng) -> Vec<u8> {
    let mut p = vec![20u8];
    p.extend(rng.bytes(16));
    for list in [
        i.kex,
        i.host_key,
        i.ciphers,
        i.ciphers,
        i.macs,
        i.macs,
        i.compression,
        i.compression,
        "",
        "",
    ] {
        string(&mut p, list.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&[0, 0, 0, 0]);
    binary_packet(&p, rng)
}

/// SSH_MSG_KEX_ECDH_INIT with a curve25519 public key.
pub fn ecdh_init(rng: &mut Rng) -> Vec<u8> {
    let mut p = vec![30u8];
    string(&mut p, &rng.bytes(32));
    binary_packet(&p, rng)
}

/// SSH_MSG_KEX_ECDH_REPLY (ed25519 host key) followed by SSH_MSG_NEWKEYS.
pub fn ecdh_reply_newkeys(rng: &mut Rng) -> Vec<u8> {
    let mut host_key = Vec::new();
    string(&mut host_key, b"ssh-ed25519");
    string(&mut host_key, &rng.bytes(32));
    let mut sig = Vec::new();
    string(&mut sig, b"ssh-ed25519");
    string(&mut sig, &rng.bytes(64));
    let mut p = vec![31u8];
    string(&mut p, &host_key);
    string(&mut p, &rng.bytes(32));
    string(&mut p, &sig);
    let mut out = binary_packet(&p, rng);
    out.extend(newkeys(rng));
    out
}

/// SSH_MSG_NEWKEYS.
pub fn newkeys(rng: &mut Rng) -> Vec<u8> {
    binary_packet(&[21], rng)
}

/// An encrypted packet (chacha20-poly1305: 4-byte encrypted length, a
/// multiple of 8 bytes of ciphertext, 16-byte tag) carrying about `payload` bytes.
pub fn encrypted(payload: usize, rng: &mut Rng) -> Vec<u8> {
    let body = (payload + 5).div_ceil(8) * 8 + 4;
    rng.bytes(4 + body + 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_packets_are_block_aligned_with_enough_padding() {
        let mut rng = Rng::new(1, 1);
        for n in 0..40 {
            let p = binary_packet(&vec![7u8; n], &mut rng);
            let len = u32::from_be_bytes(p[..4].try_into().unwrap()) as usize;
            assert_eq!(len + 4, p.len());
            assert_eq!(p.len() % 8, 0);
            assert!(p[4] >= 4);
        }
    }

    #[test]
    fn kexinit_carries_the_lists() {
        let mut rng = Rng::new(1, 1);
        let k = kexinit(&OPENSSH_CLIENT, &mut rng);
        assert_eq!(k[5], 20);
        let first_list_len = u32::from_be_bytes(k[22..26].try_into().unwrap()) as usize;
        assert_eq!(&k[26..26 + first_list_len], OPENSSH_CLIENT.kex.as_bytes());
    }
}
