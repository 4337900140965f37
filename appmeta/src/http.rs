//! HTTP/1.x (RFC 9112): request and response heads, body framing, and the
//! per-connection state that pairs requests with responses.

use crate::event::Events;
use crate::text::text;
use crate::{flags, Outcome, Step};

/// Longest method kept.
pub const MAX_METHOD: usize = 16;
/// Longest Host kept.
pub const MAX_HOST: usize = 256;
/// Longest request target kept.
pub const MAX_URI: usize = 512;
/// Longest User-Agent kept.
pub const MAX_USER_AGENT: usize = 256;
/// Longest Content-Type kept.
pub const MAX_CONTENT_TYPE: usize = 128;
/// Longest chunk-size or trailer line read.
const MAX_LINE: usize = 1024;
/// Requests remembered while their responses are awaited.
const MAX_QUEUE: usize = 64;

const METHODS: [&[u8]; 16] = [
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"CONNECT",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
];

/// Does the stream start like an HTTP/1.x request (a known method and a
/// space, or any method token on a complete request line ending in
/// `HTTP/1.x`, as scanners send: `XFOC / HTTP/1.1`) or response
/// (`HTTP/1.`)?
pub fn detect(b: &[u8]) -> Outcome<()> {
    let resp = b"HTTP/1.";
    if b.len() >= resp.len() && b.starts_with(resp) {
        return Outcome::Parsed(());
    }
    let mut incomplete = b.len() < resp.len() && resp.starts_with(b);
    for m in METHODS {
        let n = m.len();
        if b.len() > n {
            if b.starts_with(m) && b[n] == b' ' {
                return Outcome::Parsed(());
            }
        } else if m.starts_with(b) {
            incomplete = true;
        }
    }
    if incomplete {
        return Outcome::Incomplete;
    }
    other_method(b)
}

/// A request line with a method outside the known ones: `TOKEN target
/// HTTP/1.x`, the token 3 to 16 upper-case letters, `-` or `_`.
fn other_method(b: &[u8]) -> Outcome<()> {
    const MAX_LINE: usize = 2048;
    let tok = b
        .iter()
        .take_while(|c| c.is_ascii_uppercase() || **c == b'-' || **c == b'_')
        .count();
    if !(3..=16).contains(&tok) {
        return Outcome::NotThis;
    }
    if b.len() == tok {
        return Outcome::Incomplete;
    }
    if b[tok] != b' ' {
        return Outcome::NotThis;
    }
    let Some(nl) = b.iter().take(MAX_LINE).position(|&c| c == b'\n') else {
        return if b.len() < MAX_LINE && !b.contains(&0) {
            Outcome::Incomplete
        } else {
            Outcome::NotThis
        };
    };
    let line = b[..nl].strip_suffix(b"\r").unwrap_or(&b[..nl]);
    let mut parts = line.split(|&c| c == b' ').filter(|p| !p.is_empty());
    let ok = matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(_), Some(t), Some(v), None)
            if v.len() == 8 && v.starts_with(b"HTTP/1.") && !t.iter().any(|c| c.is_ascii_control())
    );
    if ok {
        Outcome::Parsed(())
    } else {
        Outcome::NotThis
    }
}

/// Header fields of a head that the record or the framing uses.
#[derive(Clone, Copy, Debug, Default)]
struct Fields<'a> {
    host: Option<&'a [u8]>,
    user_agent: Option<&'a [u8]>,
    content_type: Option<&'a [u8]>,
    content_length: Option<u64>,
    chunked: bool,
    bad_length: bool,
    /// The scheme of Authorization / Proxy-Authorization (never the credentials).
    auth_scheme: Option<&'a [u8]>,
    /// The token after an `NTLM` or `Negotiate` scheme (an NTLMSSP message
    /// in base64, read for its user and never kept).
    auth_token: Option<&'a [u8]>,
    /// WWW-Authenticate or Proxy-Authenticate present.
    challenge: bool,
}

