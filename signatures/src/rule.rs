//! A rule as written: the header and the options in their order, every
//! keyword typed, and its text form (`Display`), so that parsing what is
//! printed gives the same rule again.

use std::fmt::{self, Write as _};

/// What a matching rule does. Mekong is passive: `drop` and `reject` alert
/// like `alert` (their action is kept in the alert), `pass` stops the rules
/// after it for the packet or transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Raise an alert.
    Alert,
    /// Stop inspecting the packet or transaction (no alert).
    Pass,
    /// An inline drop: alerts only.
    Drop,
    /// An inline reset: alerts only.
    Reject,
    /// `rejectsrc`: alerts only.
    RejectSrc,
    /// `rejectdst`: alerts only.
    RejectDst,
    /// `rejectboth`: alerts only.
    RejectBoth,
}

impl Action {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Pass => "pass",
            Action::Drop => "drop",
            Action::Reject => "reject",
            Action::RejectSrc => "rejectsrc",
            Action::RejectDst => "rejectdst",
            Action::RejectBoth => "rejectboth",
        }
    }

    /// Parses the keyword.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "alert" => Action::Alert,
            "pass" => Action::Pass,
            "drop" => Action::Drop,
            "reject" => Action::Reject,
            "rejectsrc" => Action::RejectSrc,
            "rejectdst" => Action::RejectDst,
            "rejectboth" => Action::RejectBoth,
            _ => return None,
        })
    }
}

/// An address, as written: resolved against the variables when compiled.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AddrSpec {
    /// `any`.
    Any,
    /// An address or CIDR block (`10.0.0.0/8`, `2001:db8::/32`), or a range
    /// `a-b`, kept as written.
    Net(String),
    /// `$NAME`.
    Var(String),
    /// `!x`.
    Not(Box<AddrSpec>),
    /// `[a,b,...]`.
    List(Vec<AddrSpec>),
}

/// A port, as written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PortSpec {
    /// `any`.
    Any,
    /// `lo:hi` (one port when equal; `:hi` and `lo:` fill in 0 and 65535).
    Range(u16, u16),
    /// `$NAME`.
    Var(String),
    /// `!x`.
    Not(Box<PortSpec>),
    /// `[a,b,...]`.
    List(Vec<PortSpec>),
}

/// The rule's header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Action.
    pub action: Action,
    /// Protocol keyword (`tcp`, `http`, `tcp-pkt`...), lower case.
    pub proto: String,
    /// Source addresses.
    pub src: AddrSpec,
    /// Source ports.
    pub sport: PortSpec,
    /// `<>`: both directions.
    pub bidirectional: bool,
    /// `=>`: a transactional rule (the request side before it, the
    /// response side after it, matched in one transaction).
    pub transactional: bool,
    /// Destination addresses.
    pub dst: AddrSpec,
    /// Destination ports.
    pub dport: PortSpec,
}

/// A comparison (`dsize`, `bsize`, `ttl`, `urilen`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `=n` (or `n`).
    Eq(u64),
    /// `!n`.
    Ne(u64),
    /// `<n`.
    Lt(u64),
    /// `<=n`.
    Le(u64),
    /// `>n`.
    Gt(u64),
    /// `>=n`.
    Ge(u64),
    /// `a<>b`: strictly between.
    Between(u64, u64),
    /// `a-b`: inclusive range (`ttl`, `itype` and others).
    Range(u64, u64),
}

impl Cmp {
    /// The smallest and largest values that can satisfy it.
    pub fn bounds(self) -> (u64, u64) {
        match self {
            Cmp::Eq(n) => (n, n),
            Cmp::Ne(_) => (0, u64::MAX),
            Cmp::Lt(n) => (0, n.saturating_sub(1)),
            Cmp::Le(n) => (0, n),
            Cmp::Gt(n) => (n.saturating_add(1), u64::MAX),
            Cmp::Ge(n) => (n, u64::MAX),
            Cmp::Between(a, b) => (a.saturating_add(1), b.saturating_sub(1)),
            Cmp::Range(a, b) => (a, b),
        }
    }

    /// Does `v` satisfy it?
    pub fn test(self, v: u64) -> bool {
        match self {
            Cmp::Eq(n) => v == n,
            Cmp::Ne(n) => v != n,
            Cmp::Lt(n) => v < n,
            Cmp::Le(n) => v <= n,
            Cmp::Gt(n) => v > n,
            Cmp::Ge(n) => v >= n,
            Cmp::Between(a, b) => v > a && v < b,
            Cmp::Range(a, b) => v >= a && v <= b,
        }
    }
}

