//! DNS messages (RFC 1035) over UDP and TCP: header, first question, answers.
//!
//! Names are decoded with compression pointers, forward ones included (some
//! scanners send them, and resolvers accept them), under two bounds that
//! stop every loop: at most [`MAX_HOPS`] pointers are followed, and a name
//! longer than 255 bytes on the wire is malformed. Decoding a name costs at
//! most 255 bytes of labels and 64 jumps, whatever the message.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::reader::Reader;
use crate::Outcome;

/// Pointers followed in one name at most.
pub const MAX_HOPS: usize = 64;
/// Longest name on the wire (RFC 1035, section 3.1).
pub const MAX_WIRE_NAME: usize = 255;
/// Longest name as text: every byte escaped as `\DDD`.
pub const MAX_TEXT_NAME: usize = MAX_WIRE_NAME * 4;
/// Answers kept from the first response.
pub const MAX_ANSWERS: usize = 10;
/// Bytes of TXT data kept per answer.
pub const MAX_TXT: usize = 100;
/// Distinct query names counted per record.
pub const MAX_DISTINCT: usize = 1024;

/// The fixed 12-byte header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Transaction id.
    pub id: u16,
    /// Flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode).
    pub flags: u16,
    /// Questions.
    pub qdcount: u16,
    /// Answers.
    pub ancount: u16,
    /// Authority records.
    pub nscount: u16,
    /// Additional records.
    pub arcount: u16,
}

impl Header {
    /// True for a response (QR bit).
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// Operation code.
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }

    /// Response code (the header's 4 bits).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
}

/// A decoded name as text, on the stack.
#[derive(Clone)]
pub struct Name {
    buf: [u8; MAX_TEXT_NAME],
    len: usize,
    /// Labels in the name.
    pub labels: u8,
}

impl Default for Name {
    fn default() -> Self {
        Name {
            buf: [0; MAX_TEXT_NAME],
            len: 0,
            labels: 0,
        }
    }
}

#[cfg(test)]
impl PartialEq for Name {
    fn eq(&self, o: &Name) -> bool {
        self.as_str() == o.as_str() && self.labels == o.labels
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Name {
    /// The name: labels joined by dots, no trailing dot (the root is empty);
    /// dots and backslashes inside labels escaped with a backslash, other
    /// bytes outside printable ASCII as `\DDD`.
    pub fn as_str(&self) -> &str {
        // Only printable ASCII is ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    fn clear(&mut self) {
        self.len = 0;
        self.labels = 0;
    }

    fn push(&mut self, b: u8) {
        // The buffer holds the worst case (255 wire bytes, all escaped).
        if self.len < self.buf.len() {
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    fn push_label(&mut self, label: &[u8]) {
        if self.labels > 0 {
            self.push(b'.');
        }
        self.labels = self.labels.saturating_add(1);
        let plain = |b: &u8| (0x21..=0x7e).contains(b) && *b != b'.' && *b != b'\\';
        if label.iter().all(plain) && self.len + label.len() <= self.buf.len() {
            self.buf[self.len..self.len + label.len()].copy_from_slice(label);
            self.len += label.len();
            return;
        }
        for &b in label {
            match b {
                b'.' | b'\\' => {
                    self.push(b'\\');
                    self.push(b);
                }
                0x21..=0x7e => self.push(b),
                _ => {
                    self.push(b'\\');
                    self.push(b'0' + b / 100);
                    self.push(b'0' + (b / 10) % 10);
                    self.push(b'0' + b % 10);
                }
            }
        }
    }

    /// Characters of the name without its dots, lower-cased, for entropy.
    pub fn letters(&self, out: &mut [u8; MAX_TEXT_NAME]) -> usize {
        let mut n = 0;
        for &b in &self.buf[..self.len] {
            if b != b'.' {
                out[n] = b.to_ascii_lowercase();
                n += 1;
            }
        }
        n
    }

    /// FNV-1a hash of the lower-cased name.
    pub fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in &self.buf[..self.len] {
            h ^= u64::from(b.to_ascii_lowercase());
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }
}

/// Decodes the name at `pos` of `msg` into `out`; returns the position
/// after the name where it starts (after its first pointer, if any).
pub fn read_name(msg: &[u8], pos: usize, out: &mut Name) -> Option<usize> {
    out.clear();
    let mut pos = pos;
    let mut after = None;
    let mut hops = 0;
    let mut wire = 0usize;
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Some(after.unwrap_or(pos + 1));
                }
                let n = usize::from(len);
                let label = msg.get(pos + 1..pos + 1 + n)?;
                wire += n + 1;
                if wire + 1 > MAX_WIRE_NAME {
                    return None;
                }
                out.push_label(label);
                pos += 1 + n;
            }
            0xc0 => {
                let lo = *msg.get(pos + 1)?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, lo]));
                if after.is_none() {
                    after = Some(pos + 2);
                }
                hops += 1;
                if hops > MAX_HOPS {
                    return None;
                }
                pos = target;
            }
            // Extended (0x40) and reserved (0x80) label types.
            _ => return None,
        }
    }
}

