//! The buffers rules inspect: sticky-buffer keywords, their aliases and
//! legacy content modifiers, and what each buffer holds.

/// Every buffer Mekong fills. The packet payload and the stream are
/// `pkt_data` (the default buffer of a rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Buf {
    /// The packet payload, or the in-order stream bytes of TCP.
    PktData = 0,
    /// `http.uri`: the request target, normalised (percent-decoding of the
    /// path, `.`/`..` segments resolved, `//` compressed; the query as sent).
    HttpUri,
    /// `http.uri.raw`: the request target as sent.
    HttpUriRaw,
    /// `http.method`.
    HttpMethod,
    /// `http.protocol`: `HTTP/1.1`.
    HttpProtocol,
    /// `http.request_line`: `GET /x HTTP/1.1`.
    HttpRequestLine,
    /// `http.header` of a request or response: each header `Name: value\r\n`.
    HttpHeader,
    /// `http.header.raw`: the header lines as received.
    HttpHeaderRaw,
    /// `http.header_names`: `\r\nName\r\nName\r\n\r\n`.
    HttpHeaderNames,
    /// `http.cookie`: Cookie (requests) or Set-Cookie (responses).
    HttpCookie,
    /// `http.user_agent`.
    HttpUserAgent,
    /// `http.host`: lower case, without the port.
    HttpHost,
    /// `http.host.raw`: the Host header as sent.
    HttpHostRaw,
    /// `http.accept`.
    HttpAccept,
    /// `http.accept_enc`.
    HttpAcceptEnc,
    /// `http.accept_lang`.
    HttpAcceptLang,
    /// `http.connection`.
    HttpConnection,
    /// `http.content_type`.
    HttpContentType,
    /// `http.content_len`.
    HttpContentLen,
    /// `http.referer`.
    HttpReferer,
    /// `http.start`: the start line and the headers, as received.
    HttpStart,
    /// `http.request_body`: the request body, de-chunked.
    HttpRequestBody,
    /// `http.response_body`: the response body, de-chunked and decompressed.
    HttpResponseBody,
    /// `file.data`: the body of the message in the rule's direction
    /// (de-chunked, gzip and deflate decoded).
    FileData,
    /// `http.stat_code`: `200`.
    HttpStatCode,
    /// `http.stat_msg`: `OK`.
    HttpStatMsg,
    /// `http.response_line`: `HTTP/1.1 200 OK`.
    HttpResponseLine,
    /// `http.location`.
    HttpLocation,
    /// `http.server`.
    HttpServer,
    /// `http.request_header`: each request header `name: value`, one at a
    /// time.
    HttpRequestHeader,
    /// `http.response_header`: each response header, one at a time.
    HttpResponseHeader,
    /// `dns.query`: each question name, dotted.
    DnsQuery,
    /// `tls.sni`.
    TlsSni,
    /// `tls.certs`: each certificate of the chain, DER.
    TlsCerts,
    /// `tls.cert_subject`: RFC 4514.
    TlsCertSubject,
    /// `tls.cert_issuer`.
    TlsCertIssuer,
    /// `tls.cert_serial`: `00:11:22` upper-case hex.
    TlsCertSerial,
    /// `tls.cert_fingerprint`: SHA-1 of the first certificate, `aa:bb:...`.
    TlsCertFingerprint,
    /// `tls.subjectaltname`: each DNS name of the first certificate.
    TlsSubjectAltName,
    /// `tls.alpn`: each ALPN protocol the client offers.
    TlsAlpn,
    /// `ja3.hash`.
    Ja3Hash,
    /// `ja3.string`.
    Ja3String,
    /// `ja3s.hash`.
    Ja3sHash,
    /// `ja3s.string`.
    Ja3sString,
    /// `ja4.hash`.
    Ja4Hash,
    /// `ssh.proto`: the protocol version of the banner (`2.0`).
    SshProto,
    /// `ssh.software`: the software of the banner (`OpenSSH_8.9p1`).
    SshSoftware,
    /// `ssh.hassh`.
    SshHassh,
    /// `ssh.hassh.server`.
    SshHasshServer,
    /// `tcp.hdr`: the TCP header bytes.
    TcpHdr,
    /// `udp.hdr`.
    UdpHdr,
    /// `ipv4.hdr`: the IPv4 header bytes.
    Ipv4Hdr,
    /// `ipv6.hdr`.
    Ipv6Hdr,
    /// `icmpv4.hdr`.
    Icmpv4Hdr,
    /// `smb.share`: the path of an SMB tree connect (`\\\\server\\share`).
    SmbShare,
    /// `smb.named_pipe`: a named pipe opened over SMB (`svcctl`).
    SmbNamedPipe,
    /// What `dcerpc.iface` compares: the interface UUID of a request's
    /// context (lower-case text).
    DcerpcIface,
    /// What `dcerpc.opnum` compares: a request's operation number.
    DcerpcOpnum,
    /// `ftp.command`: an FTP command (`STOR`).
    FtpCommand,
    /// `ftp.command_data`: its argument (never given for `PASS`).
    FtpCommandData,
    /// `krb5.cname`: a Kerberos client principal (components joined by `/`).
    Krb5Cname,
    /// `krb5.sname`: a Kerberos service principal.
    Krb5Sname,
    /// What `krb5_err_code` compares: a KRB-ERROR's code.
    Krb5ErrCode,
    /// What `krb5_msg_type` compares: a Kerberos message type.
    Krb5MsgType,
    /// `base64_data`: what `base64_decode` decoded.
    Base64Data,
}

