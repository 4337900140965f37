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
use crate::compile::{compile, CompileEnv, Compiled, HeaderCheck, Memo, Names, Point, L4, POINTS};

/// Fast patterns of one inspection point, by buffer list, group and port
/// (see [`port_sels`]): (pattern, nocase, rule).
type FastByList = BTreeMap<(usize, u8, u32), Vec<(Vec<u8>, bool, u32)>>;

/// A rule whose service port set (the destination port for rules of the
/// client's side, the source port for the server's) holds at most this
/// many ports goes into a prefilter of each of those ports, scanned only
/// for packets and streams of that port (Suricata's rule groups by port).
/// A wider set (a range, a negation, `any`) leaves it in the group's
/// prefilter of every port.
const PORT_SPLIT_MAX: u32 = 16;

/// A port keeps a prefilter of its own only with at least this many rules;
/// the rules of a port with fewer go back to the prefilter of every port
/// (a database's fixed cost, in building and scanning, buys nothing for a
/// pattern or two).
const PORT_MIN_RULES: usize = 8;

/// Patterns of every port, at most, merged into each port's prefilter of
/// the same list and group, so that a packet of that port is scanned once;
/// more are scanned apart (merging would copy them into every port's
/// database).
const MERGE_MAX: usize = 64;

/// The port selector of the prefilter of every port; one port `p` is
/// `PORT_SEL | p`.
const SEL_ANY: u32 = 0;
/// See [`SEL_ANY`].
const PORT_SEL: u32 = 1 << 16;

/// The port a group is split by: the destination port of the client's
/// side, the source port of the server's; `None` for groups without ports
/// (other points, ICMP and other protocols).
fn group_port_side(p: Point, g: u8) -> Option<bool> {
    let g = g & !BOUNDED;
    match p {
        Point::Packet | Point::PacketNoStream if g % 3 < 2 => Some(g / 3 == 0),
        Point::Stream => Some(g == 0),
        _ => None,
    }
}

/// The port selectors under which a rule's fast pattern is filed in group
/// `g` of point `p`: one per port of a narrow service port set, else
/// [`SEL_ANY`]. Rules that also match reversed (`<>`, `=>`) are never
/// split.
fn port_sels(p: Point, g: u8, r: &Compiled) -> Vec<u32> {
    let Some(to_server) = group_port_side(p, g) else {
        return vec![SEL_ANY];
    };
    if r.bidirectional || r.transactional {
        return vec![SEL_ANY];
    }
    let set = if to_server { &r.dport } else { &r.sport };
    let n: u32 = set.ranges().iter().map(|(a, b)| b - a + 1).sum();
    if set.is_any() || n > PORT_SPLIT_MAX {
        return vec![SEL_ANY];
    }
    set.ranges()
        .iter()
        .flat_map(|&(a, b)| a..=b)
        .map(|port| PORT_SEL | port)
        .collect()
}

/// The prefilters of one group of an inspection point, by service port:
/// indexes into [`PointIndex::prefilters`].
#[derive(Debug, Default)]
struct PortGroups {
    /// Which port: `Some(true)` the destination, `Some(false)` the source,
    /// `None` no split.
    side: Option<bool>,
    /// The prefilters of a port without prefilters of its own.
    any: Vec<u32>,
    /// By port (sorted): every prefilter its packets are scanned with.
    ports: Vec<(u16, Vec<u32>)>,
}

impl PortGroups {
    /// The prefilters to scan for a packet or stream of these ports.
    #[inline]
    fn for_ports(&self, sport: u16, dport: u16) -> &[u32] {
        let port = match self.side {
            Some(true) => dport,
            Some(false) => sport,
            None => return &self.any,
        };
        match self.ports.binary_search_by_key(&port, |e| e.0) {
            Ok(i) => &self.ports[i].1,
            Err(_) => &self.any,
        }
    }

    /// Is there any prefilter?
    fn is_empty(&self) -> bool {
        self.any.is_empty() && self.ports.is_empty()
    }
}

/// Builds a point's [`PortGroups`] from its prefilters: (list key, group
/// with [`BOUNDED`], selector, merged) by prefilter index. A port's list
/// holds its own prefilters and the prefilters of every port whose list
/// and group it did not absorb.
fn port_groups(point: Point, built: &[(usize, u8, u32, bool)]) -> Vec<PortGroups> {
    let n = built
        .iter()
        .map(|b| usize::from(b.1 & !BOUNDED) + 1)
        .max()
        .unwrap_or(0);
    let mut out: Vec<PortGroups> = (0..n as u8)
        .map(|g| PortGroups {
            side: group_port_side(point, g),
            ..PortGroups::default()
        })
        .collect();
    for (gi, pg) in out.iter_mut().enumerate() {
        let of_group = || {
            built
                .iter()
                .enumerate()
                .filter(move |(_, b)| usize::from(b.1 & !BOUNDED) == gi)
        };
        pg.any = of_group()
            .filter(|(_, b)| b.2 == SEL_ANY)
            .map(|(i, _)| i as u32)
            .collect();
        let mut ports: BTreeMap<u16, Vec<u32>> = BTreeMap::new();
        for (i, b) in of_group().filter(|(_, b)| b.2 != SEL_ANY) {
            ports
                .entry((b.2 & 0xffff) as u16)
                .or_default()
                .push(i as u32);
        }
        for (port, mut own) in ports {
            // The prefilters of every port, unless this port's prefilter of
            // the same list and group holds their patterns.
            for &a in &pg.any {
                let (k, g, _, _) = built[a as usize];
                let absorbed = own.iter().any(|&o| {
                    let (ok, og, _, merged) = built[o as usize];
                    merged && ok == k && og == g
                });
                if !absorbed {
                    own.push(a);
                }
            }
            own.sort_unstable();
            pg.ports.push((port, own));
        }
    }
    out
}