impl fmt::Display for Cmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cmp::Eq(n) => write!(f, "{n}"),
            Cmp::Ne(n) => write!(f, "!{n}"),
            Cmp::Lt(n) => write!(f, "<{n}"),
            Cmp::Le(n) => write!(f, "<={n}"),
            Cmp::Gt(n) => write!(f, ">{n}"),
            Cmp::Ge(n) => write!(f, ">={n}"),
            Cmp::Between(a, b) => write!(f, "{a}<>{b}"),
            Cmp::Range(a, b) => write!(f, "{a}-{b}"),
        }
    }
}

/// A value that is a number or a `byte_extract`/`byte_math` variable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Num {
    /// A constant.
    Lit(i64),
    /// A variable set earlier in the rule.
    Var(String),
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Lit(n) => write!(f, "{n}"),
            Num::Var(v) => f.write_str(v),
        }
    }
}

/// How `fast_pattern` was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FastPattern {
    /// `fast_pattern;`
    Yes,
    /// `fast_pattern:only;` (legacy; the same as `fast_pattern`).
    Only,
    /// `fast_pattern:offset,length;` a slice of the pattern.
    Slice(u16, u16),
}

/// A `content` and its modifiers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Content {
    /// The bytes sought.
    pub pattern: Vec<u8>,
    /// `content:!"..."`.
    pub negated: bool,
    /// `nocase`.
    pub nocase: bool,
    /// `offset`.
    pub offset: Option<Num>,
    /// `depth`.
    pub depth: Option<Num>,
    /// `distance`.
    pub distance: Option<Num>,
    /// `within`.
    pub within: Option<Num>,
    /// `startswith`.
    pub startswith: bool,
    /// `endswith`.
    pub endswith: bool,
    /// `fast_pattern`.
    pub fast_pattern: Option<FastPattern>,
    /// `rawbytes` (accepted, no effect: buffers are what they are).
    pub rawbytes: bool,
    /// A legacy modifier after the content (`http_uri`...), naming its
    /// buffer.
    pub legacy: Option<String>,
}

impl Content {
    /// A content with no modifiers.
    pub fn new(pattern: Vec<u8>) -> Content {
        Content {
            pattern,
            negated: false,
            nocase: false,
            offset: None,
            depth: None,
            distance: None,
            within: None,
            startswith: false,
            endswith: false,
            fast_pattern: None,
            rawbytes: false,
            legacy: None,
        }
    }

    /// Relative to the previous match (`distance` or `within`).
    pub fn relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }
}

/// A `pcre`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pcre {
    /// The expression between the slashes.
    pub pattern: String,
    /// `pcre:!"..."`.
    pub negated: bool,
    /// The flag letters after the closing slash, as written.
    pub flags: String,
}

impl Pcre {
    /// `/R`: relative to the previous match.
    pub fn relative(&self) -> bool {
        self.flags.contains('R')
    }

    /// The buffer a legacy HTTP flag letter names (`/U` the URI...).
    pub fn legacy_buffer(&self) -> Option<&'static str> {
        for c in self.flags.chars() {
            let b = match c {
                'U' => "http.uri",
                'I' => "http.uri.raw",
                'P' => "http.request_body",
                'Q' => "file.data",
                'H' => "http.header",
                'D' => "http.header.raw",
                'M' => "http.method",
                'C' => "http.cookie",
                'K' => "http.cookie.raw",
                'S' => "http.stat_code",
                'Y' => "http.stat_msg",
                'V' => "http.user_agent",
                'W' => "http.host",
                'Z' => "http.host.raw",
                _ => continue,
            };
            return Some(b);
        }
        None
    }
}

/// Byte order of `byte_*` keywords.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Endian {
    /// `big` (the default).
    #[default]
    Big,
    /// `little`.
    Little,
    /// `dce`: as the DCE/RPC header says; read as little-endian.
    Dce,
}

/// How `byte_*` read numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum NumBase {
    /// Binary, in `endian` order.
    #[default]
    Binary,
    /// `string,hex`.
    Hex,
    /// `string,dec`.
    Dec,
    /// `string,oct`.
    Oct,
}

/// Options shared by the `byte_*` keywords.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ByteOpts {
    /// `relative`.
    pub relative: bool,
    /// Byte order.
    pub endian: Endian,
    /// Text or binary.
    pub base: NumBase,
    /// `bitmask N`.
    pub bitmask: Option<u64>,
}

/// `byte_test:bytes,op,value,offset[,...]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ByteTest {
    /// Bytes read.
    pub bytes: u8,
    /// `!` before the operator.
    pub negated: bool,
    /// `<`, `>`, `=`, `<=`, `>=`, `&`, `^`.
    pub op: String,
    /// Compared with.
    pub value: Num,
    /// Where to read.
    pub offset: Num,
    /// Shared options.
    pub opts: ByteOpts,
}