/// How many buffers there are.
pub const BUF_COUNT: usize = Buf::Base64Data as usize + 1;

impl Buf {
    /// The canonical keyword.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .chain(VALUE_BUFFERS)
            .find(|(_, b)| *b == self)
            .map(|(n, _)| *n)
            .unwrap_or("pkt_data")
    }

    /// The buffer a value keyword (`dcerpc.opnum:...`) compares.
    pub fn of_value_keyword(kw: &str) -> Option<Buf> {
        VALUE_BUFFERS
            .iter()
            .find(|(n, _)| *n == kw)
            .map(|(_, b)| *b)
    }

    /// Parses a canonical name (as stored in [`crate::rule::Opt::Buffer`]).
    pub fn from_name(s: &str) -> Option<Buf> {
        NAMES.iter().find(|(n, _)| *n == s).map(|(_, b)| *b)
    }

    /// The application protocol the buffer belongs to, if any.
    pub fn app(self) -> Option<crate::App> {
        use crate::App;
        use Buf::*;
        Some(match self {
            PktData | TcpHdr | UdpHdr | Ipv4Hdr | Ipv6Hdr | Icmpv4Hdr | Base64Data => return None,
            DnsQuery => App::Dns,
            TlsSni | TlsCerts | TlsCertSubject | TlsCertIssuer | TlsCertSerial
            | TlsCertFingerprint | TlsSubjectAltName | TlsAlpn | Ja3Hash | Ja3String | Ja3sHash
            | Ja3sString | Ja4Hash => App::Tls,
            SshProto | SshSoftware | SshHassh | SshHasshServer => App::Ssh,
            SmbShare | SmbNamedPipe => App::Smb,
            DcerpcIface | DcerpcOpnum => App::Dcerpc,
            FtpCommand | FtpCommandData => App::Ftp,
            Krb5Cname | Krb5Sname | Krb5ErrCode | Krb5MsgType => App::Krb5,
            _ => App::Http,
        })
    }

    /// Which side of a transaction fills it: `Some(0)` the client's,
    /// `Some(1)` the server's, `None` either (the side the rule's direction
    /// names).
    pub fn side(self) -> Option<usize> {
        use Buf::*;
        match self {
            HttpUri | HttpUriRaw | HttpMethod | HttpRequestLine | HttpUserAgent | HttpHost
            | HttpHostRaw | HttpAccept | HttpAcceptEnc | HttpAcceptLang | HttpReferer
            | HttpRequestBody | HttpRequestHeader | DnsQuery | TlsSni | TlsAlpn | Ja3Hash
            | Ja3String | Ja4Hash | SmbShare | SmbNamedPipe | DcerpcIface | DcerpcOpnum
            | FtpCommand | FtpCommandData => Some(0),
            HttpResponseBody | HttpStatCode | HttpStatMsg | HttpResponseLine | HttpLocation
            | HttpServer | HttpResponseHeader | TlsCerts | TlsCertSubject | TlsCertIssuer
            | TlsCertSerial | TlsCertFingerprint | TlsSubjectAltName | Ja3sHash | Ja3sString
            | Krb5ErrCode => Some(1),
            _ => None,
        }
    }

    /// A buffer of several values, each inspected on its own (a match in
    /// any one is a match).
    pub fn multi(self) -> bool {
        matches!(
            self,
            Buf::DnsQuery
                | Buf::TlsCerts
                | Buf::TlsSubjectAltName
                | Buf::TlsAlpn
                | Buf::HttpRequestHeader
                | Buf::HttpResponseHeader
        )
    }
}

