//! DNS messages (RFC 1035) with name compression, EDNS(0) and the record
//! types the office network uses: A, AAAA, CNAME, MX, TXT, NS.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Record types.
pub mod qtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Mail exchanger.
    pub const MX: u16 = 15;
    /// Text.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// EDNS(0) option pseudo-record.
    pub const OPT: u16 = 41;
    /// Any type (queries only).
    pub const ANY: u16 = 255;
}

/// Response codes.
pub mod rcode {
    /// No error.
    pub const NOERROR: u8 = 0;
    /// Server failure.
    pub const SERVFAIL: u8 = 2;
    /// Name does not exist.
    pub const NXDOMAIN: u8 = 3;
}

/// Data of one resource record.
#[derive(Clone, Debug, PartialEq)]
pub enum RData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Canonical name.
    Cname(String),
    /// Name server.
    Ns(String),
    /// Mail exchanger: preference and host.
    Mx(u16, String),
    /// Character strings (each at most 255 bytes).
    Txt(Vec<Vec<u8>>),
}

impl RData {
    fn rtype(&self) -> u16 {
        match self {
            RData::A(_) => qtype::A,
            RData::Aaaa(_) => qtype::AAAA,
            RData::Cname(_) => qtype::CNAME,
            RData::Ns(_) => qtype::NS,
            RData::Mx(..) => qtype::MX,
            RData::Txt(_) => qtype::TXT,
        }
    }
}

/// One resource record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Owner name.
    pub name: String,
    /// Time to live, seconds.
    pub ttl: u32,
    /// Data.
    pub data: RData,
}

/// A DNS message to serialise.
#[derive(Clone, Debug, Default)]
pub struct Message {
    /// Transaction id.
    pub id: u16,
    /// True for a response.
    pub response: bool,
    /// Response code.
    pub rcode: u8,
    /// Recursion desired.
    pub rd: bool,
    /// Recursion available.
    pub ra: bool,
    /// Authoritative answer.
    pub aa: bool,
    /// Question name.
    pub qname: String,
    /// Question type.
    pub qtype: u16,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section.
    pub authority: Vec<Record>,
    /// EDNS(0) UDP payload size, when an OPT record is present.
    pub edns: Option<u16>,
}

impl Message {
    /// A recursive query.
    pub fn query(id: u16, qname: &str, qtype: u16) -> Message {
        Message {
            id,
            rd: true,
            qname: qname.to_string(),
            qtype,
            ..Message::default()
        }
    }

    /// The response to `q` with answers.
    pub fn answer(q: &Message, rcode: u8, answers: Vec<Record>) -> Message {
        Message {
            response: true,
            rcode,
            ra: true,
            answers,
            ..q.clone()
        }
    }

    /// Wire bytes, with name compression.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        let b = &mut w.buf;
        b.extend_from_slice(&self.id.to_be_bytes());
        let mut flags = 0u16;
        if self.response {
            flags |= 0x8000;
        }
        if self.aa {
            flags |= 0x0400;
        }
        if self.rd {
            flags |= 0x0100;
        }
        if self.ra {
            flags |= 0x0080;
        }
        flags |= u16::from(self.rcode & 0x0f);
        b.extend_from_slice(&flags.to_be_bytes());
        let counts = [
            1u16,
            self.answers.len() as u16,
            self.authority.len() as u16,
            u16::from(self.edns.is_some()),
        ];
        for c in counts {
            b.extend_from_slice(&c.to_be_bytes());
        }
        w.name(&self.qname);
        w.u16(self.qtype);
        w.u16(1);
        for r in self.answers.iter().chain(&self.authority) {
            w.record(r);
        }
        if let Some(size) = self.edns {
            w.buf.push(0); // root
            w.u16(qtype::OPT);
            w.u16(size);
            w.buf.extend_from_slice(&[0, 0, 0, 0]); // extended rcode, version, flags
            w.u16(0);
        }
        w.buf
    }
}

#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
    names: HashMap<String, u16>,
}

impl Writer {
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Writes a name, pointing at an earlier copy of its longest known suffix.
    fn name(&mut self, name: &str) {
        let name = name.trim_end_matches('.');
        let labels: Vec<&str> = if name.is_empty() {
            Vec::new()
        } else {
            name.split('.').collect()
        };
        for i in 0..labels.len() {
            let suffix = labels[i..].join(".").to_ascii_lowercase();
            if let Some(&off) = self.names.get(&suffix) {
                self.u16(0xC000 | off);
                return;
            }
            if self.buf.len() < 0x3fff {
                self.names.insert(suffix, self.buf.len() as u16);
            }
            let l = labels[i].as_bytes();
            let n = l.len().min(63);
            self.buf.push(n as u8);
            self.buf.extend_from_slice(&l[..n]);
        }
        self.buf.push(0);
    }

    fn record(&mut self, r: &Record) {
        self.name(&r.name);
        self.u16(r.data.rtype());
        self.u16(1);
        self.buf.extend_from_slice(&r.ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.u16(0);
        match &r.data {
            RData::A(a) => self.buf.extend_from_slice(&a.octets()),
            RData::Aaaa(a) => self.buf.extend_from_slice(&a.octets()),
            RData::Cname(n) | RData::Ns(n) => self.name(n),
            RData::Mx(pref, n) => {
                self.u16(*pref);
                self.name(n);
            }
            RData::Txt(strings) => {
                for s in strings {
                    let n = s.len().min(255);
                    self.buf.push(n as u8);
                    self.buf.extend_from_slice(&s[..n]);
                }
            }
        }
        let rdlen = (self.buf.len() - len_at - 2) as u16;
        self.buf[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes_match_hand_encoding() {
        let q = Message::query(0x1234, "www.example.vn", qtype::A);
        let b = q.to_bytes();
        let expected: Vec<u8> = [
            &[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0][..],
            b"\x03www\x07example\x02vn\x00",
            &[0, 1, 0, 1],
        ]
        .concat();
        assert_eq!(b, expected);
    }

    #[test]
    fn answers_compress_the_question_name() {
        let q = Message::query(1, "a.example.vn", qtype::A);
        let r = Message::answer(
            &q,
            rcode::NOERROR,
            vec![
                Record {
                    name: "a.example.vn".into(),
                    ttl: 60,
                    data: RData::Cname("b.example.vn".into()),
                },
                Record {
                    name: "b.example.vn".into(),
                    ttl: 60,
                    data: RData::A(Ipv4Addr::new(1, 2, 3, 4)),
                },
            ],
        );
        let b = r.to_bytes();
        // First answer owner is a pointer to offset 12 (the question name).
        let q_end = 12 + 1 + 1 + 1 + 7 + 1 + 2 + 1 + 4; // labels + root + type + class
        assert_eq!(&b[q_end..q_end + 2], &[0xC0, 12]);
        // The CNAME target "b" + pointer to "example.vn" at offset 14.
        let rdata = q_end + 2 + 2 + 2 + 4 + 2;
        assert_eq!(&b[rdata..rdata + 4], &[1, b'b', 0xC0, 14]);
        assert_eq!(u16::from_be_bytes([b[6], b[7]]), 2);
    }
}
