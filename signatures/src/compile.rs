//! Compiling a parsed rule: variables resolved into address and port sets,
//! options into per-buffer inspection steps, the inspection point chosen
//! (packet, stream, or an application transaction), the fast pattern
//! picked, and what Mekong cannot do refused with a reason.

use std::collections::HashMap;
use std::sync::Arc;

use crate::addr::{AddrSet, PortSet, Vars};
use crate::buffers::Buf;
use crate::classify::{classtype_technique, Classifications};
use crate::matcher::{ByteOp, ContentStep, MathOp, PcreStep, Read, Step, Val, MAX_VARS};
use crate::parse::RuleError;
use crate::rule::*;
use crate::App;

/// Where a rule is inspected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Point {
    /// Once per flow direction, on its first packet (rules of addresses
    /// and ports only, as Suricata's IP-only rules).
    IpOnly,
    /// Every packet: header keywords, `dsize`, `tcp-pkt` payloads, the
    /// payload of UDP, ICMP and other protocols.
    Packet,
    /// The payload of packets that have no stream: rules of raw payload
    /// that match the stream of an established TCP connection and the
    /// packets of everything else (UDP, ICMP, TCP before its handshake).
    PacketNoStream,
    /// The in-order bytes of a TCP direction, message by message.
    Stream,
    /// An HTTP request (the client's side of a transaction).
    HttpRequest,
    /// An HTTP response, the request's buffers at hand.
    HttpResponse,
    /// A DNS message.
    Dns,
    /// A TLS ClientHello.
    TlsClient,
    /// A TLS ServerHello and certificate.
    TlsServer,
    /// An SSH banner or key exchange.
    Ssh,
    /// A transaction of SMB (tree connect, named pipe), DCE/RPC (request),
    /// FTP (command) or Kerberos (message): its buffers.
    AppTx,
}

/// How many points there are.
pub const POINTS: usize = 11;

impl Point {
    /// Every point, in the order of [`Point::idx`].
    pub const ALL: [Point; POINTS] = [
        Point::IpOnly,
        Point::Packet,
        Point::PacketNoStream,
        Point::Stream,
        Point::HttpRequest,
        Point::HttpResponse,
        Point::Dns,
        Point::TlsClient,
        Point::TlsServer,
        Point::Ssh,
        Point::AppTx,
    ];

    /// Index in arrays.
    pub fn idx(self) -> usize {
        self as usize
    }
}

/// The layer-4 protocol a rule requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    /// Any.
    Any,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP or ICMPv6.
    Icmp,
}

/// The flow conditions of `flow:`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowReq {
    /// `Some(true)` to_server, `Some(false)` to_client.
    pub to_server: Option<bool>,
    /// `Some(true)` established, `Some(false)` not_established.
    pub established: Option<bool>,
    /// `only_stream`.
    pub only_stream: bool,
    /// `no_stream`.
    pub no_stream: bool,
    /// `only_frag` / `no_frag`.
    pub frag: Option<bool>,
}

/// A header check.
#[derive(Clone, Debug)]
pub enum HeaderCheck {
    /// `flags`.
    Flags(Flags),
    /// `ttl`.
    Ttl(Cmp),
    /// `id`.
    Id(u16),
    /// `tos`.
    Tos(bool, u8),
    /// `ipopts`.
    Ipopts(String),
    /// `fragbits`.
    Fragbits(Fragbits),
    /// `fragoffset`.
    Fragoffset(Cmp),
    /// `sameip`.
    Sameip,
    /// `itype`.
    Itype(Cmp),
    /// `icode`.
    Icode(Cmp),
    /// `icmp_id`.
    IcmpId(u16),
    /// `icmp_seq`.
    IcmpSeq(u16),
    /// `ip_proto`.
    IpProto(bool, u8),
    /// `dsize`.
    Dsize(Cmp),
    /// `tcp.mss`.
    TcpMss(Cmp),
}

/// One buffer's inspection.
#[derive(Clone, Debug)]
pub struct BufferList {
    /// Buffer.
    pub buf: Buf,
    /// Transforms applied first.
    pub transforms: Vec<Transform>,
    /// Steps.
    pub steps: Vec<Step>,
}

/// The fast pattern of a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FastPat {
    /// Buffer and transforms it is found in (index into the rule's lists).
    pub list: usize,
    /// Pattern (lower case when `nocase`).
    pub pattern: Vec<u8>,
    /// Case-insensitive.
    pub nocase: bool,
}

/// A `flowbits` or `xbits` operation on interned names.
#[derive(Clone, Debug)]
pub struct BitsOp {
    /// Operation.
    pub op: BitOp,
    /// Name ids (several are OR-ed for checks).
    pub names: Vec<u32>,
    /// For xbits: who they are tracked by, and their expiry (s).
    pub xtrack: Option<(Track, u32)>,
}

/// A `flowint` operation on an interned name.
#[derive(Clone, Debug)]
pub struct IntOp {
    /// Name id.
    pub name: u32,
    /// Operation.
    pub op: String,
    /// Operand: a constant or another flowint's id.
    pub value: Option<IntVal>,
}

/// A flowint operand.
#[derive(Clone, Copy, Debug)]
pub enum IntVal {
    /// A constant.
    Lit(i64),
    /// Another flowint.
    Var(u32),
}

