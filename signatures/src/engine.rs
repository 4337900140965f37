//! A rule set: rules loaded from files, compiled, ordered as Suricata
//! orders them (pass first, flowbit setters before checkers, then
//! priority), indexed by inspection point and buffer behind prefilters,
//! and the inspection of one packet, stream message or transaction.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::addr::Vars;
use crate::buffers::Buf;
use crate::classify::Classifications;
use crate::compile::{compile, CompileEnv, Compiled, HeaderCheck, Names, Point, L4, POINTS};

/// Fast patterns of one inspection point, by buffer list: (pattern, nocase, rule).
type FastByList = BTreeMap<usize, Vec<(Vec<u8>, bool, u32)>>;
use crate::matcher::{self, Ctx};
use crate::parse::{parse_rule, rule_texts, RuleError};
use crate::prefilter::{self, Backend, Prefilter};
use crate::rule::{Action, Transform};
use crate::state::{self, FlowVars, StateCtx, Xbits};
use crate::App;

/// How a rule set is built.
#[derive(Clone, Debug)]
pub struct RuleSetOptions {
    /// Address and port variables.
    pub vars: Vars,
    /// Classtypes.
    pub classes: Classifications,
    /// Prefilter back end.
    pub backend: Backend,
}

impl Default for RuleSetOptions {
    fn default() -> Self {
        RuleSetOptions {
            vars: Vars::default(),
            classes: Classifications::builtin(),
            backend: Backend::best(),
        }
    }
}

/// A rule that did not load: where and why.
#[derive(Clone, Debug)]
pub struct Skipped {
    /// The source (file name).
    pub source: String,
    /// The error (line, sid, keyword, problem).
    pub error: RuleError,
}

/// What loading found.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Rules read.
    pub read: usize,
    /// Rules loaded.
    pub loaded: usize,
    /// Rules skipped as unsupported, by reason.
    pub unsupported: BTreeMap<String, usize>,
    /// Every rule not loaded (unsupported and invalid).
    pub skipped: Vec<Skipped>,
    /// Invalid rules.
    pub invalid: usize,
    /// Seconds to parse and compile.
    pub compile_s: f64,
    /// Seconds to build the prefilters.
    pub prefilter_s: f64,
}

impl LoadReport {
    /// Share of the rules read that loaded.
    pub fn loaded_share(&self) -> f64 {
        self.loaded as f64 / self.read.max(1) as f64
    }
}

/// A list's key: buffer and transforms.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ListKey {
    buf: Buf,
    transforms: Vec<Transform>,
}

/// One inspection point's rules.
#[derive(Debug, Default)]
struct PointIndex {
    /// Rules inspected whatever the buffers hold (no fast pattern).
    always: Vec<u32>,
    /// Prefilters by list key.
    prefilters: Vec<(usize, Prefilter)>,
    /// Rules at this point.
    count: usize,
}

/// An interval index: for an address, the rules whose indexed side covers
/// it (elementary segments, each with its rules).
#[derive(Debug, Default)]
struct IntervalIndex {
    starts: Vec<u32>,
    offs: Vec<u32>,
    rules: Vec<u32>,
}

impl IntervalIndex {
    fn build(mut items: Vec<(u32, u32, u32)>) -> IntervalIndex {
        // Events: (point, +1 start / -1 end, rule).
        let mut ev: Vec<(u64, bool, u32)> = Vec::with_capacity(items.len() * 2);
        for &(a, b, r) in &items {
            ev.push((u64::from(a), true, r));
            ev.push((u64::from(b) + 1, false, r));
        }
        items.clear();
        ev.sort_unstable_by_key(|e| (e.0, e.1));
        let mut idx = IntervalIndex::default();
        let mut active: Vec<u32> = Vec::new();
        let mut i = 0;
        while i < ev.len() {
            let at = ev[i].0;
            while i < ev.len() && ev[i].0 == at {
                let (_, start, r) = ev[i];
                if start {
                    active.push(r);
                } else if let Some(p) = active.iter().position(|&x| x == r) {
                    active.swap_remove(p);
                }
                i += 1;
            }
            if at > u64::from(u32::MAX) {
                break;
            }
            idx.starts.push(at as u32);
            idx.offs.push(idx.rules.len() as u32);
            let mut a = active.clone();
            a.sort_unstable();
            a.dedup();
            idx.rules.extend(a);
        }
        idx.offs.push(idx.rules.len() as u32);
        idx
    }

