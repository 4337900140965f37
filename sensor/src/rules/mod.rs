//! The rule stage: Suricata-syntax rules (`mekong-signatures`) inspected
//! on every packet, on each TCP direction's in-order bytes message by
//! message, and on every application transaction; matches go to the host
//! stage as events, where thresholds apply and alerts are raised.
//!
//! - Packets: IP-only rules on the first packet of each direction of a
//!   flow; header rules, `tcp-pkt` and the payload of UDP, ICMP and other
//!   protocols on every packet; raw-payload rules on TCP packets until the
//!   handshake completes.
//! - Streams: an established connection's in-order bytes of one direction
//!   are inspected when the other side acknowledges them, as Suricata
//!   inspects its raw stream in IDS mode: the bytes acknowledged since the
//!   last inspection are one buffer (a match across the TCP segments of
//!   it is found, `depth` counts from its start); what is never
//!   acknowledged is inspected at a gap, at [`RulesConfig::stream_window`]
//!   bytes, or at the flow's end.
//! - Transactions: each HTTP request (with its body) and response (with
//!   the request's buffers and its decompressed body), each DNS message,
//!   TLS ClientHello and ServerHello with its certificate, SSH banner and
//!   key exchange.

pub mod apptx;
pub mod encrypted;
pub mod http;
pub mod load;
pub mod slots;

/// Emptied stream buffers kept for reuse.
const POOL: usize = 256;

use std::net::IpAddr;
use std::sync::Arc;

use mekong_appmeta::event::LoginProto;
use mekong_appmeta::AppEvent;
use mekong_detect::event::{EventKind, FlowRef, RuleHit, RuleMeta};
use mekong_signatures::buffers::Buf;
use mekong_signatures::compile::Point;
use mekong_signatures::engine::{Buffers, Input, PacketInfo, PayloadBuffers, Scratch};
use mekong_signatures::state::{FlowVars, Xbits};
use mekong_signatures::threshold::ThresholdConfig;
use mekong_signatures::{App, RuleSet};

use crate::decode::{PacketView, Transport};
use crate::flow::FlowSummary;
use crate::stage::{FlowCtx, RecordExtras, Stage, StageOut};
use crate::stream::Chunk;
use apptx::AppTxBuffers;
use encrypted::Encryption;
use http::{HttpFlow, Msg, TxBuffers, MAX_PENDING};
use slots::Slots;

/// The rule stage's settings (defaults in [`RulesConfig::default`]).
#[derive(Clone, Copy, Debug)]
pub struct RulesConfig {
    /// Bytes of one direction waiting for their acknowledgement at most;
    /// beyond, they are inspected at once.
    pub stream_window: usize,
    /// Stream bytes held across all flows of a worker; beyond, messages
    /// are inspected at once instead of waiting for the other side.
    pub stream_budget: usize,
    /// Acknowledged bytes of one direction inspected together at least
    /// when no application protocol is recognised (like Suricata's
    /// `stream.reassembly.toserver-chunk-size`): a match cut across
    /// segments is found; a gap or the flow's end inspects what waits
    /// whatever its size. A recognised protocol's bytes are inspected as
    /// acknowledged, as Suricata's parsers trigger its raw stream.
    pub stream_chunk: usize,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            stream_window: 64 * 1024,
            stream_budget: 32 << 20,
            stream_chunk: 2560,
        }
    }
}

/// Rules, what their alerts say, and their thresholds: shared by the
/// workers and the host stage.
#[derive(Debug)]
pub struct Rules {
    /// The compiled rules.
    pub set: RuleSet,
    /// What each rule's alerts say, by rule index (see [`Rules::meta`]).
    metas: Vec<std::sync::OnceLock<Arc<RuleMeta>>>,
    /// `threshold.config`.
    pub thresholds: ThresholdConfig,
    /// Stream rules exist for the client's (0) and server's (1) bytes.
    stream_dirs: [bool; 2],
    /// Rules inspect packets (IP-only, header or payload rules).
    packet_rules: bool,
    /// The stage's settings.
    pub config: RulesConfig,
}

impl Rules {
    /// The alert metadata of rule `i` (made at its first alert: most rules
    /// of a big set never alert).
    pub fn meta(&self, i: u32) -> Arc<RuleMeta> {
        let cell = &self.metas[i as usize];
        Arc::clone(cell.get_or_init(|| {
            let i = &self.set.rule(i).info;
            let mut md: Vec<(String, Vec<String>)> = Vec::new();
            for (k, v) in &i.metadata {
                match md.iter_mut().find(|(x, _)| x == k) {
                    Some((_, vs)) => vs.push(v.clone()),
                    None => md.push((k.clone(), vec![v.clone()])),
                }
            }
            Arc::new(RuleMeta {
                gid: i.gid,
                sid: i.sid,
                rev: i.rev,
                msg: i.msg.clone(),
                action: i.action.name().to_string(),
                classtype: i.classtype.clone(),
                category: i.category.clone(),
                severity: i.severity,
                metadata: md,
                techniques: i.techniques.clone(),
                target_is_src: i
                    .target
                    .map(|t| t == mekong_signatures::rule::Target::SrcIp),
            })
        }))
    }

