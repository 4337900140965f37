//! The one definition of Mekong's flow record: every column's name, type,
//! nullability, unit and meaning, and the file-level metadata keys.
//!
//! The sensor writes exactly [`flow_schema`]; the analyzer reads by the
//! column names defined here; `docs/flow-record.md` is rendered from this
//! table by [`render_markdown`] (a test fails when the document drifts).
//!
//! Column names follow Zeek's `orig_`/`resp_` prefixes (originator = the side
//! that sent the first packet, or the SYN when one is seen) and NFStream's
//! `{direction}_{stat}_{feature}` grammar, with units in the name where they
//! are not bytes or counts (`_us`).
//!
//! ```
//! let schema = mekong_schema::flow_schema();
//! assert_eq!(schema.field(0).name(), "flow_uid");
//! assert!(schema.field_with_name("community_id").is_ok());
//! assert_eq!(schema.metadata()["mekong.schema_version"], mekong_schema::SCHEMA_VERSION.to_string());
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod alert;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Version of the flow-record schema. Changes are additive (new nullable
/// columns) and bump this number.
pub const SCHEMA_VERSION: u32 = 5;

/// Length of the early-packet (SPLT) list columns.
pub const SPLT_LEN: usize = 20;

/// Inactivity gap that separates CICFlowMeter-style active periods, µs.
pub const ACTIVITY_TIMEOUT_US: i64 = 5_000_000;

/// Gap that separates subflows (CICFlowMeter), µs.
pub const SUBFLOW_GAP_US: i64 = 1_000_000;

/// Column types used by the flow record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// Boolean.
    Bool,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 32-bit integer.
    U32,
    /// Signed 64-bit integer.
    I64,
    /// 64-bit float.
    F64,
    /// UTF-8 string.
    Str,
    /// Timestamp, microseconds since the Unix epoch, UTC.
    TsUs,
    /// List of signed 16-bit integers.
    ListI16,
    /// List of signed 64-bit integers.
    ListI64,
    /// List of unsigned 8-bit integers.
    ListU8,
    /// List of unsigned 16-bit integers.
    ListU16,
    /// List of strings.
    ListStr,
}

impl Ty {
    /// The Arrow data type.
    pub fn data_type(self) -> DataType {
        let item = |t: DataType| DataType::List(Arc::new(Field::new("item", t, false)));
        match self {
            Ty::Bool => DataType::Boolean,
            Ty::U8 => DataType::UInt8,
            Ty::U16 => DataType::UInt16,
            Ty::U32 => DataType::UInt32,
            Ty::I64 => DataType::Int64,
            Ty::F64 => DataType::Float64,
            Ty::Str => DataType::Utf8,
            Ty::TsUs => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Ty::ListI16 => item(DataType::Int16),
            Ty::ListI64 => item(DataType::Int64),
            Ty::ListU8 => item(DataType::UInt8),
            Ty::ListU16 => item(DataType::UInt16),
            Ty::ListStr => item(DataType::Utf8),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Ty::Bool => "bool",
            Ty::U8 => "uint8",
            Ty::U16 => "uint16",
            Ty::U32 => "uint32",
            Ty::I64 => "int64",
            Ty::F64 => "float64",
            Ty::Str => "string",
            Ty::TsUs => "timestamp[us, UTC]",
            Ty::ListI16 => "list<int16>",
            Ty::ListI64 => "list<int64>",
            Ty::ListU8 => "list<uint8>",
            Ty::ListU16 => "list<uint16>",
            Ty::ListStr => "list<string>",
        }
    }
}

/// One column of the flow record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// Column name.
    pub name: String,
    /// Type.
    pub ty: Ty,
    /// Whether the column may be null.
    pub nullable: bool,
    /// Unit (empty when a count or a label).
    pub unit: &'static str,
    /// Meaning.
    pub doc: String,
}

/// Groups of columns, in schema order (used to structure the documentation).
pub const GROUPS: [&str; 24] = [
    "Identity",
    "Per direction",
    "Statistics",
    "CICFlowMeter compatibility",
    "Early packets",
    "State",
    "Anomalies",
    "Application",
    "DNS",
    "TLS",
    "HTTP",
    "SSH",
    "QUIC",
    "SMB",
    "DCE/RPC",
    "NTLM",
    "Kerberos",
    "DHCP",
    "RDP",
    "Logins",
    "FTP",
    "SMTP",
    "Mining",
    "Alerts",
];

pub(crate) fn f(
    name: &str,
    ty: Ty,
    nullable: bool,
    unit: &'static str,
    doc: &str,
) -> (usize, FieldSpec) {
    (
        0,
        FieldSpec {
            name: name.to_string(),
            ty,
            nullable,
            unit,
            doc: doc.to_string(),
        },
    )
}

/// Bits of the `anomalies` column.
pub mod anomaly {
    /// A packet was cut short by the capture's snapshot length.
    pub const TRUNCATED: u32 = 1 << 0;
    /// An IP header had a bad length field (total length shorter than the header, or longer than the frame).
    pub const IP_LENGTH: u32 = 1 << 1;
    /// IPv4 options were present.
    pub const IP_OPTIONS: u32 = 1 << 2;
    /// An IPv6 extension header could not be parsed.
    pub const IPV6_EXT: u32 = 1 << 3;
    /// A TCP header had a bad data offset or was cut short.
    pub const TCP_HEADER: u32 = 1 << 4;
    /// A UDP length field disagreed with the IP payload length.
    pub const UDP_LENGTH: u32 = 1 << 5;
    /// Fragments of a datagram overlapped with different content, or exceeded 65,535 bytes.
    pub const FRAGMENT_OVERLAP: u32 = 1 << 6;
    /// A packet's timestamp was earlier than the previous packet of the flow.
    pub const TIME_BACKWARDS: u32 = 1 << 7;
    /// A TCP packet carried both SYN and FIN, or SYN and RST.
    pub const TCP_FLAGS: u32 = 1 << 8;
    /// A tunnel header was cut short or malformed (the outer packet was used).
    pub const TUNNEL: u32 = 1 << 9;
    /// A datagram's fragments never all arrived (timeout, full pool, end of
    /// input); those that did are counted in this record.
    pub const FRAGMENT_INCOMPLETE: u32 = 1 << 10;