    fn lookup(&self, x: u32) -> &[u32] {
        let i = self.starts.partition_point(|&s| s <= x);
        if i == 0 {
            return &[];
        }
        let (a, b) = (self.offs[i - 1] as usize, self.offs[i] as usize);
        &self.rules[a..b]
    }
}

/// The index of IP-only rules.
#[derive(Debug, Default)]
struct IpOnlyIndex {
    by_src: IntervalIndex,
    by_dst: IntervalIndex,
    /// Rules checked for every flow (broad on both sides, bidirectional,
    /// or with IPv6 addresses).
    always: Vec<u32>,
    count: usize,
}

/// Header fields of the packet inspected.
#[derive(Clone, Copy, Debug, Default)]
pub struct PacketInfo<'a> {
    /// 4 or 6.
    pub ip_version: u8,
    /// IP protocol.
    pub proto: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    /// IPv4 identification.
    pub ip_id: u16,
    /// TOS / traffic class.
    pub tos: u8,
    /// TCP flags.
    pub tcp_flags: Option<u8>,
    /// ICMP type, code, identifier and sequence.
    pub icmp: Option<(u8, u8, u16, u16)>,
    /// IPv4 flag bits: 1 more fragments, 2 don't fragment, 4 reserved.
    pub frag_bits: u8,
    /// Fragment offset (8-byte units).
    pub frag_offset: u16,
    /// Reassembled from fragments.
    pub fragmented: bool,
    /// Payload.
    pub payload: &'a [u8],
    /// The IP header.
    pub ip_header: &'a [u8],
    /// The transport header.
    pub l4_header: &'a [u8],
}

/// What is inspected, and of which flow.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// Inspection point.
    pub point: Point,
    /// From the client (the flow's originator).
    pub to_server: bool,
    /// Source of the packet or message.
    pub src: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination.
    pub dst: IpAddr,
    /// Destination port.
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
    /// The flow is established (TCP handshake; both directions seen for
    /// other protocols).
    pub established: bool,
    /// The flow's application protocol, when known.
    pub app: Option<App>,
    /// The packet (for header keywords), when one is being inspected.
    pub pkt: Option<&'a PacketInfo<'a>>,
    /// Bytes sent by client and server (stream_size).
    pub stream_bytes: [u64; 2],
    /// Packet time, ns.
    pub ts_ns: u64,
}

/// The buffers of what is inspected.
pub trait Buffers {
    /// Calls `f` on each value of `buf` until it returns true; true if it
    /// did. A missing buffer has no value.
    fn each(&self, buf: Buf, f: &mut dyn FnMut(&[u8]) -> bool) -> bool;

    /// The length of the request target (`raw`) or of `http.uri`.
    fn urilen(&self, raw: bool) -> Option<usize> {
        let _ = raw;
        None
    }
}

/// The buffers of a packet or stream message: `pkt_data` is `payload`,
/// header buffers come from the packet.
pub struct PayloadBuffers<'a> {
    /// The payload or stream message.
    pub payload: &'a [u8],
    /// The packet.
    pub pkt: Option<&'a PacketInfo<'a>>,
}

impl Buffers for PayloadBuffers<'_> {
    fn each(&self, buf: Buf, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        let v: &[u8] = match (buf, self.pkt) {
            (Buf::PktData, _) => self.payload,
            (Buf::TcpHdr, Some(p)) if p.proto == 6 => p.l4_header,
            (Buf::UdpHdr, Some(p)) if p.proto == 17 => p.l4_header,
            (Buf::Icmpv4Hdr, Some(p)) if p.proto == 1 => p.l4_header,
            (Buf::Ipv4Hdr, Some(p)) if p.ip_version == 4 => p.ip_header,
            (Buf::Ipv6Hdr, Some(p)) if p.ip_version == 6 => p.ip_header,
            _ => return false,
        };
        f(v)
    }
}

/// Per-thread scratch space of inspections.
#[derive(Debug, Default)]
pub struct Scratch {
    pf: prefilter::Scratch,
    stamp: Vec<u32>,
    gen: u32,
    cands: Vec<u32>,
    tbuf: Vec<u8>,
    ctx: Ctx,
}

fn cand(stamp: &mut [u32], gen: u32, cands: &mut Vec<u32>, r: u32) {
    if let Some(s) = stamp.get_mut(r as usize) {
        if *s != gen {
            *s = gen;
            cands.push(r);
        }
    }
}