    /// Wraps a rule set.
    pub fn new(set: RuleSet, thresholds: ThresholdConfig, config: RulesConfig) -> Rules {
        let metas = (0..set.len()).map(|_| std::sync::OnceLock::new()).collect();
        let stream_dirs = [set.wants_stream(true), set.wants_stream(false)];
        let packet_rules = [Point::IpOnly, Point::Packet, Point::PacketNoStream]
            .into_iter()
            .any(|p| set.wants(p));
        Rules {
            set,
            stream_dirs,
            packet_rules,
            metas,
            thresholds,
            config,
        }
    }
}

/// What the stage knows of a flow.
#[derive(Debug, Default)]
struct FlowRules {
    app: Option<App>,
    seen: [bool; 2],
    vars: FlowVars,
    msg: [Vec<u8>; 2],
    /// Stream offset of each direction's first waiting byte.
    base: [u64; 2],
    /// Each direction's first stream bytes were looked at for a protocol.
    sniffed: [bool; 2],
    /// HTTP: the bytes of each direction since its last complete head,
    /// for a head the connection's end cuts short (up to
    /// [`PENDING_HEAD`]).
    head: [Vec<u8>; 2],
    http: Option<Box<HttpFlow>>,
    tls: Option<Box<TlsFlow>>,
    /// When the payload turns to ciphertext (TLS, SSH).
    enc: Encryption,
}

#[derive(Debug, Default)]
struct TlsFlow {
    ja3s: Option<String>,
    server_done: bool,
    subject: String,
    issuer: String,
}

/// Bytes of an HTTP head kept while it is incomplete.
const PENDING_HEAD: usize = 16 * 1024;

/// Counters of the rule stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RulesStats {
    /// Inspections run.
    pub inspections: u64,
    /// Rule matches sent on.
    pub matches: u64,
    /// Stream messages inspected early because the budget was reached.
    pub early_flushes: u64,
    /// Flows whose payload turned to ciphertext (TLS application data,
    /// SSH NEWKEYS both ways): their payload is no longer inspected.
    pub encrypted_flows: u64,
    /// Bytes given to the prefilters (every buffer of every inspection).
    pub scanned_bytes: u64,
    /// Rules verified after the prefilters and the header pre-selection.
    pub candidates: u64,
}

/// The rule stage of one worker.
pub struct RuleStage {
    rules: Arc<Rules>,
    flows: Slots<FlowRules>,
    scratch: Scratch,
    xbits: Xbits,
    hits: Vec<u32>,
    held: usize,
    /// DNS messages raised by the current packet: (response, where its
    /// name is in `dns_names`); both buffers are reused.
    dns: Vec<(bool, std::ops::Range<usize>)>,
    dns_names: String,
    /// Emptied stream buffers, kept for the next flows (at most [`POOL`]).
    pool: Vec<Vec<u8>>,
    /// Counters.
    pub stats: RulesStats,
}

impl RuleStage {
    /// The counters, with the engine's work.
    pub fn stats(&self) -> RulesStats {
        let mut s = self.stats;
        for w in &self.scratch.work {
            s.scanned_bytes += w.scanned;
            s.candidates += w.candidates;
        }
        s
    }
}

impl std::fmt::Debug for RuleStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleStage")
            .field("rules", &self.rules.set.len())
            .finish()
    }
}

/// Where an inspection's matches are reported.
struct Report<'a> {
    flow: FlowRef,
    ts_ns: u64,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    to_server: bool,
    app: Option<App>,
    stream: bool,
    _p: std::marker::PhantomData<&'a ()>,
}

/// A flow's endpoints and clock, from a packet's context or a record's
/// summary.
#[derive(Clone, Copy, Debug)]
struct Ends {
    flow: FlowRef,
    ts_ns: u64,
    bytes: [u64; 2],
}

impl Ends {
    fn of(f: &FlowCtx<'_>) -> Ends {
        Ends {
            flow: f.flow(),
            ts_ns: f.ts_ns,
            bytes: [f.entry.dir[0].payload_bytes, f.entry.dir[1].payload_bytes],
        }
    }

    fn of_summary(s: &FlowSummary) -> Ends {
        Ends {
            flow: FlowRef {
                uid: s.uid,
                proto: s.proto,
                vlan: s.vlan.map_or(0, |v| v + 1),
                orig: s.orig,
                orig_port: s.orig_port,
                resp: s.resp,
                resp_port: s.resp_port,
            },
            ts_ns: (s.last_us.max(0) as u64).saturating_mul(1000),
            bytes: [s.dir[0].payload_bytes, s.dir[1].payload_bytes],
        }
    }

    fn input<'a>(&self, point: Point, to_server: bool, app: Option<App>) -> Input<'a> {
        let f = &self.flow;
        let (src, sport, dst, dport) = if to_server {
            (f.orig, f.orig_port, f.resp, f.resp_port)
        } else {
            (f.resp, f.resp_port, f.orig, f.orig_port)
        };
        Input {
            point,
            to_server,
            src,
            sport,
            dst,
            dport,
            proto: f.proto,
            established: true,
            app,
            pkt: None,
            stream_bytes: self.bytes,
            ts_ns: self.ts_ns,
            payload: true,
        }
    }

