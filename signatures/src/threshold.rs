//! Alert thresholds: the rules' `threshold` and `detection_filter`, and
//! Suricata's `threshold.config` (`suppress`, `threshold`/`event_filter`,
//! `rate_filter`). Applied where every match of a host arrives in packet
//! time order, so one worker or several give the same alerts.

use std::net::IpAddr;

use hashbrown::HashMap;

use crate::addr::{AddrSet, Vars};
use crate::parse::parse_addr;
use crate::rule::{Threshold, ThresholdKind, Track, UniqueOn};

/// Keys held per table at most; beyond, the oldest window is dropped
/// (counted in [`Thresholds::evicted`]).
pub const MAX_KEYS: usize = 200_000;

/// `suppress`: alerts of a rule (for some addresses) are dropped.
#[derive(Clone, Debug)]
pub struct Suppress {
    /// Generator (0: any).
    pub gid: u32,
    /// Signature (0: any).
    pub sid: u32,
    /// Which address the set applies to (`None`: every alert).
    pub track: Option<SuppressTrack>,
    /// The addresses.
    pub ips: AddrSet,
}

/// Which address a suppression checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuppressTrack {
    /// Source.
    BySrc,
    /// Destination.
    ByDst,
    /// Either.
    ByEither,
}

/// `rate_filter`.
#[derive(Clone, Debug)]
pub struct RateFilter {
    /// Generator (0: any).
    pub gid: u32,
    /// Signature (0: any).
    pub sid: u32,
    /// Counted by.
    pub track: Track,
    /// Matches allowed in the window.
    pub count: u32,
    /// Window, seconds.
    pub seconds: u32,
    /// The action once the rate is exceeded (`alert`, `drop`, `pass`,
    /// `reject`): Mekong is passive, so `pass` drops the alert and the
    /// others keep it.
    pub new_action: String,
    /// How long the new action lasts, seconds.
    pub timeout: u32,
}

/// A `threshold.config`.
#[derive(Clone, Debug, Default)]
pub struct ThresholdConfig {
    /// Suppressions.
    pub suppress: Vec<Suppress>,
    /// Thresholds replacing the rules' own: (gid, sid, threshold).
    pub thresholds: Vec<(u32, u32, Threshold)>,
    /// Rate filters.
    pub rate_filters: Vec<RateFilter>,
}

fn kv<'a>(line: &'a str, body: &'a str) -> Result<Vec<(&'a str, &'a str)>, String> {
    body.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once(char::is_whitespace)
                .map(|(k, v)| (k, v.trim()))
                .ok_or_else(|| format!("{line:?}: bad part {p:?}"))
        })
        .collect()
}

fn get<'a>(parts: &[(&'a str, &'a str)], k: &str) -> Option<&'a str> {
    parts.iter().find(|(a, _)| *a == k).map(|(_, v)| *v)
}

fn num(line: &str, parts: &[(&str, &str)], k: &str) -> Result<u32, String> {
    let v = get(parts, k).ok_or_else(|| format!("{line:?}: needs {k}"))?;
    v.parse()
        .map_err(|_| format!("{line:?}: {k} must be a number, not {v:?}"))
}

