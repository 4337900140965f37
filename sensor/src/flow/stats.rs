//! Running statistics kept per flow in fixed space: exact integer sums, so
//! means and sample standard deviations do not depend on arithmetic order.

use mekong_schema::SPLT_LEN;

/// Count, minimum, maximum, sum and sum of squares of non-negative integers,
/// in 40 bytes: count, minimum and maximum are kept in 32 bits (values above
/// `u32::MAX` are clamped there, never in the sums), the sum and the sum of
/// squares as 64- and 128-bit integers stored in 32-bit words (36 bytes, no
/// padding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    n: u32,
    min: u32,
    max: u32,
    sum: [u32; 2],
    sumsq: [u32; 4],
}

fn clamp32(v: u64) -> u32 {
    v.min(u64::from(u32::MAX)) as u32
}

impl Summary {
    fn sq(&self) -> u128 {
        self.sumsq
            .iter()
            .fold(0u128, |a, &w| (a << 32) | u128::from(w))
    }

    fn set_sq(&mut self, v: u128) {
        self.sumsq = [
            (v >> 96) as u32,
            (v >> 64) as u32,
            (v >> 32) as u32,
            v as u32,
        ];
    }

    fn total(&self) -> u64 {
        (u64::from(self.sum[0]) << 32) | u64::from(self.sum[1])
    }

    fn set_total(&mut self, v: u64) {
        self.sum = [(v >> 32) as u32, v as u32];
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        u64::from(self.n)
    }

    /// Adds a value.
    #[inline]
    pub fn add(&mut self, v: u64) {
        let c = clamp32(v);
        if self.n == 0 || c < self.min {
            self.min = c;
        }
        if c > self.max {
            self.max = c;
        }
        self.n = self.n.saturating_add(1);
        self.set_total(self.total().saturating_add(v));
        let sq = self.sq().saturating_add(u128::from(v) * u128::from(v));
        self.set_sq(sq);
    }

    /// Smallest value, if any.
    pub fn min(&self) -> Option<u64> {
        (self.n > 0).then_some(u64::from(self.min))
    }

    /// Largest value, if any.
    pub fn max(&self) -> Option<u64> {
        (self.n > 0).then_some(u64::from(self.max))
    }

    /// The summary of both sets of values together.
    pub fn merged(&self, o: &Summary) -> Summary {
        if self.n == 0 {
            return *o;
        }
        if o.n == 0 {
            return *self;
        }
        let mut m = Summary {
            n: self.n.saturating_add(o.n),
            min: self.min.min(o.min),
            max: self.max.max(o.max),
            sum: [0, 0],
            sumsq: [0; 4],
        };
        m.set_total(self.total().saturating_add(o.total()));
        m.set_sq(self.sq().saturating_add(o.sq()));
        m
    }

    /// Sum of the values.
    pub fn sum(&self) -> u64 {
        self.total()
    }

    /// Mean, if any value.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.total() as f64 / f64::from(self.n))
    }

    /// Sample standard deviation (n − 1), with at least two values.
    /// Computed as sqrt((n·Σx² − (Σx)²) / (n·(n − 1))) in exact integers.
    pub fn std(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        let n = u128::from(self.n);
        let s = u128::from(self.total());
        let var = match n
            .checked_mul(self.sq())
            .and_then(|a| s.checked_mul(s).map(|b| (a, b)))
        {
            Some((a, b)) => a.saturating_sub(b) as f64 / (n * (n - 1)) as f64,
            None => {
                let mean = self.total() as f64 / f64::from(self.n);
                ((self.sq() as f64 - f64::from(self.n) * mean * mean) / f64::from(self.n - 1))
                    .max(0.0)
            }
        };
        Some(var.sqrt())
    }
}

/// Active and idle periods (CICFlowMeter's definition, activity timeout 5 s,
/// updated once per packet).
#[derive(Clone, Copy, Debug, Default)]
pub struct ActiveIdle {
    /// Active periods, µs.
    pub active: Summary,
    /// Idle periods, µs.
    pub idle: Summary,
    start_us: u64,
}

impl ActiveIdle {
    /// Starts at the first packet.
    pub fn begin(&mut self, t_us: u64) {
        self.start_us = t_us;
    }

    /// A packet at `t_us` after a previous one at `last_us`.
    pub fn packet(&mut self, last_us: u64, t_us: u64) {
        let gap = t_us.saturating_sub(last_us);
        if gap as i64 > mekong_schema::ACTIVITY_TIMEOUT_US {
            let active = last_us.saturating_sub(self.start_us);
            if active > 0 {
                self.active.add(active);
            }
            self.idle.add(gap);
            self.start_us = t_us;
        }
    }

    /// Closes the last active period at the record's last packet.
    pub fn finish(&self, last_us: u64) -> (Summary, Summary) {
        let mut a = self.active;
        let active = last_us.saturating_sub(self.start_us);
        if active > 0 {
            a.add(active);
        }
        (a, self.idle)
    }
}

