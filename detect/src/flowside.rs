//! Detections that one flow shows alone, run in the workers: indicator
//! matches on addresses, names and fingerprints, mining protocols and pool
//! names, and exploitation signs: a TLS heartbeat asking for more than it
//! carries or answered with more than was asked (Heartbleed, CVE-2014-0160,
//! T1190), a DNS answer over TCP of at least [`SIGRED_MIN_LEN`] bytes whose
//! first record is a signature (SIG or RRSIG: SIGRed, CVE-2020-1350,
//! T1210). Each gives a [`Finding`] that travels to the host stage as an
//! event, where it is deduplicated with every other alert.

use std::net::IpAddr;
use std::sync::Arc;

use crate::config::DetectConfig;
use crate::detectors::sid;
use crate::dnsname::under;
use crate::event::Finding;
use crate::evidence;
use crate::indicators::{Hit, Indicators, Matched};

/// What the workers match flows against (shared, read-only).
#[derive(Debug, Default)]
pub struct FlowDetectors {
    /// Indicator lists.
    pub indicators: Indicators,
    mining: bool,
    exploit: bool,
    pools: hashbrown::HashSet<String>,
}

/// Length from which a DNS answer over TCP with a signature record is
/// SIGRed's: the Windows DNS server's 16-bit allocation overflows once the
/// record, uncompressed, passes 65,535 bytes; benign signed answers stay
/// far below.
pub const SIGRED_MIN_LEN: u16 = 0xff00;

fn kind_index(k: Matched) -> usize {
    match k {
        Matched::Ip => 0,
        Matched::Domain => 1,
        Matched::Sni => 2,
        Matched::Ja3 => 3,
        Matched::Ja4 => 4,
        Matched::Hassh => 5,
        Matched::CertSha256 => 6,
    }
}

fn indicator(h: Hit, what: &str, attacker_is_resp: bool) -> Finding {
    let technique = h.technique.clone();
    Finding {
        detector: "indicator",
        signature_id: sid::INDICATOR[kind_index(h.kind)],
        signature: format!(
            "MEKONG INDICATOR {} {} on list {}",
            h.kind.name(),
            h.entry,
            h.list
        ),
        techniques: vec![technique],
        classtype: "trojan-activity",
        attacker_is_resp,
        evidence: evidence! {
            "list" => h.list,
            "entry" => h.entry,
            "kind" => h.kind.name(),
            "value" => what.to_string(),
        },
    }
}

impl FlowDetectors {
    /// From a checked configuration and its loaded indicator lists.
    pub fn new(c: &DetectConfig, indicators: Indicators) -> Arc<FlowDetectors> {
        Arc::new(FlowDetectors {
            indicators,
            mining: c.mining.enabled,
            exploit: c.exploit.enabled,
            pools: c
                .mining
                .pool_domains
                .iter()
                .map(|d| d.trim_matches('.').to_ascii_lowercase())
                .collect(),
        })
    }

    /// A flow's endpoints against the address lists (the listed side is
    /// the one blamed).
    pub fn flow_start(&self, orig: IpAddr, resp: IpAddr) -> Option<Finding> {
        if let Some(h) = self.indicators.match_ip(resp) {
            return Some(indicator(h, &resp.to_string(), true));
        }
        self.indicators
            .match_ip(orig)
            .map(|h| indicator(h, &orig.to_string(), false))
    }

    /// A DNS query name: domain lists and mining pools.
    pub fn dns_query(&self, name: &str) -> Option<Finding> {
        if let Some(h) = self.indicators.match_domain(name) {
            return Some(indicator(h, name, false));
        }
        self.pool(name, "dns_query")
    }

    /// The pool domain `name` is or is under: each suffix of the name
    /// looked up once (a name has few labels, the list many domains).
    fn pool_of(&self, name: &str) -> Option<&String> {
        let mut s = name.trim_end_matches('.');
        loop {
            let hit = if s.bytes().any(|b| b.is_ascii_uppercase()) {
                self.pools.get(&s.to_ascii_lowercase())
            } else {
                self.pools.get(s)
            };
            if hit.is_some() {
                return hit;
            }
            s = &s[s.find('.')? + 1..];
        }
    }

    fn pool(&self, name: &str, field: &str) -> Option<Finding> {
        if !self.mining || self.pools.is_empty() {
            return None;
        }
        let pool = self.pool_of(name)?;
        debug_assert!(under(name, pool));
        Some(Finding {
            detector: "mining.pool",
            signature_id: sid::MINING_POOL,
            signature: format!("MEKONG MINING lookup of mining pool {pool}"),
            techniques: vec!["T1496".into()],
            classtype: "coin-mining",
            attacker_is_resp: false,
            evidence: evidence! { "pool" => pool.clone(), field => name.to_string() },
        })
    }