/// The flag of a prefilter group of rules with a bounded `dsize`.
const BOUNDED: u8 = 0x80;

/// The prefilter group of an inspection: rules are grouped by direction at
/// packets and streams, and by layer-4 protocol at packets, so that one
/// scan meets only the patterns of rules that could match (as Suricata
/// groups its rules by protocol and direction).
fn group_of(p: Point, to_server: bool, proto: u8) -> u8 {
    let dir = u8::from(!to_server);
    match p {
        Point::Packet | Point::PacketNoStream => {
            let l4 = match proto {
                6 => 0,
                17 => 1,
                _ => 2,
            };
            dir * 3 + l4
        }
        Point::Stream => dir,
        _ => 0,
    }
}

/// Rules from which a set is parsed and compiled on several threads.
const PARALLEL_RULES: usize = 2000;

/// Rules parsed and compiled apart: (source, line, rule or error) in order,
/// with the names they were given.
struct Part {
    rules: Vec<(usize, usize, Result<Compiled, RuleError>)>,
    bits: Names,
    ints: Names,
}

/// Parses and compiles `texts` (source index, text), in order.
fn compile_part(texts: &[(usize, crate::parse::RuleText)], opts: &RuleSetOptions) -> Part {
    let mut bits = Names::default();
    let mut ints = Names::default();
    let mut memo = Memo::default();
    let rules = texts
        .iter()
        .map(|(src, rt)| {
            let r = parse_rule(&rt.text).and_then(|rule| {
                let mut env = CompileEnv {
                    vars: &opts.vars,
                    classes: &opts.classes,
                    bits: &mut bits,
                    ints: &mut ints,
                    memo: &mut memo,
                };
                compile(&rule, &rt.text, &mut env).map_err(|mut e| {
                    // A compile error names the rule's sid too.
                    e.sid = e.sid.or(Some(rule.sid()));
                    e
                })
            });
            (*src, rt.line, r)
        })
        .collect();
    Part { rules, bits, ints }
}

/// Fast patterns from which prefilters are built on several threads.
const PARALLEL_PATTERNS: usize = 2000;

/// Builds prefilters on every core, in the order of `jobs`; a Hyperscan
/// database that does not compile falls back to aho-corasick.
fn build_prefilters(
    jobs: &[(usize, (usize, u8, u32), Items)],
    backend: Backend,
    cache: Option<&std::path::Path>,
) -> Vec<Result<Prefilter, String>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs[i].2.len()));
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Result<Prefilter, String>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    // Small sets are built here: a thread costs more than they do.
    let patterns: usize = jobs.iter().map(|j| j.2.len()).sum();
    if patterns < PARALLEL_PATTERNS {
        return jobs
            .iter()
            .map(|j| {
                Prefilter::build_cached(&j.2, backend, cache)
                    .or_else(|_| Prefilter::build(&j.2, Backend::AhoCorasick))
            })
            .collect();
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(jobs.len().max(1));
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&j) = order.get(i) else { break };
                let items = &jobs[j].2;
                let pf = Prefilter::build_cached(items, backend, cache)
                    .or_else(|_| Prefilter::build(items, Backend::AhoCorasick));
                if let Ok(mut o) = out.lock() {
                    o[j] = Some(pf);
                }
            });
        }
    });
    out.into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not built".into())))
        .collect()
}

/// The payload lengths a rule can match (its `dsize`).
fn dsize_bounds(r: &Compiled) -> (u64, u64) {
    r.header
        .iter()
        .filter_map(|h| match h {
            HeaderCheck::Dsize(c) => Some(c.bounds()),
            _ => None,
        })
        .fold((0, u64::MAX), |(lo, hi), (a, b)| (lo.max(a), hi.min(b)))
}

/// The prefilter groups a rule belongs to at a point.
fn groups_of(p: Point, r: &Compiled) -> Vec<u8> {
    let dirs: &[bool] = match r.flow.to_server {
        Some(true) => &[true],
        Some(false) => &[false],
        None => &[true, false],
    };
    let protos: &[u8] = match r.l4 {
        L4::Tcp => &[6],
        L4::Udp => &[17],
        L4::Icmp => &[1],
        L4::Any => &[6, 17, 1],
    };
    let mut v: Vec<u8> = dirs
        .iter()
        .flat_map(|&d| protos.iter().map(move |&pr| group_of(p, d, pr)))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}
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
    /// A directory where compiled Hyperscan databases are kept between
    /// runs (see [`Prefilter::build_cached`]); none: always compiled.
    pub cache: Option<std::path::PathBuf>,
}