/// `byte_jump:bytes,offset[,...]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ByteJump {
    /// Bytes read.
    pub bytes: u8,
    /// Where to read.
    pub offset: Num,
    /// Shared options.
    pub opts: ByteOpts,
    /// `multiplier N`.
    pub multiplier: Option<u64>,
    /// `align`: round up to a multiple of 4.
    pub align: bool,
    /// `from_beginning`.
    pub from_beginning: bool,
    /// `from_end`.
    pub from_end: bool,
    /// `post_offset N`.
    pub post_offset: Option<i64>,
}

/// `byte_extract:bytes,offset,name[,...]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ByteExtract {
    /// Bytes read.
    pub bytes: u8,
    /// Where to read.
    pub offset: i64,
    /// The variable.
    pub name: String,
    /// Shared options.
    pub opts: ByteOpts,
    /// `multiplier N`.
    pub multiplier: Option<u64>,
    /// `align N` (2 or 4).
    pub align: Option<u8>,
}

/// `byte_math:bytes N, offset N, oper O, rvalue R, result NAME[,...]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ByteMath {
    /// Bytes read.
    pub bytes: u8,
    /// Where to read.
    pub offset: i64,
    /// `+ - * / << >>`.
    pub oper: String,
    /// The other operand.
    pub rvalue: Num,
    /// The variable set.
    pub result: String,
    /// Shared options.
    pub opts: ByteOpts,
}

/// `isdataat:[!]n[,relative]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IsDataAt {
    /// `!`.
    pub negated: bool,
    /// Position.
    pub offset: Num,
    /// `relative`.
    pub relative: bool,
}

/// Who a `threshold`, `detection_filter` or `xbits` counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Track {
    /// `by_src`.
    BySrc,
    /// `by_dst`.
    ByDst,
    /// `by_both`.
    ByBoth,
    /// `by_rule`.
    ByRule,
    /// `by_flow`.
    ByFlow,
    /// `ip_src` (xbits).
    IpSrc,
    /// `ip_dst` (xbits).
    IpDst,
    /// `ip_pair` (xbits).
    IpPair,
}

impl Track {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            Track::BySrc => "by_src",
            Track::ByDst => "by_dst",
            Track::ByBoth => "by_both",
            Track::ByRule => "by_rule",
            Track::ByFlow => "by_flow",
            Track::IpSrc => "ip_src",
            Track::IpDst => "ip_dst",
            Track::IpPair => "ip_pair",
        }
    }

    /// Parses the keyword.
    pub fn parse(s: &str) -> Option<Track> {
        Some(match s {
            "by_src" => Track::BySrc,
            "by_dst" => Track::ByDst,
            "by_both" => Track::ByBoth,
            "by_rule" => Track::ByRule,
            "by_flow" => Track::ByFlow,
            "ip_src" => Track::IpSrc,
            "ip_dst" => Track::IpDst,
            "ip_pair" => Track::IpPair,
            _ => return None,
        })
    }
}

/// The kind of a `threshold`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThresholdKind {
    /// `limit`: at most `count` alerts per window.
    Limit,
    /// `threshold`: an alert on every `count`-th match.
    Threshold,
    /// `both`: one alert once `count` matches are seen in the window.
    Both,
    /// `detection_filter`: alerts on every match after the first `count`.
    DetectionFilter,
}

/// `unique_on` of a `detection_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UniqueOn {
    /// Distinct source ports.
    SrcPort,
    /// Distinct destination ports.
    DstPort,
}

/// A `threshold` or `detection_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Threshold {
    /// Kind.
    pub kind: ThresholdKind,
    /// Counted by.
    pub track: Track,
    /// Count.
    pub count: u32,
    /// Window, seconds.
    pub seconds: u32,
    /// Counts distinct ports only.
    pub unique_on: Option<UniqueOn>,
}

/// What `flowbits`/`xbits` do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitOp {
    /// `set`.
    Set,
    /// `unset`.
    Unset,
    /// `toggle`.
    Toggle,
    /// `isset`.
    IsSet,
    /// `isnotset`.
    IsNotSet,
}

impl BitOp {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            BitOp::Set => "set",
            BitOp::Unset => "unset",
            BitOp::Toggle => "toggle",
            BitOp::IsSet => "isset",
            BitOp::IsNotSet => "isnotset",
        }
    }

    /// A condition (else an action).
    pub fn is_check(self) -> bool {
        matches!(self, BitOp::IsSet | BitOp::IsNotSet)
    }
}