/// Compiled rules, indexed.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Compiled>,
    keys: Vec<ListKey>,
    points: Vec<PointIndex>,
    ip_only: IpOnlyIndex,
    /// flowbits and xbits names.
    pub bits: Names,
    /// flowint names.
    pub ints: Names,
    backend: Backend,
    bufs_used: [bool; crate::buffers::BUF_COUNT],
}

/// The result of one inspection: rules that matched (and alert), in rule
/// order.
pub type Hits = Vec<u32>;

fn order_key(c: &Compiled) -> (u8, u8, u8) {
    let action = match c.info.action {
        Action::Pass => 0,
        Action::Drop
        | Action::Reject
        | Action::RejectSrc
        | Action::RejectDst
        | Action::RejectBoth => 1,
        Action::Alert => 2,
    };
    let sets = !c.bit_sets.is_empty() || !c.int_sets.is_empty();
    let checks = !c.bit_checks.is_empty() || !c.int_checks.is_empty();
    let bits = match (sets, checks) {
        (true, false) => 0,
        (true, true) => 1,
        (false, false) => 2,
        (false, true) => 3,
    };
    (action, bits, c.info.severity)
}

impl RuleSet {
    /// An empty rule set.
    pub fn empty() -> RuleSet {
        RuleSet::from_sources(&[], &RuleSetOptions::default()).0
    }

    /// Loads rules from `(name, text)` sources: every rule that parses and
    /// compiles is kept, the rest reported.
    pub fn from_sources(
        sources: &[(String, String)],
        opts: &RuleSetOptions,
    ) -> (RuleSet, LoadReport) {
        let t0 = Instant::now();
        let mut report = LoadReport::default();
        let mut bits = Names::default();
        let mut ints = Names::default();
        let mut compiled: Vec<Compiled> = Vec::new();
        let mut sids: std::collections::HashMap<(u32, u32), usize> = Default::default();
        for (name, text) in sources {
            for rt in rule_texts(text) {
                report.read += 1;
                let r = parse_rule(&rt.text).and_then(|rule| {
                    let mut env = CompileEnv {
                        vars: &opts.vars,
                        classes: &opts.classes,
                        bits: &mut bits,
                        ints: &mut ints,
                    };
                    compile(&rule, &rt.text, &mut env)
                });
                match r {
                    Ok(c) => {
                        let key = (c.info.gid, c.info.sid);
                        if let Some(&prev) = sids.get(&key) {
                            let mut e = RuleError::invalid(
                                Some("sid"),
                                format!(
                                    "duplicate sid {} (the rule with the higher rev is kept)",
                                    key.1
                                ),
                            );
                            e.line = rt.line;
                            e.sid = Some(key.1);
                            report.invalid += 1;
                            report.skipped.push(Skipped {
                                source: name.clone(),
                                error: e,
                            });
                            if compiled[prev].info.rev < c.info.rev {
                                compiled[prev] = c;
                            }
                            continue;
                        }
                        sids.insert(key, compiled.len());
                        compiled.push(c);
                    }
                    Err(mut e) => {
                        e.line = rt.line;
                        if e.is_unsupported() {
                            *report.unsupported.entry(e.reason()).or_insert(0) += 1;
                        } else {
                            report.invalid += 1;
                        }
                        report.skipped.push(Skipped {
                            source: name.clone(),
                            error: e,
                        });
                    }
                }
            }
        }
        report.loaded = compiled.len();
        report.compile_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let set = RuleSet::build(compiled, bits, ints, opts.backend);
        report.prefilter_s = t1.elapsed().as_secs_f64();
        (set, report)
    }