/// What an alert of the rule says (shared by its alerts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// `gid`.
    pub gid: u32,
    /// `sid`.
    pub sid: u32,
    /// `rev`.
    pub rev: u32,
    /// `msg`.
    pub msg: String,
    /// Action.
    pub action: Action,
    /// `classtype` (empty when none).
    pub classtype: String,
    /// Its description (EVE `alert.category`; empty when none).
    pub category: String,
    /// `priority`, else the classtype's, else 3.
    pub severity: u8,
    /// Metadata pairs, in order.
    pub metadata: Vec<(String, String)>,
    /// ATT&CK technique ids: from metadata, else from the classtype.
    pub techniques: Vec<String>,
    /// ATT&CK tactic ids from metadata.
    pub tactics: Vec<String>,
    /// `target`.
    pub target: Option<Target>,
    /// `threshold`.
    pub threshold: Option<Threshold>,
    /// `detection_filter`.
    pub detection_filter: Option<Threshold>,
    /// The rule's text, as loaded.
    pub text: String,
}

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// Alert information.
    pub info: Arc<RuleInfo>,
    /// Where it is inspected (rules of raw payload are inspected at both
    /// `Packet` and `Stream`).
    pub points: Vec<Point>,
    /// Layer 4.
    pub l4: L4,
    /// Application protocol the flow must be.
    pub app: Option<App>,
    /// `tcp-pkt`: packets only.
    pub pkt_only: bool,
    /// `tcp-stream`: stream only.
    pub stream_only: bool,
    /// Source addresses.
    pub src: AddrSet,
    /// Source ports.
    pub sport: PortSet,
    /// Destination addresses.
    pub dst: AddrSet,
    /// Destination ports.
    pub dport: PortSet,
    /// `<>`.
    pub bidirectional: bool,
    /// `=>`: addresses are the request's.
    pub transactional: bool,
    /// `flow`.
    pub flow: FlowReq,
    /// Header checks.
    pub header: Vec<HeaderCheck>,
    /// Buffers.
    pub lists: Vec<BufferList>,
    /// `urilen`.
    pub urilen: Option<(Cmp, bool)>,
    /// flowbits and xbits conditions.
    pub bit_checks: Vec<BitsOp>,
    /// flowbits and xbits actions.
    pub bit_sets: Vec<BitsOp>,
    /// flowint conditions.
    pub int_checks: Vec<IntOp>,
    /// flowint actions.
    pub int_sets: Vec<IntOp>,
    /// `stream_size`.
    pub stream_size: Option<StreamSize>,
    /// `noalert`.
    pub noalert: bool,
    /// The fast pattern.
    pub fast: Option<FastPat>,
    /// Which side of a transaction it is inspected at (`Some(0)` the
    /// client's, `Some(1)` the server's; `None` both).
    pub side: Option<usize>,
}

impl Compiled {
    /// Renumbers its flowbit and flowint ids (`bits[old]`, `ints[old]`), so
    /// that rules compiled apart, each part with names of its own, join
    /// one set.
    pub fn renumber(&mut self, bits: &[u32], ints: &[u32]) {
        let map = |m: &[u32], id: &mut u32| {
            if let Some(&n) = m.get(*id as usize) {
                *id = n;
            }
        };
        for b in self.bit_checks.iter_mut().chain(self.bit_sets.iter_mut()) {
            for n in &mut b.names {
                map(bits, n);
            }
        }
        for o in self.int_checks.iter_mut().chain(self.int_sets.iter_mut()) {
            map(ints, &mut o.name);
            if let Some(IntVal::Var(v)) = &mut o.value {
                map(ints, v);
            }
        }
    }
}

/// Names interned across a rule set (flowbits, flowints, xbits).
#[derive(Clone, Debug, Default)]
pub struct Names {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    /// Every name, in the order of their ids.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The id of `name`, adding it.
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.ids.insert(name.to_string(), i);
        self.names.push(name.to_string());
        i
    }

    /// The name of an id.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// None yet.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// What compiling needs.
pub struct CompileEnv<'a> {
    /// Variables.
    pub vars: &'a Vars,
    /// Classtypes.
    pub classes: &'a Classifications,
    /// flowbits/xbits names.
    pub bits: &'a mut Names,
    /// flowint names.
    pub ints: &'a mut Names,
    /// Address and port sets already resolved (rules name the same
    /// variables again and again).
    pub memo: &'a mut Memo,
}

/// Resolved address and port sets, by what the rule wrote.
#[derive(Debug, Default)]
pub struct Memo {
    addrs: std::collections::HashMap<AddrSpec, AddrSet>,
    ports: std::collections::HashMap<PortSpec, PortSet>,
}

impl Memo {
    fn addr(&mut self, vars: &Vars, s: &AddrSpec) -> Result<AddrSet, String> {
        if let Some(a) = self.addrs.get(s) {
            return Ok(a.clone());
        }
        let a = vars.addr_set(s)?;
        self.addrs.insert(s.clone(), a.clone());
        Ok(a)
    }

    fn port(&mut self, vars: &Vars, s: &PortSpec) -> Result<PortSet, String> {
        if let Some(p) = self.ports.get(s) {
            return Ok(p.clone());
        }
        let p = vars.port_set(s)?;
        self.ports.insert(s.clone(), p.clone());
        Ok(p)
    }
}

fn unsupported(kw: &str, what: impl Into<String>) -> RuleError {
    RuleError::unsupported(Some(kw), what)
}

fn invalid(kw: &str, what: impl Into<String>) -> RuleError {
    RuleError::invalid(Some(kw), what)
}