/// A request head.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Method.
    pub method: &'a [u8],
    /// Request target.
    pub target: &'a [u8],
    /// Host header.
    pub host: Option<&'a [u8]>,
    /// User-Agent header.
    pub user_agent: Option<&'a [u8]>,
    /// Content-Type header.
    pub content_type: Option<&'a [u8]>,
    /// Scheme of the Authorization header (`Basic`, `NTLM`...).
    pub auth_scheme: Option<&'a [u8]>,
    /// The base64 token of an `NTLM` or `Negotiate` Authorization.
    pub auth_token: Option<&'a [u8]>,
    /// Content-Length.
    pub content_length: Option<u64>,
    /// Transfer-Encoding ends in chunked.
    pub chunked: bool,
    /// Bytes of the head, blank line included.
    pub head_len: usize,
}

/// A response head.
#[derive(Clone, Copy, Debug)]
pub struct Response<'a> {
    /// Status code.
    pub status: u16,
    /// Content-Type header.
    pub content_type: Option<&'a [u8]>,
    /// WWW-Authenticate or Proxy-Authenticate present.
    pub challenge: bool,
    /// Content-Length.
    pub content_length: Option<u64>,
    /// Transfer-Encoding ends in chunked.
    pub chunked: bool,
    /// Bytes of the head, blank line included.
    pub head_len: usize,
}

/// Finds the end of a head (after the blank line), accepting bare LF.
fn head_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'\n') {
        let nl = i + off;
        let next = nl + 1;
        if b.get(next) == Some(&b'\n') {
            return Some(next + 1);
        }
        if b.get(next) == Some(&b'\r') && b.get(next + 1) == Some(&b'\n') {
            return Some(next + 2);
        }
        i = next;
    }
    None
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn fields<'a>(header_lines: impl Iterator<Item = &'a [u8]>) -> Fields<'a> {
    let mut f = Fields::default();
    for line in header_lines {
        if line.first().is_some_and(|c| *c == b' ' || *c == b'\t') {
            continue; // obsolete line folding
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"host") {
            f.host.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            f.user_agent.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"content-type") {
            f.content_type.get_or_insert(value);
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_decimal(value);
            match (n, f.content_length) {
                (Some(n), None) => f.content_length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => f.bad_length = true,
            }
        } else if name.eq_ignore_ascii_case(b"authorization")
            || name.eq_ignore_ascii_case(b"proxy-authorization")
        {
            let mut parts = value.splitn(2, |c| c.is_ascii_whitespace());
            let scheme = parts.next().unwrap_or(b"");
            f.auth_scheme.get_or_insert(scheme);
            if scheme.eq_ignore_ascii_case(b"NTLM") || scheme.eq_ignore_ascii_case(b"Negotiate") {
                f.auth_token = parts.next().map(trim);
            }
        } else if name.eq_ignore_ascii_case(b"www-authenticate")
            || name.eq_ignore_ascii_case(b"proxy-authenticate")
        {
            f.challenge = true;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value.rsplit(|&c| c == b',').next().map(trim).unwrap_or(b"");
            f.chunked = last.eq_ignore_ascii_case(b"chunked");
        }
    }
    f
}

fn parse_decimal(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u64, |a, &d| a * 10 + u64::from(d - b'0')))
}

fn parse_hex(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 15 {
        return None;
    }
    b.iter().try_fold(0u64, |a, &d| {
        let v = char::from(d).to_digit(16)?;
        Some(a * 16 + u64::from(v))
    })
}