/// Canonical sticky-buffer names and their buffers.
const NAMES: &[(&str, Buf)] = &[
    ("pkt_data", Buf::PktData),
    ("http.uri", Buf::HttpUri),
    ("http.uri.raw", Buf::HttpUriRaw),
    ("http.method", Buf::HttpMethod),
    ("http.protocol", Buf::HttpProtocol),
    ("http.request_line", Buf::HttpRequestLine),
    ("http.header", Buf::HttpHeader),
    ("http.header.raw", Buf::HttpHeaderRaw),
    ("http.header_names", Buf::HttpHeaderNames),
    ("http.cookie", Buf::HttpCookie),
    ("http.user_agent", Buf::HttpUserAgent),
    ("http.host", Buf::HttpHost),
    ("http.host.raw", Buf::HttpHostRaw),
    ("http.accept", Buf::HttpAccept),
    ("http.accept_enc", Buf::HttpAcceptEnc),
    ("http.accept_lang", Buf::HttpAcceptLang),
    ("http.connection", Buf::HttpConnection),
    ("http.content_type", Buf::HttpContentType),
    ("http.content_len", Buf::HttpContentLen),
    ("http.referer", Buf::HttpReferer),
    ("http.start", Buf::HttpStart),
    ("http.request_body", Buf::HttpRequestBody),
    ("http.response_body", Buf::HttpResponseBody),
    ("file.data", Buf::FileData),
    ("http.stat_code", Buf::HttpStatCode),
    ("http.stat_msg", Buf::HttpStatMsg),
    ("http.response_line", Buf::HttpResponseLine),
    ("http.location", Buf::HttpLocation),
    ("http.server", Buf::HttpServer),
    ("http.request_header", Buf::HttpRequestHeader),
    ("http.response_header", Buf::HttpResponseHeader),
    ("dns.query", Buf::DnsQuery),
    ("tls.sni", Buf::TlsSni),
    ("tls.certs", Buf::TlsCerts),
    ("tls.cert_subject", Buf::TlsCertSubject),
    ("tls.cert_issuer", Buf::TlsCertIssuer),
    ("tls.cert_serial", Buf::TlsCertSerial),
    ("tls.cert_fingerprint", Buf::TlsCertFingerprint),
    ("tls.subjectaltname", Buf::TlsSubjectAltName),
    ("tls.alpn", Buf::TlsAlpn),
    ("ja3.hash", Buf::Ja3Hash),
    ("ja3.string", Buf::Ja3String),
    ("ja3s.hash", Buf::Ja3sHash),
    ("ja3s.string", Buf::Ja3sString),
    ("ja4.hash", Buf::Ja4Hash),
    ("ssh.proto", Buf::SshProto),
    ("ssh.software", Buf::SshSoftware),
    ("ssh.hassh", Buf::SshHassh),
    ("ssh.hassh.server", Buf::SshHasshServer),
    ("tcp.hdr", Buf::TcpHdr),
    ("udp.hdr", Buf::UdpHdr),
    ("ipv4.hdr", Buf::Ipv4Hdr),
    ("ipv6.hdr", Buf::Ipv6Hdr),
    ("icmpv4.hdr", Buf::Icmpv4Hdr),
    ("smb.share", Buf::SmbShare),
    ("smb.named_pipe", Buf::SmbNamedPipe),
    ("ftp.command", Buf::FtpCommand),
    ("ftp.command_data", Buf::FtpCommandData),
    ("krb5.cname", Buf::Krb5Cname),
    ("krb5.sname", Buf::Krb5Sname),
];

/// Buffers compared by keywords that take a value (not sticky buffers).
const VALUE_BUFFERS: &[(&str, Buf)] = &[
    ("dcerpc.iface", Buf::DcerpcIface),
    ("dcerpc.opnum", Buf::DcerpcOpnum),
    ("krb5_err_code", Buf::Krb5ErrCode),
    ("krb5_msg_type", Buf::Krb5MsgType),
];

/// Older spellings of sticky buffers.
const ALIASES: &[(&str, &str)] = &[
    ("file_data", "file.data"),
    ("dns_query", "dns.query"),
    ("tls_sni", "tls.sni"),
    ("tls_cert_subject", "tls.cert_subject"),
    ("tls_cert_issuer", "tls.cert_issuer"),
    ("tls_cert_serial", "tls.cert_serial"),
    ("tls_cert_fingerprint", "tls.cert_fingerprint"),
    ("ja3_hash", "ja3.hash"),
    ("ja3_string", "ja3.string"),
    ("ja3s_hash", "ja3s.hash"),
    ("ja3s_string", "ja3s.string"),
    ("ssh_proto", "ssh.proto"),
    ("ssh_software", "ssh.software"),
    ("ssh.protoversion", "ssh.proto"),
    ("ssh.softwareversion", "ssh.software"),
    ("http.request_body", "http.request_body"),
    ("http_request_line", "http.request_line"),
    ("http_response_line", "http.response_line"),
    ("http.uri.normalized", "http.uri"),
    ("http.user_agent", "http.user_agent"),
];

