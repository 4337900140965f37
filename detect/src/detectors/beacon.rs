//! Beaconing (T1071): one client calling one server and port at regular
//! intervals.
//!
//! For each client, server, port and protocol, the starts of the last
//! `beacon.history` flows within `beacon.window_s` (starts closer than
//! `beacon.min_interval_s` to the previous one are one call: a beacon that
//! opens two connections at once calls once). Once `beacon.min_connections`
//! calls are known, with a median interval between `beacon.min_interval_s`
//! and `beacon.max_interval_s`, the series is scored from 0 to 1 as a
//! weighted mean of three parts:
//!
//! - interval regularity, weight 2: 1 − (MAD / median of the intervals) /
//!   0.3, at least 0 (the median absolute deviation is robust to the odd
//!   missed or delayed call);
//! - interval symmetry, weight 1: 1 when the Bowley skewness of the
//!   intervals is within ±0.5, falling to 0 at ±1 (jitter around a period is
//!   symmetric; on ten intervals a sample skewness of ±0.5 is still noise,
//!   beyond it the series leans, as queues and human sessions do);
//! - size regularity, weight 1: the same as the first part for the bytes the
//!   client sent per connection (when at least four have closed; else left
//!   out).
//!
//! A series scoring at least `beacon.min_score`, with interval regularity of
//! at least 0.5, is a beacon; T1071.001 for web ports (80, 443, 8080, 8443)
//! and HTTP or TLS, else T1071. With `beacon.outbound_only`, only calls from
//! `home_net` to outside it are scored; a server reached by more than
//! `beacon.max_clients` clients on that port is a shared service and never
//! scored; ports in `beacon.ignore_ports` (DNS, NTP) are periodic by design.

use std::collections::VecDeque;
use std::net::IpAddr;

use super::{draft, secs, sid, Cx};
use crate::config::DetectConfig;
use crate::event::{EventKind, HostEvent, Service};
use crate::evidence;
use crate::incident::Key;
use crate::net::IpSet;
use crate::window::{hash_ip, quantile, Distinct};

use super::scan::unreachable_draft;

use hashbrown::HashMap;

#[derive(Default)]
struct Series {
    starts: VecDeque<u64>,
    sizes: VecDeque<u64>,
    web: bool,
    alerted: bool,
}

/// The score of a series and its parts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// Mean of the parts.
    pub score: f64,
    /// Interval regularity.
    pub regularity: f64,
    /// Interval symmetry.
    pub symmetry: f64,
    /// Size regularity (1 when sizes are unknown: neutral is 0.5, but an
    /// unknown part neither helps nor hurts, so the mean is of two parts).
    pub size: Option<f64>,
    /// Median interval, s.
    pub median_s: f64,
    /// Median absolute deviation of the intervals, s.
    pub mad_s: f64,
    /// Bowley skewness of the intervals.
    pub bowley: f64,
}

fn mad(v: &[f64], med: f64) -> f64 {
    let mut d: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
    quantile(&mut d, 0.5)
}

