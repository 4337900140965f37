//! Column builders for the flow record and the function that appends one
//! record to them, in schema order. Every append names its column, and a
//! debug assertion checks the name against the schema, so the order here
//! cannot silently drift from `mekong-schema`.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int16Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder, UInt16Builder, UInt32Builder, UInt8Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field};
use mekong_schema::{flow_schema, Ty};

use crate::flow::stats::Summary;
use mekong_appmeta::AppMeta;

use crate::flow::FlowRecord;

enum Col {
    Bool(BooleanBuilder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Str(StringBuilder),
    Ts(TimestampMicrosecondBuilder),
    LI16(ListBuilder<Int16Builder>),
    LI64(ListBuilder<Int64Builder>),
    LU8(ListBuilder<UInt8Builder>),
    LU16(ListBuilder<UInt16Builder>),
    LStr(ListBuilder<StringBuilder>),
}

fn item(t: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", t, false))
}

/// Builders for a batch of flow records.
pub struct Columns {
    cols: Vec<Col>,
    names: Vec<&'static str>,
    rows: usize,
    scratch: String,
}

impl Default for Columns {
    fn default() -> Self {
        Self::new()
    }
}

impl Columns {
    /// Empty builders, one per schema column.
    pub fn new() -> Columns {
        let mut names = Vec::new();
        let cols = mekong_schema::fields()
            .map(|f| {
                names.push(f.name.as_str());
                match f.ty {
                    Ty::Bool => Col::Bool(BooleanBuilder::new()),
                    Ty::U8 => Col::U8(UInt8Builder::new()),
                    Ty::U16 => Col::U16(UInt16Builder::new()),
                    Ty::U32 => Col::U32(UInt32Builder::new()),
                    Ty::I64 => Col::I64(Int64Builder::new()),
                    Ty::F64 => Col::F64(Float64Builder::new()),
                    Ty::Str => Col::Str(StringBuilder::new()),
                    Ty::TsUs => Col::Ts(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
                    Ty::ListI16 => Col::LI16(
                        ListBuilder::new(Int16Builder::new()).with_field(item(DataType::Int16)),
                    ),
                    Ty::ListI64 => Col::LI64(
                        ListBuilder::new(Int64Builder::new()).with_field(item(DataType::Int64)),
                    ),
                    Ty::ListU8 => Col::LU8(
                        ListBuilder::new(UInt8Builder::new()).with_field(item(DataType::UInt8)),
                    ),
                    Ty::ListU16 => Col::LU16(
                        ListBuilder::new(UInt16Builder::new()).with_field(item(DataType::UInt16)),
                    ),
                    Ty::ListStr => Col::LStr(
                        ListBuilder::new(StringBuilder::new()).with_field(item(DataType::Utf8)),
                    ),
                }
            })
            .collect();
        Columns {
            cols,
            names,
            rows: 0,
            scratch: String::with_capacity(64),
        }
    }

    /// Rows appended since the last batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one record.
    pub fn append(&mut self, r: &FlowRecord, sensor_id: &str) {
        let mut w = Row { c: self, i: 0 };
        write_record(&mut w, r, sensor_id);
        debug_assert_eq!(w.i, w.c.cols.len(), "record writer missed columns");
        self.rows += 1;
    }

    /// Takes the rows appended so far as a record batch.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Col::Bool(b) => Arc::new(b.finish()),
                    Col::U8(b) => Arc::new(b.finish()),
                    Col::U16(b) => Arc::new(b.finish()),
                    Col::U32(b) => Arc::new(b.finish()),
                    Col::I64(b) => Arc::new(b.finish()),
                    Col::F64(b) => Arc::new(b.finish()),
                    Col::Str(b) => Arc::new(b.finish()),
                    Col::Ts(b) => Arc::new(b.finish()),
                    Col::LI16(b) => Arc::new(b.finish()),
                    Col::LI64(b) => Arc::new(b.finish()),
                    Col::LU8(b) => Arc::new(b.finish()),
                    Col::LU16(b) => Arc::new(b.finish()),
                    Col::LStr(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(flow_schema(), arrays)
    }
}

struct Row<'a> {
    c: &'a mut Columns,
    i: usize,
}

macro_rules! setter {
    ($name:ident, $variant:ident, $t:ty) => {
        fn $name(&mut self, name: &str, v: Option<$t>) {
            debug_assert_eq!(
                self.c.names[self.i], name,
                "column order differs from the schema"
            );
            match &mut self.c.cols[self.i] {
                Col::$variant(b) => b.append_option(v),
                _ => panic!("column {name} has another type in the schema"),
            }
            self.i += 1;
        }
    };
}

impl Row<'_> {
    setter!(bool, Bool, bool);
    setter!(u8, U8, u8);
    setter!(u16, U16, u16);
    setter!(u32, U32, u32);
    setter!(i64, I64, i64);
    setter!(f64, F64, f64);
    setter!(ts, Ts, i64);