    fn build(mut rules: Vec<Compiled>, bits: Names, ints: Names, backend: Backend) -> RuleSet {
        rules.sort_by_key(order_key);
        let mut keys: Vec<ListKey> = Vec::new();
        let mut key_of = |buf: Buf, tf: &[Transform]| -> usize {
            if let Some(i) = keys.iter().position(|k| k.buf == buf && k.transforms == tf) {
                return i;
            }
            keys.push(ListKey {
                buf,
                transforms: tf.to_vec(),
            });
            keys.len() - 1
        };
        let mut bufs_used = [false; crate::buffers::BUF_COUNT];
        // Per point: always-list, and fast patterns per key.
        let mut always: Vec<Vec<u32>> = vec![Vec::new(); POINTS];
        let mut fast: Vec<FastByList> = vec![BTreeMap::new(); POINTS];
        let mut counts = [0usize; POINTS];
        let mut ip_src: Vec<(u32, u32, u32)> = Vec::new();
        let mut ip_dst: Vec<(u32, u32, u32)> = Vec::new();
        let mut ip_always = Vec::new();
        let mut ip_count = 0;
        for (i, r) in rules.iter().enumerate() {
            let ri = i as u32;
            for l in &r.lists {
                bufs_used[l.buf as usize] = true;
            }
            for &p in &r.points {
                if p == Point::IpOnly {
                    ip_count += 1;
                    let (s4, _) = r.src.size();
                    let (d4, _) = r.dst.size();
                    let has_v6 = !r.src.v6.is_empty() && !r.src.v6.is_all()
                        || !r.dst.v6.is_empty() && !r.dst.v6.is_all();
                    let broad = 1u64 << 31;
                    if r.bidirectional || has_v6 || (s4 > broad && d4 > broad) {
                        ip_always.push(ri);
                    } else if s4 <= d4 {
                        ip_src.extend(r.src.v4.ranges().iter().map(|&(a, b)| (a, b, ri)));
                        // IPv6 traffic to an IPv4-indexed rule can only
                        // match if its source set has IPv6 (checked above).
                    } else {
                        ip_dst.extend(r.dst.v4.ranges().iter().map(|&(a, b)| (a, b, ri)));
                    }
                    continue;
                }
                counts[p.idx()] += 1;
                match &r.fast {
                    Some(f) => {
                        let l = &r.lists[f.list];
                        let k = key_of(l.buf, &l.transforms);
                        fast[p.idx()]
                            .entry(k)
                            .or_default()
                            .push((f.pattern.clone(), f.nocase, ri));
                    }
                    None => always[p.idx()].push(ri),
                }
            }
        }
        let mut points = Vec::with_capacity(POINTS);
        for p in 0..POINTS {
            let mut pfs = Vec::new();
            for (k, items) in std::mem::take(&mut fast[p]) {
                let pf = Prefilter::build(&items, backend)
                    .or_else(|_| Prefilter::build(&items, Backend::AhoCorasick));
                match pf {
                    Ok(pf) => pfs.push((k, pf)),
                    Err(_) => always[p].extend(items.iter().map(|(_, _, r)| *r)),
                }
            }
            always[p].sort_unstable();
            points.push(PointIndex {
                always: std::mem::take(&mut always[p]),
                prefilters: pfs,
                count: counts[p],
            });
        }
        let ip_only = IpOnlyIndex {
            by_src: IntervalIndex::build(ip_src),
            by_dst: IntervalIndex::build(ip_dst),
            always: ip_always,
            count: ip_count,
        };
        RuleSet {
            rules,
            keys,
            points,
            ip_only,
            bits,
            ints,
            backend,
            bufs_used,
        }
    }

    /// Rules loaded.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// No rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule at an index (as [`Hits`] name them).
    pub fn rule(&self, i: u32) -> &Compiled {
        &self.rules[i as usize]
    }

    /// Every rule, in inspection order.
    pub fn rules(&self) -> &[Compiled] {
        &self.rules
    }

    /// Are there rules at this point?
    pub fn wants(&self, p: Point) -> bool {
        if p == Point::IpOnly {
            return self.ip_only.count > 0;
        }
        self.points[p.idx()].count > 0
    }

    /// Does any rule inspect this buffer?
    pub fn uses(&self, b: Buf) -> bool {
        self.bufs_used[b as usize]
    }

    /// The prefilter back end.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Prefilter patterns at each point (for reports).
    pub fn prefilter_patterns(&self) -> usize {
        self.points
            .iter()
            .flat_map(|p| p.prefilters.iter().map(|(_, pf)| pf.patterns()))
            .sum()
    }