/// Parses a request head at the start of `b`.
pub fn request(b: &[u8]) -> Outcome<Request<'_>> {
    let Some(end) = head_end(b) else {
        return Outcome::Incomplete;
    };
    let mut ls = lines(&b[..end]);
    let first = ls.next().unwrap_or_default();
    let mut parts = first.split(|&c| c == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Outcome::Malformed;
    };
    if !method.iter().all(u8::is_ascii_uppercase) || !version.starts_with(b"HTTP/") {
        return Outcome::Malformed;
    }
    let f = fields(ls);
    if f.bad_length {
        return Outcome::Malformed;
    }
    Outcome::Parsed(Request {
        method,
        target,
        host: f.host,
        user_agent: f.user_agent,
        content_type: f.content_type,
        auth_scheme: f.auth_scheme,
        auth_token: f.auth_token,
        content_length: f.content_length,
        chunked: f.chunked,
        head_len: end,
    })
}

/// Parses a response head at the start of `b`.
pub fn response(b: &[u8]) -> Outcome<Response<'_>> {
    let Some(end) = head_end(b) else {
        return Outcome::Incomplete;
    };
    let mut ls = lines(&b[..end]);
    let first = ls.next().unwrap_or_default();
    if !first.starts_with(b"HTTP/1.") {
        return Outcome::Malformed;
    }
    let status = first
        .get(9..12)
        .and_then(parse_decimal)
        .filter(|s| (100..1000).contains(s));
    let Some(status) = status else {
        return Outcome::Malformed;
    };
    let f = fields(ls);
    if f.bad_length {
        return Outcome::Malformed;
    }
    Outcome::Parsed(Response {
        status: status as u16,
        content_type: f.content_type,
        challenge: f.challenge,
        content_length: f.content_length,
        chunked: f.chunked,
        head_len: end,
    })
}

/// What a flow's HTTP says, for the record's `http_*` columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpMeta {
    /// First request's method.
    pub method: Option<String>,
    /// First request's Host.
    pub host: Option<String>,
    /// First request's target.
    pub uri: Option<String>,
    /// First request's User-Agent.
    pub user_agent: Option<String>,
    /// First response's status.
    pub status: Option<u16>,
    /// First response's Content-Type.
    pub content_type: Option<String>,
    /// First request's body length.
    pub request_body_len: Option<u64>,
    /// First response's body length.
    pub response_body_len: Option<u64>,
    /// Requests in the record.
    pub requests: u32,
    /// Responses in the record.
    pub responses: u32,
}

/// Where a direction is in its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// Waiting for a head.
    Head,
    /// `n` body bytes left.
    Length(u64),
    /// Waiting for a chunk-size line.
    ChunkSize,
    /// `n` bytes of chunk data and its CRLF left.
    ChunkData(u64),
    /// Trailer lines until a blank one.
    Trailers,
    /// Everything until the connection closes.
    UntilClose,
}

/// The HTTP state of a connection: request direction 0, response direction 1.
#[derive(Clone, Debug)]
pub struct HttpSession {
    body: [Body; 2],
    /// Whether the body bytes being read belong to the first message.
    first: [bool; 2],
    /// Pending requests: bit 0 HEAD, bit 1 CONNECT.
    queue: [u8; MAX_QUEUE],
    q_head: usize,
    q_len: usize,
    seen: [u32; 2],
    /// The NTLMSSP message of the last request's `NTLM`/`Negotiate`
    /// Authorization, decoded, for the caller to read.
    pub ntlm_msg: Option<Vec<u8>>,
    /// The status of the last final response, for the caller.
    pub last_status: Option<u16>,
    /// The NTLM authentication awaiting its response's status.
    pub ntlm_auth: Option<crate::ntlmssp::Auth>,
}

impl Default for HttpSession {
    fn default() -> Self {
        HttpSession {
            body: [Body::Head; 2],
            first: [false; 2],
            queue: [0; MAX_QUEUE],
            q_head: 0,
            q_len: 0,
            seen: [0; 2],
            ntlm_msg: None,
            last_status: None,
            ntlm_auth: None,
        }
    }
}

/// Longest Authorization token decoded.
const MAX_TOKEN: usize = 8192;

