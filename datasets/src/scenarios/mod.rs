//! Attack scenarios: each switchable, parameterised, and labelled with its
//! MITRE ATT&CK technique. A scenario builds one [`Source`] of packets and the
//! label that describes it; the label's times are filled in from the packets
//! actually written.

mod brute;
mod c2;
mod dns;
mod flood;
mod mining;
mod scan;
mod web;
mod windows;

use std::collections::BTreeMap;
use std::net::IpAddr;

use thiserror::Error;

use crate::engine::Source;
use crate::labels::{Cidr, Label};
use crate::net::{Host, Network};
use crate::rng::Rng;

/// Errors in scenario selection or parameters.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScenarioError {
    /// No scenario has this name.
    #[error("unknown scenario {0:?} (see `mekong-datasets scenarios`)")]
    Unknown(String),
    /// A parameter was set for a scenario that is not selected.
    #[error("parameter given for scenario {0:?}, which is not selected")]
    NotSelected(String),
    /// The scenario has no such parameter.
    #[error("scenario {scenario:?} has no parameter {key:?} (it has: {known})")]
    UnknownParam {
        /// Scenario.
        scenario: String,
        /// Parameter.
        key: String,
        /// The parameters it does have.
        known: String,
    },
    /// A parameter value does not parse or is out of range.
    #[error("scenario {scenario:?}, parameter {key:?}: {msg}")]
    BadValue {
        /// Scenario.
        scenario: String,
        /// Parameter.
        key: String,
        /// What is wrong.
        msg: String,
    },
}

/// The parameter every scenario takes: the name of the campaign its
/// attackers belong to (empty: the instance acts alone).
pub const CAMPAIGN: &str = "campaign";

/// One documented parameter and its default.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// Name.
    pub key: &'static str,
    /// Default value.
    pub default: &'static str,
    /// Meaning and unit.
    pub doc: &'static str,
}

/// Parameter values of one scenario instance.
#[derive(Clone, Debug)]
pub struct Params {
    scenario: &'static str,
    values: BTreeMap<&'static str, String>,
}

impl Params {
    fn new(scenario: &'static str, specs: &[ParamSpec]) -> Params {
        let mut values: BTreeMap<&'static str, String> = specs
            .iter()
            .map(|s| (s.key, s.default.to_string()))
            .collect();
        // Every scenario takes a campaign name: instances given the same
        // name are one actor's work, and their labels say so.
        values.entry(CAMPAIGN).or_default();
        Params { scenario, values }
    }

    /// Sets a parameter; unknown keys are an error.
    pub fn set(&mut self, scenario: &str, key: &str, value: &str) -> Result<(), ScenarioError> {
        match self.values.get_mut(key) {
            Some(v) => {
                *v = value.to_string();
                Ok(())
            }
            None => Err(ScenarioError::UnknownParam {
                scenario: scenario.to_string(),
                key: key.to_string(),
                known: self.values.keys().copied().collect::<Vec<_>>().join(", "),
            }),
        }
    }

    fn bad(&self, key: &str, msg: impl Into<String>) -> ScenarioError {
        ScenarioError::BadValue {
            scenario: self.scenario.to_string(),
            key: key.to_string(),
            msg: msg.into(),
        }
    }

    /// The raw value.
    pub fn str(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or("")
    }

    /// An unsigned integer in `[min, max]`.
    pub fn u64(&self, key: &str, min: u64, max: u64) -> Result<u64, ScenarioError> {
        let v: u64 = self
            .str(key)
            .parse()
            .map_err(|_| self.bad(key, format!("{:?} is not a whole number", self.str(key))))?;
        if v < min || v > max {
            return Err(self.bad(key, format!("{v} is outside {min}..={max}")));
        }
        Ok(v)
    }

    /// A number in `[min, max]`.
    pub fn f64(&self, key: &str, min: f64, max: f64) -> Result<f64, ScenarioError> {
        let v: f64 = self
            .str(key)
            .parse()
            .map_err(|_| self.bad(key, format!("{:?} is not a number", self.str(key))))?;
        if !(min..=max).contains(&v) {
            return Err(self.bad(key, format!("{v} is outside {min}..={max}")));
        }
        Ok(v)
    }

    /// An IP address.
    pub fn ip(&self, key: &str) -> Result<IpAddr, ScenarioError> {
        self.str(key)
            .parse()
            .map_err(|_| self.bad(key, format!("{:?} is not an IP address", self.str(key))))
    }