/// The first question of a message.
#[derive(Clone, Debug, Default)]
#[cfg_attr(test, derive(PartialEq))]
pub struct Question {
    /// Name asked.
    pub name: Name,
    /// Type.
    pub qtype: u16,
    /// Class.
    pub qclass: u16,
}

/// A parsed message: header, first question, and where the answers start.
#[derive(Clone, Debug)]
#[cfg_attr(test, derive(PartialEq))]
pub struct Message<'a> {
    /// Header.
    pub header: Header,
    /// First question, if the message has one.
    pub question: Option<Question>,
    msg: &'a [u8],
    /// Where the answers start (unknown after a broken question).
    answers_at: Option<usize>,
}

/// Parses a DNS message (without the TCP length prefix). A message shorter
/// than its header, or whose first question does not decode, is malformed.
pub fn parse(msg: &[u8]) -> Outcome<Message<'_>> {
    let mut r = Reader::new(msg);
    let (Some(id), Some(flags), Some(qd), Some(an), Some(ns), Some(ar)) =
        (r.u16(), r.u16(), r.u16(), r.u16(), r.u16(), r.u16())
    else {
        return Outcome::Malformed;
    };
    let header = Header {
        id,
        flags,
        qdcount: qd,
        ancount: an,
        nscount: ns,
        arcount: ar,
    };
    let mut pos = Some(12);
    let mut question = None;
    for i in 0..qd {
        let Some(at) = pos else { break };
        let mut name = Name::default();
        let q = read_name(msg, at, &mut name).and_then(|next| {
            let mut r = Reader::new(msg.get(next..)?);
            Some((next + 4, r.u16()?, r.u16()?))
        });
        match q {
            Some((next, qtype, qclass)) => {
                pos = Some(next);
                if i == 0 {
                    question = Some(Question {
                        name,
                        qtype,
                        qclass,
                    });
                }
            }
            // The first question must decode; after a broken later one the
            // answers cannot be found.
            None if i == 0 => return Outcome::Malformed,
            None => pos = None,
        }
    }
    Outcome::Parsed(Message {
        header,
        question,
        msg,
        answers_at: pos,
    })
}

/// A strict test for DNS on a port DNS does not use: a standard query
/// with one question of class IN (or ANY), no answers or authority
/// records, at most one additional record, and nothing after it.
pub fn looks_like_query(msg: &[u8]) -> bool {
    let Outcome::Parsed(m) = parse(msg) else {
        return false;
    };
    let h = m.header;
    let Some(q) = &m.question else {
        return false;
    };
    if h.is_response()
        || h.opcode() != 0
        || h.qdcount != 1
        || h.ancount != 0
        || h.nscount != 0
        || h.arcount > 1
        || !matches!(q.qclass, 1 | 255)
        || h.flags & 0x0040 != 0
    {
        return false;
    }
    let Some(mut pos) = m.answers_at else {
        return false;
    };
    if h.arcount == 1 {
        match skip_rr(msg, pos) {
            Some(next) => pos = next,
            None => return false,
        }
    }
    pos == msg.len()
}

fn skip_rr(msg: &[u8], pos: usize) -> Option<usize> {
    let mut name = Name::default();
    let next = read_name(msg, pos, &mut name)?;
    let mut r = Reader::new(msg.get(next..)?);
    r.skip(8)?;
    let rdlen = r.u16()?;
    r.skip(usize::from(rdlen))?;
    Some(next + r.pos())
}

/// One resource record of the answer section.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Type.
    pub rtype: u16,
    /// Class.
    pub class: u16,
    /// Time to live, seconds.
    pub ttl: u32,
    /// Offset of the record data in the message.
    pub rdata_at: usize,
    /// Record data.
    pub rdata: &'a [u8],
}