    fn report<'a>(&self, inp: &Input<'_>, stream: bool) -> Report<'a> {
        Report {
            flow: self.flow,
            ts_ns: self.ts_ns,
            src: inp.src,
            sport: inp.sport,
            dst: inp.dst,
            dport: inp.dport,
            to_server: inp.to_server,
            app: inp.app,
            stream,
            _p: Default::default(),
        }
    }
}

fn sniff(dir: usize, b: &[u8], ports: (u16, u16)) -> Option<App> {
    if dir == 0
        && matches!(
            mekong_appmeta::http::detect(b),
            mekong_appmeta::Outcome::Parsed(())
        )
    {
        return Some(App::Http);
    }
    // SMB over NetBIOS session service: 4-byte length, then \xffSMB or \xfeSMB.
    if b.len() >= 8 && b[0] == 0 && (&b[5..8] == b"SMB") && (b[4] == 0xff || b[4] == 0xfe) {
        return Some(App::Smb);
    }
    // DCE/RPC connection-oriented PDU: version 5.0, a known packet type.
    if b.len() >= 16
        && b[0] == 5
        && b[1] == 0
        && matches!(b[2], 0 | 2 | 11 | 12 | 13 | 14 | 15 | 16)
    {
        return Some(App::Dcerpc);
    }
    let up = |s: &[u8]| b.len() >= s.len() && b[..s.len()].eq_ignore_ascii_case(s);
    if dir == 0 && (up(b"EHLO ") || up(b"HELO ")) {
        return Some(App::Smtp);
    }
    if dir == 1 && b.starts_with(b"220") {
        return match ports.1 {
            25 | 465 | 587 | 2525 => Some(App::Smtp),
            21 | 2121 => Some(App::Ftp),
            _ if b.windows(4).any(|w| w.eq_ignore_ascii_case(b"smtp")) => Some(App::Smtp),
            _ if b.windows(3).any(|w| w.eq_ignore_ascii_case(b"ftp")) => Some(App::Ftp),
            _ => None,
        };
    }
    if dir == 0 && (up(b"USER ") || up(b"AUTH TLS")) && matches!(ports.1, 21 | 2121) {
        return Some(App::Ftp);
    }
    // A TLS handshake record, an SSH banner: known before their parsers'
    // events, so that the walk to the ciphertext starts at the first byte.
    if b.len() >= 5 && b[0] == 22 && b[1] == 3 {
        return Some(App::Tls);
    }
    if b.starts_with(b"SSH-") {
        return Some(App::Ssh);
    }
    None
}

fn packet_info<'a>(p: &'a PacketView<'a>) -> PacketInfo<'a> {
    let (tcp_flags, icmp) = match p.transport {
        Transport::Tcp(t) => (Some(t.flags), None),
        Transport::Icmp {
            kind,
            code,
            echo_id,
            ..
        } => {
            let seq = p
                .l4_header
                .get(6..8)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            (None, Some((kind, code, echo_id.unwrap_or(0), seq)))
        }
        _ => (None, None),
    };
    PacketInfo {
        ip_version: p.ip_version,
        proto: p.proto,
        ttl: p.ttl,
        ip_id: p.ip_id,
        tos: p.tos,
        tcp_flags,
        icmp,
        frag_bits: p.ip_flags,
        frag_offset: p.frag_offset,
        fragmented: p.frags > 0,
        payload: p.payload,
        ip_header: p.ip_header,
        l4_header: p.l4_header,
    }
}

/// Buffers of a DNS message.
struct DnsBuffers<'a> {
    qname: Option<&'a str>,
    payload: &'a [u8],
}

impl Buffers for DnsBuffers<'_> {
    fn each(&self, buf: Buf, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        match buf {
            Buf::DnsQuery => self.qname.is_some_and(|q| f(q.as_bytes())),
            Buf::PktData => !self.payload.is_empty() && f(self.payload),
            _ => false,
        }
    }
}

/// Buffers of a TLS or SSH message: (buffer, value) pairs.
struct ListBuffers<'a>(Vec<(Buf, &'a [u8])>);

impl Buffers for ListBuffers<'_> {
    fn each(&self, buf: Buf, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.0.iter().filter(|(b, _)| *b == buf).any(|(_, v)| f(v))
    }
}

fn app_of_event(ev: &AppEvent<'_>) -> Option<App> {
    Some(match ev {
        AppEvent::HttpRequest { .. }
        | AppEvent::HttpResponse { .. }
        | AppEvent::HttpHead { .. } => App::Http,
        AppEvent::Dns { .. } => App::Dns,
        AppEvent::TlsClientHello { .. }
        | AppEvent::TlsServerHello { .. }
        | AppEvent::TlsCertificate { .. }
        | AppEvent::TlsCertDer { .. } => App::Tls,
        AppEvent::SshBanner { .. } | AppEvent::SshKexinit { .. } => App::Ssh,
        AppEvent::Login { proto, .. } => match proto {
            LoginProto::Ftp => App::Ftp,
            LoginProto::Telnet => App::Telnet,
            LoginProto::Pop3 => App::Pop3,
            LoginProto::Imap => App::Imap,
            LoginProto::Smb => App::Smb,
            LoginProto::Smtp => App::Smtp,
            LoginProto::Mysql | LoginProto::Postgres | LoginProto::Mssql => return None,
        },
        AppEvent::FtpCommand { .. } | AppEvent::FtpData { .. } => App::Ftp,
        AppEvent::SmtpMessage { .. } => App::Smtp,
        AppEvent::SmbNegotiate { .. } | AppEvent::SmbTree { .. } | AppEvent::SmbFile { .. } => {
            App::Smb
        }
        AppEvent::Kerberos { .. } => App::Krb5,
        _ => return None,
    })
}