    /// Inspects one packet, stream message or transaction side; the
    /// rules that alert are appended to `hits`.
    pub fn inspect(
        &self,
        inp: &Input<'_>,
        bufs: &dyn Buffers,
        flow: &mut FlowVars,
        xbits: &mut Xbits,
        s: &mut Scratch,
        hits: &mut Hits,
    ) {
        let n = self.rules.len();
        if n == 0 {
            return;
        }
        if s.stamp.len() < n {
            s.stamp.resize(n, 0);
        }
        s.gen = s.gen.wrapping_add(1);
        if s.gen == 0 {
            s.stamp.iter_mut().for_each(|x| *x = 0);
            s.gen = 1;
        }
        s.cands.clear();
        let gen = s.gen;
        if inp.point == Point::IpOnly {
            let ipo = &self.ip_only;
            let mut add = |r: u32| cand(&mut s.stamp, gen, &mut s.cands, r);
            for &r in &ipo.always {
                add(r);
            }
            if let (IpAddr::V4(a), IpAddr::V4(b)) = (inp.src, inp.dst) {
                for &r in ipo.by_src.lookup(u32::from(a)) {
                    add(r);
                }
                for &r in ipo.by_dst.lookup(u32::from(b)) {
                    add(r);
                }
            }
        } else {
            let pi = &self.points[inp.point.idx()];
            if pi.count == 0 {
                return;
            }
            for &r in &pi.always {
                cand(&mut s.stamp, gen, &mut s.cands, r);
            }
            let Scratch {
                pf,
                stamp,
                cands,
                tbuf,
                ..
            } = s;
            for (k, p) in &pi.prefilters {
                let key = &self.keys[*k];
                bufs.each(key.buf, &mut |v| {
                    let data: &[u8] = if key.transforms.is_empty() {
                        v
                    } else {
                        crate::transform::apply(&key.transforms, v, tbuf);
                        tbuf
                    };
                    p.scan(data, pf, &mut |r| cand(stamp, gen, cands, r));
                    false
                });
            }
        }
        s.cands.sort_unstable();
        let cands = std::mem::take(&mut s.cands);
        for &ri in &cands {
            let r = &self.rules[ri as usize];
            if !self.eval(r, inp, bufs, flow, xbits, s) {
                continue;
            }
            let mut st = StateCtx {
                flow,
                xbits,
                src: inp.src,
                dst: inp.dst,
                now_ns: inp.ts_ns,
            };
            state::actions(&r.bit_sets, &r.int_sets, &mut st);
            if r.info.action == Action::Pass {
                break;
            }
            if !r.noalert {
                hits.push(ri);
            }
        }
        s.cands = cands;
    }

    fn addrs_ok(r: &Compiled, inp: &Input<'_>) -> bool {
        let fwd = r.src.contains(inp.src)
            && r.dst.contains(inp.dst)
            && r.sport.contains(inp.sport)
            && r.dport.contains(inp.dport);
        if fwd {
            return true;
        }
        let rev = || {
            r.src.contains(inp.dst)
                && r.dst.contains(inp.src)
                && r.sport.contains(inp.dport)
                && r.dport.contains(inp.sport)
        };
        // `=>` rules name the request's addresses; at the response they
        // are reversed.
        (r.bidirectional || (r.transactional && !inp.to_server)) && rev()
    }

    fn eval(
        &self,
        r: &Compiled,
        inp: &Input<'_>,
        bufs: &dyn Buffers,
        flow: &mut FlowVars,
        xbits: &mut Xbits,
        s: &mut Scratch,
    ) -> bool {
        let l4 = match r.l4 {
            L4::Any => true,
            L4::Tcp => inp.proto == 6,
            L4::Udp => inp.proto == 17,
            L4::Icmp => inp.proto == 1 || inp.proto == 58,
        };
        if !l4 {
            return false;
        }
        if let Some(a) = r.app {
            if inp.app != Some(a) {
                return false;
            }
        }
        let f = &r.flow;
        if let Some(ts) = f.to_server {
            if ts != inp.to_server && !r.transactional {
                return false;
            }
        }
        if let Some(e) = f.established {
            if e != inp.established {
                return false;
            }
        }
        if let Some(fr) = f.frag {
            if inp.pkt.is_some_and(|p| p.fragmented) != fr {
                return false;
            }
        }
        if !Self::addrs_ok(r, inp) {
            return false;
        }
        if !r.header.is_empty() {
            let Some(p) = inp.pkt else { return false };
            if !r.header.iter().all(|h| header_ok(h, p, inp)) {
                return false;
            }
        }
        if let Some(ss) = &r.stream_size {
            if inp.proto != 6 {
                return false;
            }
            let [c, sv] = inp.stream_bytes;
            let t = |v: u64| match ss.op.as_str() {
                "<" => v < ss.value,
                ">" => v > ss.value,
                "=" => v == ss.value,
                "!=" => v != ss.value,
                "<=" => v <= ss.value,
                ">=" => v >= ss.value,
                _ => false,
            };
            let ok = match ss.side.as_str() {
                "server" => t(sv),
                "client" => t(c),
                "both" => t(sv) && t(c),
                _ => t(sv) || t(c),
            };
            if !ok {
                return false;
            }
        }
        if !r.bit_checks.is_empty() || !r.int_checks.is_empty() {
            let st = StateCtx {
                flow,
                xbits,
                src: inp.src,
                dst: inp.dst,
                now_ns: inp.ts_ns,
            };
            if !state::checks(&r.bit_checks, &r.int_checks, &st) {
                return false;
            }
        }
        if let Some((c, raw)) = r.urilen {
            match bufs.urilen(raw) {
                Some(n) if c.test(n as u64) => {}
                _ => return false,
            }
        }
        s.ctx.vars = [0; matcher::MAX_VARS];
        for l in &r.lists {
            let Scratch { tbuf, ctx, .. } = s;
            let ok = bufs.each(l.buf, &mut |v| {
                ctx.budget = matcher::STEP_BUDGET;
                if l.transforms.is_empty() {
                    matcher::matches(&l.steps, v, ctx)
                } else {
                    crate::transform::apply(&l.transforms, v, tbuf);
                    let data = std::mem::take(tbuf);
                    let m = matcher::matches(&l.steps, &data, ctx);
                    *tbuf = data;
                    m
                }
            });
            if !ok {
                return false;
            }
        }
        true
    }
}