    /// Appends a string built by `f` in the reusable scratch buffer.
    fn built(&mut self, name: &str, f: impl FnOnce(&mut String)) {
        let mut buf = std::mem::take(&mut self.c.scratch);
        buf.clear();
        f(&mut buf);
        self.str(name, Some(&buf));
        self.c.scratch = buf;
    }

    fn str(&mut self, name: &str, v: Option<&str>) {
        debug_assert_eq!(
            self.c.names[self.i], name,
            "column order differs from the schema"
        );
        match &mut self.c.cols[self.i] {
            Col::Str(b) => b.append_option(v),
            _ => panic!("column {name} has another type in the schema"),
        }
        self.i += 1;
    }

    fn list_u16(&mut self, name: &str, v: Option<&[u16]>) {
        self.check(name);
        if let Col::LU16(b) = &mut self.c.cols[self.i] {
            match v {
                Some(v) => {
                    b.values().append_slice(v);
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        self.i += 1;
    }

    fn list_str(&mut self, name: &str, v: Option<&[String]>) {
        self.check(name);
        if let Col::LStr(b) = &mut self.c.cols[self.i] {
            match v {
                Some(v) => {
                    for s in v {
                        b.values().append_value(s);
                    }
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        self.i += 1;
    }

    /// Appends null to every remaining column, from `first` on, except
    /// `zero`, which gets 0 (a non-null counter).
    fn nulls_to_end(&mut self, first: &str, zero: &str) {
        self.check(first);
        while self.i < self.c.cols.len() {
            let is_zero = self.c.names[self.i] == zero;
            match &mut self.c.cols[self.i] {
                Col::Bool(b) => b.append_null(),
                Col::U8(b) => b.append_null(),
                Col::U16(b) => b.append_null(),
                Col::U32(b) if is_zero => b.append_value(0),
                Col::U32(b) => b.append_null(),
                Col::I64(b) => b.append_null(),
                Col::F64(b) => b.append_null(),
                Col::Str(b) => b.append_null(),
                Col::Ts(b) => b.append_null(),
                Col::LI16(b) => b.append(false),
                Col::LI64(b) => b.append(false),
                Col::LU8(b) => b.append(false),
                Col::LU16(b) => b.append(false),
                Col::LStr(b) => b.append(false),
            }
            self.i += 1;
        }
    }

    fn check(&self, name: &str) {
        debug_assert_eq!(
            self.c.names[self.i], name,
            "column order differs from the schema"
        );
    }

    fn list<T: Copy>(&mut self, name: &str, v: &[T], push: impl Fn(&mut Col, &[T])) {
        debug_assert_eq!(
            self.c.names[self.i], name,
            "column order differs from the schema"
        );
        push(&mut self.c.cols[self.i], v);
        self.i += 1;
    }
}

fn u32c(v: u64) -> u32 {
    v.min(u64::from(u32::MAX)) as u32
}

fn i64c(v: u64) -> i64 {
    v.min(i64::MAX as u64) as i64
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// Combined payload-length summary of both directions.
fn both(a: &Summary, b: &Summary) -> Summary {
    a.merged(b)
}

fn write_record(w: &mut Row<'_>, r: &FlowRecord, sensor_id: &str) {
    let e = &r.entry;
    let (orig, resp) = e.addrs();
    w.i64("flow_uid", Some(r.uid));
    w.u32("piece", Some(e.piece));
    w.bool("continues", Some(r.continues));
    w.str("sensor_id", Some(sensor_id));
    let (cp_s, cp_d) = (e.orig_port, e.resp_port);
    w.built("community_id", |b| {
        crate::flow::key::community_id_into(b, e.key.proto, orig, resp, cp_s, cp_d)
    });
    w.u16("vlan", e.vlan());
    w.u16("inner_vlan", e.inner_vlan());
    w.u8("ip_version", Some(e.key.version));
    w.u8("proto", Some(e.key.proto));
    w.built("orig_addr", |b| {
        let _ = write!(b, "{orig}");
    });
    w.u16("orig_port", Some(e.orig_port));
    w.built("resp_addr", |b| {
        let _ = write!(b, "{resp}");
    });
    w.u16("resp_port", Some(e.resp_port));
    w.u16("icmp_id", e.icmp_id);
    let tun = &r.tunnel;
    let tunnelled = tun.depth > 0;
    let addr = |a: Option<std::net::IpAddr>| a.filter(|_| tunnelled).map(|a| a.to_string());
    w.str("tunnel_type", tunnelled.then(|| tun.type_name()).as_deref());
    w.str("tunnel_outer_src", addr(tun.outer_src).as_deref());
    w.str("tunnel_outer_dst", addr(tun.outer_dst).as_deref());
    w.u32("tunnel_id", tun.id.filter(|_| tunnelled));
    let first_us = (e.first_ns / 1000) as i64;
    let last_us = (e.last_ns / 1000) as i64;
    w.ts("first_ts", Some(first_us));
    w.ts("last_ts", Some(last_us));
    w.i64("duration_us", Some(last_us - first_us));
    let tcp = e.key.proto == 6;
    macro_rules! direction {
        ($d:literal, $s:expr) => {{
            let s = &$s;
            w.i64(concat!($d, "_pkts"), Some(i64c(s.pkts)));
            w.i64(concat!($d, "_wire_bytes"), Some(i64c(s.wire_bytes)));
            w.i64(concat!($d, "_ip_bytes"), Some(i64c(s.ip_bytes)));
            w.i64(concat!($d, "_payload_bytes"), Some(i64c(s.payload_bytes)));
            w.i64(
                concat!($d, "_l4_header_bytes"),
                Some(i64c(s.l4_header_bytes)),
            );
            w.u8(concat!($d, "_l4_header_min"), s.l4_header_min);
            w.i64(concat!($d, "_payload_pkts"), Some(i64c(s.payload_pkts)));
            w.u32(concat!($d, "_fin"), Some(s.flags[0]));
            w.u32(concat!($d, "_syn"), Some(s.flags[1]));
            w.u32(concat!($d, "_rst"), Some(s.flags[2]));
            w.u32(concat!($d, "_psh"), Some(s.flags[3]));
            w.u32(concat!($d, "_ack"), Some(s.flags[4]));
            w.u32(concat!($d, "_urg"), Some(s.flags[5]));
            w.u32(concat!($d, "_ece"), Some(s.flags[6]));
            w.u32(concat!($d, "_cwr"), Some(s.flags[7]));
            w.u16(
                concat!($d, "_init_win"),
                if tcp { s.init_win } else { None },
            );
            w.u32(concat!($d, "_frags"), Some(s.frags));
            w.u32(concat!($d, "_retrans"), Some(s.retrans));
            w.u32(concat!($d, "_ooo"), Some(s.ooo));
            w.u32(concat!($d, "_zero_win"), Some(s.zero_win));
        }};
    }
    direction!("orig", e.dir[0]);
    direction!("resp", e.dir[1]);
    let flow_len = both(&e.dir[0].len, &e.dir[1].len);
    macro_rules! stats {
        ($d:literal, $len:expr, $iat:expr) => {{
            let (len, iat) = ($len, $iat);
            w.u32(concat!($d, "_payload_len_min"), len.min().map(u32c));
            w.u32(concat!($d, "_payload_len_max"), len.max().map(u32c));
            w.f64(concat!($d, "_payload_len_mean"), finite(len.mean()));
            w.f64(concat!($d, "_payload_len_std"), finite(len.std()));
            w.i64(concat!($d, "_iat_min_us"), iat.min().map(i64c));
            w.i64(concat!($d, "_iat_max_us"), iat.max().map(i64c));
            w.f64(concat!($d, "_iat_mean_us"), finite(iat.mean()));
            w.f64(concat!($d, "_iat_std_us"), finite(iat.std()));
        }};
    }
    stats!("orig", &e.dir[0].len, &e.dir[0].iat);
    stats!("resp", &e.dir[1].len, &e.dir[1].iat);
    stats!("flow", &flow_len, &e.flow_iat);
    let (active, idle) = e.act.finish(e.last_ns / 1000);
    w.i64("active_min_us", active.min().map(i64c));
    w.i64("active_max_us", active.max().map(i64c));
    w.f64("active_mean_us", finite(active.mean()));
    w.f64("active_std_us", finite(active.std()));
    w.i64("idle_min_us", idle.min().map(i64c));
    w.i64("idle_max_us", idle.max().map(i64c));
    w.f64("idle_mean_us", finite(idle.mean()));
    w.f64("idle_std_us", finite(idle.std()));
    w.u32("subflows", Some(e.subflows));
    macro_rules! bulk {
        ($d:literal, $b:expr) => {{
            let b = $b.finished();
            w.u32(concat!($d, "_bulks"), Some(b.count));
            w.i64(concat!($d, "_bulk_pkts"), Some(i64::from(b.pkts)));
            w.i64(concat!($d, "_bulk_bytes"), Some(i64c(b.bytes)));
            w.i64(concat!($d, "_bulk_us"), Some(i64::from(b.us)));
        }};
    }
    bulk!("orig", e.bulk[0]);
    bulk!("resp", e.bulk[1]);
    let n = usize::from(e.splt.n);
    w.list("splt_len", &e.splt.len[..n], |c, v| {
        if let Col::LI16(b) = c {
            b.values().append_slice(v);
            b.append(true);
        }
    });
    let iats: [i64; mekong_schema::SPLT_LEN] = std::array::from_fn(|i| i64::from(e.splt.iat_us[i]));
    w.list("splt_iat_us", &iats[..n], |c, v| {
        if let Col::LI64(b) = c {
            b.values().append_slice(v);
            b.append(true);
        }
    });
    w.list("splt_flags", &e.splt.flags[..n], |c, v| {
        if let Col::LU8(b) = c {
            b.values().append_slice(v);
            b.append(true);
        }
    });
    w.str("end_reason", Some(r.end.name()));
    let (ob, rb) = (e.dir[0].payload_bytes, e.dir[1].payload_bytes);
    w.str(
        "conn_state",
        if tcp {
            Some(e.tcp.conn_state(ob, rb))
        } else {
            None
        },
    );
    w.str("history", if tcp { Some(e.tcp.history()) } else { None });
    w.u32("anomalies", Some(e.anomalies));
    write_app(w, r.app.as_deref());
}

/// The application columns (null where the record has no such metadata).
fn write_app(w: &mut Row<'_>, a: Option<&AppMeta>) {
    let Some(a) = a else {
        // Most records: every application column null, `app_anomalies` 0.
        w.nulls_to_end("app_proto", "app_anomalies");
        return;
    };
    let a = Some(a);
    w.str("app_proto", a.and_then(|a| a.proto).map(|p| p.name()));
    w.u32("app_anomalies", Some(a.map_or(0, |a| a.anomalies)));
    let dns = a.and_then(|a| a.dns.as_ref());
    w.str("dns_query", dns.and_then(|d| d.query.as_deref()));
    w.u16("dns_qtype", dns.and_then(|d| d.qtype));
    w.u16("dns_qclass", dns.and_then(|d| d.qclass));
    w.u8("dns_rcode", dns.and_then(|d| d.rcode));
    w.u16("dns_answer_count", dns.and_then(|d| d.answer_count));
    w.list_str("dns_answers", dns.and_then(|d| d.answers.as_deref()));
    w.u32("dns_min_ttl", dns.and_then(|d| d.min_ttl));
    w.u32("dns_queries", dns.map(|d| d.queries));
    w.u32("dns_distinct_names", dns.map(|d| d.distinct_names()));
    let qname = dns.and_then(|d| d.query.as_deref());
    w.u16(
        "dns_qname_len",
        qname.map(|q| q.len().min(usize::from(u16::MAX)) as u16),
    );
    w.u8("dns_qname_labels", dns.and_then(|d| d.qname_labels));
    w.f64("dns_qname_entropy", dns.and_then(|d| d.qname_entropy));
    let tls = a.and_then(|a| a.tls.as_ref());
    w.str("tls_sni", tls.and_then(|t| t.sni.as_deref()));
    w.list_u16(
        "tls_client_versions",
        tls.and_then(|t| t.client_versions.as_deref()),
    );
    w.list_str("tls_alpn", tls.and_then(|t| t.alpn.as_deref()));
    w.list_u16("tls_ciphers", tls.and_then(|t| t.ciphers.as_deref()));
    w.list_u16("tls_extensions", tls.and_then(|t| t.extensions.as_deref()));
    w.str("tls_ja4", tls.and_then(|t| t.ja4.as_deref()));
    w.str("tls_ja3", tls.and_then(|t| t.ja3.as_deref()));
    w.str("tls_ja3s", tls.and_then(|t| t.ja3s.as_deref()));
    w.u16("tls_server_version", tls.and_then(|t| t.server_version));
    w.u16("tls_server_cipher", tls.and_then(|t| t.server_cipher));
    let cert = tls.and_then(|t| t.cert.as_ref());
    w.str("tls_cert_subject", cert.map(|c| c.subject.as_str()));
    w.str("tls_cert_issuer", cert.map(|c| c.issuer.as_str()));
    w.ts("tls_cert_not_before", cert.and_then(|c| c.not_before_us));
    w.ts("tls_cert_not_after", cert.and_then(|c| c.not_after_us));
    w.str("tls_cert_sha256", cert.map(|c| c.sha256.as_str()));
    let http = a.and_then(|a| a.http.as_ref());
    w.str("http_method", http.and_then(|h| h.method.as_deref()));
    w.str("http_host", http.and_then(|h| h.host.as_deref()));
    w.str("http_uri", http.and_then(|h| h.uri.as_deref()));
    w.str(
        "http_user_agent",
        http.and_then(|h| h.user_agent.as_deref()),
    );
    w.u16("http_status", http.and_then(|h| h.status));
    w.str(
        "http_content_type",
        http.and_then(|h| h.content_type.as_deref()),
    );
    w.i64(
        "http_request_body_len",
        http.and_then(|h| h.request_body_len).map(i64c),
    );
    w.i64(
        "http_response_body_len",
        http.and_then(|h| h.response_body_len).map(i64c),
    );
    w.u32("http_requests", http.map(|h| h.requests));
    w.u32("http_responses", http.map(|h| h.responses));
    let ssh = a.and_then(|a| a.ssh.as_ref());
    w.str(
        "ssh_client_banner",
        ssh.and_then(|s| s.client_banner.as_deref()),
    );
    w.str(
        "ssh_server_banner",
        ssh.and_then(|s| s.server_banner.as_deref()),
    );
    w.str("ssh_hassh", ssh.and_then(|s| s.hassh.as_deref()));
    w.str(
        "ssh_hassh_server",
        ssh.and_then(|s| s.hassh_server.as_deref()),
    );
    w.u32("quic_version", a.and_then(|a| a.quic_version));
}