/// A run of payload packets in one direction that may become a bulk.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bulk {
    run_pkts: u32,
    run_bytes: u64,
    run_start_us: u64,
    run_last_us: u64,
    /// Completed bulks.
    pub count: u32,
    /// Packets in completed bulks.
    pub pkts: u32,
    /// Payload bytes in completed bulks.
    pub bytes: u64,
    /// Duration of completed bulks, µs (saturating).
    pub us: u32,
}

/// Packets a run needs to be a bulk.
const BULK_MIN: u32 = 4;

impl Bulk {
    /// Ends the current run, counting it when it was long enough.
    pub fn close_run(&mut self) {
        if self.run_pkts >= BULK_MIN {
            self.count += 1;
            self.pkts = self.pkts.saturating_add(self.run_pkts);
            self.bytes = self.bytes.saturating_add(self.run_bytes);
            let d = (self.run_last_us - self.run_start_us).min(u64::from(u32::MAX)) as u32;
            self.us = self.us.saturating_add(d);
        }
        self.run_pkts = 0;
        self.run_bytes = 0;
    }

    /// A payload packet of this direction.
    pub fn payload(&mut self, t_us: u64, bytes: u64) {
        if self.run_pkts > 0
            && t_us.saturating_sub(self.run_last_us) as i64 > mekong_schema::SUBFLOW_GAP_US
        {
            self.close_run();
        }
        if self.run_pkts == 0 {
            self.run_start_us = t_us;
        }
        self.run_pkts = self.run_pkts.saturating_add(1);
        self.run_bytes += bytes;
        self.run_last_us = t_us.max(self.run_last_us);
    }

    /// Totals with the current run closed.
    pub fn finished(&self) -> Bulk {
        let mut b = *self;
        b.close_run();
        b
    }
}

/// The first packets of a record (NFStream's SPLT).
#[derive(Clone, Copy, Debug)]
pub struct Splt {
    /// IP length, signed by direction.
    pub len: [i16; SPLT_LEN],
    /// Gap before the packet, µs (clamped to u32).
    pub iat_us: [u32; SPLT_LEN],
    /// TCP flags.
    pub flags: [u8; SPLT_LEN],
    /// Entries used.
    pub n: u8,
}

impl Default for Splt {
    fn default() -> Self {
        Splt {
            len: [0; SPLT_LEN],
            iat_us: [0; SPLT_LEN],
            flags: [0; SPLT_LEN],
            n: 0,
        }
    }
}

impl Splt {
    /// Records a packet if there is room.
    #[inline]
    pub fn push(&mut self, ip_len: u32, from_orig: bool, iat_us: u64, flags: u8) {
        let i = usize::from(self.n);
        if i < SPLT_LEN {
            let l = ip_len.min(i16::MAX as u32) as i16;
            self.len[i] = if from_orig { l } else { -l };
            self.iat_us[i] = iat_us.min(u64::from(u32::MAX)) as u32;
            self.flags[i] = flags;
            self.n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_matches_hand_computation() {
        let mut s = Summary::default();
        for v in [2u64, 4, 4, 4, 5, 5, 7, 9] {
            s.add(v);
        }
        // mean 5, sum of squared deviations 32, sample variance 32/7.
        assert_eq!(s.mean(), Some(5.0));
        assert!((s.std().unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!((s.min(), s.max()), (Some(2), Some(9)));
        let mut one = Summary::default();
        one.add(3);
        assert_eq!(one.std(), None);
        assert_eq!(Summary::default().mean(), None);
    }

    #[test]
    fn active_idle_cic_definition() {
        // Packets at 0, 1, 2 s, then 10, 11 s: active 2 s, idle 8 s, active 1 s.
        let mut a = ActiveIdle::default();
        let ts = [0u64, 1_000_000, 2_000_000, 10_000_000, 11_000_000];
        a.begin(ts[0]);
        for w in ts.windows(2) {
            a.packet(w[0], w[1]);
        }
        let (act, idle) = a.finish(11_000_000);
        assert_eq!(
            (act.count(), act.min(), act.max()),
            (2, Some(1_000_000), Some(2_000_000))
        );
        assert_eq!((idle.count(), idle.sum()), (1, 8_000_000));
    }

    #[test]
    fn bulks_need_four_packets_and_short_gaps() {
        let mut b = Bulk::default();
        for i in 0..5 {
            b.payload(i * 100_000, 1000);
        }
        b.payload(5_000_000, 1000); // gap over 1 s: new run
        let f = b.finished();
        assert_eq!((f.count, f.pkts, f.bytes, f.us), (1, 5, 5000, 400_000));
        let mut c = Bulk::default();
        for i in 0..3 {
            c.payload(i, 10);
        }
        assert_eq!(c.finished().count, 0);
    }
}
