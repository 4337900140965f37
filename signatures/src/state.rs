//! State rules keep between packets: `flowbits` and `flowint` per flow,
//! `xbits` per address or address pair (with expiry), bounded.

use std::net::IpAddr;

use hashbrown::HashMap;

use crate::compile::{BitsOp, IntOp, IntVal};
use crate::rule::{BitOp, Track};

/// Flowbits set at once on one flow, at most; more are refused (counted).
pub const MAX_FLOWBITS: usize = 256;
/// Flowints of one flow, at most.
pub const MAX_FLOWINTS: usize = 64;
/// xbits held at once, at most (the oldest expiry goes first when full).
pub const MAX_XBITS: usize = 65_536;

/// A flow's variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowVars {
    bits: Vec<u32>,
    ints: Vec<(u32, i64)>,
    /// Sets refused because the flow held the maximum.
    pub refused: u32,
}

impl FlowVars {
    /// Is bit `id` set?
    pub fn isset(&self, id: u32) -> bool {
        self.bits.binary_search(&id).is_ok()
    }

    fn set(&mut self, id: u32) {
        if let Err(i) = self.bits.binary_search(&id) {
            if self.bits.len() >= MAX_FLOWBITS {
                self.refused += 1;
                return;
            }
            self.bits.insert(i, id);
        }
    }

    fn unset(&mut self, id: u32) {
        if let Ok(i) = self.bits.binary_search(&id) {
            self.bits.remove(i);
        }
    }

    /// The value of flowint `id`.
    pub fn int(&self, id: u32) -> Option<i64> {
        self.ints.iter().find(|(k, _)| *k == id).map(|(_, v)| *v)
    }

    fn set_int(&mut self, id: u32, v: i64) {
        if let Some(e) = self.ints.iter_mut().find(|(k, _)| *k == id) {
            e.1 = v;
        } else if self.ints.len() < MAX_FLOWINTS {
            self.ints.push((id, v));
        } else {
            self.refused += 1;
        }
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.bits.is_empty() && self.ints.is_empty()
    }
}

/// The key of an xbit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum XKey {
    One(IpAddr),
    Pair(IpAddr, IpAddr),
}

/// xbits of a worker.
#[derive(Debug, Default)]
pub struct Xbits {
    map: HashMap<(u32, XKey), u64>,
    /// Sets refused or evicted because the table was full.
    pub evicted: u64,
}

impl Xbits {
    fn key(track: Track, src: IpAddr, dst: IpAddr) -> XKey {
        match track {
            Track::IpDst => XKey::One(dst),
            Track::IpPair => {
                let (a, b) = if src <= dst { (src, dst) } else { (dst, src) };
                XKey::Pair(a, b)
            }
            _ => XKey::One(src),
        }
    }

    fn isset(&self, name: u32, k: XKey, now: u64) -> bool {
        self.map.get(&(name, k)).is_some_and(|&exp| exp > now)
    }