    /// (bit, name, meaning) for documentation.
    pub const ALL: [(u32, &str, &str); 11] = [
        (
            TRUNCATED,
            "truncated",
            "a packet was cut short by the capture's snapshot length",
        ),
        (
            IP_LENGTH,
            "ip_length",
            "an IP length field disagreed with the frame",
        ),
        (IP_OPTIONS, "ip_options", "IPv4 options were present"),
        (
            IPV6_EXT,
            "ipv6_ext",
            "an IPv6 extension header could not be parsed",
        ),
        (
            TCP_HEADER,
            "tcp_header",
            "a TCP header had a bad data offset or was cut short",
        ),
        (
            UDP_LENGTH,
            "udp_length",
            "a UDP length field disagreed with the IP payload",
        ),
        (
            FRAGMENT_OVERLAP,
            "fragment_overlap",
            "fragments overlapped with different content, or exceeded 65,535 bytes",
        ),
        (
            TIME_BACKWARDS,
            "time_backwards",
            "a packet's timestamp was earlier than the flow's previous packet",
        ),
        (
            TCP_FLAGS,
            "tcp_flags",
            "a TCP packet combined SYN with FIN or RST",
        ),
        (
            TUNNEL,
            "tunnel",
            "a tunnel header was malformed; the outer packet was used",
        ),
        (
            FRAGMENT_INCOMPLETE,
            "fragment_incomplete",
            "a datagram's fragments never all arrived; those that did are counted (without a first fragment, in a flow of the address pair without ports)",
        ),
    ];
}

