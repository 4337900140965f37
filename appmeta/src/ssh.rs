//! SSH (RFC 4253): version banners and the KEXINIT message, with the HASSH
//! and HASSHServer fingerprints (MD5 of the algorithm lists a side offers).

use md5::{Digest as _, Md5};

use crate::reader::Reader;
use crate::text::{hex, text};
use crate::{flags, Step};

/// Longest banner kept (RFC 4253 allows 255 bytes with CR LF).
pub const MAX_BANNER: usize = 255;
/// Longest line read while looking for the banner.
const MAX_LINE: usize = 1024;
/// Lines a server may send before its banner that are skipped.
const MAX_PRE_LINES: u8 = 16;
/// Largest binary packet accepted (RFC 4253 section 6.1 asks for 35,000).
const MAX_PACKET: usize = 35_000;
/// SSH_MSG_KEXINIT.
const KEXINIT: u8 = 20;

/// Does the stream start with an SSH banner?
pub fn detect(b: &[u8]) -> crate::Outcome<()> {
    let tag = b"SSH-";
    if b.len() >= tag.len() {
        if b.starts_with(tag) {
            crate::Outcome::Parsed(())
        } else {
            crate::Outcome::NotThis
        }
    } else if tag.starts_with(b) {
        crate::Outcome::Incomplete
    } else {
        crate::Outcome::NotThis
    }
}

/// What a flow's SSH says, for the record's `ssh_*` columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshMeta {
    /// Client banner.
    pub client_banner: Option<String>,
    /// Server banner.
    pub server_banner: Option<String>,
    /// HASSH of the client's KEXINIT.
    pub hassh: Option<String>,
    /// HASSHServer of the server's KEXINIT.
    pub hassh_server: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    #[default]
    Banner,
    Kexinit,
}

/// The SSH state of a connection: client direction 0, server direction 1.
#[derive(Clone, Debug, Default)]
pub struct SshSession {
    phase: [Phase; 2],
    pre_lines: [u8; 2],
}

/// The algorithm name-lists of a KEXINIT payload (after the message type).
#[derive(Clone, Copy, Debug)]
pub struct Kexinit<'a> {
    /// The ten name-lists in order: kex, host key, ciphers c2s and s2c, MACs
    /// c2s and s2c, compression c2s and s2c, languages c2s and s2c.
    pub lists: [&'a [u8]; 10],
}

impl Kexinit<'_> {
    /// HASSH (client side, `server` false) or HASSHServer: MD5 of
    /// `kex;ciphers;macs;compression` in the direction the side sends.
    pub fn hassh(&self, server: bool) -> String {
        let o = usize::from(server);
        let l = &self.lists;
        let mut s =
            Vec::with_capacity(l[0].len() + l[2 + o].len() + l[4 + o].len() + l[6 + o].len() + 3);
        for (i, part) in [l[0], l[2 + o], l[4 + o], l[6 + o]].iter().enumerate() {
            if i > 0 {
                s.push(b';');
            }
            s.extend_from_slice(part);
        }
        hex(&Md5::digest(&s))
    }
}

/// Parses a KEXINIT payload starting with its message type.
pub fn kexinit(payload: &[u8]) -> Option<Kexinit<'_>> {
    let mut r = Reader::new(payload);
    if r.u8()? != KEXINIT {
        return None;
    }
    r.skip(16)?;
    let mut lists: [&[u8]; 10] = [&[]; 10];
    for l in &mut lists {
        *l = r.vec32()?;
    }
    Some(Kexinit { lists })
}

impl SshSession {
    /// Parses the next in-order bytes of direction `dir` (0 client to server).
    pub fn parse(
        &mut self,
        dir: usize,
        data: &[u8],
        meta: &mut SshMeta,
        anomalies: &mut u32,
        ev: &mut crate::event::Events,
    ) -> Step {
        let d = dir.min(1);
        match self.phase[d] {
            Phase::Banner => {
                let nl = match crate::line_end(data, MAX_LINE) {
                    Ok(nl) => nl,
                    Err(step) => return step,
                };
                let line = data[..nl].strip_suffix(b"\r").unwrap_or(&data[..nl]);
                if !line.starts_with(b"SSH-") {
                    // Servers may send text lines before their banner.
                    self.pre_lines[d] += 1;
                    if d == 0 || self.pre_lines[d] > MAX_PRE_LINES {
                        return Step::Malformed;
                    }
                    return Step::Consumed(nl + 1);
                }
                let (banner, cut) = text(line, MAX_BANNER);
                if cut {
                    *anomalies |= flags::TRUNCATED;
                }
                ev.ssh_banner(d as u8, &banner);
                let v2 = line.starts_with(b"SSH-2.0-") || line.starts_with(b"SSH-1.99-");
                if d == 0 {
                    meta.client_banner = Some(banner);
                } else {
                    meta.server_banner = Some(banner);
                }
                if !v2 {
                    return Step::Done; // SSH 1 has no KEXINIT
                }
                self.phase[d] = Phase::Kexinit;
                Step::Consumed(nl + 1)
            }
            Phase::Kexinit => {
                let mut r = Reader::new(data);
                let (Some(len), Some(pad)) = (r.u32(), r.u8()) else {
                    return Step::NeedMore;
                };
                let len = len as usize;
                if !(5..=MAX_PACKET).contains(&len) || usize::from(pad) + 1 > len {
                    return Step::Malformed;
                }
                let Some(body) = data.get(5..4 + len) else {
                    return Step::NeedMore;
                };
                let payload = &body[..body.len() - usize::from(pad)];
                match kexinit(payload) {
                    Some(k) => {
                        let h = k.hassh(d == 1);
                        ev.ssh_kexinit(d as u8, &h);
                        if d == 0 {
                            meta.hassh = Some(h);
                        } else {
                            meta.hassh_server = Some(h);
                        }
                        Step::Done
                    }
                    None => Step::Malformed,
                }
            }
        }
    }
}