    fn set(&mut self, name: u32, k: XKey, until: u64, now: u64) {
        if self.map.len() >= MAX_XBITS && !self.map.contains_key(&(name, k)) {
            // Drop the expired, then the one closest to expiry.
            let before = self.map.len();
            self.map.retain(|_, &mut e| e > now);
            if self.map.len() == before {
                if let Some((&victim, _)) = self.map.iter().min_by_key(|(_, &e)| e) {
                    self.map.remove(&victim);
                }
            }
            self.evicted += 1;
        }
        self.map.insert((name, k), until);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// None held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Where state operations look: the flow's variables, the worker's
/// xbits, the packet's addresses and time.
pub struct StateCtx<'a> {
    /// The flow's variables.
    pub flow: &'a mut FlowVars,
    /// The worker's xbits.
    pub xbits: &'a mut Xbits,
    /// Source of the packet or message.
    pub src: IpAddr,
    /// Its destination.
    pub dst: IpAddr,
    /// Packet time, ns.
    pub now_ns: u64,
}

/// Do the conditions hold?
pub fn checks(bits: &[BitsOp], ints: &[IntOp], c: &StateCtx<'_>) -> bool {
    for b in bits {
        let any = |f: &dyn Fn(u32) -> bool| b.names.iter().any(|&n| f(n));
        let set = match b.xtrack {
            Some((track, _)) => {
                any(&|n| c.xbits.isset(n, Xbits::key(track, c.src, c.dst), c.now_ns))
            }
            None => any(&|n| c.flow.isset(n)),
        };
        let ok = match b.op {
            BitOp::IsSet => set,
            BitOp::IsNotSet => {
                // isnotset with several names: none of them set... as
                // Suricata: true if any one is not set.
                match b.xtrack {
                    Some((track, _)) => b
                        .names
                        .iter()
                        .any(|&n| !c.xbits.isset(n, Xbits::key(track, c.src, c.dst), c.now_ns)),
                    None => b.names.iter().any(|&n| !c.flow.isset(n)),
                }
            }
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    for i in ints {
        let cur = c.flow.int(i.name);
        let ok = match i.op.as_str() {
            "isset" => cur.is_some(),
            "notset" => cur.is_none(),
            op => {
                let Some(v) = cur else { return false };
                let w = match i.value {
                    Some(IntVal::Lit(n)) => n,
                    Some(IntVal::Var(id)) => match c.flow.int(id) {
                        Some(x) => x,
                        None => return false,
                    },
                    None => return false,
                };
                match op {
                    "==" => v == w,
                    "!=" => v != w,
                    "<" => v < w,
                    "<=" => v <= w,
                    ">" => v > w,
                    ">=" => v >= w,
                    _ => false,
                }
            }
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Carries out the actions.
pub fn actions(bits: &[BitsOp], ints: &[IntOp], c: &mut StateCtx<'_>) {
    for b in bits {
        for &n in &b.names {
            match b.xtrack {
                Some((track, expire)) => {
                    let k = Xbits::key(track, c.src, c.dst);
                    let until = c.now_ns.saturating_add(u64::from(expire) * 1_000_000_000);
                    match b.op {
                        BitOp::Set => c.xbits.set(n, k, until, c.now_ns),
                        BitOp::Unset => {
                            c.xbits.map.remove(&(n, k));
                        }
                        BitOp::Toggle => {
                            if c.xbits.isset(n, k, c.now_ns) {
                                c.xbits.map.remove(&(n, k));
                            } else {
                                c.xbits.set(n, k, until, c.now_ns);
                            }
                        }
                        _ => {}
                    }
                }
                None => match b.op {
                    BitOp::Set => c.flow.set(n),
                    BitOp::Unset => c.flow.unset(n),
                    BitOp::Toggle => {
                        if c.flow.isset(n) {
                            c.flow.unset(n);
                        } else {
                            c.flow.set(n);
                        }
                    }
                    _ => {}
                },
            }
        }
    }
    for i in ints {
        let w = match i.value {
            Some(IntVal::Lit(n)) => n,
            Some(IntVal::Var(id)) => match c.flow.int(id) {
                Some(x) => x,
                None => continue,
            },
            None => continue,
        };
        let cur = c.flow.int(i.name);
        let v = match i.op.as_str() {
            "=" => w,
            "+" => cur.unwrap_or(0).saturating_add(w),
            "-" => cur.unwrap_or(0).saturating_sub(w),
            _ => continue,
        };
        c.flow.set_int(i.name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(f: &'a mut FlowVars, x: &'a mut Xbits, now: u64) -> StateCtx<'a> {
        StateCtx {
            flow: f,
            xbits: x,
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            now_ns: now,
        }
    }

    fn op(op: BitOp, names: &[u32]) -> BitsOp {
        BitsOp {
            op,
            names: names.to_vec(),
            xtrack: None,
        }
    }

    #[test]
    fn flowbits_set_check_toggle_and_or() {
        let (mut f, mut x) = (FlowVars::default(), Xbits::default());
        let mut c = ctx(&mut f, &mut x, 0);
        assert!(!checks(&[op(BitOp::IsSet, &[1])], &[], &c));
        assert!(checks(&[op(BitOp::IsNotSet, &[1])], &[], &c));
        actions(&[op(BitOp::Set, &[1])], &[], &mut c);
        assert!(checks(&[op(BitOp::IsSet, &[1])], &[], &c));
        assert!(checks(&[op(BitOp::IsSet, &[3, 1])], &[], &c), "OR-ed names");
        assert!(!checks(&[op(BitOp::IsSet, &[3, 4])], &[], &c));
        actions(&[op(BitOp::Toggle, &[1])], &[], &mut c);
        assert!(!checks(&[op(BitOp::IsSet, &[1])], &[], &c));
    }

    #[test]
    fn flowints_count_and_compare() {
        let (mut f, mut x) = (FlowVars::default(), Xbits::default());
        let mut c = ctx(&mut f, &mut x, 0);
        let add = IntOp {
            name: 0,
            op: "+".into(),
            value: Some(IntVal::Lit(1)),
        };
        let ge3 = IntOp {
            name: 0,
            op: ">=".into(),
            value: Some(IntVal::Lit(3)),
        };
        for _ in 0..2 {
            actions(&[], std::slice::from_ref(&add), &mut c);
        }
        assert!(!checks(&[], std::slice::from_ref(&ge3), &c));
        actions(&[], std::slice::from_ref(&add), &mut c);
        assert!(checks(&[], &[ge3], &c));
    }

    #[test]
    fn xbits_expire() {
        let (mut f, mut x) = (FlowVars::default(), Xbits::default());
        let xop = |op| BitsOp {
            op,
            names: vec![7],
            xtrack: Some((Track::IpSrc, 10)),
        };
        {
            let mut c = ctx(&mut f, &mut x, 1_000_000_000);
            actions(&[xop(BitOp::Set)], &[], &mut c);
            assert!(checks(&[xop(BitOp::IsSet)], &[], &c));
        }
        let c = ctx(&mut f, &mut x, 12_000_000_000);
        assert!(!checks(&[xop(BitOp::IsSet)], &[], &c));
    }
}