impl<'a> Message<'a> {
    /// The answer records that decode, in order (stops at the first that does not).
    pub fn answers(&self) -> impl Iterator<Item = Record<'a>> + '_ {
        let msg = self.msg;
        let mut pos = self.answers_at.unwrap_or(msg.len());
        let mut left = if self.answers_at.is_some() {
            self.header.ancount
        } else {
            0
        };
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let mut name = Name::default();
            let next = read_name(msg, pos, &mut name)?;
            let mut r = Reader::new(msg.get(next..)?);
            let rtype = r.u16()?;
            let class = r.u16()?;
            let ttl = r.u32()?;
            let rdata = r.vec16()?;
            let rdata_at = next + 10;
            pos = next + r.pos();
            Some(Record {
                rtype,
                class,
                ttl,
                rdata_at,
                rdata,
            })
        })
    }

    /// The record's data as column text: the address of A and AAAA, the
    /// name of CNAME, NS, PTR and MX, the text of TXT; `None` for other types.
    pub fn render(&self, rr: &Record<'_>) -> Option<String> {
        match rr.rtype {
            1 => {
                let a: [u8; 4] = rr.rdata.try_into().ok()?;
                Some(Ipv4Addr::from(a).to_string())
            }
            28 => {
                let a: [u8; 16] = rr.rdata.try_into().ok()?;
                Some(Ipv6Addr::from(a).to_string())
            }
            2 | 5 | 12 | 15 => {
                let at = if rr.rtype == 15 {
                    rr.rdata_at + 2
                } else {
                    rr.rdata_at
                };
                let mut name = Name::default();
                read_name(self.msg, at, &mut name)?;
                Some(name.as_str().to_string())
            }
            16 => {
                let mut s = String::new();
                let mut r = Reader::new(rr.rdata);
                while let Some(part) = r.vec8() {
                    if crate::text::push_text(&mut s, part, MAX_TXT) {
                        break;
                    }
                }
                Some(s)
            }
            _ => None,
        }
    }
}

/// What a flow's DNS messages say, for the record's `dns_*` columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DnsMeta {
    /// First query's name.
    pub query: Option<String>,
    /// First query's type.
    pub qtype: Option<u16>,
    /// First query's class.
    pub qclass: Option<u16>,
    /// Labels of the first query name.
    pub qname_labels: Option<u8>,
    /// Entropy of the first query name (bits per character, dots left out, lower-cased).
    pub qname_entropy: Option<f64>,
    /// First response's rcode.
    pub rcode: Option<u8>,
    /// First response's ANCOUNT.
    pub answer_count: Option<u16>,
    /// First response's first answers.
    pub answers: Option<Vec<String>>,
    /// Smallest TTL among the first response's answers.
    pub min_ttl: Option<u32>,
    /// Queries seen.
    pub queries: u32,
    /// Longest message over TCP (its declared length).
    pub tcp_longest: Option<u16>,
    /// Hashes of the distinct query names seen (sorted; at most [`MAX_DISTINCT`]).
    names: Vec<u64>,
    responded: bool,
}

/// From the start of a message (perhaps cut): whether it is a response,
/// and the type of its first answer record, reached over the question.
pub fn first_answer_type(msg: &[u8]) -> (bool, Option<u16>) {
    let Some(h) = msg.get(..12) else {
        return (false, None);
    };
    let response = h[2] & 0x80 != 0;
    let qd = u16::from_be_bytes([h[4], h[5]]);
    let an = u16::from_be_bytes([h[6], h[7]]);
    let skip_name = |mut i: usize| -> Option<usize> {
        for _ in 0..128 {
            let l = *msg.get(i)?;
            match l {
                0 => return Some(i + 1),
                l if l & 0xc0 == 0xc0 => return Some(i + 2),
                l if l & 0xc0 == 0 => i += 1 + usize::from(l),
                _ => return None,
            }
        }
        None
    };
    let mut i = 12;
    for _ in 0..qd.min(8) {
        let Some(n) = skip_name(i) else {
            return (response, None);
        };
        i = n + 4;
    }
    if an == 0 || qd > 8 {
        return (response, None);
    }
    let t = skip_name(i)
        .and_then(|n| msg.get(n..n + 2))
        .map(|b| u16::from_be_bytes([b[0], b[1]]));
    (response, t)
}