fn bits_match(modifier: Option<char>, have: u8, want: u8, mask: u8) -> bool {
    let have = have & !mask;
    match modifier {
        None => have == want,
        Some('+') => have & want == want,
        Some('*') => have & want != 0,
        Some('!') => have & want == 0,
        _ => false,
    }
}

/// IPv4 options present in a header.
fn ipv4_has_option(hdr: &[u8], name: &str) -> bool {
    let Some(&b0) = hdr.first() else { return false };
    let ihl = usize::from(b0 & 0x0f) * 4;
    let opts = hdr.get(20..ihl.min(hdr.len())).unwrap_or(&[]);
    let want: &[u8] = match name {
        "eol" => &[0],
        "nop" => &[1],
        "rr" => &[7],
        "ts" => &[68],
        "sec" => &[130],
        "esec" => &[133],
        "lsrr" => &[131],
        "ssrr" => &[137],
        "satid" => &[136],
        _ => &[],
    };
    let mut i = 0;
    while i < opts.len() {
        let kind = opts[i];
        if name == "any" || want.contains(&kind) {
            return true;
        }
        if kind == 0 {
            break;
        }
        if kind == 1 {
            i += 1;
            continue;
        }
        let len = usize::from(*opts.get(i + 1).unwrap_or(&0));
        if len < 2 {
            break;
        }
        i += len;
    }
    false
}

fn tcp_mss(hdr: &[u8]) -> Option<u16> {
    let off = usize::from(*hdr.get(12)? >> 4) * 4;
    let opts = hdr.get(20..off.min(hdr.len()))?;
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => return None,
            1 => i += 1,
            2 => return Some(u16::from_be_bytes([*opts.get(i + 2)?, *opts.get(i + 3)?])),
            _ => {
                let l = usize::from(*opts.get(i + 1)?);
                if l < 2 {
                    return None;
                }
                i += l;
            }
        }
    }
    None
}