/// The canonical name of a sticky-buffer keyword.
pub fn sticky(kw: &str) -> Option<&'static str> {
    if let Some((n, _)) = NAMES.iter().find(|(n, _)| *n == kw) {
        return Some(n);
    }
    ALIASES.iter().find(|(a, _)| *a == kw).map(|(_, n)| *n)
}

/// The buffer a legacy content modifier (`http_uri` after a content)
/// names.
pub fn legacy_modifier(kw: &str) -> Option<&'static str> {
    Some(match kw {
        "http_uri" => "http.uri",
        "http_raw_uri" => "http.uri.raw",
        "http_method" => "http.method",
        "http_header" => "http.header",
        "http_raw_header" => "http.header.raw",
        "http_cookie" => "http.cookie",
        "http_raw_cookie" => "http.cookie",
        "http_client_body" => "http.request_body",
        "http_server_body" => "http.response_body",
        "http_stat_code" => "http.stat_code",
        "http_stat_msg" => "http.stat_msg",
        "http_user_agent" => "http.user_agent",
        "http_host" => "http.host",
        "http_raw_host" => "http.host.raw",
        "http_content_type" => "http.content_type",
        "http_accept" => "http.accept",
        "http_referer" => "http.referer",
        _ => return None,
    })
}

/// The legacy modifier keyword that names a canonical buffer (for
/// printing a content that carried one).
pub fn legacy_keyword(canonical: &str) -> Option<&'static str> {
    Some(match canonical {
        "http.uri" => "http_uri",
        "http.uri.raw" => "http_raw_uri",
        "http.method" => "http_method",
        "http.header" => "http_header",
        "http.header.raw" => "http_raw_header",
        "http.cookie" => "http_cookie",
        "http.request_body" => "http_client_body",
        "http.response_body" => "http_server_body",
        "http.stat_code" => "http_stat_code",
        "http.stat_msg" => "http_stat_msg",
        "http.user_agent" => "http_user_agent",
        "http.host" => "http_host",
        "http.host.raw" => "http_raw_host",
        "http.content_type" => "http_content_type",
        "http.accept" => "http_accept",
        "http.referer" => "http_referer",
        _ => return None,
    })
}

/// Sticky buffers of protocols Mekong does not parse (yet): valid rules,
/// skipped as unsupported.
pub fn known_unsupported(kw: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "smb.",
        "dcerpc.",
        "krb5",
        "nfs",
        "smtp.",
        "ftp.",
        "ftpdata",
        "dnp3",
        "modbus",
        "enip",
        "cip",
        "sip.",
        "snmp.",
        "mqtt.",
        "rfb.",
        "http2.",
        "quic.",
        "ike.",
        "dhcp",
        "rdp",
        "tftp",
        "ldap.",
        "pgsql",
        "websocket",
        "email.",
        "file.name",
        "file.magic",
        "tls.random",
        "tls.cert_chain_len",
        "dns.opcode",
        "dns.rrtype",
        "dns.answer",
        "dns.queries",
        "dns.response",
        "http.request_header_names",
        "http.response_header_names",
        "http.trailer",
        "ja4",
        "ja3s",
        "ssh.hassh.string",
        "ssh.hassh.server.string",
        "http.cookie.raw",
        "sip_",
        "smb_",
        "tls.cert",
        "tls_",
        "ssh_",
        "ssh.",
        "http.",
        "icmpv6.hdr",
        "tcp.",
        "udp.",
        "ipv4.",
        "ipv6.",
        "frame",
        "app-layer",
        "pkt_",
    ];
    PREFIXES.iter().any(|p| kw.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_resolve() {
        for (n, b) in NAMES {
            assert_eq!(Buf::from_name(n), Some(*b));
            assert_eq!(b.name(), *n);
        }
        assert_eq!(sticky("file_data"), Some("file.data"));
        assert_eq!(sticky("dns_query"), Some("dns.query"));
        assert_eq!(
            legacy_modifier("http_client_body"),
            Some("http.request_body")
        );
        assert_eq!(sticky("http_uri"), None);
    }

    #[test]
    fn sides_of_a_transaction() {
        assert_eq!(Buf::HttpUri.side(), Some(0));
        assert_eq!(Buf::HttpStatCode.side(), Some(1));
        assert_eq!(Buf::HttpHeader.side(), None);
        assert_eq!(Buf::FileData.side(), None);
    }
}
