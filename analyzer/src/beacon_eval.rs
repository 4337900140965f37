//! The beacon evaluation set: seeded, labelled call series of true
//! beacons (implants' callbacks with jitter, missed calls, long sleeps,
//! office-hours schedules, varying tasking) and of false ones (popular
//! services every client calls on a schedule, mail polling, keep-alives,
//! browsing bursts, random arrivals), each scored by [`mekong_score`] and
//! by [`rita_score`] over the same one-day data set, so the two rankings
//! can be compared (`cargo run --release -p mekong-analyzer --example
//! beacon_eval` prints the table the README shows).

use crate::hunt::{mekong_score, rita_score, Call};

/// Span of the data set the series lie in: one day.
pub const SPAN_US: i64 = 86_400_000_000;

/// One labelled series.
#[derive(Clone, Debug)]
pub struct Case {
    /// The kind of traffic (a true beacon's or a false one's).
    pub class: &'static str,
    /// True for an implant's beacon.
    pub beacon: bool,
    /// Clients calling the same server and port.
    pub clients: usize,
    /// The calls.
    pub calls: Vec<Call>,
}

/// A small seeded generator (xorshift64*), so the set is the same
/// everywhere (the scale benchmark's tree is made with it too).
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in [0, 1).
    pub fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [a, b).
    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.f()
    }
    /// Exponential with mean `m`.
    fn exp(&mut self, m: f64) -> f64 {
        -m * (1.0 - self.f()).ln()
    }
}

fn series(times_s: &[f64], sizes: &[f64]) -> Vec<Call> {
    times_s
        .iter()
        .zip(sizes)
        .enumerate()
        .filter(|(_, (&t, _))| (0.0..86_400.0).contains(&t))
        .map(|(i, (&t, &b))| Call {
            ts_us: (t * 1e6) as i64,
            bytes: b,
            uid: i as i64,
        })
        .collect()
}

fn periodic(
    rng: &mut Rng,
    period: f64,
    jitter: f64,
    miss: f64,
    from: f64,
    to: f64,
    office_hours: bool,
) -> Vec<f64> {
    let mut t = from + rng.range(0.0, period);
    let mut out = Vec::new();
    while t < to {
        let hour = (t / 3600.0) % 24.0;
        let on = !office_hours || (1.0..10.0).contains(&hour); // 08:00–17:00 at UTC+7
        if on && rng.f() >= miss {
            out.push(t);
        }
        t += period * (1.0 + rng.range(-jitter, jitter));
    }
    out
}

fn sizes(rng: &mut Rng, n: usize, base: f64, spread: f64, big_share: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            if rng.f() < big_share {
                base * rng.range(5.0, 50.0)
            } else {
                base * (1.0 + rng.range(-spread, spread))
            }
        })
        .collect()
}

