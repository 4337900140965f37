//! Ground-truth labels: one row per scenario instance, written as CSV.
//! The format is documented in `datasets/README.md`.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use thiserror::Error;

/// Column names of the labels file, in order.
pub const COLUMNS: [&str; 13] = [
    "label_id",
    "scenario",
    "technique",
    "attacker",
    "target",
    "target_port",
    "protocol",
    "start_us",
    "end_us",
    "start_utc",
    "end_utc",
    "packets",
    "params",
];

/// One labelled scenario instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// 1-based number of the instance in the file.
    pub id: u32,
    /// Scenario name.
    pub scenario: String,
    /// ATT&CK technique ids; the first is the primary technique.
    pub techniques: Vec<String>,
    /// Attacker addresses or CIDR blocks.
    pub attackers: Vec<Cidr>,
    /// Target addresses or CIDR blocks.
    pub targets: Vec<Cidr>,
    /// Target port, when the scenario aims at one.
    pub target_port: Option<u16>,
    /// Transport protocol (`tcp`, `udp`, `icmp`).
    pub protocol: String,
    /// Time of the scenario's first packet, microseconds since the Unix epoch (UTC).
    pub start_us: u64,
    /// Time of its last packet.
    pub end_us: u64,
    /// Packets the scenario put in the capture.
    pub packets: u64,
    /// Parameters, `key=value` pairs.
    pub params: Vec<(String, String)>,
}

impl Label {
    /// The campaign the instance belongs to (its `campaign` parameter),
    /// when one was given: instances with the same campaign are one
    /// actor's work.
    pub fn campaign(&self) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, v)| k == "campaign" && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// An address block (a single address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// A single address.
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// True when `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let p = u32::from(self.prefix.min(32));
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let p = u32::from(self.prefix.min(128));
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let full = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == full {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("not an IP address: {a:?}"))?;
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= full)
                .ok_or_else(|| format!("bad prefix length in {s:?}"))?,
            None => full,
        };
        Ok(Cidr { addr, prefix })
    }
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";")
}

/// Formats microseconds since the epoch as RFC 3339 UTC with microseconds.
pub fn utc_string(us: u64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us as i64)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Micros, true))
        .unwrap_or_default()
}

/// Writes labels as CSV with a header row.
pub fn write_csv<W: Write>(out: W, labels: &[Label]) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS).map_err(io::Error::other)?;
    for l in labels {
        let params = l
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        w.write_record([
            l.id.to_string(),
            l.scenario.clone(),
            l.techniques.join(";"),
            join(&l.attackers),
            join(&l.targets),
            l.target_port.map(|p| p.to_string()).unwrap_or_default(),
            l.protocol.clone(),
            l.start_us.to_string(),
            l.end_us.to_string(),
            utc_string(l.start_us),
            utc_string(l.end_us),
            l.packets.to_string(),
            params,
        ])
        .map_err(io::Error::other)?;
    }
    w.flush()
}

/// A labels file that cannot be read.
#[derive(Debug, Error)]
#[error("labels line {line}: {msg}")]
pub struct LabelError {
    /// 1-based line number (the header is line 1).
    pub line: u64,
    /// What is wrong.
    pub msg: String,
}

fn list<T: FromStr>(s: &str, line: u64, what: &str) -> Result<Vec<T>, LabelError>
where
    T::Err: std::fmt::Display,
{
    s.split(';')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<T>().map_err(|e| LabelError {
                line,
                msg: format!("{what}: {e}"),
            })
        })
        .collect()
}

/// Reads a labels CSV file (as written by [`write_csv`]).
pub fn read_csv<R: Read>(input: R) -> Result<Vec<Label>, LabelError> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let headers = r
        .headers()
        .map_err(|e| LabelError {
            line: 1,
            msg: e.to_string(),
        })?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| LabelError {
                line: 1,
                msg: format!("missing column {name:?}"),
            })
    };
    let idx: Vec<usize> = COLUMNS.iter().map(|c| col(c)).collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| LabelError {
            line,
            msg: e.to_string(),
        })?;
        let get = |k: usize| rec.get(idx[k]).unwrap_or("").trim();
        let num = |k: usize| -> Result<u64, LabelError> {
            get(k).parse::<u64>().map_err(|_| LabelError {
                line,
                msg: format!("{} is not a number: {:?}", COLUMNS[k], get(k)),
            })
        };
        let techniques: Vec<String> = list(get(2), line, "technique")?;
        if techniques.is_empty() {
            return Err(LabelError {
                line,
                msg: "no technique".into(),
            });
        }
        let port = get(5);
        let (start_us, end_us) = (num(7)?, num(8)?);
        if end_us < start_us {
            return Err(LabelError {
                line,
                msg: "end_us is before start_us".into(),
            });
        }
        out.push(Label {
            id: num(0)? as u32,
            scenario: get(1).to_string(),
            techniques,
            attackers: list(get(3), line, "attacker")?,
            targets: list(get(4), line, "target")?,
            target_port: if port.is_empty() {
                None
            } else {
                Some(port.parse().map_err(|_| LabelError {
                    line,
                    msg: format!("bad target_port {port:?}"),
                })?)
            },
            protocol: get(6).to_string(),
            start_us,
            end_us,
            packets: num(11).unwrap_or(0),
            params: get(12)
                .split(';')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_contains() {
        let c: Cidr = "10.10.1.0/24".parse().unwrap();
        assert!(c.contains("10.10.1.200".parse().unwrap()));
        assert!(!c.contains("10.10.2.1".parse().unwrap()));
        let any: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains("8.8.8.8".parse().unwrap()));
        assert!(!any.contains("::1".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:10::1".parse().unwrap()));
        assert!("10.0.0.1/33".parse::<Cidr>().is_err());
        assert!("banana".parse::<Cidr>().is_err());
    }

    #[test]
    fn csv_round_trip() {
        let l = Label {
            id: 1,
            scenario: "dns_tunnel".into(),
            techniques: vec!["T1071.004".into(), "T1572".into()],
            attackers: vec!["10.10.1.57".parse().unwrap()],
            targets: vec![
                "10.10.0.53".parse().unwrap(),
                "103.224.182.250".parse().unwrap(),
            ],
            target_port: Some(53),
            protocol: "udp".into(),
            start_us: 1_772_413_200_000_001,
            end_us: 1_772_414_000_000_000,
            packets: 4800,
            params: vec![("queries".into(), "1200".into())],
        };
        let mut buf = Vec::new();
        write_csv(&mut buf, std::slice::from_ref(&l)).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.contains("2026-03-02T01:00:00.000001Z"), "{text}");
        assert_eq!(read_csv(&buf[..]).unwrap(), vec![l]);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let text = format!(
            "{}\n1,x,T1046,1.2.3.4,5.6.7.8,,tcp,10,notanumber,,,0,\n",
            COLUMNS.join(",")
        );
        let e = read_csv(text.as_bytes()).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.msg.contains("end_us"));
    }
}