impl Default for RuleSetOptions {
    fn default() -> Self {
        RuleSetOptions {
            vars: Vars::default(),
            classes: Classifications::builtin(),
            backend: Backend::best(),
            cache: None,
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
    /// Rules inspected whatever the buffers hold (no fast pattern), by
    /// their header.
    always: Preselect,
    /// Prefilters with their list key (see [`group_of`] and [`port_sels`]
    /// for how their rules were chosen).
    prefilters: Vec<(usize, Prefilter)>,
    /// The prefilters of each group (without [`BOUNDED`]), by port.
    groups: Vec<PortGroups>,
    /// For each prefilter of the payload, the payload lengths its rules
    /// can match (`dsize`): a packet outside is not scanned.
    lengths: Vec<(u64, u64)>,
    /// Rules at this point.
    count: usize,
}

/// An interval index: for an address, the rules whose indexed side covers
/// it (elementary segments, each with its rules).
#[derive(Debug)]
struct IntervalIndex<T = u32> {
    starts: Vec<T>,
    offs: Vec<u32>,
    rules: Vec<u32>,
    /// For big indexes of 32-bit keys: by the key's top 16 bits, the
    /// first segment start at or above it (65,537 entries), so that a
    /// lookup searches one bucket.
    top: Vec<u32>,
}

impl<T> Default for IntervalIndex<T> {
    fn default() -> Self {
        IntervalIndex {
            starts: Vec::new(),
            offs: Vec::new(),
            rules: Vec::new(),
            top: Vec::new(),
        }
    }
}

/// Segments from which an index of 32-bit keys gets its first-level table.
const TOP_TABLE_SEGMENTS: usize = 256;

impl IntervalIndex<u32> {
    /// Builds the first-level table of a big index.
    fn with_top(mut self) -> Self {
        if self.starts.len() >= TOP_TABLE_SEGMENTS {
            self.top = (0..=65_536u32)
                .map(|p| {
                    let at = p << 16;
                    if p == 65_536 {
                        self.starts.len() as u32
                    } else {
                        self.starts.partition_point(|&s| s < at) as u32
                    }
                })
                .collect();
        }
        self
    }

    /// Builds a table of every port's segment (ports are 16-bit keys):
    /// a lookup is then one load.
    fn with_ports(mut self) -> Self {
        if !self.starts.is_empty() {
            self.top = (0..=65_535u32)
                .map(|p| self.starts.partition_point(|&s| s <= p) as u32)
                .collect();
        }
        self
    }

    /// The rules of the segment holding port `p`.
    fn port(&self, p: u16) -> &[u32] {
        if self.starts.is_empty() {
            return &[];
        }
        let i = self.top[usize::from(p)] as usize;
        if i == 0 {
            return &[];
        }
        let (a, b) = (self.offs[i - 1] as usize, self.offs[i] as usize);
        &self.rules[a..b]
    }

    /// The rules of the segment holding `x`.
    fn find(&self, x: u32) -> &[u32] {
        if self.top.is_empty() {
            return self.lookup(x);
        }
        let p = (x >> 16) as usize;
        let (a, b) = (self.top[p] as usize, self.top[p + 1] as usize);
        let i = a + self.starts[a..b].partition_point(|&s| s <= x);
        if i == 0 {
            return &[];
        }
        let (a, b) = (self.offs[i - 1] as usize, self.offs[i] as usize);
        &self.rules[a..b]
    }
}

/// A key of an [`IntervalIndex`]: an address or a port.
trait Key: Copy + Ord {
    /// The next value (none after the last).
    fn succ(self) -> Option<Self>;
}

impl Key for u32 {
    fn succ(self) -> Option<u32> {
        self.checked_add(1)
    }
}

impl Key for u128 {
    fn succ(self) -> Option<u128> {
        self.checked_add(1)
    }
}

impl<T: Key> IntervalIndex<T> {
    fn build(items: Vec<(T, T, u32)>) -> IntervalIndex<T> {
        // Events: (point, start (true) or end (false), rule); an end at
        // `b + 1`, none past the last value.
        let mut ev: Vec<(T, bool, u32)> = Vec::with_capacity(items.len() * 2);
        for &(a, b, r) in &items {
            ev.push((a, true, r));
            if let Some(e) = b.succ() {
                ev.push((e, false, r));
            }
        }
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
            idx.starts.push(at);
            idx.offs.push(idx.rules.len() as u32);
            let mut a = active.clone();
            a.sort_unstable();
            a.dedup();
            idx.rules.extend(a);
        }
        idx.offs.push(idx.rules.len() as u32);
        idx
    }

    fn lookup(&self, x: T) -> &[u32] {
        let i = self.starts.partition_point(|&s| s <= x);
        if i == 0 {
            return &[];
        }
        let (a, b) = (self.offs[i - 1] as usize, self.offs[i] as usize);
        &self.rules[a..b]
    }
}

/// Rules pre-selected by protocol, address and port, so that a packet
/// meets only the rules that could match its header: the rules without a
/// fast pattern at a point (and the IP-only rules). Like Suricata's
/// grouping by protocol and port, with address lists (block lists of
/// thousands of hosts) in an interval index as its IP-only engine does.
#[derive(Debug, Default)]
struct Preselect {
    /// Rules whose source set is narrow, by source address (IPv4, IPv6).
    by_src: (IntervalIndex, IntervalIndex<u128>),
    /// Rules whose destination set is narrow, by destination address.
    by_dst: (IntervalIndex, IntervalIndex<u128>),
    /// Rules with a narrow destination port set, by destination port.
    by_dport: IntervalIndex,
    /// Rules with a narrow source port set, by source port.
    by_sport: IntervalIndex,
    /// Rules of any protocol checked at every packet (broad on every
    /// side, `<>` or `=>`).
    any: Vec<u32>,
    /// Such rules of TCP, UDP, ICMP: checked on that protocol only.
    by_l4: [Vec<u32>; 3],
    /// Such rules of one IP protocol (`ip_proto:N`), by protocol.
    by_ipproto: Vec<(u8, Vec<u32>)>,
    /// Rules in the index.
    count: usize,
}

/// An address side at most this big (a /8) is indexed by address.
const NARROW_ADDRS: u64 = 1 << 24;
/// A port set at most this big is indexed by port.
const NARROW_PORTS: u64 = 4096;

/// Address ranges (IPv4, IPv6) of rules.
type AddrRanges = (Vec<(u32, u32, u32)>, Vec<(u128, u128, u32)>);

/// Pattern items of one prefilter: (pattern, nocase, rule).
type Items = Vec<(Vec<u8>, bool, u32)>;

/// Prefilters to build: (point, (list key, group), items).
type Jobs = Vec<(usize, (usize, u8, u32), Items)>;

/// Builds a [`Preselect`].
#[derive(Default)]
struct PreselectBuilder {
    src: AddrRanges,
    dst: AddrRanges,
    dport: Vec<(u32, u32, u32)>,
    sport: Vec<(u32, u32, u32)>,
    any: Vec<u32>,
    by_l4: [Vec<u32>; 3],
    by_ipproto: Vec<(u8, Vec<u32>)>,
    count: usize,
}

impl PreselectBuilder {
    fn add(&mut self, r: &Compiled, ri: u32) {
        self.count += 1;
        let ports = |p: &crate::addr::PortSet| -> u64 {
            p.ranges().iter().map(|&(a, b)| u64::from(b - a) + 1).sum()
        };
        if !(r.bidirectional || r.transactional) {
            // A side is indexed when both its IPv4 and IPv6 sets are narrow.
            let narrow = |a: &crate::addr::AddrSet| {
                let (v4, v6) = a.size();
                (v4 <= NARROW_ADDRS && v6 <= u128::from(NARROW_ADDRS))
                    .then(|| u128::from(v4).saturating_add(v6))
            };
            let side = match (narrow(&r.src), narrow(&r.dst)) {
                (Some(s), Some(d)) => Some(if s <= d { &r.src } else { &r.dst }),
                (Some(_), None) => Some(&r.src),
                (None, Some(_)) => Some(&r.dst),
                (None, None) => None,
            };
            if let Some(a) = side {
                let to = if std::ptr::eq(a, &r.src) {
                    &mut self.src
                } else {
                    &mut self.dst
                };
                to.0.extend(a.v4.ranges().iter().map(|&(x, y)| (x, y, ri)));
                to.1.extend(a.v6.ranges().iter().map(|&(x, y)| (x, y, ri)));
                return;
            }
            let (dp, sp) = (ports(&r.dport), ports(&r.sport));
            if dp <= NARROW_PORTS && dp <= sp {
                self.dport
                    .extend(r.dport.ranges().iter().map(|&(a, b)| (a, b, ri)));
                return;
            }
            if sp <= NARROW_PORTS {
                self.sport
                    .extend(r.sport.ranges().iter().map(|&(a, b)| (a, b, ri)));
                return;
            }
        }
        let proto = r.header.iter().find_map(|h| match h {
            HeaderCheck::IpProto(false, n) => Some(*n),
            _ => None,
        });
        if let Some(n) = proto {
            match self.by_ipproto.iter_mut().find(|(p, _)| *p == n) {
                Some((_, v)) => v.push(ri),
                None => self.by_ipproto.push((n, vec![ri])),
            }
            return;
        }
        match r.l4 {
            L4::Any => self.any.push(ri),
            L4::Tcp => self.by_l4[0].push(ri),
            L4::Udp => self.by_l4[1].push(ri),
            L4::Icmp => self.by_l4[2].push(ri),
        }
    }