fn build() -> Vec<(usize, FieldSpec)> {
    use Ty::*;
    let mut v = Vec::new();
    let mut g = |group: usize, items: Vec<(usize, FieldSpec)>| {
        v.extend(items.into_iter().map(|(_, s)| (group, s)));
    };
    g(0, vec![
        f("flow_uid", I64, false, "", "Identifier of the flow, unique per sensor (a 64-bit hash of the sensor id, the flow key and the time of the flow's first packet). All records of one flow cut by the active timeout share it."),
        f("piece", U32, false, "", "Which active-timeout interval of the flow this record covers: 0 for the first, k for packets in [start + k·T, start + (k+1)·T) where T is the active timeout. Intervals without packets produce no record, so pieces may skip numbers."),
        f("continues", Bool, false, "", "True when the record was cut by the active timeout while the flow was still active; later packets of the flow are in records with a higher `piece`."),
        f("sensor_id", Str, false, "", "Identifier of the sensor that wrote the record."),
        f("community_id", Str, false, "", "Community ID v1 (seed 0) of the flow, as Zeek and Suricata compute it, so records join with their logs."),
        f("vlan", U16, true, "", "Outer 802.1Q VLAN id of the packets, null when untagged."),
        f("inner_vlan", U16, true, "", "Inner VLAN id of QinQ (802.1ad) frames, null when absent."),
        f("ip_version", U8, false, "", "4 or 6 (of the inner packet for tunnelled flows)."),
        f("proto", U8, false, "", "IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, others as seen)."),
        f("orig_addr", Str, false, "", "Originator address: the sender of the first packet, or of the SYN when one is seen (a capture that starts with the SYN-ACK keeps the roles)."),
        f("orig_port", U16, false, "", "Originator port; for ICMP and ICMPv6 the message type of the originator's first packet (as Zeek); 0 for other protocols."),
        f("resp_addr", Str, false, "", "Responder address."),
        f("resp_port", U16, false, "", "Responder port; for ICMP and ICMPv6 the message code (as Zeek); 0 for other protocols."),
        f("icmp_id", U16, true, "", "ICMP/ICMPv6 echo identifier for echo flows (which are keyed by it), null otherwise."),
        f("tunnel_type", Str, true, "", "Encapsulation the flow was found in, outermost first, joined by `+` (`gre`, `erspan`, `vxlan`, `geneve`, e.g. `gre+erspan+vxlan`); null when not tunnelled."),
        f("tunnel_outer_src", Str, true, "", "Source address of the outermost IP header of the flow's first packet, when tunnelled."),
        f("tunnel_outer_dst", Str, true, "", "Destination address of the outermost IP header of the flow's first packet, when tunnelled."),
        f("tunnel_id", U32, true, "", "Innermost tunnel identifier when the encapsulation has one: VXLAN/Geneve VNI, GRE key, ERSPAN session id."),
        f("first_ts", TsUs, false, "µs", "Time of the record's first packet (UTC)."),
        f("last_ts", TsUs, false, "µs", "Time of the record's last packet (UTC), trailing packets such as the final ACK included."),
        f("duration_us", I64, false, "µs", "last_ts − first_ts."),
    ]);
    for (d, who) in [("orig", "originator"), ("resp", "responder")] {
        let c = |n: &str| format!("{d}_{n}");
        g(1, vec![
            f(&c("pkts"), I64, false, "", &format!("Packets sent by the {who}. A reassembled IP datagram counts as the fragments it was made of.")),
            f(&c("wire_bytes"), I64, false, "bytes", &format!("Frame bytes sent by the {who} as on the wire: the original length from the capture header (link-layer header included, FCS excluded as captured).")),
            f(&c("ip_bytes"), I64, false, "bytes", &format!("IP bytes sent by the {who}: the sum of IP total lengths (IPv6: 40 + payload length) of the (inner, for tunnels) packets; for fragments, of each fragment.")),
            f(&c("payload_bytes"), I64, false, "bytes", &format!("Transport payload bytes sent by the {who}: after the TCP header (options included), the UDP header or the 8-byte ICMP header; the IP payload for other protocols.")),
            f(&c("l4_header_bytes"), I64, false, "bytes", &format!("Transport header bytes sent by the {who} (TCP header with options, 8 for UDP and ICMP): CICFlowMeter's 'Header Length'.")),
            f(&c("l4_header_min"), U8, true, "bytes", &format!("Smallest transport header of the {who}'s packets (CICFlowMeter min_seg_size); null without packets.")),
            f(&c("payload_pkts"), I64, false, "", &format!("Packets of the {who} with at least one payload byte (CICFlowMeter act_data_pkt).")),
            f(&c("fin"), U32, false, "", &format!("TCP packets from the {who} with FIN set.")),
            f(&c("syn"), U32, false, "", &format!("TCP packets from the {who} with SYN set.")),
            f(&c("rst"), U32, false, "", &format!("TCP packets from the {who} with RST set.")),
            f(&c("psh"), U32, false, "", &format!("TCP packets from the {who} with PSH set.")),
            f(&c("ack"), U32, false, "", &format!("TCP packets from the {who} with ACK set.")),
            f(&c("urg"), U32, false, "", &format!("TCP packets from the {who} with URG set.")),
            f(&c("ece"), U32, false, "", &format!("TCP packets from the {who} with ECE set.")),
            f(&c("cwr"), U32, false, "", &format!("TCP packets from the {who} with CWR set.")),
            f(&c("init_win"), U16, true, "", &format!("TCP window field of the {who}'s first packet (unscaled, as on the wire); null for non-TCP or without packets.")),
            f(&c("frags"), U32, false, "", &format!("IP fragments among the {who}'s packets.")),
            f(&c("retrans"), U32, false, "", &format!("TCP segments from the {who} whose data (or SYN/FIN) had been seen already: retransmissions.")),
            f(&c("ooo"), U32, false, "", &format!("TCP segments from the {who} that filled a gap left by later data: out of order.")),
            f(&c("zero_win"), U32, false, "", &format!("TCP packets from the {who} advertising a zero window (RST excluded).")),
        ]);
    }
    for (d, who) in [
        ("orig", "the originator's packets"),
        ("resp", "the responder's packets"),
        ("flow", "all packets of the record"),
    ] {
        let c = |n: &str| format!("{d}_{n}");
        g(2, vec![
            f(&c("payload_len_min"), U32, true, "bytes", &format!("Smallest transport payload length of {who}; null without packets.")),
            f(&c("payload_len_max"), U32, true, "bytes", &format!("Largest transport payload length of {who}; null without packets.")),
            f(&c("payload_len_mean"), F64, true, "bytes", &format!("Mean transport payload length of {who}; null without packets.")),
            f(&c("payload_len_std"), F64, true, "bytes", &format!("Sample standard deviation (n − 1) of the transport payload lengths of {who}; null with fewer than two packets.")),
            f(&c("iat_min_us"), I64, true, "µs", &format!("Smallest gap between consecutive packets among {who}; null with fewer than two packets. Gaps are never negative: a packet stamped earlier than its predecessor counts as a gap of 0 (and sets the time_backwards anomaly).")),
            f(&c("iat_max_us"), I64, true, "µs", &format!("Largest gap between consecutive packets among {who}; null with fewer than two packets.")),
            f(&c("iat_mean_us"), F64, true, "µs", &format!("Mean gap between consecutive packets among {who}; null with fewer than two packets.")),
            f(&c("iat_std_us"), F64, true, "µs", &format!("Sample standard deviation (n − 1) of the gaps among {who}; null with fewer than two gaps.")),
        ]);
    }
    g(3, vec![
        f("active_min_us", I64, true, "µs", "Shortest active period: a run of packets with no gap over 5 s (CICFlowMeter's activity timeout), from its first to its last packet. Null when the record has no active period longer than 0."),
        f("active_max_us", I64, true, "µs", "Longest active period."),
        f("active_mean_us", F64, true, "µs", "Mean active period."),
        f("active_std_us", F64, true, "µs", "Sample standard deviation of the active periods; null with fewer than two."),
        f("idle_min_us", I64, true, "µs", "Shortest idle period: a gap over 5 s between consecutive packets. Null when there is none."),
        f("idle_max_us", I64, true, "µs", "Longest idle period."),
        f("idle_mean_us", F64, true, "µs", "Mean idle period."),
        f("idle_std_us", F64, true, "µs", "Sample standard deviation of the idle periods; null with fewer than two."),
        f("subflows", U32, false, "", "Subflows: runs of packets separated by gaps over 1 s (CICFlowMeter); Subflow Fwd Packets = orig_pkts / subflows."),
        f("orig_bulks", U32, false, "", "Bulk transfers by the originator: at least 4 consecutive payload packets from it, with no payload packet from the responder in between and no gap over 1 s (CICFlowMeter, without its direction bug)."),
        f("orig_bulk_pkts", I64, false, "", "Packets in the originator's bulks."),
        f("orig_bulk_bytes", I64, false, "bytes", "Payload bytes in the originator's bulks."),
        f("orig_bulk_us", I64, false, "µs", "Total duration of the originator's bulks (first to last packet of each)."),
        f("resp_bulks", U32, false, "", "Bulk transfers by the responder."),
        f("resp_bulk_pkts", I64, false, "", "Packets in the responder's bulks."),
        f("resp_bulk_bytes", I64, false, "bytes", "Payload bytes in the responder's bulks."),
        f("resp_bulk_us", I64, false, "µs", "Total duration of the responder's bulks."),
    ]);
    g(4, vec![
        f("splt_len", ListI16, false, "bytes", "IP length of each of the record's first 20 packets, positive from the originator, negative from the responder (NFStream SPLT)."),
        f("splt_iat_us", ListI64, false, "µs", "Gap before each of the first 20 packets (0 for the first)."),
        f("splt_flags", ListU8, false, "", "TCP flags byte of each of the first 20 packets (0 for non-TCP)."),
    ]);
    g(5, vec![
        f("end_reason", Str, false, "", "Why the record ended: `tcp_close` (FIN both ways, or RST, then 5 s of quiet for trailing packets), `idle` (idle timeout), `active` (active timeout; see `continues`), `evicted` (the flow table was full), `eof` (end of input), `shutdown` (the sensor stopped)."),
        f("conn_state", Str, true, "", "Zeek's TCP connection state: S0 attempt, no reply; S1 established, not closed; SF normal establishment and close; REJ rejected; S2 established, originator closed, no reply; S3 established, responder closed, no reply; RSTO/RSTR established, originator/responder reset; RSTOS0 originator SYN then RST, no SYN-ACK; RSTRH responder SYN-ACK then RST, no SYN seen; SH originator SYN then FIN, no SYN-ACK; SHR responder SYN-ACK then FIN, no SYN; OTH no SYN seen (midstream). Null for non-TCP."),
        f("history", Str, true, "", "Zeek's TCP history: originator letters upper case, responder lower case, each recorded the first time it happens: S SYN, H SYN-ACK, A pure ACK (no payload, SYN, FIN or RST), D payload, F FIN, R RST, T retransmission, W zero window, Q SYN with FIN or RST, ^ roles flipped because the first packet was a SYN-ACK. Null for non-TCP."),
    ]);
    g(6, vec![
        f("anomalies", U32, false, "", "Bit set of decode anomalies seen in the record's packets: see the table of anomaly bits."),
    ]);
    g(7, vec![
        f("app_proto", Str, true, "", "Application protocol recognised from the payload, whatever the port: `dns`, `tls`, `http`, `ssh`, `quic`, `ftp`, `telnet`, `pop3`, `imap`; null when none was."),
        f("app_anomalies", U32, false, "", "Bit set of application-parser problems: 1 malformed message, 2 gap in the stream before the parser finished, 4 a parser needed more than the stream depth or the buffer budget allowed and was given up, 8 a value was cut to its column's bound. Counts (`dns_queries`, `http_requests`...) are per record; names, fingerprints and first messages carry over to every record of a long flow."),
    ]);
    g(8, vec![
        f("dns_query", Str, true, "", "Name asked by the flow's first DNS query (labels joined by dots, without the trailing dot; bytes outside printable ASCII escaped as \\DDD)."),
        f("dns_qtype", U16, true, "", "Type of the first query (1 A, 28 AAAA, 5 CNAME, 15 MX, 16 TXT, 255 ANY...)."),
        f("dns_qclass", U16, true, "", "Class of the first query (1 IN)."),
        f("dns_rcode", U8, true, "", "Response code of the first response (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN...)."),
        f("dns_answer_count", U16, true, "", "Answer records in the first response (its ANCOUNT)."),
        f("dns_answers", ListStr, true, "", "The first response's first 10 answers: addresses for A and AAAA, names for CNAME, NS, PTR and MX, text for TXT (first 100 bytes)."),
        f("dns_min_ttl", U32, true, "s", "Smallest TTL among the first response's answers."),
        f("dns_queries", U32, true, "", "DNS queries in the record."),
        f("dns_distinct_names", U32, true, "", "Distinct query names in the record (counted up to 1,024)."),
        f("dns_qname_len", U16, true, "bytes", "Length of the first query name as text (dots included, no trailing dot)."),
        f("dns_qname_labels", U8, true, "", "Labels in the first query name."),
        f("dns_qname_entropy", F64, true, "bits", "Shannon entropy, in bits per character, of the first query name's characters with the dots left out (lower-cased): random encodings of tunnels score above 4."),
        f("dns_tcp_longest", U16, true, "bytes", "Longest DNS message over TCP (its length prefix). Messages longer than 4,096 bytes (zone transfers, and SIGRed's oversized signature answers, alerted by the exploit detector) are not read whole."),
    ]);
    g(9, vec![
        f("tls_sni", Str, true, "", "Server name from the ClientHello (TLS over TCP, or QUIC's Initial)."),
        f("tls_client_versions", ListU16, true, "", "Versions the client offers: the supported_versions extension without GREASE, else the ClientHello's legacy version (0x0303 = 771 is TLS 1.2, 0x0304 = 772 TLS 1.3)."),
        f("tls_alpn", ListStr, true, "", "ALPN protocols the client offers, in order."),
        f("tls_ciphers", ListU16, true, "", "Cipher suites the client offers, in order, GREASE included as sent."),
        f("tls_extensions", ListU16, true, "", "Extension types of the ClientHello, in order, GREASE included as sent."),
        f("tls_ja4", Str, true, "", "JA4 client fingerprint (FoxIO's specification, the BSD-licensed JA4 part): `t`/`q` + version + SNI flag + cipher and extension counts + ALPN ends, then truncated SHA-256 of the sorted ciphers and of the sorted extensions with signature algorithms."),
        f("tls_ja3", Str, true, "", "JA3 client fingerprint: MD5 (hex) of version,ciphers,extensions,groups,point formats (decimal, dash-joined, GREASE removed)."),
        f("tls_ja3s", Str, true, "", "JA3S server fingerprint: MD5 (hex) of version,cipher,extensions of the ServerHello."),
        f("tls_server_version", U16, true, "", "Version the server chose (supported_versions of the ServerHello, else its legacy version)."),
        f("tls_server_cipher", U16, true, "", "Cipher suite the server chose."),
        f("tls_cert_subject", Str, true, "", "Subject of the server's certificate (TLS 1.2 and below, when the Certificate message is in the stream's first bytes), RFC 4514 style (`CN=...,O=...,C=...`, last RDN first; attributes RFC 4514 does not name get OpenSSL's short names, `serialNumber`, `emailAddress`, `jurisdictionC`..., or their dotted OID), as `openssl x509 -nameopt RFC2253,-esc_msb` prints it."),
        f("tls_cert_issuer", Str, true, "", "Issuer of the server's certificate, RFC 4514 style."),
        f("tls_cert_not_before", TsUs, true, "µs", "Start of the certificate's validity (UTC)."),
        f("tls_cert_not_after", TsUs, true, "µs", "End of the certificate's validity (UTC)."),
        f("tls_cert_sha256", Str, true, "", "SHA-256 (hex) of the server certificate's DER bytes."),
        f("tls_heartbeats", U32, true, "", "TLS heartbeat records (each read where it begins a TCP segment, as heartbeats are sent)."),
        f("tls_heartbeat_client_max", U32, true, "bytes", "Longest heartbeat record from the client."),
        f("tls_heartbeat_server_max", U32, true, "bytes", "Longest heartbeat record from the server (longer than the client's by 1 KiB or more: memory leaked, Heartbleed)."),
        f("tls_heartbeat_overclaims", U32, true, "", "Heartbeat requests in the clear whose declared payload length, with the 19 bytes of type, length and minimum padding, exceeds the record (CVE-2014-0160, Heartbleed)."),
    ]);
    g(10, vec![
        f("http_method", Str, true, "", "Method of the first HTTP/1.x request."),
        f("http_host", Str, true, "", "Host header of the first request (at most 256 bytes)."),
        f("http_uri", Str, true, "", "Request target of the first request (at most 512 bytes; longer ones are cut and flagged in app_anomalies)."),
        f("http_user_agent", Str, true, "", "User-Agent of the first request (at most 256 bytes); an empty header gives an empty string."),
        f("http_status", U16, true, "", "Status code of the first response."),
        f("http_content_type", Str, true, "", "Content-Type of the first response (at most 128 bytes)."),
        f("http_request_body_len", I64, true, "bytes", "Body length of the first request (Content-Length, or the sum of chunk sizes)."),
        f("http_response_body_len", I64, true, "bytes", "Body length of the first response (Content-Length, or the sum of chunk sizes, or the bytes until the connection closed)."),
        f("http_requests", U32, true, "", "Requests in the record (keep-alive and pipelined requests counted)."),
        f("http_responses", U32, true, "", "Responses in the record."),
    ]);
    g(11, vec![
        f("ssh_client_banner", Str, true, "", "Client's version banner (`SSH-2.0-...`, without CR LF)."),
        f("ssh_server_banner", Str, true, "", "Server's version banner."),
        f("ssh_hassh", Str, true, "", "HASSH: MD5 (hex) of the client KEXINIT's kex;ciphers;MACs;compression (client to server)."),
        f("ssh_hassh_server", Str, true, "", "HASSHServer: MD5 (hex) of the server KEXINIT's kex;ciphers;MACs;compression (server to client)."),
    ]);
    g(12, vec![
        f("quic_version", U32, true, "", "QUIC version of the client's Initial (1 for v1, 1798521807 = 0x6b3343cf for v2); the TLS columns hold the ClientHello decrypted from it."),
    ]);
    g(13, vec![
        f("smb_version", U8, true, "", "SMB version the connection speaks: 1 (SMB1) or 2 (SMB2 and SMB3)."),
        f("smb_dialect", U16, true, "", "SMB2/3 dialect the server chose in its NEGOTIATE answer (0x0202 = 514 ... 0x0311 = 785)."),
        f("smb_requests", U32, true, "", "SMB requests (each command of a compound counted)."),
        f("smb_commands", ListStr, true, "", "SMB2 commands the client used, by name (`NEGOTIATE`, `SESSION_SETUP`, `TREE_CONNECT`, `CREATE`, `WRITE`, `IOCTL` ...), in command-number order."),
        f("smb_errors", U32, true, "", "Answers with an error status (not success, pending, more data, no more files, or a session setup's next round)."),
        f("smb_logon_failures", U32, true, "", "Session setups refused (STATUS_LOGON_FAILURE, NO_SUCH_USER, WRONG_PASSWORD, ACCOUNT_LOCKED_OUT, ACCOUNT_DISABLED, expired accounts and passwords)."),
        f("smb_shares", ListStr, true, "", "Tree paths connected (`\\\\server\\share`: `ADMIN$`, `C$`, `IPC$` ...), each once, in order, at most 32 (cut lists set the `truncated` bit of app_anomalies)."),
        f("smb_files", ListStr, true, "", "Files opened or created (names as sent, relative to their share), each once, at most 32."),
        f("smb_pipes", ListStr, true, "", "Named pipes opened on `IPC$` (`svcctl`, `samr`, `lsarpc`, `atsvc` ...), each once, at most 32."),
        f("smb_files_written", U32, true, "", "Files written to."),
        f("smb_bytes_written", I64, true, "bytes", "Bytes written to files (not pipes)."),
        f("smb_bytes_read", I64, true, "bytes", "Bytes read from files (not pipes)."),
        f("smb_encrypted", U32, true, "", "SMB3 encrypted messages (transform header)."),
        f("smb_compressed", U32, true, "", "SMB3 compressed messages (compression transform header)."),
        f("smb_bad_compression", U32, true, "", "Compressed messages whose offset or original size does not fit the message: CVE-2020-0796 (SMBGhost)."),
        f("smb1_trans2", U32, true, "", "SMB1 Trans2 requests (EternalBlue and DoublePulsar use them)."),
        f("smb1_nt_trans", U32, true, "", "SMB1 NT Trans requests."),
        f("smb1_max_trans_data", U32, true, "bytes", "Largest total data count an SMB1 transaction declared."),
        f("smb1_mid_mismatches", U32, true, "", "SMB1 answers whose multiplex id no pending request used (DoublePulsar answers its ping with the multiplex id moved)."),
        f("smb1_trans2_session_setups", U32, true, "", "SMB1 Trans2 SESSION_SETUP requests: an obsolete subcommand no client uses, the DoublePulsar implant's ping and command channel (and EternalBlue's check for it)."),
        f("smb1_backdoor_answers", U32, true, "", "Answers to those with the multiplex id moved by 16: an implant answering its ping."),
    ]);
    g(14, vec![
        f("dcerpc_interfaces", ListStr, true, "", "DCE/RPC interfaces bound (over TCP or SMB named pipes): names for the interfaces attackers use (`svcctl`, `atsvc`, `ITaskSchedulerService`, `samr`, `lsarpc`, `netlogon`, `drsuapi`, `srvsvc`, `wkssvc`, `epmapper`, `winreg`, `IRemoteSCMActivator`, `IOXIDResolver`, `IDispatch`, `IWbemLevel1Login`, `IWbemServices` ...), else the UUID; each once, at most 32."),
        f("dcerpc_operations", ListStr, true, "", "Operations called, `interface.Operation` (`svcctl.RCreateServiceW`, `drsuapi.DRSGetNCChanges`), `interface.opnum` where the operation is not named; each once, in order, at most 32."),
        f("dcerpc_requests", U32, true, "", "DCE/RPC requests."),
        f("dcerpc_faults", U32, true, "", "DCE/RPC faults answered."),
        f("dcerpc_bind_naks", U32, true, "", "Binds refused."),
    ]);
    g(15, vec![
        f("ntlm_user", Str, true, "", "User of the first NTLM AUTHENTICATE message (over SMB, DCE/RPC, or HTTP's `NTLM` and `Negotiate` authorization); the challenge responses are never kept."),
        f("ntlm_domain", Str, true, "", "Its domain."),
        f("ntlm_workstation", Str, true, "", "Its workstation (the client's host name as it gives it)."),
        f("ntlm_users", ListStr, true, "", "Distinct `DOMAIN\\user` names that authenticated, at most 16."),
        f("ntlm_attempts", U32, true, "", "NTLM AUTHENTICATE messages."),
        f("ntlm_anonymous", U32, true, "", "Anonymous (null-session) logons among them: no user name."),
        f("ntlm_failures", U32, true, "", "Authentications the server refused (where its answer is known: SMB session setups; HTTP answers 401 or 407)."),
        f("ntlm_successes", U32, true, "", "Authentications the server accepted."),
        f("ntlm_failed_users", ListStr, true, "", "`DOMAIN\\user` names of the refused authentications, at most 16."),
    ]);
    g(16, vec![
        f("krb_msg_types", ListStr, true, "", "Kerberos messages seen (`AS-REQ`, `AS-REP`, `TGS-REQ`, `TGS-REP`, `KRB-ERROR`), in message-type order."),
        f("krb_cname", Str, true, "", "First client principal (components joined with `/`)."),
        f("krb_realm", Str, true, "", "First realm."),
        f("krb_snames", ListStr, true, "", "Service principals asked for (`krbtgt/REALM`, `MSSQLSvc/host:1433` ...), each once, at most 16."),
        f("krb_request_etypes", ListI16, true, "", "Encryption types the first request asks for, in order (18 aes256, 17 aes128, 23 rc4-hmac ...)."),
        f("krb_ticket_etypes", ListI16, true, "", "Encryption types of the tickets granted, each once (23 is RC4: the tickets Kerberoasting cracks)."),
        f("krb_error_codes", ListI16, true, "", "Error codes answered, each once (6 unknown principal, 18 revoked, 24 pre-authentication failed, 25 pre-authentication required)."),
        f("krb_requests", U32, true, "", "AS and TGS requests."),
        f("krb_errors", U32, true, "", "KRB-ERROR messages."),
    ]);
    g(17, vec![
        f("dhcp_msg_types", ListStr, true, "", "DHCP messages seen (`DISCOVER`, `OFFER`, `REQUEST`, `DECLINE`, `ACK`, `NAK`, `RELEASE`, `INFORM`; DHCPv6 on UDP 546/547: `SOLICIT`, `ADVERTISE`, `REQUEST`, `REPLY`, `RENEW`, `INFORMATION-REQUEST` ...), in message-type order."),
        f("dhcp_client_mac", Str, true, "", "Client hardware address of the first message (`aa:bb:cc:dd:ee:ff`; DHCPv6: the Ethernet address of the client's DUID, when it holds one)."),
        f("dhcp_hostname", Str, true, "", "Host name the client gave (option 12; DHCPv6: the client FQDN, option 39; at most 128 bytes)."),
        f("dhcp_vendor_class", Str, true, "", "Vendor class the client gave (option 60: `MSFT 5.0`, `android-dhcp-13` ...)."),
        f("dhcp_requested_addr", Str, true, "", "Last address the client asked for (option 50; DHCPv6: an IA_NA address of the client's message)."),
        f("dhcp_offered_addr", Str, true, "", "Last address a server offered or acknowledged (`yiaddr` of OFFER and ACK; DHCPv6: an IA_NA address of ADVERTISE and REPLY)."),
        f("dhcp_server_id", Str, true, "", "Last server identifier (option 54): the DHCP server that answered."),
        f("dhcp_messages", U32, true, "", "DHCP messages in the record."),
    ]);
    g(18, vec![
        f("rdp_cookie", Str, true, "", "The cookie of the client's connection request: the `mstshash=` user name (as the client sent it, at most 128 bytes), else the routing token."),
        f("rdp_requested_protocols", U32, true, "", "Security protocols the client asked for (bits: 1 TLS, 2 CredSSP, 4 RDSTLS, 8 CredSSP with early user authorisation; 0 standard RDP security)."),
        f("rdp_selected_protocol", U32, true, "", "The protocol the server chose (0 standard RDP security, 1 TLS, 2 CredSSP, 8 CredSSP EX): the session went to TLS or CredSSP when not 0."),
        f("rdp_negotiation_failure", U32, true, "", "The server's refusal code (RDP_NEG_FAILURE: 1 TLS required, 2 TLS not allowed, 5 CredSSP required ...)."),
    ]);
    g(19, vec![
        f("login_user", Str, true, "", "First user name offered by a login the parsers judge (FTP `USER`, Telnet after a `login:` prompt, POP3 `USER`/`APOP`, IMAP `LOGIN`, SMTP `AUTH`, MySQL, PostgreSQL and TDS logins), at most 64 bytes; passwords and other secrets are never kept."),
        f("login_users", ListStr, true, "", "Distinct user names offered, in order, at most 16."),
        f("login_attempts", U32, true, "", "Login attempts the server answered."),
        f("login_failures", U32, true, "", "Attempts refused (FTP `530`, POP3 `-ERR`, IMAP `NO`, SMTP `5xx` to `AUTH`, a database's error)."),
        f("login_successes", U32, true, "", "Attempts accepted."),
        f("login_failed_users", ListStr, true, "", "User names of the refused attempts, each once, at most 16."),
    ]);
    g(20, vec![
        f("ftp_commands", ListStr, true, "", "FTP commands the client used (upper case: `USER`, `PASS`, `PASV`, `STOR` ...), each once, in order, at most 32."),
        f("ftp_reply_codes", ListU16, true, "", "Reply codes the server gave (the last line of each reply), each once, in order, at most 32."),
        f("ftp_files", ListStr, true, "", "Files named by `RETR`, `STOR`, `STOU`, `APPE` and `DELE` (as sent, at most 256 bytes each), each once, at most 32."),
        f("ftp_uploads", U32, true, "", "Uploads asked for (`STOR`, `STOU`, `APPE`)."),
        f("ftp_downloads", U32, true, "", "Downloads asked for (`RETR`)."),
        f("ftp_data_channels", U32, true, "", "Data channels announced: the server's passive answers (`227`, `229`) and the client's `PORT`/`EPRT`."),
        f("ftp_control_uid", I64, true, "", "On an FTP data connection (`app_proto` `ftp-data`): the `flow_uid` of the control connection that announced it."),
    ]);
    g(21, vec![
        f("smtp_helo", Str, true, "", "The client's first `EHLO`/`HELO` name (at most 256 bytes)."),
        f("smtp_starttls", Bool, true, "", "The server accepted `STARTTLS` (what follows is encrypted and not read)."),
        f("smtp_auth_mechanism", Str, true, "", "The first `AUTH` mechanism (`PLAIN`, `LOGIN`, `CRAM-MD5`, `XOAUTH2` ...); the user name and outcome are in the login columns."),
        f("smtp_mail_from", U32, true, "", "`MAIL FROM` commands (senders are not kept)."),
        f("smtp_rcpt_to", U32, true, "", "`RCPT TO` commands (recipients are not kept)."),
        f("smtp_messages", U32, true, "", "Messages handed over (`DATA` to the final dot, or `BDAT` chunks to `LAST`)."),
        f("smtp_message_sizes", ListI64, true, "bytes", "Their sizes as sent (up to the stream's reassembly depth), in order, at most 32."),
        f("smtp_attachments", ListStr, true, "", "File names of the attachments their MIME parts name (`filename=`, `name=`; at most 256 bytes each), each once, at most 32."),
    ]);
    g(22, vec![
        f("mining_methods", ListStr, true, "", "Methods a mining client called (stratum `mining.subscribe`, `mining.authorize`, `mining.submit` ...; `login`, `submit` of Monero pools; `eth_submitLogin` ...), on any port, each once, in order, at most 16."),
        f("mining_agent", Str, true, "", "The miner's agent (`XMRig/6.21.0 ...`), at most 64 bytes."),
        f("mining_login", Str, true, "", "The pool login: a wallet address (26 or more letters and digits, `0x` hex included) is masked to its first 6 and last 4 characters around `…` (enough to tell campaigns apart, not to use or trace the wallet); an account name is kept as sent, at most 64 bytes. The pool password is never kept."),
        f("mining_worker", Str, true, "", "The worker (rig) name: after the login's `.` or `/`, or the `rigid`/`worker` field; at most 64 bytes."),
        f("mining_submits", U32, true, "", "Shares submitted (`mining.submit`, `submit`, `eth_submitWork`)."),
    ]);
    g(23, vec![
        f("alert_count", U32, false, "", "Alerts raised by this record's packets (the alert's `flow_uid` names this flow, and its first evidence lies in the record's time span); see the alert record."),
        f("alert_techniques", ListStr, true, "", "ATT&CK technique ids of those alerts, each once, in the order first raised; null without alerts."),
    ]);
    v
}