/// `flowint:name,op[,value]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Flowint {
    /// Variable.
    pub name: String,
    /// `=`, `+`, `-`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `isset`, `notset`/`isnotset`.
    pub op: String,
    /// Operand (none for `isset`/`notset`).
    pub value: Option<Num>,
}

/// A flow condition of `flow:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowFlag {
    /// `to_server` / `from_client`.
    ToServer,
    /// `to_client` / `from_server`.
    ToClient,
    /// `established`.
    Established,
    /// `not_established`.
    NotEstablished,
    /// `stateless`.
    Stateless,
    /// `only_stream`.
    OnlyStream,
    /// `no_stream`.
    NoStream,
    /// `only_frag`.
    OnlyFrag,
    /// `no_frag`.
    NoFrag,
}

impl FlowFlag {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            FlowFlag::ToServer => "to_server",
            FlowFlag::ToClient => "to_client",
            FlowFlag::Established => "established",
            FlowFlag::NotEstablished => "not_established",
            FlowFlag::Stateless => "stateless",
            FlowFlag::OnlyStream => "only_stream",
            FlowFlag::NoStream => "no_stream",
            FlowFlag::OnlyFrag => "only_frag",
            FlowFlag::NoFrag => "no_frag",
        }
    }
}

/// A transform of the current buffer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Transform {
    /// `dotprefix`: a `.` before the buffer.
    DotPrefix,
    /// `to_lowercase`.
    ToLowercase,
    /// `to_uppercase`.
    ToUppercase,
    /// `strip_whitespace`.
    StripWhitespace,
    /// `compress_whitespace`.
    CompressWhitespace,
    /// `url_decode`.
    UrlDecode,
    /// `to_md5`.
    ToMd5,
    /// `to_sha1`.
    ToSha1,
    /// `to_sha256`.
    ToSha256,
    /// `header_lowercase`.
    HeaderLowercase,
    /// `strip_pseudo_headers`.
    StripPseudoHeaders,
    /// `xor:"hexkey"`.
    Xor(Vec<u8>),
}

impl Transform {
    /// The keyword.
    pub fn name(&self) -> &'static str {
        match self {
            Transform::DotPrefix => "dotprefix",
            Transform::ToLowercase => "to_lowercase",
            Transform::ToUppercase => "to_uppercase",
            Transform::StripWhitespace => "strip_whitespace",
            Transform::CompressWhitespace => "compress_whitespace",
            Transform::UrlDecode => "url_decode",
            Transform::ToMd5 => "to_md5",
            Transform::ToSha1 => "to_sha1",
            Transform::ToSha256 => "to_sha256",
            Transform::HeaderLowercase => "header_lowercase",
            Transform::StripPseudoHeaders => "strip_pseudo_headers",
            Transform::Xor(_) => "xor",
        }
    }
}

/// `target:src_ip|dest_ip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The source is the target.
    SrcIp,
    /// The destination is the target.
    DestIp,
}

/// `stream_size:side,op,n`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamSize {
    /// `server`, `client`, `both`, `either`.
    pub side: String,
    /// `<`, `>`, `=`, `!=`, `<=`, `>=`.
    pub op: String,
    /// Bytes.
    pub value: u64,
}

/// `flags:[modifier]flags[,mask]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Flags {
    /// `+` (all of these and any others), `*` (any of these), `!` (none of
    /// these), or none (exactly these).
    pub modifier: Option<char>,
    /// Flag bits (FIN 0x01 … CWR 0x80), or 0 for `0` (no flag).
    pub bits: u8,
    /// Bits to ignore.
    pub mask: u8,
}

/// `fragbits:[modifier]bits`: `M` more fragments, `D` don't fragment, `R`
/// reserved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fragbits {
    /// `+`, `*`, `!` or none, as for flags.
    pub modifier: Option<char>,
    /// Bits: 1 `M`, 2 `D`, 4 `R`.
    pub bits: u8,
}