    /// An IPv4 /24 (or longer) block, given as CIDR.
    pub fn cidr(&self, key: &str) -> Result<Cidr, ScenarioError> {
        let c: Cidr = self
            .str(key)
            .parse()
            .map_err(|e: String| self.bad(key, e))?;
        if !c.addr.is_ipv4() || c.prefix < 20 {
            return Err(self.bad(key, "an IPv4 block of /20 or smaller is expected"));
        }
        Ok(c)
    }

    /// A port list: comma-separated ports and ranges (`1-1024,3389`).
    pub fn ports(&self, key: &str) -> Result<Vec<u16>, ScenarioError> {
        let mut out = Vec::new();
        for part in self
            .str(key)
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let a: u16 = a
                .trim()
                .parse()
                .map_err(|_| self.bad(key, format!("bad port {a:?}")))?;
            let b: u16 = b
                .trim()
                .parse()
                .map_err(|_| self.bad(key, format!("bad port {b:?}")))?;
            if a == 0 || b < a {
                return Err(self.bad(key, format!("bad port range {part:?}")));
            }
            out.extend(a..=b);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// All values as `key=value` pairs, for the label (an unset campaign
    /// is left out).
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(k, v)| **k != CAMPAIGN || !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// Start time from the `at` fraction of the capture duration.
    pub fn start(&self, ctx: &Ctx<'_>) -> Result<u64, ScenarioError> {
        let at = self.f64("at", 0.0, 1.0)?;
        Ok(ctx.start_ns + (at * ctx.duration_ns as f64) as u64)
    }
}

/// What a scenario sees while it is built.
pub struct Ctx<'a> {
    /// The office network.
    pub net: &'a Network,
    /// Capture start, nanoseconds since the epoch.
    pub start_ns: u64,
    /// Capture duration, nanoseconds.
    pub duration_ns: u64,
}

impl Ctx<'_> {
    /// The host at `ip`: a known internal host, or an internet host.
    pub fn host(&self, ip: IpAddr) -> Host {
        let net = self.net;
        let internal = [
            &net.resolver,
            &net.ntp,
            &net.file_server,
            &net.ssh_bastion,
            &net.intranet,
            &net.dmz_web,
            &net.dmz_ssh,
            &net.dmz_ftp,
            &net.dmz_rdp,
            &net.dc,
            &net.mail,
            &net.db,
        ];
        if let Some(h) = internal.into_iter().find(|h| h.ip == ip) {
            return h.clone();
        }
        if let Some(h) = net.cameras.iter().find(|h| h.ip == ip) {
            return h.clone();
        }
        if let Some(c) = net.clients.iter().find(|c| c.v4.ip == ip) {
            return c.v4.clone();
        }
        match ip {
            IpAddr::V4(v4) if v4.is_private() => {
                // An internal address with no workstation: a new device.
                let o = v4.octets();
                Host::internal(
                    ip,
                    crate::net::mac_from(u32::from_be_bytes(o), [0x02, 0x00, 0x5e]),
                    None,
                    64,
                )
            }
            _ => Host::external(ip, 64, 14),
        }
    }
}

/// A labelled attack scenario.
pub trait Scenario: Sync {
    /// Name used on the command line and in labels.
    fn name(&self) -> &'static str;
    /// Stable number; seeds the scenario's own random stream.
    fn id(&self) -> u64;
    /// ATT&CK techniques, primary first.
    fn techniques(&self) -> &'static [&'static str];
    /// One-line description.
    fn description(&self) -> &'static str;
    /// Parameters and defaults.
    fn params(&self) -> &'static [ParamSpec];
    /// Builds the packets and the label (times are filled in by the generator).
    fn build(
        &self,
        ctx: &Ctx<'_>,
        p: &Params,
        rng: Rng,
    ) -> Result<(Box<dyn Source>, Label), ScenarioError>;

    /// Default parameters.
    fn defaults(&self) -> Params {
        Params::new(self.name(), self.params())
    }
}