fn specs() -> &'static [(usize, FieldSpec)] {
    static S: OnceLock<Vec<(usize, FieldSpec)>> = OnceLock::new();
    S.get_or_init(build)
}

/// Every column, in schema order.
pub fn fields() -> impl Iterator<Item = &'static FieldSpec> {
    specs().iter().map(|(_, s)| s)
}

/// Number of columns.
pub fn len() -> usize {
    specs().len()
}

/// Position of a column by name.
pub fn index_of(name: &str) -> Option<usize> {
    specs().iter().position(|(_, s)| s.name == name)
}

/// Bits of the `app_anomalies` column: problems of the application parsers.
pub mod app_anomaly {
    /// A message broke its protocol's rules.
    pub const MALFORMED: u32 = 1;
    /// A gap in the stream (lost or unseen segments) stopped a parser.
    pub const GAP: u32 = 2;
    /// A parser needed more than the stream depth or the buffer budget allowed.
    pub const BUDGET: u32 = 4;
    /// A value was cut to its column's bound.
    pub const TRUNCATED: u32 = 8;
    /// Every bit: value, name, meaning.
    pub const ALL: [(u32, &str, &str); 4] = [
        (MALFORMED, "malformed", "a message broke its protocol's rules (the parser stopped reading that direction)"),
        (GAP, "gap", "a gap in the stream (segments lost or not captured) stopped a parser before it was done"),
        (BUDGET, "budget", "a parser needed to hold more than the stream depth, or the buffer budget was used up, and was given up"),
        (TRUNCATED, "truncated", "a value was cut to its column's bound"),
    ];
}