impl ThresholdConfig {
    /// Parses a `threshold.config` (one directive a line, `#` comments).
    pub fn parse(text: &str, vars: &Vars) -> Result<ThresholdConfig, String> {
        let mut c = ThresholdConfig::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |m: String| format!("line {}: {m}", i + 1);
            let (kind, body) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| err(format!("{line:?}: expected a directive and its options")))?;
            // `ip` may hold a bracketed list with commas: take it apart first.
            let (body, ip) = match body.find("ip ") {
                Some(p) if kind == "suppress" => (&body[..p], Some(body[p + 3..].trim())),
                _ => (body, None),
            };
            let parts = kv(line, body).map_err(err)?;
            let gid = num(line, &parts, "gen_id").map_err(err)?;
            let sid = num(line, &parts, "sig_id").map_err(err)?;
            let track = get(&parts, "track");
            match kind {
                "suppress" => {
                    let track = match track {
                        None => None,
                        Some("by_src") => Some(SuppressTrack::BySrc),
                        Some("by_dst") => Some(SuppressTrack::ByDst),
                        Some("by_either") => Some(SuppressTrack::ByEither),
                        Some(t) => return Err(err(format!("bad track {t:?}"))),
                    };
                    let ips = match (track, ip) {
                        (None, _) => AddrSet::any(),
                        (Some(_), Some(ip)) => {
                            let spec = parse_addr(ip.trim_end_matches(',')).map_err(err)?;
                            vars.addr_set(&spec).map_err(err)?
                        }
                        (Some(_), None) => return Err(err("a tracked suppress needs ip".into())),
                    };
                    c.suppress.push(Suppress {
                        gid,
                        sid,
                        track,
                        ips,
                    });
                }
                "threshold" | "event_filter" => {
                    let kind = match get(&parts, "type") {
                        Some("limit") => ThresholdKind::Limit,
                        Some("threshold") => ThresholdKind::Threshold,
                        Some("both") => ThresholdKind::Both,
                        t => return Err(err(format!("bad type {t:?}"))),
                    };
                    let track = track
                        .and_then(Track::parse)
                        .ok_or_else(|| err(format!("bad track {track:?}")))?;
                    c.thresholds.push((
                        gid,
                        sid,
                        Threshold {
                            kind,
                            track,
                            count: num(line, &parts, "count").map_err(err)?,
                            seconds: num(line, &parts, "seconds").map_err(err)?,
                            unique_on: None,
                        },
                    ));
                }
                "rate_filter" => {
                    let track = track
                        .and_then(Track::parse)
                        .ok_or_else(|| err(format!("bad track {track:?}")))?;
                    let new_action = get(&parts, "new_action")
                        .filter(|a| ["alert", "drop", "pass", "reject"].contains(a))
                        .ok_or_else(|| err("needs new_action alert|drop|pass|reject".into()))?;
                    c.rate_filters.push(RateFilter {
                        gid,
                        sid,
                        track,
                        count: num(line, &parts, "count").map_err(err)?,
                        seconds: num(line, &parts, "seconds").map_err(err)?,
                        new_action: new_action.to_string(),
                        timeout: num(line, &parts, "timeout").map_err(err)?,
                    });
                }
                k => return Err(err(format!("unknown directive {k:?}"))),
            }
        }
        Ok(c)
    }
}

/// One match, as thresholds see it.
#[derive(Clone, Copy, Debug)]
pub struct Match {
    /// Generator.
    pub gid: u32,
    /// Signature.
    pub sid: u32,
    /// Source of the packet.
    pub src: IpAddr,
    /// Destination.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// The flow.
    pub flow: i64,
    /// Packet time, ns.
    pub ts_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Rule,
    One(IpAddr),
    Two(IpAddr, IpAddr),
    Flow(i64),
}

fn key(track: Track, m: &Match) -> Key {
    match track {
        Track::BySrc | Track::IpSrc => Key::One(m.src),
        Track::ByDst | Track::IpDst => Key::One(m.dst),
        Track::ByBoth | Track::IpPair => Key::Two(m.src, m.dst),
        Track::ByRule => Key::Rule,
        Track::ByFlow => Key::Flow(m.flow),
    }
}

#[derive(Clone, Debug, Default)]
struct Window {
    start_ns: u64,
    count: u32,
    alerted: u32,
    /// Distinct ports (unique_on).
    ports: Vec<u16>,
    /// rate_filter: the new action holds until.
    until_ns: u64,
}

/// Threshold state.
#[derive(Debug, Default)]
pub struct Thresholds {
    config: ThresholdConfig,
    windows: HashMap<(u8, u32, u32, Key), Window>,
    /// Windows dropped because the table was full.
    pub evicted: u64,
    /// Alerts suppressed (`suppress`, thresholds, `rate_filter` pass).
    pub suppressed: u64,
}

const SEC: u64 = 1_000_000_000;

impl Thresholds {
    /// With a `threshold.config`.
    pub fn new(config: ThresholdConfig) -> Thresholds {
        Thresholds {
            config,
            ..Thresholds::default()
        }
    }