/// One parsed message of `size` bytes as an event.
pub fn event(m: &Message<'_>, size: usize, ev: &mut crate::event::Events) {
    let q = m.question.as_ref();
    ev.dns(
        m.header.is_response(),
        m.header.id,
        q.map(|q| q.name.as_str()),
        q.map_or(0, |q| q.qtype),
        m.header.rcode(),
        m.header.ancount,
        size.min(u32::MAX as usize) as u32,
    );
}

impl DnsMeta {
    /// Distinct query names seen (up to [`MAX_DISTINCT`]).
    pub fn distinct_names(&self) -> u32 {
        self.names.len() as u32
    }

    /// Accounts one message.
    pub fn add(&mut self, m: &Message<'_>) {
        let q = m.question.as_ref();
        if !m.header.is_response() {
            self.queries += 1;
            if let Some(q) = q {
                let h = q.name.hash();
                if let Err(i) = self.names.binary_search(&h) {
                    if self.names.len() < MAX_DISTINCT {
                        self.names.insert(i, h);
                    }
                }
            }
        }
        if self.query.is_none() {
            if let Some(q) = q {
                self.set_question(q);
            }
        }
        if m.header.is_response() && !self.responded {
            self.responded = true;
            self.rcode = Some(m.header.rcode());
            self.answer_count = Some(m.header.ancount);
            let mut answers = Vec::new();
            let mut min_ttl: Option<u32> = None;
            for rr in m.answers() {
                min_ttl = Some(min_ttl.map_or(rr.ttl, |t| t.min(rr.ttl)));
                if answers.len() < MAX_ANSWERS {
                    if let Some(s) = m.render(&rr) {
                        answers.push(s);
                    }
                }
            }
            self.answers = Some(answers);
            self.min_ttl = min_ttl;
        }
    }

    fn set_question(&mut self, q: &Question) {
        self.query = Some(q.name.as_str().to_string());
        self.qtype = Some(q.qtype);
        self.qclass = Some(q.qclass);
        self.qname_labels = Some(q.name.labels);
        let mut letters = [0u8; MAX_TEXT_NAME];
        let n = q.name.letters(&mut letters);
        self.qname_entropy = Some(crate::text::entropy(&letters[..n]));
    }

    /// Starts a new record of the same flow: counters restart, the first
    /// query and response stay.
    pub fn new_piece(&mut self) {
        self.queries = 0;
        self.names.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg_with_name(wire: &[u8]) -> Vec<u8> {
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(wire);
        m.extend_from_slice(&[0, 1, 0, 1]);
        m
    }

    #[test]
    fn unusual_bytes_are_escaped() {
        let m = msg_with_name(&[4, b'a', b'.', 0x01, b'\\', 3, b'c', b'o', b'm', 0]);
        let Outcome::Parsed(p) = parse(&m) else {
            panic!("parses")
        };
        let q = p.question.expect("question");
        assert_eq!(q.name.as_str(), "a\\.\\001\\\\.com");
        assert_eq!(q.name.labels, 2);
    }

    #[test]
    fn pointer_loops_stop_at_the_hop_limit() {
        // A pointer to itself, and a label followed by a pointer back to it.
        for wire in [&[0xc0, 12][..], &[1, b'a', 0xc0, 12][..]] {
            let m = msg_with_name(wire);
            let mut name = Name::default();
            assert!(read_name(&m, 12, &mut name).is_none());
            assert_eq!(parse(&m), Outcome::Malformed);
        }
    }

    #[test]
    fn forward_pointers_are_followed() {
        // version.bind + pointer to the zero byte after the pointer.
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07version\x04bind\xc0\x1b\x00\x10\x00\x03");
        let Outcome::Parsed(p) = parse(&m) else {
            panic!("parses")
        };
        assert_eq!(p.question.expect("q").name.as_str(), "version.bind");
    }

    #[test]
    fn names_longer_than_255_bytes_are_malformed() {
        let mut wire = Vec::new();
        for _ in 0..5 {
            wire.push(60);
            wire.extend_from_slice(&[b'x'; 60]);
        }
        wire.push(0);
        assert_eq!(parse(&msg_with_name(&wire)), Outcome::Malformed);
    }

    #[test]
    fn a_strict_query_off_port() {
        let mut m = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        mekong_testkit::app::dns_name(&mut m, "example.com");
        m.extend_from_slice(&[0, 1, 0, 1]);
        assert!(looks_like_query(&m));
        m.push(0); // trailing garbage
        assert!(!looks_like_query(&m));
    }
}