/// Keys of the key-value metadata in every Parquet file's footer.
pub mod meta {
    /// Schema version ([`crate::SCHEMA_VERSION`]).
    pub const SCHEMA_VERSION: &str = "mekong.schema_version";
    /// Sensor identifier.
    pub const SENSOR_ID: &str = "mekong.sensor_id";
    /// Mekong version that wrote the file.
    pub const SOFTWARE: &str = "mekong.software";
    /// Input files (JSON list of paths) or interface.
    pub const INPUTS: &str = "mekong.inputs";
    /// BPF filter, empty when none.
    pub const BPF_FILTER: &str = "mekong.bpf_filter";
    /// Packets read from the input when the file was closed.
    pub const PACKETS_SEEN: &str = "mekong.packets_seen";
    /// Packets dropped before Mekong saw them (kernel or interface drops,
    /// read from the capture every second; 0 for files).
    pub const PACKETS_DROPPED: &str = "mekong.packets_dropped";
    /// Packets the BPF filter rejected.
    pub const PACKETS_FILTERED: &str = "mekong.packets_filtered";
    /// First packet timestamp of the input (RFC 3339, UTC).
    pub const FIRST_TS: &str = "mekong.first_ts";
    /// Last packet timestamp of the input when the file was closed.
    pub const LAST_TS: &str = "mekong.last_ts";
    /// Records in this file.
    pub const RECORDS: &str = "mekong.records";
    /// Of the dropped packets, those the interface (its driver) dropped.
    pub const PACKETS_IF_DROPPED: &str = "mekong.packets_if_dropped";
    /// How packets were read: `file`, or `pcap` for a live interface.
    pub const CAPTURE_METHOD: &str = "mekong.capture_method";
    /// When the live capture started (RFC 3339, UTC): the counters are
    /// since then, so a restart shows as a new start.
    pub const CAPTURE_STARTED: &str = "mekong.capture_started";