    fn window(&mut self, slot: u8, m: &Match, k: Key) -> &mut Window {
        let id = (slot, m.gid, m.sid, k);
        if self.windows.len() >= MAX_KEYS && !self.windows.contains_key(&id) {
            if let Some((&old, _)) = self.windows.iter().min_by_key(|(_, w)| w.start_ns) {
                self.windows.remove(&old);
                self.evicted += 1;
            }
        }
        self.windows.entry(id).or_default()
    }

    /// Does the match alert? `threshold` and `detection_filter` are the
    /// rule's own.
    pub fn alert(
        &mut self,
        m: &Match,
        threshold: Option<Threshold>,
        filter: Option<Threshold>,
    ) -> bool {
        let ok = self.decide(m, threshold, filter);
        if !ok {
            self.suppressed += 1;
        }
        ok
    }

    fn decide(
        &mut self,
        m: &Match,
        threshold: Option<Threshold>,
        filter: Option<Threshold>,
    ) -> bool {
        let hit = |gid: u32, sid: u32| (gid == 0 || gid == m.gid) && (sid == 0 || sid == m.sid);
        for s in &self.config.suppress {
            if !hit(s.gid, s.sid) {
                continue;
            }
            let covered = match s.track {
                None => true,
                Some(SuppressTrack::BySrc) => s.ips.contains(m.src),
                Some(SuppressTrack::ByDst) => s.ips.contains(m.dst),
                Some(SuppressTrack::ByEither) => s.ips.contains(m.src) || s.ips.contains(m.dst),
            };
            if covered {
                return false;
            }
        }
        if let Some(f) = filter {
            if !self.count(0, m, f) {
                return false;
            }
        }
        let threshold = self
            .config
            .thresholds
            .iter()
            .find(|(g, s, _)| hit(*g, *s))
            .map(|(_, _, t)| *t)
            .or(threshold);
        if let Some(t) = threshold {
            if !self.count(1, m, t) {
                return false;
            }
        }
        let rf = self
            .config
            .rate_filters
            .iter()
            .find(|r| hit(r.gid, r.sid))
            .cloned();
        if let Some(r) = rf {
            let w = self.window(2, m, key(r.track, m));
            if m.ts_ns < w.until_ns {
                return r.new_action != "pass";
            }
            if w.count == 0 || m.ts_ns.saturating_sub(w.start_ns) > u64::from(r.seconds) * SEC {
                w.start_ns = m.ts_ns;
                w.count = 0;
            }
            w.count += 1;
            if w.count > r.count {
                w.until_ns = m.ts_ns + u64::from(r.timeout) * SEC;
                w.count = 0;
                return r.new_action != "pass";
            }
        }
        true
    }