/// Scores intervals (s) and optional per-connection sizes (bytes).
pub fn score(intervals: &[f64], sizes: &[f64]) -> Score {
    let mut v = intervals.to_vec();
    let q1 = quantile(&mut v, 0.25);
    let q2 = quantile(&mut v, 0.5);
    let q3 = quantile(&mut v, 0.75);
    let m = mad(intervals, q2);
    let regularity = if q2 > 0.0 {
        (1.0 - (m / q2) / 0.3).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let bowley = if q3 - q1 > 1e-9 {
        (q1 + q3 - 2.0 * q2) / (q3 - q1)
    } else {
        0.0
    };
    let symmetry = (1.0 - (bowley.abs() - 0.5).max(0.0) / 0.5).clamp(0.0, 1.0);
    let size = (sizes.len() >= 4).then(|| {
        let mut s = sizes.to_vec();
        let med = quantile(&mut s, 0.5);
        if med <= 0.0 {
            return 1.0;
        }
        (1.0 - (mad(sizes, med) / med) / 0.3).clamp(0.0, 1.0)
    });
    let parts = match size {
        Some(s) => (2.0 * regularity + symmetry + s) / 4.0,
        None => (2.0 * regularity + symmetry) / 3.0,
    };
    Score {
        score: parts,
        regularity,
        symmetry,
        size,
        median_s: q2,
        mad_s: m,
        bowley,
    }
}

/// The beacon detector.
pub struct Beacon {
    on: bool,
    min_calls: usize,
    history: usize,
    window_ns: u64,
    min_iv_ns: u64,
    min_iv_s: f64,
    max_iv_s: f64,
    min_score: f64,
    max_clients: usize,
    outbound_only: bool,
    ignore: Vec<u16>,
    allow: IpSet,
    series: HashMap<(IpAddr, IpAddr, u16, u8), Series>,
    clients: HashMap<(IpAddr, u16, u8), (Distinct, u64)>,
    last_sweep: u64,
    refused: u64,
}

const CAP: usize = 500_000;

impl Beacon {
    /// From the configuration.
    pub fn new(c: &DetectConfig) -> Beacon {
        let b = &c.beacon;
        Beacon {
            on: b.enabled,
            min_calls: b.min_connections as usize,
            history: b.history as usize,
            window_ns: b.window_s * 1_000_000_000,
            min_iv_ns: (b.min_interval_s * 1e9) as u64,
            min_iv_s: b.min_interval_s,
            max_iv_s: b.max_interval_s,
            min_score: b.min_score,
            max_clients: b.max_clients as usize,
            outbound_only: b.outbound_only,
            ignore: b.ignore_ports.clone(),
            allow: DetectConfig::set(&b.allow),
            series: HashMap::new(),
            clients: HashMap::new(),
            last_sweep: 0,
            refused: 0,
        }
    }

    /// Handles one event.
    pub fn event(&mut self, e: &HostEvent, cx: &mut Cx<'_>) {
        if !self.on {
            return;
        }
        let f = &e.flow;
        if !matches!(f.proto, 6 | 17) || self.ignore.contains(&f.resp_port) {
            return;
        }
        if self.outbound_only && (!cx.home.contains(f.orig) || cx.home.contains(f.resp)) {
            return;
        }
        if self.allow.contains(f.resp) || cx.allow.contains(f.resp) {
            return;
        }
        let key = (f.orig, f.resp, f.resp_port, f.proto);
        match e.kind {
            EventKind::Start {
                from_resp: false, ..
            } => {}
            EventKind::Closed {
                orig_bytes,
                service,
                ..
            } => {
                if let Some(s) = self.series.get_mut(&key) {
                    s.sizes.push_back(orig_bytes);
                    while s.sizes.len() > self.history {
                        s.sizes.pop_front();
                    }
                    s.web |= matches!(service, Service::Http | Service::Tls);
                }
                return;
            }
            _ => return,
        }
        let ts = e.ts_ns;
        let max_clients = self.max_clients;
        let (cl, seen) = self
            .clients
            .entry((f.resp, f.resp_port, f.proto))
            .or_insert_with(|| (Distinct::new(max_clients + 1), ts));
        // Clients not seen within the window are forgotten here, not only
        // when memory is swept, so what is decided never depends on sweeps.
        if ts.saturating_sub(*seen) > self.window_ns {
            cl.clear();
        }
        cl.insert(hash_ip(f.orig));
        *seen = ts;
        let shared = cl.len() > max_clients;
        if self.series.len() >= CAP && !self.series.contains_key(&key) {
            self.sweep(ts);
            if self.series.len() >= CAP {
                self.refused += 1;
                return;
            }
        }
        let s = self.series.entry(key).or_default();
        if let Some(&last) = s.starts.back() {
            if ts.saturating_sub(last) < self.min_iv_ns {
                return; // the same call
            }
        }
        s.starts.push_back(ts);
        while s.starts.len() > self.history
            || s.starts
                .front()
                .is_some_and(|&t| ts.saturating_sub(t) > self.window_ns)
        {
            s.starts.pop_front();
        }
        if shared || s.starts.len() < self.min_calls {
            return;
        }
        let starts: Vec<u64> = s.starts.iter().copied().collect();
        let intervals: Vec<f64> = starts
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 1e9)
            .collect();
        let sizes: Vec<f64> = s.sizes.iter().map(|&b| b as f64).collect();
        let sc = score(&intervals, &sizes);
        if sc.median_s < self.min_iv_s || sc.median_s > self.max_iv_s {
            return;
        }
        let web = s.web || matches!(f.resp_port, 80 | 443 | 8080 | 8443);
        let technique = if web { "T1071.001" } else { "T1071" };
        let ikey = Key {
            technique,
            attacker: f.orig,
            target: f.resp,
        };
        if s.alerted && cx.inc.is_open(&ikey, ts) {
            cx.inc.hit(ikey, ts, 1, || unreachable_draft(f));
            return;
        }
        if sc.score < self.min_score || sc.regularity < 0.5 {
            return;
        }
        s.alerted = true;
        cx.c2_peers.insert((f.orig, f.resp));
        let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
        let mean_size = if sizes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::Value::from((sizes.iter().sum::<f64>() / sizes.len() as f64).round())
        };
        let ev = evidence! {
            "connections" => starts.len() as u64,
            "median_interval_s" => r3(sc.median_s),
            "mad_interval_s" => r3(sc.mad_s),
            "bowley_skew" => r3(sc.bowley),
            "score" => r3(sc.score),
            "interval_regularity" => r3(sc.regularity),
            "interval_symmetry" => r3(sc.symmetry),
            "size_regularity" => sc.size.map(r3),
            "mean_client_bytes" => mean_size,
            "span_s" => secs(ts - starts[0]),
        };
        let n = starts.len() as u64;
        let d = draft(
            "beacon",
            sid::BEACON,
            format!(
                "MEKONG C2 beaconing from {} to {}:{} every {:.0} s",
                f.orig, f.resp, f.resp_port, sc.median_s
            ),
            "command-and-control",
            &[technique],
            f.orig,
            f.resp,
            Some(f.resp_port),
            f,
            starts[0],
            ev,
        );
        cx.inc.hit(ikey, ts, n, || d);
    }

    /// Forgets series and servers not called within the window.
    pub fn sweep(&mut self, now: u64) {
        if now.saturating_sub(self.last_sweep) < 60_000_000_000 && self.series.len() < CAP {
            return;
        }
        self.last_sweep = now;
        let w = self.window_ns;
        self.series
            .retain(|_, s| s.starts.back().is_some_and(|&t| now.saturating_sub(t) <= w));
        self.clients
            .retain(|_, (_, seen)| now.saturating_sub(*seen) <= w);
    }

    /// Keys refused because a table was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Keys held.
    pub fn keys(&self) -> usize {
        self.series.len() + self.clients.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_series_scores_high_and_a_poisson_one_low() {
        // 60 s ± 10% (hand-picked values inside the band).
        let iv = [57.0, 62.0, 60.5, 55.0, 64.0, 59.0, 61.0, 58.0, 63.0, 60.0];
        let s = score(&iv, &[]);
        assert!(s.score > 0.8, "{s:?}");
        assert!((s.median_s - 60.25).abs() < 1e-9);
        // Exponential gaps (mean 60 s): quantiles of the distribution.
        let exp: Vec<f64> = (1..=10)
            .map(|i| -60.0 * (1.0 - f64::from(i) / 11.0).ln())
            .collect();
        let p = score(&exp, &[]);
        assert!(p.regularity < 0.1, "{p:?}");
        assert!(p.score < 0.6, "{p:?}");
    }

    #[test]
    fn sizes_count_when_known() {
        let iv = [60.0; 10];
        let same = score(&iv, &[500.0, 510.0, 490.0, 505.0]);
        let varied = score(&iv, &[100.0, 5000.0, 20.0, 90000.0]);
        assert!(same.score > varied.score);
        assert_eq!(same.regularity, 1.0);
    }
}