    /// A TLS ClientHello: server name and fingerprints.
    pub fn tls_client(
        &self,
        sni: Option<&str>,
        ja3: Option<&str>,
        ja4: Option<&str>,
    ) -> Option<Finding> {
        if let Some(s) = sni {
            if let Some(h) = self.indicators.match_sni(s) {
                return Some(indicator(h, s, true));
            }
        }
        if let Some(h) = ja3.and_then(|j| self.indicators.match_ja3(j)) {
            return Some(indicator(h, ja3.unwrap_or(""), false));
        }
        if let Some(h) = ja4.and_then(|j| self.indicators.match_ja4(j)) {
            return Some(indicator(h, ja4.unwrap_or(""), false));
        }
        sni.and_then(|s| self.pool(s, "tls_sni"))
    }

    /// A server certificate's SHA-256.
    pub fn certificate(&self, sha256: &str) -> Option<Finding> {
        self.indicators
            .match_cert(sha256)
            .map(|h| indicator(h, sha256, true))
    }

    /// An SSH HASSH (client when `client`, else server).
    pub fn hassh(&self, v: &str, client: bool) -> Option<Finding> {
        self.indicators
            .match_hassh(v)
            .map(|h| indicator(h, v, !client))
    }

    /// An HTTP Host header.
    pub fn http_host(&self, host: &str) -> Option<Finding> {
        let name = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        self.indicators
            .match_domain(name)
            .map(|h| indicator(h, host, true))
    }

    /// A TLS heartbeat record of `len` bytes from `dir` (0 client), with the
    /// payload length a request in the clear declares and the parser's
    /// judgement (`leak`).
    pub fn heartbeat(
        &self,
        dir: u8,
        len: u32,
        claimed: Option<u16>,
        leak: bool,
    ) -> Option<Finding> {
        if !self.exploit || !leak {
            return None;
        }
        Some(Finding {
            detector: "exploit.heartbleed",
            signature_id: sid::EXPLOIT_HEARTBLEED,
            signature: if dir == 0 {
                "MEKONG EXPLOIT TLS heartbeat asking for more than it carries (Heartbleed, CVE-2014-0160)".into()
            } else {
                "MEKONG EXPLOIT TLS heartbeat answered with more than was asked (Heartbleed, CVE-2014-0160)".into()
            },
            techniques: vec!["T1190".into()],
            classtype: "attempted-admin",
            attacker_is_resp: false,
            evidence: evidence! { "record_len" => len, "claimed_len" => claimed, "from_server" => dir == 1 },
        })
    }

    /// A DNS message over TCP too long to read whole: its length, whether
    /// it answers, and its first answer's type.
    pub fn dns_long(&self, len: u16, response: bool, answer_type: Option<u16>) -> Option<Finding> {
        let sig = matches!(answer_type, Some(24 | 46));
        if !self.exploit || !response || !sig || len < SIGRED_MIN_LEN {
            return None;
        }
        Some(Finding {
            detector: "exploit.sigred",
            signature_id: sid::EXPLOIT_SIGRED,
            signature:
                "MEKONG EXPLOIT oversized DNS signature answer over TCP (SIGRed, CVE-2020-1350)"
                    .into(),
            techniques: vec!["T1210".into()],
            classtype: "attempted-admin",
            // The answering side is the attacker's name server.
            attacker_is_resp: true,
            evidence: evidence! { "message_len" => len, "answer_type" => answer_type },
        })
    }

    /// A client spoke a mining protocol (its first request's method and
    /// the miner's agent, as the application parser read them).
    pub fn mining_client(&self, method: &str, agent: Option<&str>) -> Option<Finding> {
        if !self.mining {
            return None;
        }
        Some(Finding {
            detector: "mining.protocol",
            signature_id: sid::MINING_PROTOCOL,
            signature: format!("MEKONG MINING stratum/JSON-RPC mining client ({method})"),
            techniques: vec!["T1496".into()],
            classtype: "coin-mining",
            attacker_is_resp: false,
            evidence: evidence! { "method" => method, "agent" => agent },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbleed_and_sigred_signs() {
        let fd = FlowDetectors::new(&DetectConfig::default(), Indicators::default());
        let h = fd.heartbeat(0, 3, Some(16_384), true).unwrap();
        assert_eq!(
            (h.signature_id, h.techniques.clone()),
            (9_000_851, vec!["T1190".to_string()])
        );
        assert!(fd.heartbeat(0, 35, Some(16), false).is_none());
        let s = fd.dns_long(0xffff, true, Some(24)).unwrap();
        assert_eq!(s.signature_id, 9_000_852);
        assert!(s.attacker_is_resp);
        // A large zone-transfer message, a query, a short signed answer: none.
        assert!(fd.dns_long(0xffff, true, Some(6)).is_none());
        assert!(fd.dns_long(0xffff, false, Some(24)).is_none());
        assert!(fd.dns_long(9000, true, Some(46)).is_none());
        let mut off = DetectConfig::default();
        off.exploit.enabled = false;
        let fd = FlowDetectors::new(&off, Indicators::default());
        assert!(fd.heartbeat(0, 3, Some(16_384), true).is_none());
    }
}