    /// (key, meaning) for documentation.
    pub const ALL: [(&str, &str); 14] = [
        (SCHEMA_VERSION, "version of the flow-record schema"),
        (SENSOR_ID, "identifier of the sensor"),
        (SOFTWARE, "Mekong version that wrote the file"),
        (INPUTS, "input files (JSON list) or interface"),
        (
            BPF_FILTER,
            "BPF filter applied to the input, empty when none",
        ),
        (
            PACKETS_SEEN,
            "packets read from the input when the file was closed",
        ),
        (
            PACKETS_DROPPED,
            "packets dropped before Mekong saw them (kernel or interface; 0 for files)",
        ),
        (PACKETS_FILTERED, "packets rejected by the BPF filter"),
        (FIRST_TS, "first packet time of the input (RFC 3339, UTC)"),
        (
            LAST_TS,
            "last packet time of the input when the file was closed",
        ),
        (RECORDS, "records in this file"),
        (
            PACKETS_IF_DROPPED,
            "of the dropped packets, those the interface dropped (live capture; read every second)",
        ),
        (CAPTURE_METHOD, "`file`, or `pcap` for a live interface"),
        (
            CAPTURE_STARTED,
            "when the live capture started (RFC 3339, UTC): the counters count from then",
        ),
    ];
}