impl RuleStage {
    /// A stage over shared rules.
    pub fn new(rules: Arc<Rules>) -> RuleStage {
        RuleStage {
            rules,
            flows: Slots::default(),
            scratch: Scratch::default(),
            xbits: Xbits::default(),
            hits: Vec::new(),
            held: 0,
            dns: Vec::new(),
            dns_names: String::new(),
            pool: Vec::new(),
            stats: RulesStats::default(),
        }
    }

    /// The rules.
    pub fn rules(&self) -> &Arc<Rules> {
        &self.rules
    }

    /// Inspects with new rules from now on (a reload). What the old rules
    /// kept of each flow (flowbits, stream windows, held matches) refers
    /// to them and is dropped: each flow's rule state starts over at its
    /// next packet, while the flow itself stays in the table.
    pub fn reload(&mut self, rules: Arc<Rules>) {
        let stats = self.stats();
        *self = RuleStage::new(rules);
        self.stats = stats;
    }

    /// Does any rule need the parsers' raw data?
    pub fn wants_raw(&self) -> bool {
        let s = &self.rules.set;
        s.wants(Point::HttpRequest) || s.wants(Point::HttpResponse) || s.wants(Point::TlsServer)
    }

    fn established(f: &FlowCtx<'_>) -> bool {
        if f.entry.key.proto == 6 {
            f.entry.tcp.handshake()
        } else {
            // Both directions seen (this packet counted).
            f.entry.dir[0].pkts > 0 && f.entry.dir[1].pkts > 0
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        rules: &Rules,
        fr: &mut FlowRules,
        scratch: &mut Scratch,
        xbits: &mut Xbits,
        hits: &mut Vec<u32>,
        stats: &mut RulesStats,
        inp: &Input<'_>,
        bufs: &dyn Buffers,
        rep: &Report<'_>,
        out: &mut StageOut<'_>,
    ) {
        if !rules.set.wants(inp.point) {
            return;
        }
        stats.inspections += 1;
        hits.clear();
        rules
            .set
            .inspect(inp, bufs, &mut fr.vars, xbits, scratch, hits);
        for &h in hits.iter() {
            stats.matches += 1;
            let meta = rules.meta(h);
            out.event(
                rep.ts_ns,
                rep.flow,
                EventKind::Rule(Box::new(RuleHit {
                    rule: h,
                    meta,
                    src: rep.src,
                    sport: rep.sport,
                    dst: rep.dst,
                    dport: rep.dport,
                    to_server: rep.to_server,
                    app_proto: rep.app.map(App::name),
                    stream: rep.stream,
                })),
            );
        }
    }

    /// Inspects the first `n` waiting stream bytes of `dir` (all when
    /// `None`).
    #[allow(clippy::too_many_arguments)]
    fn flush(
        &mut self,
        slot: u32,
        dir: usize,
        n: Option<usize>,
        flow: FlowRef,
        ts_ns: u64,
        stream_bytes: [u64; 2],
        out: &mut StageOut<'_>,
    ) {
        let Some(fr) = self.flows.get_mut(&slot) else {
            return;
        };
        let len = fr.msg[dir].len();
        let n = n.unwrap_or(len).min(len);
        if n == 0 {
            return;
        }
        let mut msg = std::mem::take(&mut fr.msg[dir]);
        fr.base[dir] += n as u64;
        self.held = self.held.saturating_sub(n);
        let (src, sport, dst, dport) = if dir == 0 {
            (flow.orig, flow.orig_port, flow.resp, flow.resp_port)
        } else {
            (flow.resp, flow.resp_port, flow.orig, flow.orig_port)
        };
        let inp = Input {
            point: Point::Stream,
            to_server: dir == 0,
            src,
            sport,
            dst,
            dport,
            proto: 6,
            established: true,
            app: fr.app,
            pkt: None,
            stream_bytes,
            ts_ns,
            payload: true,
        };
        let rep = Report {
            flow,
            ts_ns,
            src,
            sport,
            dst,
            dport,
            to_server: dir == 0,
            app: fr.app,
            stream: true,
            _p: Default::default(),
        };
        let bufs = PayloadBuffers {
            payload: &msg[..n],
            pkt: None,
        };
        Self::run(
            &self.rules,
            fr,
            &mut self.scratch,
            &mut self.xbits,
            &mut self.hits,
            &mut self.stats,
            &inp,
            &bufs,
            &rep,
            out,
        );
        // What is left moves to the front; an empty buffer goes back to
        // the pool (no allocation per inspection).
        msg.drain(..n);
        if msg.is_empty() {
            if self.pool.len() < POOL && msg.capacity() <= 2 * self.rules.config.stream_window {
                self.pool.push(msg);
            }
        } else if let Some(fr) = self.flows.get_mut(&slot) {
            fr.msg[dir] = msg;
        }
    }

    /// Inspects one HTTP message side (the request at its end, or the
    /// response with its request).
    fn http_inspect(&mut self, slot: u32, e: &Ends, dir: usize, out: &mut StageOut<'_>) {
        let Some(fr) = self.flows.get_mut(&slot) else {
            return;
        };
        let Some(h) = fr.http.as_mut() else { return };
        let point = if dir == 0 {
            Point::HttpRequest
        } else {
            Point::HttpResponse
        };
        let inp = e.input(point, dir == 0, Some(App::Http));
        let rep = e.report(&inp, false);
        let mut tmp = FlowRules {
            vars: std::mem::take(&mut fr.vars),
            ..FlowRules::default()
        };
        if dir == 0 {
            let Some(mut m) = h.req.take() else {
                fr.vars = tmp.vars;
                return;
            };
            m.decode_body();
            let bufs = TxBuffers {
                req: Some(&m),
                resp: None,
            };
            Self::run(
                &self.rules,
                &mut tmp,
                &mut self.scratch,
                &mut self.xbits,
                &mut self.hits,
                &mut self.stats,
                &inp,
                &bufs,
                &rep,
                out,
            );
            // Keep the request for its response (transactional rules
            // read its buffers, the body too, at the response).
            if h.pending.len() >= MAX_PENDING {
                h.pending.pop_front();
            }
            h.pending.push_back(m);
        } else {
            let Some(mut m) = h.resp.take() else {
                fr.vars = tmp.vars;
                return;
            };
            m.decode_body();
            let req = h.pending.pop_front();
            let bufs = TxBuffers {
                req: req.as_ref(),
                resp: Some(&m),
            };
            Self::run(
                &self.rules,
                &mut tmp,
                &mut self.scratch,
                &mut self.xbits,
                &mut self.hits,
                &mut self.stats,
                &inp,
                &bufs,
                &rep,
                out,
            );
            // The transaction is done: its messages' buffers serve the
            // next ones.
            if let Some(r) = req {
                h.done(r);
            }
            h.done(m);
        }
        if let Some(fr) = self.flows.get_mut(&slot) {
            fr.vars = tmp.vars;
        }
    }

    fn tls_server(&mut self, slot: u32, e: &Ends, der: Option<&[u8]>, out: &mut StageOut<'_>) {
        let Some(fr) = self.flows.get_mut(&slot) else {
            return;
        };
        let Some(t) = fr.tls.as_mut() else { return };
        if t.server_done {
            return;
        }
        t.server_done = true;
        let fp = der.map(|d| {
            use sha1::Digest as _;
            use std::fmt::Write as _;
            let h = sha1::Sha1::digest(d);
            let mut s = String::with_capacity(59);
            for (i, b) in h.iter().enumerate() {
                if i > 0 {
                    s.push(':');
                }
                let _ = write!(s, "{b:02x}");
            }
            s
        });
        let t = fr.tls.take().unwrap_or_default();
        let mut list = Vec::new();
        if let Some(j) = &t.ja3s {
            list.push((Buf::Ja3sHash, j.as_bytes()));
        }
        if let Some(d) = der {
            list.push((Buf::TlsCerts, d));
        }
        if !t.subject.is_empty() {
            list.push((Buf::TlsCertSubject, t.subject.as_bytes()));
        }
        if !t.issuer.is_empty() {
            list.push((Buf::TlsCertIssuer, t.issuer.as_bytes()));
        }
        if let Some(fp) = &fp {
            list.push((Buf::TlsCertFingerprint, fp.as_bytes()));
        }
        self.simple(slot, e, Point::TlsServer, false, list, out);
        if let Some(fr) = self.flows.get_mut(&slot) {
            fr.tls = Some(t);
        }
    }

    /// A transaction of SMB, DCE/RPC, FTP or Kerberos through the rules of
    /// `app` (a DCE/RPC request over an SMB pipe is DCE/RPC's).
    fn app_tx(
        &mut self,
        slot: u32,
        e: &Ends,
        app: App,
        to_server: bool,
        bufs: &AppTxBuffers<'_>,
        out: &mut StageOut<'_>,
    ) {
        let Some(fr) = self.flows.get_mut(&slot) else {
            return;
        };
        let inp = e.input(Point::AppTx, to_server, Some(app));
        let rep = e.report(&inp, false);
        Self::run(
            &self.rules,
            fr,
            &mut self.scratch,
            &mut self.xbits,
            &mut self.hits,
            &mut self.stats,
            &inp,
            bufs,
            &rep,
            out,
        );
    }

    /// An application event through the [`Point::AppTx`] rules.
    fn app_event_tx(&mut self, f: &FlowCtx<'_>, ev: &AppEvent<'_>, out: &mut StageOut<'_>) {
        let mut nums = [[0u8; 20]; 2];
        let mut b = AppTxBuffers::new();
        if let Some((app, to_server)) = apptx::fill(ev, &mut b, &mut nums) {
            self.app_tx(f.slot, &Ends::of(f), app, to_server, &b, out);
        }
    }

    fn simple(
        &mut self,
        slot: u32,
        e: &Ends,
        point: Point,
        to_server: bool,
        list: Vec<(Buf, &[u8])>,
        out: &mut StageOut<'_>,
    ) {
        let Some(fr) = self.flows.get_mut(&slot) else {
            return;
        };
        let app = fr.app;
        let inp = e.input(point, to_server, app);
        let rep = e.report(&inp, false);
        let bufs = ListBuffers(list);
        Self::run(
            &self.rules,
            fr,
            &mut self.scratch,
            &mut self.xbits,
            &mut self.hits,
            &mut self.stats,
            &inp,
            &bufs,
            &rep,
            out,
        );
    }
}

/// `SSH-2.0-OpenSSH_8.9p1 Ubuntu` → (`2.0`, `OpenSSH_8.9p1`).
fn ssh_parts(banner: &str) -> Option<(&str, &str)> {
    let rest = banner.strip_prefix("SSH-")?;
    let (proto, soft) = rest.split_once('-')?;
    let soft = soft.split([' ', '\r', '\n']).next().unwrap_or("");
    Some((proto, soft))
}

impl Stage for RuleStage {
    fn wants_stream(&self, _slot: u32, _dir: usize, _offset: u64) -> bool {
        self.rules.set.wants(Point::Stream)
            || self.rules.set.rules().iter().any(|r| r.app.is_some())
    }