    fn build(self) -> Preselect {
        Preselect {
            by_src: (
                IntervalIndex::build(self.src.0).with_top(),
                IntervalIndex::build(self.src.1),
            ),
            by_dst: (
                IntervalIndex::build(self.dst.0).with_top(),
                IntervalIndex::build(self.dst.1),
            ),
            by_dport: IntervalIndex::build(self.dport).with_ports(),
            by_sport: IntervalIndex::build(self.sport).with_ports(),
            any: self.any,
            by_l4: self.by_l4,
            by_ipproto: self.by_ipproto,
            count: self.count,
        }
    }
}

impl Preselect {
    /// Calls `f` with every rule that could match a packet of `inp`'s
    /// addresses, ports and protocol (a rule at most once).
    fn each(&self, inp: &Input<'_>, f: &mut dyn FnMut(u32)) {
        if self.count == 0 {
            return;
        }
        self.any.iter().for_each(|&r| f(r));
        let l4 = match inp.proto {
            6 => Some(0),
            17 => Some(1),
            1 | 58 => Some(2),
            _ => None,
        };
        if let Some(l) = l4 {
            self.by_l4[l].iter().for_each(|&r| f(r));
        }
        for (p, v) in &self.by_ipproto {
            if *p == inp.proto {
                v.iter().for_each(|&r| f(r));
            }
        }
        let side = |ix: &(IntervalIndex, IntervalIndex<u128>),
                    a: IpAddr,
                    f: &mut dyn FnMut(u32)| {
            match a {
                IpAddr::V4(x) => ix.0.find(u32::from(x)).iter().for_each(|&r| f(r)),
                IpAddr::V6(x) => {
                    if let Some(m) = x.to_ipv4_mapped() {
                        ix.0.find(u32::from(m)).iter().for_each(|&r| f(r));
                    }
                    ix.1.lookup(u128::from(x)).iter().for_each(|&r| f(r));
                }
            }
        };
        side(&self.by_src, inp.src, f);
        side(&self.by_dst, inp.dst, f);
        self.by_dport.port(inp.dport).iter().for_each(|&r| f(r));
        self.by_sport.port(inp.sport).iter().for_each(|&r| f(r));
    }
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
    /// The payload may be inspected (false once a flow is encrypted:
    /// rules of `pkt_data` are then passed over, header rules still run).
    pub payload: bool,
}

/// The buffers of what is inspected. At an HTTP response,
/// `http.response_body` and `file.data` must give the same bytes (the
/// decoded body, as Suricata gives both): their prefilter is shared.
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
    /// Work done, by inspection point.
    pub work: [Work; POINTS],
}