/// The set: `per_class` instances of each of the 12 classes.
pub fn cases(seed: u64, per_class: usize) -> Vec<Case> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::new();
    for _ in 0..per_class {
        let r = &mut rng;
        // True beacons.
        let p = r.range(30.0, 120.0);
        let t = periodic(r, p, 0.1, 0.0, 0.0, 86_400.0, false);
        let b = r.range(200.0, 900.0);
        let s = sizes(r, t.len(), b, 0.05, 0.0);
        out.push(("beacon, 10% jitter", true, 1, series(&t, &s)));
        let p = r.range(120.0, 600.0);
        let t = periodic(r, p, 0.3, 0.0, 0.0, 86_400.0, false);
        let b = r.range(200.0, 900.0);
        let s = sizes(r, t.len(), b, 0.05, 0.0);
        out.push(("beacon, 30% jitter", true, 1, series(&t, &s)));
        let p = r.range(20.0, 90.0);
        let t = periodic(r, p, 0.05, 0.4, 0.0, 86_400.0, false);
        let b = r.range(200.0, 900.0);
        let s = sizes(r, t.len(), b, 0.05, 0.0);
        out.push(("beacon, 40% of calls missed", true, 1, series(&t, &s)));
        let p = r.range(1800.0, 3600.0);
        let t = periodic(r, p, 0.1, 0.0, 0.0, 86_400.0, false);
        let b = r.range(200.0, 900.0);
        let s = sizes(r, t.len(), b, 0.05, 0.0);
        out.push(("beacon, long sleep (30-60 min)", true, 1, series(&t, &s)));
        let p = r.range(60.0, 300.0);
        let t = periodic(r, p, 0.15, 0.1, 0.0, 86_400.0, true);
        let b = r.range(200.0, 900.0);
        let s = sizes(r, t.len(), b, 0.05, 0.0);
        out.push(("beacon, office hours only", true, 1, series(&t, &s)));
        let p = r.range(30.0, 120.0);
        let t = periodic(r, p, 0.2, 0.0, 0.0, 86_400.0, false);
        let b = r.range(200.0, 900.0);
        let s = sizes(r, t.len(), b, 0.05, 0.15);
        out.push(("beacon, tasked (15% large)", true, 1, series(&t, &s)));
        // False beacons.
        let p = r.range(1800.0, 3600.0);
        let t = periodic(r, p, 0.02, 0.0, 0.0, 86_400.0, false);
        let b = r.range(300.0, 700.0);
        let s = sizes(r, t.len(), b, 0.02, 0.0);
        let n = r.range(50.0, 400.0) as usize;
        out.push((
            "update check of a popular service",
            false,
            n,
            series(&t, &s),
        ));
        let p = r.range(120.0, 600.0);
        let t = periodic(r, p, 0.01, 0.0, 0.0, 86_400.0, true);
        let b = r.range(100.0, 300.0);
        let s = sizes(r, t.len(), b, 0.3, 0.0);
        let n = r.range(20.0, 300.0) as usize;
        out.push(("mail polling by every client", false, n, series(&t, &s)));
        let p = r.range(25.0, 60.0);
        let t = periodic(r, p, 0.02, 0.0, 0.0, 86_400.0, false);
        let b = r.range(60.0, 120.0);
        let s = sizes(r, t.len(), b, 0.0, 0.0);
        let n = r.range(10.0, 200.0) as usize;
        out.push(("keep-alive of a chat service", false, n, series(&t, &s)));
        // Browsing: bursts of page loads at random moments of the day.
        let mut t = Vec::new();
        let mut x = r.range(3600.0, 7200.0);
        while x < 36_000.0 {
            let burst = r.range(1.0, 8.0) as usize;
            for _ in 0..burst {
                t.push(x);
                x += r.range(6.0, 40.0);
            }
            x += r.exp(900.0);
        }
        let b = r.range(400.0, 1500.0);
        let s = sizes(r, t.len(), b, 0.8, 0.1);
        out.push(("browsing one site", false, 1, series(&t, &s)));
        // Random (Poisson) arrivals.
        let mut t = Vec::new();
        let mut x = 0.0;
        let m = r.range(60.0, 600.0);
        while x < 86_400.0 {
            x += r.exp(m);
            t.push(x);
        }
        let b = r.range(300.0, 900.0);
        let s = sizes(r, t.len(), b, 0.5, 0.05);
        out.push(("random arrivals", false, 1, series(&t, &s)));
        // A software's retries: doubling back-off restarting each hour.
        let mut t = Vec::new();
        let mut h = r.range(0.0, 3600.0);
        while h < 86_400.0 {
            let mut x = h;
            let mut d = r.range(5.0, 15.0);
            while x < h + 3600.0 {
                t.push(x);
                x += d;
                d *= 2.0;
            }
            h += 3600.0 * r.range(1.0, 3.0);
        }
        let b = r.range(200.0, 400.0);
        let s = sizes(r, t.len(), b, 0.1, 0.0);
        out.push(("retries with back-off", false, 1, series(&t, &s)));
    }
    out.into_iter()
        .filter(|c| c.3.len() >= crate::hunt::MIN_CALLS)
        .map(|(class, beacon, clients, calls)| Case {
            class,
            beacon,
            clients,
            calls,
        })
        .collect()
}

/// The area under the ROC curve of `scores` against `truth`: the chance
/// that a random beacon outscores a random false one (ties count half).
pub fn auc(scores: &[(f64, bool)]) -> f64 {
    let pos: Vec<f64> = scores.iter().filter(|s| s.1).map(|s| s.0).collect();
    let neg: Vec<f64> = scores.iter().filter(|s| !s.1).map(|s| s.0).collect();
    if pos.is_empty() || neg.is_empty() {
        return 0.0;
    }
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

/// Precision among the top-scored as many series as there are beacons.
pub fn precision_at_beacons(scores: &[(f64, bool)]) -> f64 {
    let mut s = scores.to_vec();
    s.sort_by(|a, b| b.0.total_cmp(&a.0));
    let k = s.iter().filter(|x| x.1).count();
    if k == 0 {
        return 0.0;
    }
    s.iter().take(k).filter(|x| x.1).count() as f64 / k as f64
}

/// Both scores of every case: `(class, beacon, mekong, rita)`.
pub fn score(cases: &[Case]) -> Vec<(&'static str, bool, f64, f64)> {
    cases
        .iter()
        .map(|c| {
            let (m, _) = mekong_score(&c.calls, SPAN_US as f64, c.clients);
            (c.class, c.beacon, m, rita_score(&c.calls, SPAN_US as f64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_by_hand() {
        assert_eq!(auc(&[(0.9, true), (0.1, false)]), 1.0);
        assert_eq!(auc(&[(0.1, true), (0.9, false)]), 0.0);
        assert_eq!(auc(&[(0.5, true), (0.5, false)]), 0.5);
        assert_eq!(
            precision_at_beacons(&[(0.9, true), (0.8, false), (0.7, true)]),
            0.5
        );
    }

    #[test]
    fn the_set_is_the_same_for_the_same_seed() {
        let a = cases(7, 2);
        let b = cases(7, 2);
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.calls.len() == y.calls.len()
            && x.calls.first().map(|c| c.ts_us) == y.calls.first().map(|c| c.ts_us)));
        assert!(a.iter().any(|c| c.beacon) && a.iter().any(|c| !c.beacon));
    }
}