/// The protocol keyword: (layer 4, application, packet only, stream only).
fn protocol(p: &str) -> Result<(L4, Option<App>, bool, bool), RuleError> {
    Ok(match p {
        "ip" | "pkthdr" => (L4::Any, None, false, false),
        "tcp" => (L4::Tcp, None, false, false),
        "tcp-pkt" => (L4::Tcp, None, true, false),
        "tcp-stream" => (L4::Tcp, None, false, true),
        "udp" => (L4::Udp, None, false, false),
        "icmp" | "icmpv4" | "icmpv6" => (L4::Icmp, None, false, false),
        "http" | "http1" => (L4::Tcp, Some(App::Http), false, false),
        "dns" => (L4::Any, Some(App::Dns), false, false),
        "tls" | "ssl" => (L4::Tcp, Some(App::Tls), false, false),
        "ssh" => (L4::Tcp, Some(App::Ssh), false, false),
        "ftp" => (L4::Tcp, Some(App::Ftp), false, false),
        "smtp" => (L4::Tcp, Some(App::Smtp), false, false),
        "smb" => (L4::Tcp, Some(App::Smb), false, false),
        "dcerpc" => (L4::Tcp, Some(App::Dcerpc), false, false),
        "pop3" => (L4::Tcp, Some(App::Pop3), false, false),
        "imap" => (L4::Tcp, Some(App::Imap), false, false),
        "telnet" => (L4::Tcp, Some(App::Telnet), false, false),
        "krb5" => (L4::Any, Some(App::Krb5), false, false),
        other => {
            return Err(RuleError::unsupported(
                None,
                format!("unsupported protocol {other}"),
            ))
        }
    })
}

/// Resolves a number or variable in a step.
fn val(kw: &str, n: &Num, vars: &HashMap<String, u8>) -> Result<Val, RuleError> {
    match n {
        Num::Lit(v) => Ok(Val::Lit(*v)),
        Num::Var(name) => vars.get(name).map(|&i| Val::Var(i)).ok_or_else(|| {
            invalid(
                kw,
                format!("unknown variable {name:?} (byte_extract or byte_math sets it)"),
            )
        }),
    }
}

fn read(
    kw: &str,
    bytes: u8,
    offset: &Num,
    o: &ByteOpts,
    vars: &HashMap<String, u8>,
) -> Result<Read, RuleError> {
    Ok(Read {
        bytes,
        endian: o.endian,
        base: o.base,
        relative: o.relative,
        offset: val(kw, offset, vars)?,
        bitmask: o.bitmask,
    })
}

/// PCRE2 match limit of every rule's expression (Suricata's default).
pub const PCRE_MATCH_LIMIT: u32 = 3500;
/// PCRE2 depth limit (Suricata's `match-limit-recursion` default).
pub const PCRE_DEPTH_LIMIT: u32 = 1500;

fn pcre_step(p: &Pcre) -> Result<PcreStep, RuleError> {
    // caseless, dotall, multi_line, extended.
    let mut opts = [false; 4];
    let mut pat = p.pattern.clone();
    for c in p.flags.chars() {
        match c {
            'i' => opts[0] = true,
            's' => opts[1] = true,
            'm' => opts[2] = true,
            'x' => opts[3] = true,
            'G' => pat = format!("(?U){pat}"),
            _ => {}
        }
    }
    if p.flags.contains('A') {
        pat = format!("\\A(?:{pat})");
    }
    // Suricata's limits (pcre.match-limit 3500, match-limit-recursion
    // 1500): an expression that backtracks past them does not match,
    // instead of holding the worker.
    pat = format!("(*LIMIT_MATCH={PCRE_MATCH_LIMIT})(*LIMIT_DEPTH={PCRE_DEPTH_LIMIT}){pat}");
    let re = crate::matcher::LazyRegex::new(&pat, opts)
        .map_err(|e| invalid("pcre", format!("the expression does not compile: {e}")))?;
    Ok(PcreStep {
        re: Arc::new(re),
        negated: p.negated,
        relative: p.relative(),
    })
}

fn content_step(c: &Content, vars: &HashMap<String, u8>) -> Result<ContentStep, RuleError> {
    let mut s = ContentStep::new(c.pattern.clone(), c.nocase);
    s.negated = c.negated;
    if c.startswith {
        s.offset = Some(Val::Lit(0));
        s.depth = Some(Val::Lit(c.pattern.len() as i64));
    }
    if let Some(o) = &c.offset {
        s.offset = Some(val("offset", o, vars)?);
    }
    if let Some(d) = &c.depth {
        s.depth = Some(val("depth", d, vars)?);
    }
    if let Some(d) = &c.distance {
        s.distance = Some(val("distance", d, vars)?);
    }
    if let Some(w) = &c.within {
        s.within = Some(val("within", w, vars)?);
    }
    if s.relative() && (s.offset.is_some() || s.depth.is_some()) && !c.startswith {
        return Err(invalid(
            "content",
            "offset/depth cannot be combined with distance/within on one content",
        ));
    }
    s.endswith = c.endswith;
    Ok(s)
}