/// The Arrow schema of flow records, with the schema version in its metadata.
pub fn flow_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let fields: Vec<Field> = fields()
            .map(|s| Field::new(&s.name, s.ty.data_type(), s.nullable))
            .collect();
        let meta = HashMap::from([(meta::SCHEMA_VERSION.to_string(), SCHEMA_VERSION.to_string())]);
        Arc::new(Schema::new_with_metadata(fields, meta))
    })
    .clone()
}

/// How the application columns are filled (part of the generated documentation).
const APPLICATION: &str = "
## How the application columns are filled

**Recognition, whatever the port.** The first payload bytes of the first
direction to send decide a TCP flow's protocol: a TLS handshake record
(version 3.0 to 3.4) holding a ClientHello or ServerHello, or an SSLv2-format
ClientHello, is `tls`; `SSH-` is `ssh`; a known HTTP method followed by a
space, or `HTTP/1.`, is `http`; a server greeting `220 ` on port 21 or naming
FTP is `ftp`, `+OK` is `pop3`, `* OK` is `imap`, Telnet option negotiation
(`IAC` and a command) or a `login:` prompt on port 23 is `telnet` (these four
are read for login outcomes only: no user name or password is kept); anything
else on port 53 is DNS over TCP. A UDP
datagram to or from port 53, 5353 or 5355 is DNS (one that does not parse is
flagged `malformed`); a QUIC version 1 or 2 Initial packet from the client (long
header, datagram of at least 1,200 bytes) is `quic`; elsewhere a datagram is DNS
only if it is a well-formed standard query with nothing after it.