/// One option of a rule, in rule order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Opt {
    /// `msg`.
    Msg(String),
    /// `sid`.
    Sid(u32),
    /// `rev`.
    Rev(u32),
    /// `gid`.
    Gid(u32),
    /// `classtype`.
    Classtype(String),
    /// `priority`.
    Priority(u8),
    /// `reference:type,id`.
    Reference(String),
    /// `metadata:key value, ...` (pairs in order).
    Metadata(Vec<(String, String)>),
    /// `target`.
    Target(Target),
    /// `flow`.
    Flow(Vec<FlowFlag>),
    /// `flowbits:op,a|b` (several names are OR-ed for `isset`, each set for
    /// `set`).
    Flowbits(BitOp, Vec<String>),
    /// `flowbits:noalert`.
    Noalert,
    /// `xbits:op,name,track T[,expire N]`.
    Xbits(BitOp, String, Track, Option<u32>),
    /// `flowint`.
    Flowint(Flowint),
    /// `stream_size`.
    StreamSize(StreamSize),
    /// `threshold` (or `detection_filter`, by its kind).
    Threshold(Threshold),
    /// A sticky buffer keyword (`http.uri`, `pkt_data`, `file.data`...),
    /// in its canonical name.
    Buffer(String),
    /// A transform of the current buffer.
    Transform(Transform),
    /// `content`.
    Content(Content),
    /// `pcre`.
    Pcre(Pcre),
    /// `byte_test`.
    ByteTest(ByteTest),
    /// `byte_jump`.
    ByteJump(ByteJump),
    /// `byte_extract`.
    ByteExtract(ByteExtract),
    /// `byte_math`.
    ByteMath(ByteMath),
    /// `isdataat`.
    IsDataAt(IsDataAt),
    /// `bsize`.
    Bsize(Cmp),
    /// `dsize`.
    Dsize(Cmp),
    /// `urilen:cmp[,raw|norm]`.
    Urilen(Cmp, bool),
    /// `base64_decode[:bytes N, offset N, relative]`.
    Base64Decode {
        /// Bytes decoded at most.
        bytes: Option<u32>,
        /// Offset.
        offset: Option<u32>,
        /// Relative to the previous match.
        relative: bool,
    },
    /// `base64_data`.
    Base64Data,
    /// `flags`.
    Flags(Flags),
    /// `ttl`.
    Ttl(Cmp),
    /// `id` (IPv4 identification).
    Id(u16),
    /// `tos` (`!` for not).
    Tos(bool, u8),
    /// `ipopts:name`.
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
    /// `ip_proto` (`!` for not).
    IpProto(bool, u8),
    /// `tcp.mss` and other numeric keywords Mekong reads but this enum
    /// names generically: (keyword, comparison).
    NumKeyword(String, Cmp),
    /// `dcerpc.opnum`, `krb5_err_code`, `krb5_msg_type`: (keyword, the
    /// values and inclusive ranges it accepts).
    AppInt(String, Vec<(u64, u64)>),
    /// `dcerpc.iface:UUID[,any_frag]`: the interface of a request's context.
    DcerpcIface {
        /// The UUID, lower case.
        uuid: String,
        /// `any_frag` was given (every fragment is read whole anyway).
        any_frag: bool,
    },
    /// A keyword accepted and ignored (`tag`, `app-layer-protocol` ...):
    /// (keyword, value as written).
    Ignored(String, Option<String>),
}

/// A rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The header.
    pub header: Header,
    /// The options, in order.
    pub options: Vec<Opt>,
}