/// Work of the rule engine at one inspection point.
#[derive(Clone, Copy, Debug, Default)]
pub struct Work {
    /// Inspections.
    pub inspections: u64,
    /// Bytes given to the prefilters.
    pub scanned: u64,
    /// Candidate rules evaluated.
    pub candidates: u64,
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
    ip_only: Preselect,
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
        // Rules are parsed and compiled in parts on every core, each part
        // with names (flowbits, flowints) and a memo of its own; the parts'
        // names are then renumbered into the first part's.
        let texts: Vec<(usize, crate::parse::RuleText)> = sources
            .iter()
            .enumerate()
            .flat_map(|(i, (_, text))| rule_texts(text).into_iter().map(move |t| (i, t)))
            .collect();
        report.read = texts.len();
        let parts = if texts.len() >= PARALLEL_RULES {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
        } else {
            1
        };
        let chunk = texts.len().div_ceil(parts).max(1);
        let compiled_parts: Vec<Part> = if parts > 1 {
            std::thread::scope(|sc| {
                let handles: Vec<_> = texts
                    .chunks(chunk)
                    .map(|c| sc.spawn(|| compile_part(c, opts)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            })
        } else {
            texts.chunks(chunk).map(|c| compile_part(c, opts)).collect()
        };
        let mut bits = Names::default();
        let mut ints = Names::default();
        let mut compiled: Vec<Compiled> = Vec::new();
        let mut sids: std::collections::HashMap<(u32, u32), usize> = Default::default();
        for part in compiled_parts {
            let bmap: Vec<u32> = part.bits.names().iter().map(|n| bits.id(n)).collect();
            let imap: Vec<u32> = part.ints.names().iter().map(|n| ints.id(n)).collect();
            for (src, line, r) in part.rules {
                let name = &sources[src].0;
                match r {
                    Ok(mut c) => {
                        c.renumber(&bmap, &imap);
                        let key = (c.info.gid, c.info.sid);
                        if let Some(&prev) = sids.get(&key) {
                            let mut e = RuleError::invalid(
                                Some("sid"),
                                format!(
                                    "duplicate sid {} (the rule with the higher rev is kept)",
                                    key.1
                                ),
                            );
                            e.line = line;
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
                        e.line = line;
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
        let set = RuleSet::build(compiled, bits, ints, opts.backend, opts.cache.as_deref());
        report.prefilter_s = t1.elapsed().as_secs_f64();
        (set, report)
    }

    fn build(
        mut rules: Vec<Compiled>,
        bits: Names,
        ints: Names,
        backend: Backend,
        cache: Option<&std::path::Path>,
    ) -> RuleSet {
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
        let mut always: Vec<PreselectBuilder> =
            (0..POINTS).map(|_| PreselectBuilder::default()).collect();
        let mut fast: Vec<FastByList> = vec![BTreeMap::new(); POINTS];
        let mut counts = [0usize; POINTS];
        let mut ip_only = PreselectBuilder::default();
        for (i, r) in rules.iter().enumerate() {
            let ri = i as u32;
            for l in &r.lists {
                bufs_used[l.buf as usize] = true;
            }
            for &p in &r.points {
                if p == Point::IpOnly {
                    ip_only.add(r, ri);
                    continue;
                }
                counts[p.idx()] += 1;
                match &r.fast {
                    Some(f) => {
                        let l = &r.lists[f.list];
                        // At a response, `http.response_body` is the bytes
                        // of `file.data`: one prefilter scans them once.
                        let kb = match (p, l.buf) {
                            (Point::HttpResponse, Buf::HttpResponseBody) => Buf::FileData,
                            (_, b) => b,
                        };
                        let k = key_of(kb, &l.transforms);
                        // Rules of bounded payload length apart, so that
                        // a long packet skips their patterns.
                        let bounded = if dsize_bounds(r).1 < u64::MAX {
                            BOUNDED
                        } else {
                            0
                        };
                        for g in groups_of(p, r) {
                            for sel in port_sels(p, g, r) {
                                fast[p.idx()]
                                    .entry((k, g | bounded, sel))
                                    .or_default()
                                    .push((f.pattern.clone(), f.nocase, ri));
                            }
                        }
                    }
                    None => always[p.idx()].add(r, ri),
                }
            }
        }
        // Ports of few rules go back into the prefilter of every port. Then
        // the patterns of every port, when few, are copied into each port's
        // prefilter of the same list and group, so that a packet is scanned
        // once; when many, the ports go back too (two scans of the same
        // bytes cost more than the patterns of other ports).
        let mut merged: std::collections::HashSet<(usize, usize, u8)> = Default::default();
        for (p, f) in fast.iter_mut().enumerate() {
            let fold = |f: &mut FastByList, key: (usize, u8, u32)| {
                let Some(items) = f.remove(&key) else { return };
                let any = f.entry((key.0, key.1, SEL_ANY)).or_default();
                for it in items {
                    if !any.contains(&it) {
                        any.push(it);
                    }
                }
            };
            let few: Vec<(usize, u8, u32)> = f
                .iter()
                .filter(|((_, _, sel), v)| *sel != SEL_ANY && v.len() < PORT_MIN_RULES)
                .map(|(key, _)| *key)
                .collect();
            for key in few {
                fold(f, key);
            }
            let lists: std::collections::BTreeSet<(usize, u8)> = f
                .keys()
                .filter(|k| k.2 != SEL_ANY)
                .map(|k| (k.0, k.1))
                .collect();
            for (k, g) in lists {
                let any = f.get(&(k, g, SEL_ANY)).cloned().unwrap_or_default();
                let ports: Vec<(usize, u8, u32)> = f
                    .range((k, g, SEL_ANY + 1)..=(k, g, u32::MAX))
                    .map(|(key, _)| *key)
                    .collect();
                if any.len() > MERGE_MAX {
                    for key in ports {
                        fold(f, key);
                    }
                    continue;
                }
                for key in ports {
                    if let Some(v) = f.get_mut(&key) {
                        v.extend(any.iter().cloned());
                    }
                }
                merged.insert((p, k, g));
            }
        }
        // Every prefilter, built on every core (the largest first).
        let mut jobs: Jobs = Vec::new();
        for (p, f) in fast.iter_mut().enumerate() {
            jobs.extend(std::mem::take(f).into_iter().map(|(k, v)| (p, k, v)));
        }
        let built = build_prefilters(&jobs, backend, cache);
        let mut built = jobs.into_iter().zip(built).peekable();
        let mut points = Vec::with_capacity(POINTS);
        let mut slots = 0;
        for (p, mut always) in always.into_iter().enumerate() {
            let mut pfs = Vec::new();
            let mut lengths = Vec::new();
            let mut sels: Vec<(usize, u8, u32, bool)> = Vec::new();
            while let Some(((_, (k, g, sel), items), pf)) = built.next_if(|((q, _, _), _)| *q == p)
            {
                let payload = keys[k].buf == Buf::PktData && keys[k].transforms.is_empty();
                let len = items.iter().fold((u64::MAX, 0), |(lo, hi), (_, _, r)| {
                    let (a, b) = if payload {
                        dsize_bounds(&rules[*r as usize])
                    } else {
                        (0, u64::MAX)
                    };
                    (lo.min(a), hi.max(b))
                });
                match pf {
                    Ok(mut pf) => {
                        pf.set_slot(slots);
                        slots += 1;
                        let absorbs = sel != SEL_ANY && merged.contains(&(p, k, g));
                        sels.push((k, g, sel, absorbs));
                        pfs.push((k, pf));
                        lengths.push(len);
                    }
                    Err(_) => {
                        for (_, _, r) in &items {
                            always.add(&rules[*r as usize], *r);
                        }
                    }
                }
            }
            points.push(PointIndex {
                always: always.build(),
                prefilters: pfs,
                groups: port_groups(Point::ALL[p], &sels),
                lengths,
                count: counts[p],
            });
        }
        let ip_only = ip_only.build();
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

    /// Are there stream rules for this direction (`to_server`: the
    /// client's bytes)?
    pub fn wants_stream(&self, to_server: bool) -> bool {
        let pi = &self.points[Point::Stream.idx()];
        if pi.count == 0 {
            return false;
        }
        let g = group_of(Point::Stream, to_server, 6);
        pi.always.count > 0
            || pi
                .groups
                .get(usize::from(g))
                .is_some_and(|gr| !gr.is_empty())
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
            self.ip_only
                .each(inp, &mut |r| cand(&mut s.stamp, gen, &mut s.cands, r));
        } else {
            let pi = &self.points[inp.point.idx()];
            if pi.count == 0 {
                return;
            }
            pi.always
                .each(inp, &mut |r| cand(&mut s.stamp, gen, &mut s.cands, r));
            let Scratch {
                pf,
                stamp,
                cands,
                tbuf,
                work,
                ..
            } = s;
            let work = &mut work[inp.point.idx()];
            let g = group_of(inp.point, inp.to_server, inp.proto);
            let Some(group) = pi.groups.get(usize::from(g)) else {
                return self.verify(inp, bufs, flow, xbits, s, hits);
            };
            for &i in group.for_ports(inp.sport, inp.dport) {
                let (k, p) = &pi.prefilters[i as usize];
                let (lo, hi) = pi.lengths[i as usize];
                let key = &self.keys[*k];
                if key.buf == Buf::PktData && !inp.payload {
                    continue;
                }
                let bounded = key.buf == Buf::PktData && key.transforms.is_empty();
                bufs.each(key.buf, &mut |v| {
                    // No fast pattern occurs in an empty buffer (an
                    // acknowledgement's payload): nothing to scan, unless
                    // a transform adds bytes (dotprefix).
                    let empty = v.is_empty() && key.transforms.is_empty();
                    if empty || bounded && !(lo..=hi).contains(&(v.len() as u64)) {
                        return false;
                    }
                    let data: &[u8] = if key.transforms.is_empty() {
                        v
                    } else {
                        crate::transform::apply(&key.transforms, v, tbuf);
                        tbuf
                    };
                    work.scanned += data.len() as u64;
                    p.scan(data, pf, &mut |r| cand(stamp, gen, cands, r));
                    false
                });
            }
        }
        self.verify(inp, bufs, flow, xbits, s, hits);
    }

    /// Verifies the candidates of an inspection, in rule order.
    fn verify(
        &self,
        inp: &Input<'_>,
        bufs: &dyn Buffers,
        flow: &mut FlowVars,
        xbits: &mut Xbits,
        s: &mut Scratch,
        hits: &mut Hits,
    ) {
        s.cands.sort_unstable();
        let w = &mut s.work[inp.point.idx()];
        w.inspections += 1;
        w.candidates += s.cands.len() as u64;
        let cands = std::mem::take(&mut s.cands);
        for &ri in &cands {
            let r = &self.rules[ri as usize];
            if !inp.payload && r.lists.iter().any(|l| l.buf == Buf::PktData) {
                continue;
            }
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

    #[test]
    fn errors_name_line_sid_and_keyword() {
        let text = "alert tcp any any -> any any (msg:\"ok\"; content:\"a\"; sid:1;)\n\
                    alert tcp any any -> any any (msg:\"bad pcre\"; pcre:\"/(/\"; sid:2;)\n\
                    alert tcp any any -> any any (msg:\"bad\"; nonsense_kw; sid:3;)\n";
        let (set, rep) = RuleSet::from_sources(
            &[("f.rules".into(), text.into())],
            &RuleSetOptions::default(),
        );
        // An unknown keyword is an error, as in Suricata (not "unsupported").
        assert_eq!((set.len(), rep.read, rep.invalid), (1, 3, 2));
        let e = &rep.skipped[0];
        assert_eq!((e.error.line, e.error.sid), (2, Some(2)));
        assert!(e.error.to_string().contains("pcre"), "{}", e.error);
        assert!(rep.unsupported.is_empty(), "{:?}", rep.unsupported);
        let u = &rep.skipped[1];
        assert_eq!((u.error.line, u.error.sid), (3, Some(3)));
        assert!(u.error.to_string().contains("nonsense_kw"), "{}", u.error);
    }

    #[test]
    fn the_port_table_finds_what_the_search_finds() {
        let items = vec![
            (80, 80, 0),
            (0, 1023, 1),
            (8000, 8080, 2),
            (65535, 65535, 3),
        ];
        let ix = IntervalIndex::build(items).with_ports();
        for p in 0..=65_535u16 {
            assert_eq!(ix.port(p), ix.lookup(u32::from(p)), "{p}");
        }
        assert!(IntervalIndex::build(Vec::new())
            .with_ports()
            .port(80)
            .is_empty());
    }

    #[test]
    fn the_first_level_table_finds_what_the_search_finds() {
        let mut items = Vec::new();
        let mut x: u32 = 12345;
        for r in 0..600u32 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let w = x % 70_000;
            items.push((x, x.saturating_add(w), r));
        }
        items.push((0, 5, 600));
        items.push((u32::MAX - 3, u32::MAX, 601));
        let ix = IntervalIndex::build(items).with_top();
        assert!(!ix.top.is_empty());
        let mut y: u32 = 99;
        for _ in 0..20_000 {
            y = y.wrapping_mul(22_695_477).wrapping_add(1);
            assert_eq!(ix.find(y), ix.lookup(y), "{y}");
        }
        for k in [
            0,
            5,
            6,
            u32::MAX,
            u32::MAX - 3,
            u32::MAX - 4,
            65_535,
            65_536,
        ] {
            assert_eq!(ix.find(k), ix.lookup(k), "{k}");
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
            payload: true,
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
    fn a_backtracking_pcre_stops_at_the_match_limit() {
        let s = set(concat!(
            "alert tcp any any -> any any (msg:\"catastrophic\"; pcre:\"/^(\\w+\\s?)*$/\"; sid:1;)\n",
            "alert tcp any any -> any any (msg:\"fine\"; pcre:\"/(a+)+b/\"; sid:2;)\n",
        ));
        let mut data = vec![b'a'; 30];
        data.push(b'!');
        let t = std::time::Instant::now();
        let mut fv = FlowVars::default();
        let inp = Input {
            point: Point::Stream,
            app: None,
            ..input(Point::Stream)
        };
        // Exponential backtracking: PCRE2's own limit (10,000,000 steps)
        // would spend ~0.1 s per call; Suricata's 3,500 stop it at once.
        for _ in 0..100 {
            let got = hits(
                &s,
                &inp,
                &PayloadBuffers {
                    payload: &data,
                    pkt: None,
                },
                &mut fv,
            );
            assert!(got.is_empty(), "{got:?}");
        }
        let took = t.elapsed();
        // Without the limit: about 1 s; with it, about 1 ms.
        assert!(took < std::time::Duration::from_millis(300), "{took:?}");
        let got = hits(
            &s,
            &inp,
            &PayloadBuffers {
                payload: b"xaab!",
                pkt: None,
            },
            &mut fv,
        );
        assert_eq!(got, vec![2]);
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

    /// Rules of one service port are scanned for that port only, with the
    /// rules of every port, whether those are merged into the port's
    /// prefilter (few) or scanned apart (many).
    #[test]
    fn port_groups_scan_a_port_with_its_rules_and_those_of_every_port() {
        let base = concat!(
            "alert tcp any any -> any 8080 (msg:\"dst\"; content:\"evil\"; sid:1;)\n",
            "alert tcp any any -> any any (msg:\"any\"; content:\"evil\"; sid:2;)\n",
            "alert tcp any 8080 -> any any (msg:\"src\"; flow:to_client; content:\"evil\"; sid:3;)\n",
            "alert tcp any any -> any [8080,9090] (msg:\"list\"; content:\"bad\"; sid:4;)\n",
            "alert tcp any any -> any 1024: (msg:\"range\"; content:\"bad\"; sid:5;)\n",
        );
        let many: String = (0..MERGE_MAX + 6)
            .map(|i| {
                format!(
                    "alert tcp any any -> any any (msg:\"f\"; content:\"filler{i}\"; sid:{};)\n",
                    100 + i
                )
            })
            .collect();
        for text in [base.to_string(), format!("{base}{many}")] {
            let s = set(&text);
            let run = |to_server: bool, sport: u16, dport: u16| {
                let mut inp = input(Point::Stream);
                inp.app = None;
                inp.to_server = to_server;
                inp.sport = sport;
                inp.dport = dport;
                let b = PayloadBuffers {
                    payload: b"evil and bad",
                    pkt: None,
                };
                let mut got = hits(&s, &inp, &b, &mut FlowVars::default());
                got.sort_unstable();
                got
            };
            assert_eq!(run(true, 40000, 8080), vec![1, 2, 4, 5]);
            assert_eq!(run(true, 40000, 9090), vec![2, 4, 5]);
            assert_eq!(run(true, 40000, 80), vec![2]);
            assert_eq!(run(false, 8080, 40000), vec![2, 3, 5]);
            assert_eq!(run(false, 80, 40000), vec![2, 5]);
        }
    }

    #[test]
    fn narrow_service_ports_split_and_wide_ones_do_not() {
        let s = set(concat!(
            "alert tcp any any -> any [80,8080] (msg:\"a\"; content:\"x\"; sid:1;)\n",
            "alert tcp any 445 -> any any (msg:\"b\"; flow:to_client; content:\"x\"; sid:2;)\n",
            "alert tcp any any -> any 1024: (msg:\"c\"; content:\"x\"; sid:3;)\n",
            "alert tcp any any <> any 80 (msg:\"d\"; content:\"x\"; sid:4;)\n",
            "alert http any any -> any 80 (msg:\"e\"; http.uri; content:\"x\"; sid:5;)\n",
        ));
        let sels = |sid: u32, p: Point, to_server: bool| {
            let r = s.rules.iter().find(|r| r.info.sid == sid).unwrap();
            port_sels(p, group_of(p, to_server, 6), r)
        };
        assert_eq!(
            sels(1, Point::Stream, true),
            vec![PORT_SEL | 80, PORT_SEL | 8080]
        );
        // The server's side is split by the source port.
        assert_eq!(sels(1, Point::Stream, false), vec![SEL_ANY]);
        assert_eq!(sels(2, Point::Packet, false), vec![PORT_SEL | 445]);
        assert_eq!(sels(3, Point::PacketNoStream, true), vec![SEL_ANY]);
        assert_eq!(sels(4, Point::Stream, true), vec![SEL_ANY]);
        assert_eq!(sels(5, Point::HttpRequest, true), vec![SEL_ANY]);
    }

    /// A big set is compiled in parts on several threads: a flowbit set in
    /// the first part and checked in the last is one bit, and errors keep
    /// their file and line.
    #[test]
    fn rules_compiled_in_parts_share_their_flowbits() {
        let mut text = String::from(
            "alert tcp any any -> any any (msg:\"a\"; content:\"first\"; flowbits:set,x; flowbits:noalert; sid:1;)\n",
        );
        for i in 0..PARALLEL_RULES + 500 {
            text.push_str(&format!(
                "alert tcp any any -> any any (msg:\"f\"; content:\"filler{i}\"; flowbits:isset,f{}; sid:{};)\n",
                i % 7,
                10 + i
            ));
        }
        text.push_str("alert tcp any any -> any any (msg:\"bad\"; nonsense_kw; sid:3;)\n");
        text.push_str(
            "alert tcp any any -> any any (msg:\"b\"; content:\"second\"; flowbits:isset,x; sid:2;)\n",
        );
        let (s, rep) =
            RuleSet::from_sources(&[("big.rules".into(), text)], &RuleSetOptions::default());
        assert_eq!(
            (rep.read, rep.loaded, rep.invalid),
            (PARALLEL_RULES + 503, PARALLEL_RULES + 502, 1)
        );
        let e = &rep.skipped[0];
        assert_eq!(
            (e.source.as_str(), e.error.line, e.error.sid),
            ("big.rules", PARALLEL_RULES + 502, Some(3))
        );
        let by_sid = |sid: u32| s.rules.iter().find(|r| r.info.sid == sid).unwrap();
        assert_eq!(by_sid(1).bit_sets[0].names, by_sid(2).bit_checks[0].names);
        // Eight names in all: x and f0..f6.
        assert_eq!(s.bits.len(), 8);
        let mut fv = FlowVars::default();
        let mut inp = input(Point::Stream);
        inp.app = None;
        let b = |p: &'static [u8]| PayloadBuffers {
            payload: p,
            pkt: None,
        };
        assert!(hits(&s, &inp, &b(b"second"), &mut fv).is_empty());
        assert!(hits(&s, &inp, &b(b"first"), &mut fv).is_empty());
        assert_eq!(hits(&s, &inp, &b(b"second"), &mut fv), vec![2]);
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