    fn on_stream(&mut self, f: &FlowCtx<'_>, chunk: Chunk<'_>, out: &mut StageOut<'_>) {
        let dir = f.dir;
        let ports = (f.entry.orig_port, f.entry.resp_port);
        let fr = self.flows.get_or_default(f.slot);
        let est = f.entry.tcp.handshake();
        let stream_bytes = [f.entry.dir[0].payload_bytes, f.entry.dir[1].payload_bytes];
        match chunk {
            Chunk::Data { offset, bytes } => {
                if !fr.sniffed[dir] {
                    fr.sniffed[dir] = true;
                    if fr.app.is_none() && offset == 0 {
                        fr.app = sniff(dir, bytes, ports);
                    }
                }
                if fr.app == Some(App::Http) && fr.head[dir].len() < PENDING_HEAD {
                    let room = PENDING_HEAD - fr.head[dir].len();
                    fr.head[dir].extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
                if fr.enc.feed(fr.app, dir, offset, bytes) {
                    // Ciphertext from here on: what waits is dropped, as
                    // Suricata stops inspecting an encrypted flow's payload.
                    let dropped = fr.msg[0].len() + fr.msg[1].len();
                    fr.msg = Default::default();
                    self.held = self.held.saturating_sub(dropped);
                    self.stats.encrypted_flows += 1;
                }
                if fr.enc.encrypted || !est || !self.rules.stream_dirs[dir] {
                    return;
                }
                let flow = f.flow();
                if fr.msg[dir].is_empty() {
                    fr.base[dir] = offset;
                } else if fr.base[dir] + fr.msg[dir].len() as u64 != offset {
                    // Bytes skipped (a hole given up on): what waits is
                    // inspected on its own.
                    self.flush(f.slot, dir, None, flow, f.ts_ns, stream_bytes, out);
                    if let Some(fr) = self.flows.get_mut(&f.slot) {
                        fr.base[dir] = offset;
                    }
                }
                let Some(fr) = self.flows.get_mut(&f.slot) else {
                    return;
                };
                if fr.msg[dir].capacity() == 0 {
                    if let Some(b) = self.pool.pop() {
                        fr.msg[dir] = b;
                    }
                }
                fr.msg[dir].extend_from_slice(bytes);
                self.held += bytes.len();
                let full = fr.msg[dir].len() >= self.rules.config.stream_window;
                if full || self.held > self.rules.config.stream_budget {
                    if !full {
                        self.stats.early_flushes += 1;
                    }
                    self.flush(f.slot, dir, None, flow, f.ts_ns, stream_bytes, out);
                }
            }
            Chunk::Gap => {
                let flow = f.flow();
                self.flush(f.slot, dir, None, flow, f.ts_ns, stream_bytes, out);
            }
        }
    }

    fn on_app_event(&mut self, f: &FlowCtx<'_>, ev: &AppEvent<'_>, out: &mut StageOut<'_>) {
        let fr = self.flows.get_or_default(f.slot);
        if let Some(a) = app_of_event(ev) {
            if fr.app.is_none() || matches!(fr.app, Some(App::Smtp | App::Ftp)) && a != App::Ftp {
                fr.app = Some(a);
            }
        }
        if self.rules.set.wants(Point::AppTx) {
            self.app_event_tx(f, ev, out);
        }
        let Some(fr) = self.flows.get_mut(&f.slot) else {
            return;
        };
        match *ev {
            AppEvent::Dns {
                response, qname, ..
            } => {
                let q = qname.unwrap_or("");
                let at = self.dns_names.len();
                self.dns_names.push_str(q);
                self.dns.push((response, at..at + q.len()));
            }
            AppEvent::HttpHead { dir, head, body } => {
                // As Suricata's HTTP parser does, the end of a head (and of
                // a body) has the direction's raw stream inspected.
                let stream_bytes = [f.entry.dir[0].payload_bytes, f.entry.dir[1].payload_bytes];
                self.flush(
                    f.slot,
                    usize::from(dir),
                    None,
                    f.flow(),
                    f.ts_ns,
                    stream_bytes,
                    out,
                );
                let Some(fr) = self.flows.get_mut(&f.slot) else {
                    return;
                };
                // Kept for the next head: no allocation per message
                // (a buffer grown by a long head is given back).
                let h = &mut fr.head[usize::from(dir)];
                if h.capacity() > 4096 {
                    *h = Vec::new();
                } else {
                    h.clear();
                }
                let h = fr.http.get_or_insert_with(Default::default);
                let m = h.msg(head, body);
                if dir == 0 {
                    h.req = Some(m);
                } else {
                    h.resp = Some(m);
                }
                if !body {
                    self.http_inspect(f.slot, &Ends::of(f), usize::from(dir), out);
                }
            }
            AppEvent::HttpBody { dir, data } => {
                if let Some(h) = fr.http.as_mut() {
                    let m = if dir == 0 {
                        h.req.as_mut()
                    } else {
                        h.resp.as_mut()
                    };
                    if let Some(m) = m {
                        m.add_body(data);
                    }
                }
            }
            AppEvent::HttpBodyEnd { dir } => {
                let stream_bytes = [f.entry.dir[0].payload_bytes, f.entry.dir[1].payload_bytes];
                self.flush(
                    f.slot,
                    usize::from(dir),
                    None,
                    f.flow(),
                    f.ts_ns,
                    stream_bytes,
                    out,
                );
                self.http_inspect(f.slot, &Ends::of(f), usize::from(dir), out)
            }
            AppEvent::TlsClientHello { sni, ja3, ja4 } => {
                fr.tls.get_or_insert_with(Default::default);
                let mut list = Vec::new();
                if let Some(s) = sni {
                    list.push((Buf::TlsSni, s.as_bytes()));
                }
                if let Some(j) = ja3 {
                    list.push((Buf::Ja3Hash, j.as_bytes()));
                }
                if let Some(j) = ja4 {
                    list.push((Buf::Ja4Hash, j.as_bytes()));
                }
                self.simple(f.slot, &Ends::of(f), Point::TlsClient, true, list, out);
            }
            AppEvent::TlsServerHello { ja3s, version, .. } => {
                let t = fr.tls.get_or_insert_with(Default::default);
                t.ja3s = ja3s.map(str::to_string);
                if version >= 0x0304 {
                    // TLS 1.3: the certificate is encrypted.
                    self.tls_server(f.slot, &Ends::of(f), None, out);
                }
            }
            AppEvent::TlsCertificate {
                subject, issuer, ..
            } => {
                let t = fr.tls.get_or_insert_with(Default::default);
                t.subject = subject.to_string();
                t.issuer = issuer.to_string();
                if !self.wants_raw() {
                    self.tls_server(f.slot, &Ends::of(f), None, out);
                }
            }
            AppEvent::TlsCertDer { der } => self.tls_server(f.slot, &Ends::of(f), Some(der), out),
            AppEvent::SshBanner { dir, banner } => {
                if let Some((proto, soft)) = ssh_parts(banner) {
                    let list = vec![
                        (Buf::SshProto, proto.as_bytes()),
                        (Buf::SshSoftware, soft.as_bytes()),
                    ];
                    self.simple(f.slot, &Ends::of(f), Point::Ssh, dir == 0, list, out);
                }
            }
            AppEvent::SshKexinit { dir, hassh } => {
                let b = if dir == 0 {
                    Buf::SshHassh
                } else {
                    Buf::SshHasshServer
                };
                self.simple(
                    f.slot,
                    &Ends::of(f),
                    Point::Ssh,
                    dir == 0,
                    vec![(b, hassh.as_bytes())],
                    out,
                );
            }
            _ => {}
        }
    }

    fn after_packet(&mut self, f: &FlowCtx<'_>, p: &PacketView<'_>, out: &mut StageOut<'_>) {
        let dir = f.dir;
        // Nothing waits for an acknowledgement, no rule reads packets and
        // no DNS message came: nothing to do (the common case with few
        // rules).
        let packets = self.rules.packet_rules || !self.dns.is_empty();
        if self.held == 0 && !packets {
            return;
        }
        // An acknowledgement releases the other direction's bytes it covers.
        if let Transport::Tcp(t) = p.transport {
            let other = 1 - dir;
            let waiting = self.flows.get(&f.slot).map_or(0, |fr| fr.msg[other].len());
            if t.flags & crate::decode::tcp_flags::ACK != 0 && waiting > 0 {
                if let (Some(start), Some(fr)) =
                    (f.entry.stream_start(other), self.flows.get(&f.slot))
                {
                    let acked = t.ack.wrapping_sub(start);
                    if acked < 1 << 31 {
                        let n = u64::from(acked).saturating_sub(fr.base[other]);
                        // A recognised protocol's messages are inspected
                        // as acknowledged (Suricata's parsers trigger the
                        // raw stream at each); others in chunks.
                        let chunk = if fr.app.is_some() {
                            1
                        } else {
                            self.rules.config.stream_chunk as u64
                        };
                        if n >= chunk {
                            let stream_bytes =
                                [f.entry.dir[0].payload_bytes, f.entry.dir[1].payload_bytes];
                            self.flush(
                                f.slot,
                                other,
                                Some(n as usize),
                                f.flow(),
                                f.ts_ns,
                                stream_bytes,
                                out,
                            );
                        }
                    }
                }
            }
        }
        if !packets {
            return;
        }
        let fr = self.flows.get_or_default(f.slot);
        let first_in_dir = !fr.seen[dir];
        fr.seen[dir] = true;
        let est = Self::established(f);
        let app = fr.app;
        let encrypted = fr.enc.encrypted;
        let info = packet_info(p);
        let mut inp = Input {
            point: Point::IpOnly,
            to_server: dir == 0,
            src: p.src,
            sport: p.sport,
            dst: p.dst,
            dport: p.dport,
            proto: p.proto,
            established: est,
            app,
            pkt: Some(&info),
            stream_bytes: [f.entry.dir[0].payload_bytes, f.entry.dir[1].payload_bytes],
            ts_ns: f.ts_ns,
            payload: !encrypted,
        };
        let rep = Ends::of(f).report(&inp, false);
        let bufs = PayloadBuffers {
            payload: p.payload,
            pkt: Some(&info),
        };
        let Self {
            rules,
            flows,
            scratch,
            xbits,
            hits,
            stats,
            dns,
            dns_names,
            ..
        } = self;
        let Some(fr) = flows.get_mut(&f.slot) else {
            dns.clear();
            dns_names.clear();
            return;
        };
        let rules: &Rules = rules;
        if first_in_dir && rules.set.wants(Point::IpOnly) {
            Self::run(
                rules, fr, scratch, xbits, hits, stats, &inp, &bufs, &rep, out,
            );
        }
        inp.point = Point::Packet;
        Self::run(
            rules, fr, scratch, xbits, hits, stats, &inp, &bufs, &rep, out,
        );
        let streamed = p.proto == 6 && est;
        if !streamed && !p.payload.is_empty() && !encrypted {
            inp.point = Point::PacketNoStream;
            Self::run(
                rules, fr, scratch, xbits, hits, stats, &inp, &bufs, &rep, out,
            );
        }
        for (response, name) in dns.drain(..) {
            inp.point = Point::Dns;
            inp.app = Some(App::Dns);
            let b = DnsBuffers {
                qname: (!response).then(|| dns_names.get(name).unwrap_or("")),
                payload: if p.proto == 17 { p.payload } else { &[] },
            };
            Self::run(rules, fr, scratch, xbits, hits, stats, &inp, &b, &rep, out);
        }
        dns_names.clear();
    }

    fn on_flow_end(
        &mut self,
        slot: u32,
        s: &FlowSummary,
        last: bool,
        _rec: &mut RecordExtras,
        out: &mut StageOut<'_>,
    ) {
        if !last {
            return;
        }
        let e = Ends::of_summary(s);
        for d in 0..2 {
            self.flush(slot, d, None, e.flow, e.ts_ns, e.bytes, out);
        }
        // A head the connection's end cut short: its start line and the
        // headers that came are inspected (as Suricata inspects the URI of
        // a request whose headers never end).
        for d in 0..2 {
            let cut = self.flows.get_mut(&slot).and_then(|fr| {
                let h = std::mem::take(&mut fr.head[d]);
                let line_end = h.iter().position(|&c| c == b'\n')?;
                let first = &h[..line_end];
                let looks = if d == 0 {
                    first.windows(6).any(|w| w == b" HTTP/")
                } else {
                    first.starts_with(b"HTTP/1.")
                };
                if !looks || h.windows(4).any(|w| w == b"\r\n\r\n") {
                    return None;
                }
                Some(h)
            });
            if let Some(mut h) = cut {
                if !h.ends_with(b"\n") {
                    h.extend_from_slice(b"\r\n");
                }
                h.extend_from_slice(b"\r\n");
                if let Some(fr) = self.flows.get_mut(&slot) {
                    let hf = fr.http.get_or_insert_with(Default::default);
                    if d == 0 {
                        hf.req = Some(Msg::new(&h, false));
                    } else {
                        hf.resp = Some(Msg::new(&h, false));
                    }
                }
            }
        }
        // Messages the connection's end cut short: inspected as they are.
        let pending = self
            .flows
            .get(&slot)
            .and_then(|fr| fr.http.as_ref())
            .map(|h| (h.req.is_some(), h.resp.is_some()));
        if let Some((req, resp)) = pending {
            if req {
                self.http_inspect(slot, &e, 0, out);
            }
            if resp {
                self.http_inspect(slot, &e, 1, out);
            }
        }
        let tls_left = self
            .flows
            .get(&slot)
            .and_then(|fr| fr.tls.as_ref())
            .is_some_and(|t| !t.server_done && (t.ja3s.is_some() || !t.subject.is_empty()));
        if tls_left {
            self.tls_server(slot, &e, None, out);
        }
    }

    fn on_forget(&mut self, slot: u32) {
        if let Some(fr) = self.flows.remove(&slot) {
            self.held = self.held.saturating_sub(fr.msg[0].len() + fr.msg[1].len());
            for mut b in fr.msg {
                if b.capacity() > 0
                    && self.pool.len() < POOL
                    && b.capacity() <= 2 * self.rules.config.stream_window
                {
                    b.clear();
                    self.pool.push(b);
                }
            }
        }
    }
}