    /// Counts a match in a threshold's window; true when it alerts.
    fn count(&mut self, slot: u8, m: &Match, t: Threshold) -> bool {
        let span = u64::from(t.seconds) * SEC;
        let w = self.window(slot, m, key(t.track, m));
        let fresh = w.count == 0 || m.ts_ns.saturating_sub(w.start_ns) > span;
        if fresh {
            w.start_ns = m.ts_ns;
            w.count = 0;
            w.alerted = 0;
            w.ports.clear();
        }
        match t.unique_on {
            Some(u) => {
                let p = match u {
                    UniqueOn::SrcPort => m.sport,
                    UniqueOn::DstPort => m.dport,
                };
                if !w.ports.contains(&p) {
                    if w.ports.len() < 4096 {
                        w.ports.push(p);
                    }
                    w.count += 1;
                }
            }
            None => w.count += 1,
        }
        match t.kind {
            ThresholdKind::DetectionFilter => w.count > t.count,
            ThresholdKind::Limit => {
                if w.alerted < t.count {
                    w.alerted += 1;
                    true
                } else {
                    false
                }
            }
            ThresholdKind::Threshold => {
                if w.count >= t.count {
                    // Every count-th match: the window starts again.
                    w.count = 0;
                    true
                } else {
                    false
                }
            }
            ThresholdKind::Both => {
                if w.count >= t.count && w.alerted == 0 {
                    w.alerted = 1;
                    true
                } else {
                    false
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ts_s: u64, sport: u16) -> Match {
        Match {
            gid: 1,
            sid: 7,
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            sport,
            dport: 80,
            flow: 1,
            ts_ns: ts_s * SEC,
        }
    }

    fn t(kind: ThresholdKind, count: u32, seconds: u32) -> Threshold {
        Threshold {
            kind,
            track: Track::BySrc,
            count,
            seconds,
            unique_on: None,
        }
    }

    fn run(th: Option<Threshold>, df: Option<Threshold>, times: &[u64]) -> Vec<bool> {
        let mut s = Thresholds::default();
        times.iter().map(|&ts| s.alert(&m(ts, 1), th, df)).collect()
    }

    #[test]
    fn limit_threshold_and_both_by_hand() {
        let l = Some(t(ThresholdKind::Limit, 2, 60));
        assert_eq!(
            run(l, None, &[0, 1, 2, 3, 61, 62]),
            [true, true, false, false, true, true]
        );
        let th = Some(t(ThresholdKind::Threshold, 3, 60));
        assert_eq!(
            run(th, None, &[0, 1, 2, 3, 4, 5]),
            [false, false, true, false, false, true]
        );
        let b = Some(t(ThresholdKind::Both, 3, 60));
        assert_eq!(
            run(b, None, &[0, 1, 2, 3, 4, 100, 101, 102]),
            [false, false, true, false, false, false, false, true]
        );
    }

    #[test]
    fn detection_filter_alerts_after_the_count() {
        let df = Some(t(ThresholdKind::DetectionFilter, 2, 10));
        assert_eq!(
            run(None, df, &[0, 1, 2, 3, 20]),
            [false, false, true, true, false]
        );
    }

    #[test]
    fn unique_on_counts_distinct_ports() {
        let mut s = Thresholds::default();
        let mut f = t(ThresholdKind::DetectionFilter, 1, 60);
        f.unique_on = Some(UniqueOn::SrcPort);
        let r: Vec<bool> = [1, 1, 2, 2, 3]
            .iter()
            .map(|&p| s.alert(&m(0, p), None, Some(f)))
            .collect();
        // Once past the count, every match alerts (a repeated port too).
        assert_eq!(r, [false, false, true, true, true]);
    }

    #[test]
    fn threshold_config_suppresses_overrides_and_rate_limits() {
        let cfg = ThresholdConfig::parse(
            "# comment\nsuppress gen_id 1, sig_id 7, track by_src, ip [10.0.0.0/8, 192.168.1.1]\nsuppress gen_id 1, sig_id 8\nthreshold gen_id 1, sig_id 9, type limit, track by_rule, count 1, seconds 60\nrate_filter gen_id 1, sig_id 10, track by_rule, count 2, seconds 60, new_action pass, timeout 30\n",
            &Vars::default(),
        )
        .expect("parses");
        let mut s = Thresholds::new(cfg);
        assert!(!s.alert(&m(0, 1), None, None), "suppressed by source");
        let mut x = m(0, 1);
        x.sid = 8;
        assert!(!s.alert(&x, None, None));
        x.sid = 9;
        assert!(s.alert(&x, None, None));
        assert!(!s.alert(&x, None, None), "threshold.config limit");
        x.sid = 10;
        let r: Vec<bool> = (0..4)
            .map(|i| {
                s.alert(
                    &Match {
                        ts_ns: i * SEC,
                        ..x
                    },
                    None,
                    None,
                )
            })
            .collect();
        assert_eq!(r, [true, true, false, false]);
        assert!(
            s.alert(
                &Match {
                    ts_ns: 40 * SEC,
                    ..x
                },
                None,
                None
            ),
            "after the timeout"
        );
    }

    #[test]
    fn bad_threshold_config_lines_are_errors_with_their_line() {
        let e = ThresholdConfig::parse("\nsuppress sig_id 1", &Vars::default()).unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(ThresholdConfig::parse(
            "threshold gen_id 1, sig_id 1, type x, track by_src, count 1, seconds 1",
            &Vars::default()
        )
        .is_err());
        assert!(ThresholdConfig::parse("bogus gen_id 1, sig_id 1", &Vars::default()).is_err());
    }
}