fn header_ok(h: &HeaderCheck, p: &PacketInfo<'_>, inp: &Input<'_>) -> bool {
    match h {
        HeaderCheck::Flags(f) => match p.tcp_flags {
            Some(fl) => {
                if f.bits == 0 && f.modifier.is_none() {
                    fl & !f.mask == 0
                } else {
                    bits_match(f.modifier, fl, f.bits, f.mask)
                }
            }
            None => false,
        },
        HeaderCheck::Ttl(c) => c.test(u64::from(p.ttl)),
        HeaderCheck::Id(n) => p.ip_version == 4 && p.ip_id == *n,
        HeaderCheck::Tos(neg, n) => (p.tos == *n) != *neg,
        HeaderCheck::Ipopts(name) => p.ip_version == 4 && ipv4_has_option(p.ip_header, name),
        HeaderCheck::Fragbits(f) => {
            p.ip_version == 4 && bits_match(f.modifier, p.frag_bits, f.bits, 0)
        }
        HeaderCheck::Fragoffset(c) => c.test(u64::from(p.frag_offset)),
        HeaderCheck::Sameip => inp.src == inp.dst,
        HeaderCheck::Itype(c) => p.icmp.is_some_and(|i| c.test(u64::from(i.0))),
        HeaderCheck::Icode(c) => p.icmp.is_some_and(|i| c.test(u64::from(i.1))),
        HeaderCheck::IcmpId(n) => p.icmp.is_some_and(|i| i.2 == *n),
        HeaderCheck::IcmpSeq(n) => p.icmp.is_some_and(|i| i.3 == *n),
        HeaderCheck::IpProto(neg, n) => (p.proto == *n) != *neg,
        // `dsize:!n`, as Suricata, never matches a packet without payload.
        HeaderCheck::Dsize(c) => {
            let n = p.payload.len() as u64;
            c.test(n) && !(matches!(c, crate::rule::Cmp::Ne(_)) && n == 0)
        }
        HeaderCheck::TcpMss(c) => {
            p.proto == 6 && tcp_mss(p.l4_header).is_some_and(|m| c.test(u64::from(m)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Map(Vec<(Buf, Vec<u8>)>);

    impl Buffers for Map {
        fn each(&self, buf: Buf, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
            self.0.iter().filter(|(b, _)| *b == buf).any(|(_, v)| f(v))
        }
    }

    fn set(rules: &str) -> RuleSet {
        let (s, rep) =
            RuleSet::from_sources(&[("t".into(), rules.into())], &RuleSetOptions::default());
        assert_eq!(rep.loaded, rep.read, "{:?}", rep.skipped);
        s
    }

    fn input(point: Point) -> Input<'static> {
        Input {
            point,
            to_server: true,
            src: "10.0.0.1".parse().unwrap(),
            sport: 40000,
            dst: "93.184.216.34".parse().unwrap(),
            dport: 80,
            proto: 6,
            established: true,
            app: Some(App::Http),
            pkt: None,
            stream_bytes: [0, 0],
            ts_ns: 0,
        }
    }

    fn hits(s: &RuleSet, inp: &Input<'_>, b: &dyn Buffers, fv: &mut FlowVars) -> Vec<u32> {
        let mut h = Vec::new();
        s.inspect(
            inp,
            b,
            fv,
            &mut Xbits::default(),
            &mut Scratch::default(),
            &mut h,
        );
        h.iter().map(|&i| s.rule(i).info.sid).collect()
    }

    #[test]
    fn http_rules_match_their_buffers_only() {
        let s = set(concat!(
            "alert http $HOME_NET any -> $EXTERNAL_NET any (msg:\"ua\"; flow:established,to_server; http.user_agent; content:\"miner\"; nocase; sid:1;)\n",
            "alert http any any -> any any (msg:\"uri\"; http.uri; content:\"/admin\"; startswith; sid:2;)\n",
            "alert http any any -> any any (msg:\"neg\"; http.method; content:\"POST\"; http.host; content:!\".example.com\"; endswith; sid:3;)\n",
        ));
        let b = Map(vec![
            (Buf::HttpUserAgent, b"cgMiner/4".to_vec()),
            (Buf::HttpUri, b"/index".to_vec()),
            (Buf::HttpMethod, b"POST".to_vec()),
            (Buf::HttpHost, b"www.example.com".to_vec()),
        ]);
        assert_eq!(
            hits(&s, &input(Point::HttpRequest), &b, &mut FlowVars::default()),
            vec![1]
        );
        let b = Map(vec![
            (Buf::HttpUri, b"/admin/x".to_vec()),
            (Buf::HttpMethod, b"POST".to_vec()),
            (Buf::HttpHost, b"evil.net".to_vec()),
        ]);
        assert_eq!(
            hits(&s, &input(Point::HttpRequest), &b, &mut FlowVars::default()),
            vec![2, 3]
        );
    }

    #[test]
    fn flowbits_set_by_one_rule_open_another() {
        let s = set(concat!(
            "alert tcp any any -> any any (msg:\"b\"; content:\"second\"; flowbits:isset,x; sid:2;)\n",
            "alert tcp any any -> any any (msg:\"a\"; content:\"first\"; flowbits:set,x; flowbits:noalert; sid:1;)\n",
        ));
        let mut fv = FlowVars::default();
        let mut inp = input(Point::Stream);
        inp.app = None;
        let b = |p: &'static [u8]| PayloadBuffers {
            payload: p,
            pkt: None,
        };
        assert!(hits(&s, &inp, &b(b"second"), &mut fv).is_empty());
        assert!(hits(&s, &inp, &b(b"first"), &mut fv).is_empty(), "noalert");
        assert_eq!(hits(&s, &inp, &b(b"second"), &mut fv), vec![2]);
    }

    #[test]
    fn tcp_payload_rules_are_inspected_in_packets_without_stream_and_in_streams() {
        let s = set("alert tcp any any -> any any (msg:\"x\"; content:\"evil\"; sid:1;)\n");
        let mut inp = input(Point::Packet);
        inp.app = None;
        let b = PayloadBuffers {
            payload: b"evil",
            pkt: None,
        };
        assert!(hits(&s, &inp, &b, &mut FlowVars::default()).is_empty());
        inp.point = Point::PacketNoStream;
        assert_eq!(hits(&s, &inp, &b, &mut FlowVars::default()), vec![1]);
        inp.point = Point::Stream;
        assert_eq!(hits(&s, &inp, &b, &mut FlowVars::default()), vec![1]);
    }

    #[test]
    fn ip_only_rules_find_their_lists() {
        let s = set(concat!(
            "alert ip [1.2.3.0/24,5.6.7.8] any -> $HOME_NET any (msg:\"drop\"; sid:1;)\n",
            "alert ip $HOME_NET any -> [9.9.9.9] any (msg:\"out\"; sid:2;)\n",
            "alert ip any any -> any any (msg:\"all\"; sid:3;)\n",
        ));
        let mut inp = input(Point::IpOnly);
        inp.src = "1.2.3.77".parse().unwrap();
        inp.dst = "10.9.9.9".parse().unwrap();
        assert_eq!(
            hits(&s, &inp, &Map(vec![]), &mut FlowVars::default()),
            vec![1, 3]
        );
        inp.src = "10.0.0.5".parse().unwrap();
        inp.dst = "9.9.9.9".parse().unwrap();
        assert_eq!(
            hits(&s, &inp, &Map(vec![]), &mut FlowVars::default()),
            vec![2, 3]
        );
        inp.src = "1.2.4.1".parse().unwrap();
        inp.dst = "10.0.0.1".parse().unwrap();
        assert_eq!(
            hits(&s, &inp, &Map(vec![]), &mut FlowVars::default()),
            vec![3]
        );
    }

    #[test]
    fn header_keywords_read_the_packet() {
        let s = set(concat!(
            "alert tcp any any -> any any (msg:\"syn\"; flags:S; sid:1;)\n",
            "alert tcp any any -> any any (msg:\"synack\"; flags:SA; sid:2;)\n",
            "alert tcp any any -> any any (msg:\"ttl\"; ttl:<10; dsize:0; sid:3;)\n",
            "alert icmp any any -> any any (msg:\"echo\"; itype:8; icode:0; sid:4;)\n",
        ));
        let p = PacketInfo {
            ip_version: 4,
            proto: 6,
            ttl: 5,
            tcp_flags: Some(0x02),
            ..PacketInfo::default()
        };
        let mut inp = input(Point::Packet);
        inp.app = None;
        inp.pkt = Some(&p);
        let b = PayloadBuffers {
            payload: b"",
            pkt: Some(&p),
        };
        assert_eq!(hits(&s, &inp, &b, &mut FlowVars::default()), vec![1, 3]);
        let q = PacketInfo {
            ip_version: 4,
            proto: 1,
            ttl: 64,
            icmp: Some((8, 0, 1, 1)),
            ..PacketInfo::default()
        };
        inp.pkt = Some(&q);
        inp.proto = 1;
        let b = PayloadBuffers {
            payload: b"",
            pkt: Some(&q),
        };
        assert_eq!(hits(&s, &inp, &b, &mut FlowVars::default()), vec![4]);
    }

    #[test]
    fn both_back_ends_find_the_same_rules() {
        let text = concat!(
            "alert tcp any any -> any any (content:\"AbC\"; nocase; sid:1;)\n",
            "alert tcp any any -> any any (content:\"xyz\"; sid:2;)\n",
            "alert tcp any any -> any any (content:\"|00 ff|\"; sid:3;)\n",
            "alert tcp any any -> any any (pcre:\"/q+r/\"; sid:4;)\n",
        );
        let mut results = Vec::new();
        for backend in [Backend::AhoCorasick, Backend::best()] {
            let opts = RuleSetOptions {
                backend,
                ..RuleSetOptions::default()
            };
            let (s, _) = RuleSet::from_sources(&[("t".into(), text.into())], &opts);
            let mut inp = input(Point::Stream);
            inp.app = None;
            let b = PayloadBuffers {
                payload: b"..aBc..xyz..\x00\xff..qqr",
                pkt: None,
            };
            results.push(hits(&s, &inp, &b, &mut FlowVars::default()));
        }
        assert_eq!(results[0], vec![1, 2, 3, 4]);
        assert_eq!(results[0], results[1]);
    }
}