/// Metadata values of a key.
fn meta_values<'a>(md: &'a [(String, String)], key: &'a str) -> impl Iterator<Item = &'a str> {
    md.iter()
        .filter(move |(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Compiles one rule.
pub fn compile(rule: &Rule, text: &str, env: &mut CompileEnv<'_>) -> Result<Compiled, RuleError> {
    let h = &rule.header;
    let (l4, mut app, pkt_only, stream_only) = protocol(&h.proto)?;
    let vars = env.vars;
    let src = env
        .memo
        .addr(vars, &h.src)
        .map_err(|e| invalid("source address", e))?;
    let dst = env
        .memo
        .addr(vars, &h.dst)
        .map_err(|e| invalid("destination address", e))?;
    let sport = env
        .memo
        .port(vars, &h.sport)
        .map_err(|e| invalid("source port", e))?;
    let dport = env
        .memo
        .port(vars, &h.dport)
        .map_err(|e| invalid("destination port", e))?;

    let mut flow = FlowReq::default();
    let mut header = Vec::new();
    let mut lists: Vec<BufferList> = Vec::new();
    let mut cur_buf = Buf::PktData;
    let mut cur_tf: Vec<Transform> = Vec::new();
    let mut vars: HashMap<String, u8> = HashMap::new();
    let mut urilen = None;
    let mut bit_checks = Vec::new();
    let mut bit_sets = Vec::new();
    let mut int_checks = Vec::new();
    let mut int_sets = Vec::new();
    let mut stream_size = None;
    let mut noalert = false;
    let mut threshold = None;
    let mut detection_filter = None;
    let mut target = None;
    let mut priority = None;
    let mut metadata = Vec::new();
    // Which list a (buffer, transforms) pair is.
    let list_of = |lists: &mut Vec<BufferList>, buf: Buf, tf: &[Transform]| -> usize {
        if let Some(i) = lists
            .iter()
            .position(|l| l.buf == buf && l.transforms == tf)
        {
            return i;
        }
        lists.push(BufferList {
            buf,
            transforms: tf.to_vec(),
            steps: Vec::new(),
        });
        lists.len() - 1
    };
    // For the fast pattern: (list, content) of each positive content.
    let mut contents: Vec<(usize, Content)> = Vec::new();
    let mut in_base64 = false;
    // The list of the last content or pcre: byte and isdataat keywords
    // after a content with a legacy buffer modifier belong to its list.
    let mut last_list: Option<usize> = None;
    macro_rules! list_here {
        () => {
            match last_list {
                Some(i) if cur_buf == Buf::PktData && cur_tf.is_empty() => i,
                _ => list_of(&mut lists, cur_buf, &cur_tf),
            }
        };
    }

    for o in &rule.options {
        match o {
            Opt::Msg(_)
            | Opt::Sid(_)
            | Opt::Rev(_)
            | Opt::Gid(_)
            | Opt::Reference(_)
            | Opt::Classtype(_)
            | Opt::Ignored(..) => {}
            Opt::Priority(p) => priority = Some(*p),
            Opt::Metadata(v) => metadata.extend(v.iter().cloned()),
            Opt::Target(t) => target = Some(*t),
            Opt::Flow(fl) => {
                for f in fl {
                    match f {
                        FlowFlag::ToServer => flow.to_server = Some(true),
                        FlowFlag::ToClient => flow.to_server = Some(false),
                        FlowFlag::Established => flow.established = Some(true),
                        FlowFlag::NotEstablished => flow.established = Some(false),
                        FlowFlag::Stateless => {}
                        FlowFlag::OnlyStream => flow.only_stream = true,
                        FlowFlag::NoStream => flow.no_stream = true,
                        FlowFlag::OnlyFrag => flow.frag = Some(true),
                        FlowFlag::NoFrag => flow.frag = Some(false),
                    }
                }
            }
            Opt::Flowbits(op, names) => {
                let ids = names.iter().map(|n| env.bits.id(n)).collect();
                let b = BitsOp {
                    op: *op,
                    names: ids,
                    xtrack: None,
                };
                if op.is_check() {
                    bit_checks.push(b);
                } else {
                    bit_sets.push(b);
                }
            }
            Opt::Xbits(op, name, track, expire) => {
                let b = BitsOp {
                    op: *op,
                    names: vec![env.bits.id(&format!("xbits:{name}"))],
                    xtrack: Some((*track, expire.unwrap_or(3600))),
                };
                if op.is_check() {
                    bit_checks.push(b);
                } else {
                    bit_sets.push(b);
                }
            }
            Opt::Noalert => noalert = true,
            Opt::Flowint(fi) => {
                let value = match &fi.value {
                    None => None,
                    Some(Num::Lit(n)) => Some(IntVal::Lit(*n)),
                    Some(Num::Var(v)) => Some(IntVal::Var(env.ints.id(v))),
                };
                let op = IntOp {
                    name: env.ints.id(&fi.name),
                    op: fi.op.clone(),
                    value,
                };
                if matches!(op.op.as_str(), "=" | "+" | "-") {
                    int_sets.push(op);
                } else {
                    int_checks.push(op);
                }
            }
            Opt::StreamSize(s) => stream_size = Some(s.clone()),
            Opt::Threshold(t) => {
                if t.kind == ThresholdKind::DetectionFilter {
                    detection_filter = Some(*t);
                } else {
                    threshold = Some(*t);
                }
            }
            Opt::Buffer(b) => {
                last_list = None;
                cur_buf = Buf::from_name(b)
                    .ok_or_else(|| unsupported(b, format!("unsupported keyword {b}")))?;
                cur_tf.clear();
                in_base64 = false;
            }
            Opt::Transform(t) => {
                if matches!(t, Transform::StripPseudoHeaders) {
                    return Err(unsupported(
                        t.name(),
                        "unsupported keyword strip_pseudo_headers",
                    ));
                }
                cur_tf.push(t.clone());
            }
            Opt::Content(c) => {
                let buf = match &c.legacy {
                    Some(l) => Buf::from_name(l)
                        .ok_or_else(|| unsupported(l, format!("unsupported keyword {l}")))?,
                    None => cur_buf,
                };
                let tf: &[Transform] = if c.legacy.is_some() { &[] } else { &cur_tf };
                let i = list_of(&mut lists, buf, tf);
                last_list = Some(i);
                let step = content_step(c, &vars)?;
                if !c.negated && !in_base64 {
                    contents.push((i, c.clone()));
                }
                lists[i].steps.push(Step::Content(step));
            }
            Opt::Pcre(p) => {
                let buf = match p.legacy_buffer() {
                    Some(l) => Buf::from_name(l).unwrap_or(Buf::PktData),
                    None => cur_buf,
                };
                let tf: &[Transform] = if p.legacy_buffer().is_some() {
                    &[]
                } else {
                    &cur_tf
                };
                let i = list_of(&mut lists, buf, tf);
                last_list = Some(i);
                lists[i].steps.push(Step::Pcre(pcre_step(p)?));
            }
            Opt::ByteTest(b) => {
                let op =
                    ByteOp::parse(&b.op).ok_or_else(|| invalid("byte_test", "bad operator"))?;
                let i = list_here!();
                lists[i].steps.push(Step::ByteTest {
                    read: read("byte_test", b.bytes, &b.offset, &b.opts, &vars)?,
                    op,
                    negated: b.negated,
                    value: val("byte_test", &b.value, &vars)?,
                });
            }
            Opt::ByteJump(b) => {
                let i = list_here!();
                lists[i].steps.push(Step::ByteJump {
                    read: read("byte_jump", b.bytes, &b.offset, &b.opts, &vars)?,
                    multiplier: b.multiplier.unwrap_or(1),
                    align: b.align,
                    from_beginning: b.from_beginning,
                    from_end: b.from_end,
                    post_offset: b.post_offset.unwrap_or(0),
                });
            }
            Opt::ByteExtract(b) => {
                if vars.len() >= MAX_VARS {
                    return Err(unsupported(
                        "byte_extract",
                        "unsupported keyword byte_extract (more than 16 variables)",
                    ));
                }
                let slot = vars.len() as u8;
                let i = list_here!();
                let r = read("byte_extract", b.bytes, &Num::Lit(b.offset), &b.opts, &vars)?;
                vars.insert(b.name.clone(), slot);
                lists[i].steps.push(Step::ByteExtract {
                    read: r,
                    multiplier: b.multiplier.unwrap_or(1),
                    align: b.align.unwrap_or(0),
                    var: slot,
                });
            }
            Opt::ByteMath(b) => {
                if vars.len() >= MAX_VARS && !vars.contains_key(&b.result) {
                    return Err(unsupported(
                        "byte_math",
                        "unsupported keyword byte_math (more than 16 variables)",
                    ));
                }
                let op = match b.oper.as_str() {
                    "+" => MathOp::Add,
                    "-" => MathOp::Sub,
                    "*" => MathOp::Mul,
                    "/" => MathOp::Div,
                    "<<" => MathOp::Shl,
                    _ => MathOp::Shr,
                };
                let r = read("byte_math", b.bytes, &Num::Lit(b.offset), &b.opts, &vars)?;
                let rvalue = val("byte_math", &b.rvalue, &vars)?;
                let n = vars.len() as u8;
                let slot = *vars.entry(b.result.clone()).or_insert(n);
                let i = list_here!();
                lists[i].steps.push(Step::ByteMath {
                    read: r,
                    op,
                    rvalue,
                    var: slot,
                });
            }
            Opt::IsDataAt(d) => {
                let i = list_here!();
                lists[i].steps.push(Step::IsDataAt {
                    at: val("isdataat", &d.offset, &vars)?,
                    relative: d.relative,
                    negated: d.negated,
                });
            }
            Opt::Bsize(c) => {
                let i = list_of(&mut lists, cur_buf, &cur_tf);
                lists[i].steps.push(Step::Bsize(*c));
            }
            Opt::Dsize(c) => header.push(HeaderCheck::Dsize(*c)),
            Opt::Urilen(c, raw) => urilen = Some((*c, *raw)),
            Opt::Base64Decode {
                bytes,
                offset,
                relative,
            } => {
                let i = list_of(&mut lists, cur_buf, &cur_tf);
                lists[i].steps.push(Step::Base64Decode {
                    bytes: bytes.unwrap_or(0),
                    offset: offset.unwrap_or(0),
                    relative: *relative,
                });
            }
            Opt::Base64Data => {
                let i = list_of(&mut lists, cur_buf, &cur_tf);
                if !lists[i]
                    .steps
                    .iter()
                    .any(|s| matches!(s, Step::Base64Decode { .. }))
                {
                    return Err(invalid("base64_data", "needs a base64_decode before it"));
                }
                lists[i].steps.push(Step::Base64Data);
                in_base64 = true;
            }
            Opt::Flags(f) => header.push(HeaderCheck::Flags(f.clone())),
            Opt::Ttl(c) => header.push(HeaderCheck::Ttl(*c)),
            Opt::Id(n) => header.push(HeaderCheck::Id(*n)),
            Opt::Tos(neg, n) => header.push(HeaderCheck::Tos(*neg, *n)),
            Opt::Ipopts(s) => header.push(HeaderCheck::Ipopts(s.clone())),
            Opt::Fragbits(f) => header.push(HeaderCheck::Fragbits(f.clone())),
            Opt::Fragoffset(c) => header.push(HeaderCheck::Fragoffset(*c)),
            Opt::Sameip => header.push(HeaderCheck::Sameip),
            Opt::Itype(c) => header.push(HeaderCheck::Itype(*c)),
            Opt::Icode(c) => header.push(HeaderCheck::Icode(*c)),
            Opt::IcmpId(n) => header.push(HeaderCheck::IcmpId(*n)),
            Opt::IcmpSeq(n) => header.push(HeaderCheck::IcmpSeq(*n)),
            Opt::IpProto(neg, p) => header.push(HeaderCheck::IpProto(*neg, *p)),
            Opt::AppInt(k, ranges) => {
                let buf = Buf::of_value_keyword(k)
                    .ok_or_else(|| unsupported(k, format!("unsupported keyword {k}")))?;
                let i = list_of(&mut lists, buf, &[]);
                lists[i].steps.push(Step::IntIn(ranges.clone()));
            }
            Opt::DcerpcIface { uuid, .. } => {
                let i = list_of(&mut lists, Buf::DcerpcIface, &[]);
                lists[i].steps.push(Step::Equals(uuid.as_bytes().to_vec()));
            }
            Opt::NumKeyword(k, c) => match k.as_str() {
                "tcp.mss" => header.push(HeaderCheck::TcpMss(*c)),
                _ => return Err(unsupported(k, format!("unsupported keyword {k}"))),
            },
        }
    }

    // The application a rule's buffers belong to (file.data is HTTP's
    // here: Mekong does not extract files of other protocols).
    for l in &lists {
        if l.buf == Buf::FileData && app.is_some_and(|a| a != App::Http) {
            return Err(unsupported(
                "file.data",
                format!(
                    "unsupported keyword file.data of {}",
                    app.map_or("", App::name)
                ),
            ));
        }
        if let Some(a) = l.buf.app() {
            match app {
                None => app = Some(a),
                Some(x) if x == a => {}
                Some(x) => {
                    return Err(invalid(
                        l.buf.name(),
                        format!("a {} buffer in a {} rule", a.name(), x.name()),
                    ))
                }
            }
        }
    }
    if urilen.is_some() {
        match app {
            None => app = Some(App::Http),
            Some(App::Http) => {}
            Some(_) => return Err(invalid("urilen", "urilen in a rule that is not HTTP")),
        }
    }

    let has_app_buf = lists.iter().any(|l| l.buf.app().is_some()) || urilen.is_some();
    let has_pkt = lists.iter().any(|l| l.buf == Buf::PktData);
    let has_hdr_buf = lists.iter().any(|l| {
        matches!(
            l.buf,
            Buf::TcpHdr | Buf::UdpHdr | Buf::Ipv4Hdr | Buf::Ipv6Hdr | Buf::Icmpv4Hdr
        )
    });

    // Sides of the transaction the buffers need.
    // `urilen` is of the request, like the URI buffers.
    let mut need0 = urilen.is_some();
    let mut need1 = false;
    for l in &lists {
        match l.buf.side() {
            Some(0) => need0 = true,
            Some(1) => need1 = true,
            _ => {}
        }
    }
    let side = if need1 || flow.to_server == Some(false) {
        Some(1)
    } else if need0 || flow.to_server == Some(true) {
        Some(0)
    } else {
        None
    };
    if need1 && flow.to_server == Some(true) && !h.transactional {
        return Err(invalid(
            "flow",
            "to_server with a buffer of the server's side (a response buffer)",
        ));
    }

    let points: Vec<Point> = if has_app_buf {
        let a = app.unwrap_or(App::Http);
        // Payload contents beside application buffers match the raw
        // message of the transaction (an HTTP request or response as
        // received, a DNS message).
        if has_pkt && !matches!(a, App::Http | App::Dns) {
            return Err(unsupported(
                "pkt_data",
                format!(
                    "unsupported keyword pkt_data mixed with {} buffers",
                    a.name()
                ),
            ));
        }
        match a {
            App::Http => match side {
                Some(1) => vec![Point::HttpResponse],
                Some(_) => vec![Point::HttpRequest],
                None => vec![Point::HttpRequest, Point::HttpResponse],
            },
            App::Dns => vec![Point::Dns],
            App::Tls => match side {
                Some(1) => vec![Point::TlsServer],
                Some(_) => vec![Point::TlsClient],
                None => vec![Point::TlsClient, Point::TlsServer],
            },
            App::Ssh => vec![Point::Ssh],
            App::Smb | App::Dcerpc | App::Ftp | App::Krb5 => vec![Point::AppTx],
            _ => {
                return Err(unsupported(
                    a.name(),
                    format!("unsupported protocol {} with its buffers", a.name()),
                ))
            }
        }
    } else if has_pkt {
        if pkt_only || has_hdr_buf || flow.no_stream || !header.is_empty() {
            vec![Point::Packet]
        } else if stream_only || flow.only_stream {
            vec![Point::Stream]
        } else {
            match l4 {
                L4::Udp | L4::Icmp => vec![Point::Packet],
                _ => vec![Point::PacketNoStream, Point::Stream],
            }
        }
    } else if matches!(app, Some(App::Http | App::Tls | App::Ssh))
        && header.is_empty()
        && !has_hdr_buf
    {
        // An application rule without buffers (flowbits only, say):
        // inspected with the application's messages.
        match app {
            Some(App::Http) => match side {
                Some(1) => vec![Point::HttpResponse],
                Some(_) => vec![Point::HttpRequest],
                None => vec![Point::HttpRequest, Point::HttpResponse],
            },
            Some(App::Tls) => vec![Point::TlsClient, Point::TlsServer],
            _ => vec![Point::Ssh],
        }
    } else if lists.is_empty()
        && header.is_empty()
        && bit_checks.is_empty()
        // flowbits set, unset and toggle are compatible with IP-only
        // rules (as Suricata's SIGMATCH_IPONLY_COMPAT): a block list that
        // marks its flows is still inspected once per flow direction.
        && bit_sets.iter().all(|b| b.xtrack.is_none())
        && int_checks.is_empty()
        && int_sets.is_empty()
        && stream_size.is_none()
        && flow == FlowReq::default()
        && app.is_none()
    {
        vec![Point::IpOnly]
    } else {
        vec![Point::Packet]
    };

    // Fast pattern: the one marked, else the longest positive content (a
    // content of an application buffer before one of the payload when as
    // long, as Suricata prefers).
    let fast = {
        let marked = contents.iter().find(|(_, c)| c.fast_pattern.is_some());
        let pick = marked.or_else(|| {
            contents.iter().max_by_key(|(i, c)| {
                let app_buf = lists[*i].buf != Buf::PktData;
                (c.pattern.len(), app_buf)
            })
        });
        pick.map(|(i, c)| {
            let mut p = match c.fast_pattern {
                Some(FastPattern::Slice(off, len)) => {
                    let o = usize::from(off).min(c.pattern.len());
                    let e = (o + usize::from(len)).min(c.pattern.len());
                    c.pattern[o..e].to_vec()
                }
                _ => c.pattern.clone(),
            };
            if p.is_empty() {
                p = c.pattern.clone();
            }
            if c.nocase {
                p.make_ascii_lowercase();
            }
            FastPat {
                list: *i,
                pattern: p,
                nocase: c.nocase,
            }
        })
    };

    // What alerts say.
    let classtype = rule.classtype().unwrap_or("").to_string();
    let class = env.classes.get(&classtype);
    if !classtype.is_empty() && class.is_none() {
        return Err(invalid(
            "classtype",
            format!("unknown classtype {classtype:?} (not in classification.config)"),
        ));
    }
    let severity = priority.or(class.map(|c| c.priority)).unwrap_or(3);
    let mut techniques: Vec<String> = meta_values(&metadata, "mitre_technique_id")
        .map(str::to_string)
        .collect();
    if techniques.is_empty() {
        if let Some(t) = classtype_technique(&classtype) {
            techniques.push(t.to_string());
        }
    }
    let tactics = meta_values(&metadata, "mitre_tactic_id")
        .map(str::to_string)
        .collect();
    let info = RuleInfo {
        gid: rule.gid(),
        sid: rule.sid(),
        rev: rule.rev(),
        msg: rule.msg().to_string(),
        action: h.action,
        classtype,
        category: class.map(|c| c.description.clone()).unwrap_or_default(),
        severity,
        metadata,
        techniques,
        tactics,
        target,
        threshold,
        detection_filter,
        text: text.to_string(),
    };
    Ok(Compiled {
        info: Arc::new(info),
        points,
        l4,
        app,
        pkt_only,
        stream_only,
        src,
        sport,
        dst,
        dport,
        bidirectional: h.bidirectional,
        transactional: h.transactional,
        flow,
        header,
        lists,
        urilen,
        bit_checks,
        bit_sets,
        int_checks,
        int_sets,
        stream_size,
        noalert,
        fast,
        side,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_rule;

    fn comp(text: &str) -> Result<Compiled, RuleError> {
        let vars = Vars::default();
        let classes = Classifications::builtin();
        let mut bits = Names::default();
        let mut ints = Names::default();
        let mut memo = Memo::default();
        let mut env = CompileEnv {
            vars: &vars,
            classes: &classes,
            bits: &mut bits,
            ints: &mut ints,
            memo: &mut memo,
        };
        compile(&parse_rule(text)?, text, &mut env)
    }

    #[test]
    fn inspection_points_follow_the_buffers() {
        let r = comp(r#"alert http any any -> any any (http.uri; content:"/x"; sid:1;)"#).unwrap();
        assert_eq!(r.points, vec![Point::HttpRequest]);
        let r = comp(r#"alert http any any -> any any (http.stat_code; content:"200"; http.uri; content:"/x"; sid:1;)"#).unwrap();
        assert_eq!(r.points, vec![Point::HttpResponse]);
        let r = comp(r#"alert tcp any any -> any any (content:"x"; sid:1;)"#).unwrap();
        assert_eq!(r.points, vec![Point::PacketNoStream, Point::Stream]);
        let r = comp(r#"alert udp any any -> any any (content:"x"; sid:1;)"#).unwrap();
        assert_eq!(r.points, vec![Point::Packet]);
        let r = comp(r#"alert ip [1.2.3.4,5.6.7.0/24] any -> $HOME_NET any (msg:"rep"; sid:1;)"#)
            .unwrap();
        assert_eq!(r.points, vec![Point::IpOnly]);
        // A block list that marks its flows stays IP-only; one that checks
        // a mark, or sets an xbit, does not.
        let r = comp(r#"alert tcp [1.2.3.4] any -> $HOME_NET any (flowbits:set,tor; threshold:type limit,track by_src,count 1,seconds 60; sid:1;)"#).unwrap();
        assert_eq!(r.points, vec![Point::IpOnly]);
        let r = comp(r#"alert tcp [1.2.3.4] any -> $HOME_NET any (flowbits:isset,tor; sid:1;)"#)
            .unwrap();
        assert_eq!(r.points, vec![Point::Packet]);
        let r = comp(
            r#"alert tcp [1.2.3.4] any -> $HOME_NET any (xbits:set,tor,track ip_src; sid:1;)"#,
        )
        .unwrap();
        assert_eq!(r.points, vec![Point::Packet]);
        let r = comp(r#"alert tcp any any -> any any (flags:S; sid:1;)"#).unwrap();
        assert_eq!(r.points, vec![Point::Packet]);
        let r = comp(r#"alert dns any any -> any any (dns.query; content:"x"; sid:1;)"#).unwrap();
        assert_eq!(r.points, vec![Point::Dns]);
    }

    #[test]
    fn windows_ftp_and_kerberos_keywords_read_their_transactions() {
        for (text, buf) in [
            (
                r#"alert smb any any -> any any (smb.share; content:"ADMIN$"; sid:1;)"#,
                Buf::SmbShare,
            ),
            (
                r#"alert smb any any -> any any (smb.named_pipe; content:"svcctl"; sid:1;)"#,
                Buf::SmbNamedPipe,
            ),
            (
                r#"alert ftp any any -> any any (ftp.command; content:"STOR"; sid:1;)"#,
                Buf::FtpCommand,
            ),
            (
                r#"alert krb5 any any -> any any (krb5.sname; content:"MSSQLSvc"; sid:1;)"#,
                Buf::Krb5Sname,
            ),
            (
                r#"alert krb5 any any -> any any (krb5.cname; content:"admin"; sid:1;)"#,
                Buf::Krb5Cname,
            ),
            (
                r#"alert krb5 any any -> any any (krb5_err_code:24; sid:1;)"#,
                Buf::Krb5ErrCode,
            ),
            (
                r#"alert dcerpc any any -> any any (dcerpc.opnum:0,12-14; sid:1;)"#,
                Buf::DcerpcOpnum,
            ),
            (
                r#"alert dcerpc any any -> any any (dcerpc.iface:367ABB81-9844-35f1-ad32-98f038001003,any_frag; sid:1;)"#,
                Buf::DcerpcIface,
            ),
        ] {
            let r = comp(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(r.points, vec![Point::AppTx], "{text}");
            assert!(r.lists.iter().any(|l| l.buf == buf), "{text}");
            // Printed, the rule parses back to itself.
            let p = crate::parse::parse_rule(text).unwrap();
            assert_eq!(
                crate::parse::parse_rule(&p.to_string()).unwrap(),
                p,
                "{text}"
            );
        }
        let r = comp(r#"alert dcerpc any any -> any any (dcerpc.opnum:0,12-14; sid:1;)"#).unwrap();
        let l = &r.lists[0];
        assert!(matches!(&l.steps[..], [Step::IntIn(r)] if *r == vec![(0, 0), (12, 14)]));
        let r = comp(r#"alert dcerpc any any -> any any (dcerpc.iface:367ABB81-9844-35f1-ad32-98f038001003; sid:1;)"#).unwrap();
        assert!(
            matches!(&r.lists[0].steps[..], [Step::Equals(u)] if u == b"367abb81-9844-35f1-ad32-98f038001003")
        );
    }

    #[test]
    fn the_fast_pattern_is_the_marked_or_the_longest() {
        let r = comp(r#"alert http any any -> any any (http.method; content:"POST"; http.uri; content:"/a"; fast_pattern; sid:1;)"#).unwrap();
        assert_eq!(
            r.fast.as_ref().map(|f| f.pattern.clone()),
            Some(b"/a".to_vec())
        );
        let r = comp(r#"alert http any any -> any any (http.method; content:"POST"; http.uri; content:"/ab"; content:!"longer-but-negated"; sid:1;)"#).unwrap();
        assert_eq!(
            r.fast.as_ref().map(|f| f.pattern.clone()),
            Some(b"POST".to_vec())
        );
        let r = comp(r#"alert tcp any any -> any any (content:"AbC"; nocase; sid:1;)"#).unwrap();
        let f = r.fast.expect("fast");
        assert!(f.nocase);
        assert_eq!(f.pattern, b"abc");
    }

    #[test]
    fn what_cannot_be_done_is_refused_with_a_reason() {
        let e = comp(r#"alert nfs any any -> any any (sid:1;)"#).unwrap_err();
        assert_eq!(e.reason(), "unsupported protocol nfs");
        let e = comp(r#"alert dcerpc any any -> any any (dcerpc.iface:367abb81-9844-35f1-ad32-98f038001003,>1; sid:1;)"#).unwrap_err();
        assert!(e.is_unsupported(), "{e}");
        for bad in [
            "dcerpc.opnum:5-3",
            "dcerpc.opnum:x",
            "dcerpc.opnum:",
            "krb5_err_code:1,2",
            "dcerpc.iface:367abb81",
            "dcerpc.iface:367abb81-9844-35f1-ad32-98f03800100g",
        ] {
            let e = comp(&format!("alert dcerpc any any -> any any ({bad}; sid:1;)")).unwrap_err();
            assert!(!e.is_unsupported(), "{bad}: {e}");
        }
        let e = comp(r#"alert tcp $NOPE any -> any any (sid:1;)"#).unwrap_err();
        assert!(!e.is_unsupported());
        let e =
            comp(r#"alert tcp any any -> any any (content:"a"; depth:var; sid:1;)"#).unwrap_err();
        assert!(e.to_string().contains("unknown variable"), "{e}");
        let e = comp(r#"alert tcp any any -> any any (pcre:"/(/"; sid:1;)"#).unwrap_err();
        assert_eq!(e.keyword.as_deref(), Some("pcre"));
        let e = comp(r#"alert tcp any any -> any any (classtype:nope; sid:1;)"#).unwrap_err();
        assert_eq!(e.keyword.as_deref(), Some("classtype"));
    }

    #[test]
    fn techniques_come_from_metadata_then_the_classtype() {
        let r = comp(r#"alert tcp any any -> any any (classtype:network-scan; metadata:mitre_technique_id T1595, mitre_tactic_id TA0043; sid:1;)"#).unwrap();
        assert_eq!(r.info.techniques, vec!["T1595"]);
        assert_eq!(r.info.tactics, vec!["TA0043"]);
        let r = comp(r#"alert tcp any any -> any any (classtype:network-scan; sid:1;)"#).unwrap();
        assert_eq!(r.info.techniques, vec!["T1046"]);
        assert_eq!(r.info.severity, 3);
        let r =
            comp(r#"alert tcp any any -> any any (classtype:trojan-activity; priority:2; sid:1;)"#)
                .unwrap();
        assert!(r.info.techniques.is_empty());
        assert_eq!(r.info.severity, 2);
        assert_eq!(r.info.category, "A Network Trojan was detected");
    }
}