impl Rule {
    /// `sid` (0 when missing; the parser refuses that).
    pub fn sid(&self) -> u32 {
        self.options
            .iter()
            .find_map(|o| match o {
                Opt::Sid(s) => Some(*s),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// `gid` (1 by default).
    pub fn gid(&self) -> u32 {
        self.options
            .iter()
            .find_map(|o| match o {
                Opt::Gid(s) => Some(*s),
                _ => None,
            })
            .unwrap_or(1)
    }

    /// `rev` (0 by default).
    pub fn rev(&self) -> u32 {
        self.options
            .iter()
            .find_map(|o| match o {
                Opt::Rev(s) => Some(*s),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// `msg` (empty by default).
    pub fn msg(&self) -> &str {
        self.options
            .iter()
            .find_map(|o| match o {
                Opt::Msg(s) => Some(s.as_str()),
                _ => None,
            })
            .unwrap_or("")
    }

    /// `classtype`.
    pub fn classtype(&self) -> Option<&str> {
        self.options.iter().find_map(|o| match o {
            Opt::Classtype(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// Every metadata pair, in order.
    pub fn metadata(&self) -> impl Iterator<Item = (&str, &str)> {
        self.options
            .iter()
            .filter_map(|o| match o {
                Opt::Metadata(v) => Some(v),
                _ => None,
            })
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Writes a string option value in quotes, escaping `"`, `\` and `;`.
fn quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// A content pattern in rule syntax: printable ASCII as is, the rest (and
/// `"`, `;`, `\`, `|`, `:`) in `|hex|` runs.
pub fn pattern_text(p: &[u8]) -> String {
    let mut s = String::with_capacity(p.len() + 2);
    let mut in_hex = false;
    for &b in p {
        let plain = (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b';' | b'\\' | b'|' | b':');
        if plain {
            if in_hex {
                s.push('|');
                in_hex = false;
            }
            s.push(char::from(b));
        } else {
            if in_hex {
                s.push(' ');
            } else {
                s.push('|');
                in_hex = true;
            }
            let _ = write!(s, "{b:02X}");
        }
    }
    if in_hex {
        s.push('|');
    }
    s
}

impl fmt::Display for AddrSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrSpec::Any => f.write_str("any"),
            AddrSpec::Net(n) => f.write_str(n),
            AddrSpec::Var(v) => write!(f, "${v}"),
            AddrSpec::Not(x) => write!(f, "!{x}"),
            AddrSpec::List(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSpec::Any => f.write_str("any"),
            PortSpec::Range(a, b) if a == b => write!(f, "{a}"),
            PortSpec::Range(a, b) => write!(f, "{a}:{b}"),
            PortSpec::Var(v) => write!(f, "${v}"),
            PortSpec::Not(x) => write!(f, "!{x}"),
            PortSpec::List(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
        }
    }
}

fn byte_opts(out: &mut String, o: &ByteOpts) {
    if o.relative {
        out.push_str(",relative");
    }
    match o.endian {
        Endian::Big => {}
        Endian::Little => out.push_str(",little"),
        Endian::Dce => out.push_str(",dce"),
    }
    match o.base {
        NumBase::Binary => {}
        NumBase::Hex => out.push_str(",string,hex"),
        NumBase::Dec => out.push_str(",string,dec"),
        NumBase::Oct => out.push_str(",string,oct"),
    }
    if let Some(m) = o.bitmask {
        let _ = write!(out, ",bitmask 0x{m:x}");
    }
}

fn threshold_text(out: &mut String, t: &Threshold) {
    let kind = match t.kind {
        ThresholdKind::Limit => "limit",
        ThresholdKind::Threshold => "threshold",
        ThresholdKind::Both => "both",
        ThresholdKind::DetectionFilter => "",
    };
    if t.kind == ThresholdKind::DetectionFilter {
        let _ = write!(
            out,
            "detection_filter:track {}, count {}, seconds {}",
            t.track.name(),
            t.count,
            t.seconds
        );
    } else {
        let _ = write!(
            out,
            "threshold:type {kind}, track {}, count {}, seconds {}",
            t.track.name(),
            t.count,
            t.seconds
        );
    }
    match t.unique_on {
        Some(UniqueOn::SrcPort) => out.push_str(", unique_on src_port"),
        Some(UniqueOn::DstPort) => out.push_str(", unique_on dst_port"),
        None => {}
    }
    out.push(';');
}

fn opt_text(out: &mut String, o: &Opt) {
    match o {
        Opt::Msg(s) => {
            out.push_str("msg:");
            quoted(out, s);
            out.push(';');
        }
        Opt::Sid(n) => {
            let _ = write!(out, "sid:{n};");
        }
        Opt::Rev(n) => {
            let _ = write!(out, "rev:{n};");
        }
        Opt::Gid(n) => {
            let _ = write!(out, "gid:{n};");
        }
        Opt::Classtype(s) => {
            let _ = write!(out, "classtype:{s};");
        }
        Opt::Priority(n) => {
            let _ = write!(out, "priority:{n};");
        }
        Opt::Reference(s) => {
            let _ = write!(out, "reference:{s};");
        }
        Opt::Metadata(v) => {
            out.push_str("metadata:");
            for (i, (k, val)) in v.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                if !val.is_empty() {
                    out.push(' ');
                    out.push_str(val);
                }
            }
            out.push(';');
        }
        Opt::Target(t) => out.push_str(match t {
            Target::SrcIp => "target:src_ip;",
            Target::DestIp => "target:dest_ip;",
        }),
        Opt::Flow(v) => {
            out.push_str("flow:");
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(x.name());
            }
            out.push(';');
        }
        Opt::Flowbits(op, names) => {
            let _ = write!(out, "flowbits:{},{};", op.name(), names.join("|"));
        }
        Opt::Noalert => out.push_str("noalert;"),
        Opt::Xbits(op, name, track, expire) => {
            let _ = write!(out, "xbits:{},{},track {}", op.name(), name, track.name());
            if let Some(e) = expire {
                let _ = write!(out, ",expire {e}");
            }
            out.push(';');
        }
        Opt::Flowint(fi) => {
            let _ = write!(out, "flowint:{},{}", fi.name, fi.op);
            if let Some(v) = &fi.value {
                let _ = write!(out, ",{v}");
            }
            out.push(';');
        }
        Opt::StreamSize(s) => {
            let _ = write!(out, "stream_size:{},{},{};", s.side, s.op, s.value);
        }
        Opt::Threshold(t) => threshold_text(out, t),
        Opt::Buffer(b) => {
            out.push_str(b);
            out.push(';');
        }
        Opt::Transform(t) => {
            out.push_str(t.name());
            if let Transform::Xor(k) = t {
                out.push_str(":\"");
                for b in k {
                    let _ = write!(out, "{b:02x}");
                }
                out.push('"');
            }
            out.push(';');
        }
        Opt::Content(c) => {
            out.push_str("content:");
            if c.negated {
                out.push('!');
            }
            out.push('"');
            out.push_str(&pattern_text(&c.pattern));
            out.push_str("\";");
            if let Some(l) = &c.legacy {
                let kw = crate::buffers::legacy_keyword(l).unwrap_or("http_uri");
                let _ = write!(out, " {kw};");
            }
            if c.nocase {
                out.push_str(" nocase;");
            }
            if c.rawbytes {
                out.push_str(" rawbytes;");
            }
            for (name, v) in [
                ("offset", &c.offset),
                ("depth", &c.depth),
                ("distance", &c.distance),
                ("within", &c.within),
            ] {
                if let Some(v) = v {
                    let _ = write!(out, " {name}:{v};");
                }
            }
            if c.startswith {
                out.push_str(" startswith;");
            }
            if c.endswith {
                out.push_str(" endswith;");
            }
            match c.fast_pattern {
                None => {}
                Some(FastPattern::Yes) => out.push_str(" fast_pattern;"),
                Some(FastPattern::Only) => out.push_str(" fast_pattern:only;"),
                Some(FastPattern::Slice(a, b)) => {
                    let _ = write!(out, " fast_pattern:{a},{b};");
                }
            }
        }
        Opt::Pcre(p) => {
            out.push_str("pcre:");
            if p.negated {
                out.push('!');
            }
            out.push_str("\"/");
            for c in p.pattern.chars() {
                if matches!(c, '"' | ';') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('/');
            out.push_str(&p.flags);
            out.push_str("\";");
        }
        Opt::ByteTest(b) => {
            let _ = write!(
                out,
                "byte_test:{},{}{},{},{}",
                b.bytes,
                if b.negated { "!" } else { "" },
                b.op,
                b.value,
                b.offset
            );
            byte_opts(out, &b.opts);
            out.push(';');
        }
        Opt::ByteJump(b) => {
            let _ = write!(out, "byte_jump:{},{}", b.bytes, b.offset);
            byte_opts(out, &b.opts);
            if let Some(m) = b.multiplier {
                let _ = write!(out, ",multiplier {m}");
            }
            if b.align {
                out.push_str(",align");
            }
            if b.from_beginning {
                out.push_str(",from_beginning");
            }
            if b.from_end {
                out.push_str(",from_end");
            }
            if let Some(p) = b.post_offset {
                let _ = write!(out, ",post_offset {p}");
            }
            out.push(';');
        }
        Opt::ByteExtract(b) => {
            let _ = write!(out, "byte_extract:{},{},{}", b.bytes, b.offset, b.name);
            byte_opts(out, &b.opts);
            if let Some(m) = b.multiplier {
                let _ = write!(out, ",multiplier {m}");
            }
            if let Some(a) = b.align {
                let _ = write!(out, ",align {a}");
            }
            out.push(';');
        }
        Opt::ByteMath(b) => {
            let _ = write!(
                out,
                "byte_math:bytes {},offset {},oper {},rvalue {},result {}",
                b.bytes, b.offset, b.oper, b.rvalue, b.result
            );
            byte_opts(out, &b.opts);
            out.push(';');
        }
        Opt::IsDataAt(i) => {
            let _ = write!(
                out,
                "isdataat:{}{}{};",
                if i.negated { "!" } else { "" },
                i.offset,
                if i.relative { ",relative" } else { "" }
            );
        }
        Opt::Bsize(c) => {
            let _ = write!(out, "bsize:{c};");
        }
        Opt::Dsize(c) => {
            let _ = write!(out, "dsize:{c};");
        }
        Opt::Urilen(c, raw) => {
            let _ = write!(out, "urilen:{c}{};", if *raw { ",raw" } else { "" });
        }
        Opt::Base64Decode {
            bytes,
            offset,
            relative,
        } => {
            out.push_str("base64_decode");
            let mut parts = Vec::new();
            if let Some(b) = bytes {
                parts.push(format!("bytes {b}"));
            }
            if let Some(o) = offset {
                parts.push(format!("offset {o}"));
            }
            if *relative {
                parts.push("relative".into());
            }
            if !parts.is_empty() {
                out.push(':');
                out.push_str(&parts.join(","));
            }
            out.push(';');
        }
        Opt::Base64Data => out.push_str("base64_data;"),
        Opt::Flags(fl) => {
            out.push_str("flags:");
            if let Some(m) = fl.modifier {
                out.push(m);
            }
            out.push_str(&flag_letters(fl.bits));
            if fl.mask != 0 {
                out.push(',');
                out.push_str(&flag_letters(fl.mask));
            }
            out.push(';');
        }
        Opt::Ttl(c) => {
            let _ = write!(out, "ttl:{c};");
        }
        Opt::Id(n) => {
            let _ = write!(out, "id:{n};");
        }
        Opt::Tos(neg, n) => {
            let _ = write!(out, "tos:{}{n};", if *neg { "!" } else { "" });
        }
        Opt::Ipopts(s) => {
            let _ = write!(out, "ipopts:{s};");
        }
        Opt::Fragbits(fb) => {
            out.push_str("fragbits:");
            if let Some(m) = fb.modifier {
                out.push(m);
            }
            for (bit, c) in [(1, 'M'), (2, 'D'), (4, 'R')] {
                if fb.bits & bit != 0 {
                    out.push(c);
                }
            }
            out.push(';');
        }
        Opt::Fragoffset(c) => {
            let _ = write!(out, "fragoffset:{c};");
        }
        Opt::Sameip => out.push_str("sameip;"),
        Opt::Itype(c) => {
            let _ = write!(out, "itype:{c};");
        }
        Opt::Icode(c) => {
            let _ = write!(out, "icode:{c};");
        }
        Opt::IcmpId(n) => {
            let _ = write!(out, "icmp_id:{n};");
        }
        Opt::IcmpSeq(n) => {
            let _ = write!(out, "icmp_seq:{n};");
        }
        Opt::IpProto(neg, n) => {
            let _ = write!(out, "ip_proto:{}{n};", if *neg { "!" } else { "" });
        }
        Opt::NumKeyword(k, c) => {
            let _ = write!(out, "{k}:{c};");
        }
        Opt::AppInt(k, ranges) => {
            let _ = write!(out, "{k}:");
            for (i, (a, b)) in ranges.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if a == b {
                    let _ = write!(out, "{a}");
                } else {
                    let _ = write!(out, "{a}-{b}");
                }
            }
            out.push(';');
        }
        Opt::DcerpcIface { uuid, any_frag } => {
            let _ = write!(
                out,
                "dcerpc.iface:{uuid}{};",
                if *any_frag { ",any_frag" } else { "" }
            );
        }
        Opt::Ignored(k, v) => {
            out.push_str(k);
            if let Some(v) = v {
                out.push(':');
                out.push_str(v);
            }
            out.push(';');
        }
    }
}

/// TCP flag letters of `bits` in rule syntax (`0` for none).
pub fn flag_letters(bits: u8) -> String {
    if bits == 0 {
        return "0".into();
    }
    let mut s = String::new();
    for (bit, c) in [
        (0x01, 'F'),
        (0x02, 'S'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, 'A'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'C'),
    ] {
        if bits & bit != 0 {
            s.push(c);
        }
    }
    s
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.header;
        let arrow = if h.bidirectional {
            "<>"
        } else if h.transactional {
            "=>"
        } else {
            "->"
        };
        write!(
            f,
            "{} {} {} {} {arrow} {} {} (",
            h.action.name(),
            h.proto,
            h.src,
            h.sport,
            h.dst,
            h.dport
        )?;
        let mut body = String::new();
        for (i, o) in self.options.iter().enumerate() {
            if i > 0 {
                body.push(' ');
            }
            opt_text(&mut body, o);
        }
        f.write_str(&body)?;
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_print_printable_bytes_plain_and_the_rest_in_hex() {
        assert_eq!(pattern_text(b"GET /"), "GET /");
        assert_eq!(pattern_text(b"a\r\nb"), "a|0D 0A|b");
        assert_eq!(pattern_text(b"\"x;"), "|22|x|3B|");
        assert_eq!(pattern_text(&[0xff]), "|FF|");
    }

    #[test]
    fn comparisons_by_hand() {
        assert!(Cmp::Between(8, 20).test(10));
        assert!(!Cmp::Between(8, 20).test(8));
        assert!(Cmp::Range(8, 20).test(8));
        assert!(Cmp::Ne(9).test(10) && !Cmp::Ne(9).test(9));
        assert!(Cmp::Le(10).test(10) && !Cmp::Lt(10).test(10));
    }

    #[test]
    fn flag_letters_in_suricata_order() {
        assert_eq!(flag_letters(0x12), "SA");
        assert_eq!(flag_letters(0), "0");
        assert_eq!(flag_letters(0xc2), "SEC");
    }
}