/// A label with everything but times and packet count.
pub(crate) fn label(
    s: &dyn Scenario,
    p: &Params,
    attackers: Vec<Cidr>,
    targets: Vec<Cidr>,
    target_port: Option<u16>,
    protocol: &str,
) -> Label {
    Label {
        id: s.id() as u32,
        scenario: s.name().to_string(),
        techniques: s.techniques().iter().map(|t| t.to_string()).collect(),
        attackers,
        targets,
        target_port,
        protocol: protocol.to_string(),
        start_us: 0,
        end_us: 0,
        packets: 0,
        params: p.pairs(),
    }
}

/// Every scenario, in id order.
pub static ALL: [&dyn Scenario; 26] = [
    &scan::PortscanSyn,
    &scan::PortscanConnect,
    &scan::SweepPort,
    &scan::IcmpSweep,
    &brute::BruteSsh,
    &brute::BruteRdp,
    &brute::BruteFtp,
    &brute::BruteTelnet,
    &brute::BruteHttpBasic,
    &flood::SynFlood,
    &flood::UdpFlood,
    &flood::DnsAmplification,
    &dns::DnsTunnel,
    &c2::BeaconHttps,
    &c2::ExfilHttps,
    &dns::ExfilDns,
    &web::WebSqli,
    &web::WebTraversal,
    &web::WebLog4shell,
    &web::WebShellUpload,
    &mining::MiningStratum,
    &windows::LateralPsexec,
    &windows::Kerberoast,
    &windows::SprayKerberos,
    &windows::DhcpStarvation,
    &windows::ExfilSmtp,
];

/// Resolves names to scenarios; `all` and `none` are accepted as the only item.
pub fn select(names: &[String]) -> Result<Vec<&'static dyn Scenario>, ScenarioError> {
    let mut out: Vec<&'static dyn Scenario> = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match n {
            "all" => out.extend(ALL.iter().copied()),
            "none" => {}
            _ => out.push(
                *ALL.iter()
                    .find(|s| s.name() == n)
                    .ok_or_else(|| ScenarioError::Unknown(n.to_string()))?,
            ),
        }
    }
    out.sort_by_key(|s| s.id());
    out.dedup_by_key(|s| s.id());
    Ok(out)
}

/// The `at` parameter every scenario has.
pub(crate) const fn at(default: &'static str) -> ParamSpec {
    ParamSpec {
        key: "at",
        default,
        doc: "start, as a fraction of the capture duration (0..1)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_ordered() {
        for (i, s) in ALL.iter().enumerate() {
            assert_eq!(s.id(), i as u64 + 1, "{}", s.name());
            assert!(!s.techniques().is_empty());
            assert!(s.params().iter().any(|p| p.key == "at"), "{}", s.name());
        }
    }

    #[test]
    fn selection_parses_names() {
        assert_eq!(select(&["all".into()]).unwrap().len(), ALL.len());
        assert!(select(&["none".into()]).unwrap().is_empty());
        assert_eq!(
            select(&["dns_tunnel".into(), "portscan_syn".into()]).unwrap()[0].name(),
            "portscan_syn"
        );
        assert_eq!(
            select(&["nope".into()]).err(),
            Some(ScenarioError::Unknown("nope".into()))
        );
    }

    #[test]
    fn params_validate() {
        let s = ALL[0];
        let mut p = s.defaults();
        assert!(p.set(s.name(), "rate", "100").is_ok());
        assert!(matches!(
            p.set(s.name(), "colour", "red"),
            Err(ScenarioError::UnknownParam { .. })
        ));
        p.set(s.name(), "ports", "22,80-82").unwrap();
        assert_eq!(p.ports("ports").unwrap(), vec![22, 80, 81, 82]);
        p.set(s.name(), "ports", "80-22").unwrap();
        assert!(p.ports("ports").is_err());
        p.set(s.name(), "rate", "-1").unwrap();
        assert!(p.u64("rate", 1, 100_000).is_err());
    }

    #[test]
    fn every_scenario_builds_with_defaults() {
        let net = Network::build(&mut Rng::new(1, 1));
        let ctx = Ctx {
            net: &net,
            start_ns: 1_772_413_200_000_000_000,
            duration_ns: 3 * 3600 * 1_000_000_000,
        };
        for s in ALL {
            let (mut src, label) = s.build(&ctx, &s.defaults(), Rng::new(1, s.id())).unwrap();
            assert!(
                !label.attackers.is_empty() && !label.targets.is_empty(),
                "{}",
                s.name()
            );
            let n = crate::background::count_packets(&mut src);
            assert!(n > 0, "{} produced no packets", s.name());
        }
    }
}