/// The NTLMSSP message in an `NTLM` or `Negotiate` token: base64, the
/// message itself or wrapped in SPNEGO (found by its signature).
fn ntlmssp_of_token(token: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    if token.len() > MAX_TOKEN {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let at = raw.windows(8).position(|w| w == b"NTLMSSP\0")?;
    Some(raw[at..].to_vec())
}

fn set_text(slot: &mut Option<String>, b: &[u8], max: usize, anomalies: &mut u32) {
    let (s, cut) = text(b, max);
    if cut {
        *anomalies |= flags::TRUNCATED;
    }
    *slot = Some(s);
}

impl HttpSession {
    /// Parses the next in-order bytes of direction `dir` (0 client to server).
    pub fn parse(
        &mut self,
        dir: usize,
        data: &[u8],
        meta: &mut HttpMeta,
        anomalies: &mut u32,
        ev: &mut Events,
    ) -> Step {
        let d = dir.min(1);
        match self.body[d] {
            Body::Head if d == 0 => self.request_head(data, meta, anomalies, ev),
            Body::Head => self.response_head(data, meta, anomalies, ev),
            Body::Length(n) => {
                let k = n.min(data.len() as u64);
                self.count_body(d, k, meta);
                ev.http_body(d as u8, &data[..k as usize]);
                self.body[d] = if n == k {
                    ev.http_body_end(d as u8);
                    Body::Head
                } else {
                    Body::Length(n - k)
                };
                Step::Consumed(k as usize)
            }
            Body::ChunkData(n) => {
                let k = n.min(data.len() as u64);
                // The chunk's data, without the CRLF that ends it.
                let payload = k.min(n.saturating_sub(2));
                ev.http_body(d as u8, &data[..payload as usize]);
                self.body[d] = if n == k {
                    Body::ChunkSize
                } else {
                    Body::ChunkData(n - k)
                };
                Step::Consumed(k as usize)
            }
            Body::ChunkSize => {
                let nl = match crate::line_end(data, MAX_LINE) {
                    Ok(nl) => nl,
                    Err(step) => return step,
                };
                let line = data[..nl].strip_suffix(b"\r").unwrap_or(&data[..nl]);
                let size = line
                    .split(|&c| c == b';')
                    .next()
                    .map(trim)
                    .and_then(parse_hex);
                let Some(size) = size else {
                    return Step::Malformed;
                };
                if size == 0 {
                    self.body[d] = Body::Trailers;
                } else {
                    self.count_body(d, size, meta);
                    self.body[d] = Body::ChunkData(size + 2);
                }
                Step::Consumed(nl + 1)
            }
            Body::Trailers => {
                let nl = match crate::line_end(data, MAX_LINE) {
                    Ok(nl) => nl,
                    Err(step) => return step,
                };
                if data[..nl].iter().all(|&c| c == b'\r') {
                    self.body[d] = Body::Head;
                    ev.http_body_end(d as u8);
                }
                Step::Consumed(nl + 1)
            }
            Body::UntilClose => {
                self.count_body(d, data.len() as u64, meta);
                ev.http_body(d as u8, data);
                Step::Consumed(data.len())
            }
        }
    }

    fn count_body(&mut self, d: usize, n: u64, meta: &mut HttpMeta) {
        if self.first[d] {
            let slot = if d == 0 {
                &mut meta.request_body_len
            } else {
                &mut meta.response_body_len
            };
            *slot = Some(slot.unwrap_or(0).saturating_add(n));
        }
    }

    fn request_head(
        &mut self,
        data: &[u8],
        meta: &mut HttpMeta,
        anomalies: &mut u32,
        ev: &mut Events,
    ) -> Step {
        let req = match request(data) {
            Outcome::Parsed(r) => r,
            Outcome::Incomplete => return Step::NeedMore,
            Outcome::NotThis | Outcome::Malformed => return Step::Malformed,
        };
        ev.http_request(
            req.method,
            req.target,
            req.host,
            req.user_agent,
            req.auth_scheme,
            req.content_type,
            req.content_length,
        );
        self.seen[0] += 1;
        meta.requests += 1;
        self.ntlm_msg = req.auth_token.and_then(ntlmssp_of_token);
        let first = self.seen[0] == 1;
        self.first[0] = first;
        if first {
            set_text(&mut meta.method, req.method, MAX_METHOD, anomalies);
            set_text(&mut meta.uri, req.target, MAX_URI, anomalies);
            if let Some(h) = req.host {
                set_text(&mut meta.host, h, MAX_HOST, anomalies);
            }
            if let Some(ua) = req.user_agent {
                set_text(&mut meta.user_agent, ua, MAX_USER_AGENT, anomalies);
            }
            meta.request_body_len = Some(0);
        }
        let kind = u8::from(req.method == b"HEAD") | (u8::from(req.method == b"CONNECT") << 1);
        if self.q_len < MAX_QUEUE {
            self.queue[(self.q_head + self.q_len) % MAX_QUEUE] = kind;
            self.q_len += 1;
        }
        self.body[0] = if req.chunked {
            Body::ChunkSize
        } else {
            match req.content_length {
                Some(n) if n > 0 => Body::Length(n),
                _ => Body::Head,
            }
        };
        ev.http_head(0, &data[..req.head_len], self.body[0] != Body::Head);
        Step::Consumed(req.head_len)
    }

    fn response_head(
        &mut self,
        data: &[u8],
        meta: &mut HttpMeta,
        anomalies: &mut u32,
        ev: &mut Events,
    ) -> Step {
        let resp = match response(data) {
            Outcome::Parsed(r) => r,
            Outcome::Incomplete => return Step::NeedMore,
            Outcome::NotThis | Outcome::Malformed => return Step::Malformed,
        };
        if resp.status >= 200 || resp.status == 101 {
            ev.http_response(resp.status, resp.content_type, resp.challenge);
            self.last_status = Some(resp.status);
        }
        if resp.status == 101 {
            // Switching protocols (WebSocket, h2c): the rest is not HTTP/1.x.
            self.count_response(&resp, meta, anomalies);
            ev.http_head(1, &data[..resp.head_len], false);
            return Step::Done;
        }
        if resp.status < 200 {
            return Step::Consumed(resp.head_len); // interim response
        }
        let kind = if self.q_len > 0 {
            let k = self.queue[self.q_head];
            self.q_head = (self.q_head + 1) % MAX_QUEUE;
            self.q_len -= 1;
            k
        } else {
            0
        };
        self.count_response(&resp, meta, anomalies);
        if kind & 2 != 0 && (200..300).contains(&resp.status) {
            ev.http_head(1, &data[..resp.head_len], false);
            return Step::Done; // a CONNECT tunnel follows
        }
        let no_body = kind & 1 != 0 || resp.status == 204 || resp.status == 304;
        self.body[1] = if no_body {
            Body::Head
        } else if resp.chunked {
            Body::ChunkSize
        } else {
            match resp.content_length {
                Some(0) => Body::Head,
                Some(n) => Body::Length(n),
                None => Body::UntilClose,
            }
        };
        ev.http_head(1, &data[..resp.head_len], self.body[1] != Body::Head);
        Step::Consumed(resp.head_len)
    }

    fn count_response(&mut self, resp: &Response<'_>, meta: &mut HttpMeta, anomalies: &mut u32) {
        self.seen[1] += 1;
        meta.responses += 1;
        let first = self.seen[1] == 1;
        self.first[1] = first;
        if first {
            meta.status = Some(resp.status);
            if let Some(ct) = resp.content_type {
                set_text(&mut meta.content_type, ct, MAX_CONTENT_TYPE, anomalies);
            }
            meta.response_body_len = Some(0);
        }
    }
}