**Streams.** TCP bytes reach the parsers in order: a segment ahead of a hole
waits (where segments overlap, the bytes that came first win) and is delivered
when the hole fills. A parser that needs more than a segment keeps the bytes it
has not parsed, at most the stream depth per direction (`--stream-depth`,
8,192 bytes by default); all such buffers together are capped by the buffer
budget (`--stream-budget`, 128 MiB by default, shared by the workers). When a
parser would need more, it is given up (`budget` bit). A hole that never fills
stops the parsers of that direction (`gap` bit). Once the parsers have what they
want (the hellos, the banners and key exchange, the certificate), a flow's
later packets cost nothing; HTTP and DNS are read to the end of the flow to
count requests and queries.

**First and counts.** Columns named after the first message hold the first of
the flow; the counts (`dns_queries`, `dns_distinct_names`, `http_requests`,
`http_responses`) are per record. When the active timeout cuts a long flow,
every record carries the flow's names and fingerprints.

**DNS name statistics.** For the first query name as text (without the
trailing dot): `dns_qname_len` is its length in bytes, dots included;
`dns_qname_labels` its number of labels; `dns_qname_entropy` the Shannon
entropy H = −Σ p(c) log2 p(c) over its characters with the dots left out and
letters lower-cased, where p(c) is the share of character c (for
`aaaa.bbbb.example.com`, 2.858 bits). Ordinary host names score about 2.5 to
3.5; long random encodings (base32, hex) used by DNS tunnels score above 4.

**TLS fingerprints.** JA4 follows FoxIO's specification of JA4 (the
BSD-licensed part of JA4+): `t` (TCP) or `q` (QUIC), the highest offered version
(`13`, `12`, `11`, `10`, `s3`, `s2`, or `00`), `d` with a server name or `i`
without, two-digit counts of cipher suites and extensions, the first and last
characters of the first ALPN value (`00` without ALPN); then the first 12 hex
digits of the SHA-256 of the sorted cipher suites, and of the sorted
extensions (server_name and ALPN left out) joined by `_` to the signature
algorithms in their order. GREASE values are left out everywhere. JA3 and
JA3S are the MD5 of the decimal strings `version,ciphers,extensions,groups,point
formats` and `version,cipher,extensions` (GREASE left out). An SSLv2-format
ClientHello gives versions and ciphers but no fingerprint; a malformed
ClientHello gives none.

**QUIC.** The client's Initial packets are decrypted with the keys that
RFC 9001 (version 1) and RFC 9369 (version 2) derive from the first
Destination Connection ID and the version's published salt; their CRYPTO
frames are put back in order and the ClientHello fills the TLS client columns.
The server's Initial packets give the ServerHello (`tls_ja3s`,
`tls_server_version`, `tls_server_cipher`).

**Certificates.** In TLS 1.2 and below the server's certificate chain is sent
in the clear: the first certificate (the server's own) fills the `tls_cert_*`
columns. TLS 1.3 encrypts it.

**No content.** Only the fields named here are kept; no other payload byte is
stored.
";

/// The column reference as Markdown (the content of `docs/flow-record.md`).
pub fn render_markdown() -> String {
    let mut s = String::new();
    s.push_str("# The flow record\n\n");
    s.push_str("<!-- Generated from schema/src/lib.rs by `cargo test -p mekong-schema`; do not edit. -->\n\n");
    s.push_str(&format!(
        "Schema version {SCHEMA_VERSION}. One row per flow (or per active-timeout piece of a long flow), \
written by `mekong-sensor` as Parquet under `flows/sensor=ID/date=YYYY-MM-DD/hour=HH/` \
(the partition is the hour of `first_ts`, UTC). Every time is UTC; every time and duration \
is an integer of microseconds except means and standard deviations. Nulls mark values that do \
not exist (a statistic of fewer than two values, a field of another protocol); no column ever \
holds NaN or Infinity. Standard deviations are sample standard deviations (n − 1).\n\n"
    ));
    s.push_str("Lengths: **wire** = frame length on the wire (original length in the capture header); \
**IP** = IP total length (inner packet for tunnels); **L4 header** = TCP header with options, or the \
8-byte UDP/ICMP header; **payload** = bytes after the L4 header (for TCP, sequence-space data).\n\n");
    for (gi, g) in GROUPS.iter().enumerate() {
        s.push_str(&format!(
            "## {g}\n\n| Column | Type | Null | Unit | Meaning |\n|---|---|---|---|---|\n"
        ));
        for (_, spec) in specs().iter().filter(|(i, _)| *i == gi) {
            s.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                spec.name,
                spec.ty.name(),
                if spec.nullable { "yes" } else { "no" },
                spec.unit,
                spec.doc.replace('|', "\\|")
            ));
        }
        s.push('\n');
    }
    s.push_str("## Anomaly bits\n\n| Bit | Value | Name | Meaning |\n|---|---|---|---|\n");
    for (bit, name, doc) in anomaly::ALL {
        s.push_str(&format!(
            "| {} | {} | `{}` | {} |\n",
            bit.trailing_zeros(),
            bit,
            name,
            doc
        ));
    }
    s.push_str(
        "\n## Application anomaly bits\n\n| Bit | Value | Name | Meaning |\n|---|---|---|---|\n",
    );
    for (bit, name, doc) in app_anomaly::ALL {
        s.push_str(&format!(
            "| {} | {} | `{}` | {} |\n",
            bit.trailing_zeros(),
            bit,
            name,
            doc
        ));
    }
    s.push_str(APPLICATION);
    s.push_str("\n## File metadata\n\nEvery Parquet file's footer carries these key-value pairs:\n\n| Key | Meaning |\n|---|---|\n");
    for (k, doc) in meta::ALL {
        s.push_str(&format!("| `{k}` | {doc} |\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for s in fields() {
            assert!(seen.insert(s.name.clone()), "duplicate {}", s.name);
            assert!(
                s.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                s.name
            );
            assert!(!s.doc.is_empty());
        }
    }

    #[test]
    fn schema_matches_the_table() {
        let schema = flow_schema();
        assert_eq!(schema.fields().len(), len());
        assert_eq!(index_of("community_id"), Some(4));
        assert!(schema
            .field_with_name("orig_payload_len_std")
            .unwrap()
            .is_nullable());
        assert!(!schema.field_with_name("orig_pkts").unwrap().is_nullable());
    }

    #[test]
    fn document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/flow-record.md");
        let want = render_markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/flow-record.md is out of date: run `UPDATE_DOCS=1 cargo test -p mekong-schema`"
        );
    }
}
