//! HTTP transactions for the rule engine: a message's head and body as
//! the parser handed them over, taken apart once into the buffers rules
//! name (`http.uri` normalised, `http.header`, `http.header_names`,
//! `http.cookie`, `file.data` decompressed...).

use std::collections::VecDeque;
use std::io::Read as _;

use mekong_signatures::buffers::Buf;
use mekong_signatures::engine::Buffers;

/// Body bytes kept per message (Suricata's default request and response
/// body limit).
pub const BODY_LIMIT: usize = 100 * 1024;
/// Requests held while their responses are awaited.
pub const MAX_PENDING: usize = 8;

/// A message taken apart.
#[derive(Debug, Default)]
pub struct Msg {
    /// The head as received.
    pub head: Vec<u8>,
    /// The body (de-chunked, as received otherwise), up to [`BODY_LIMIT`].
    pub body: Vec<u8>,
    /// A body follows the head.
    pub has_body: bool,
    /// The body was cut at the limit.
    pub cut: bool,
    // Parsed parts, offsets into `head` (start line and headers).
    line: (usize, usize),
    headers: Vec<((usize, usize), (usize, usize))>,
    // Built buffers.
    uri_norm: Vec<u8>,
    header_buf: Vec<u8>,
    header_names: Vec<u8>,
    host_norm: Vec<u8>,
    decoded: Option<Vec<u8>>,
}

fn trim(b: &[u8], (mut s, mut e): (usize, usize)) -> (usize, usize) {
    while s < e && (b[s] == b' ' || b[s] == b'\t') {
        s += 1;
    }
    while e > s && (b[e - 1] == b' ' || b[e - 1] == b'\t' || b[e - 1] == b'\r') {
        e -= 1;
    }
    (s, e)
}

/// `http.uri`: the request target's path percent-decoded, `.` and `..`
/// segments resolved and `//` compressed (as libhtp normalises it); the
/// query as sent; an absolute-form target loses its scheme and authority.
pub fn normalize_uri(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    normalize_uri_into(raw, &mut out);
    out
}

/// [`normalize_uri`] into `out` (cleared first), without allocating once
/// `out` is big enough: the path is decoded into `out`, then its segments
/// are resolved in place (the result is never longer than what is read).
pub fn normalize_uri_into(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut t = raw;
    for scheme in [&b"http://"[..], b"https://"] {
        if t.len() >= scheme.len() && t[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &t[scheme.len()..];
            t = match rest.iter().position(|&c| c == b'/' || c == b'?') {
                Some(p) => &rest[p..],
                None => b"/",
            };
            break;
        }
    }
    let (path, query) = match t.iter().position(|&c| c == b'?') {
        Some(q) => (&t[..q], Some(&t[q..])),
        None => (t, None),
    };
    let mut i = 0;
    while i < path.len() {
        let c = path[i];
        if c == b'%' {
            let h = |x: u8| char::from(x).to_digit(16);
            if let (Some(a), Some(b)) = (
                path.get(i + 1).and_then(|&x| h(x)),
                path.get(i + 2).and_then(|&x| h(x)),
            ) {
                out.push((a * 16 + b) as u8);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    // Segments: "." dropped, ".." pops, empty ones (//) compressed.
    let n = out.len();
    let absolute = out.first() == Some(&b'/');
    let trailing = out.last() == Some(&b'/') || out.ends_with(b"/.") || out.ends_with(b"/..");
    let base = usize::from(absolute);
    let (mut w, mut r, mut segs) = (base, 0, 0usize);
    while r <= n {
        let e = out[r..n]
            .iter()
            .position(|&c| c == b'/')
            .map_or(n, |p| r + p);
        match &out[r..e] {
            b"" | b"." => {}
            b".." => {
                if segs > 0 {
                    w = out[base..w]
                        .iter()
                        .rposition(|&c| c == b'/')
                        .map_or(base, |p| base + p);
                    segs -= 1;
                }
            }
            _ => {
                // The separator read before this segment is at or after
                // `w`: writing never overtakes reading.
                if segs > 0 {
                    out[w] = b'/';
                    w += 1;
                }
                out.copy_within(r..e, w);
                w += e - r;
                segs += 1;
            }
        }
        r = e + 1;
    }
    out.truncate(w);
    if trailing && segs > 0 {
        out.push(b'/');
    }
    if let Some(q) = query {
        out.extend_from_slice(q);
    }
}

impl Msg {
    /// A message from its head.
    pub fn new(head: &[u8], has_body: bool) -> Msg {
        let mut m = Msg::default();
        m.reset(head, has_body);
        m
    }

    /// Makes this message the one of `head`, keeping its buffers (no
    /// allocation once they are big enough).
    pub fn reset(&mut self, head: &[u8], has_body: bool) {
        self.head.clear();
        self.head.extend_from_slice(head);
        self.body.clear();
        self.has_body = has_body;
        self.cut = false;
        self.line = (0, 0);
        self.headers.clear();
        self.uri_norm.clear();
        self.header_buf.clear();
        self.header_names.clear();
        self.host_norm.clear();
        self.decoded = None;
        self.parse();
    }

    fn parse(&mut self) {
        let h = &self.head;
        let mut start = 0;
        let mut first = true;
        while start < h.len() {
            let nl = h[start..]
                .iter()
                .position(|&c| c == b'\n')
                .map(|p| start + p);
            let mut e = nl.unwrap_or(h.len());
            let next = nl.map_or(h.len(), |p| p + 1);
            if e > start && h[e - 1] == b'\r' {
                e -= 1;
            }
            if first {
                self.line = (start, e);
                first = false;
            } else {
                if start == e {
                    break; // the blank line
                }
                if let Some(colon) = h[start..e].iter().position(|&c| c == b':') {
                    let name = trim(h, (start, start + colon));
                    let value = trim(h, (start + colon + 1, e));
                    self.headers.push((name, value));
                }
            }
            start = next;
        }
        if first {
            return;
        }
        // Built buffers.
        let (hb, hn) = (&mut self.header_buf, &mut self.header_names);
        hn.extend_from_slice(b"\r\n");
        for &(n, v) in &self.headers {
            hb.extend_from_slice(&h[n.0..n.1]);
            hb.extend_from_slice(b": ");
            hb.extend_from_slice(&h[v.0..v.1]);
            hb.extend_from_slice(b"\r\n");
            hn.extend_from_slice(&h[n.0..n.1]);
            hn.extend_from_slice(b"\r\n");
        }
        hn.extend_from_slice(b"\r\n");
        let l = &h[self.line.0..self.line.1];
        if let Some(uri) = l.splitn(3, |&c| c == b' ').nth(1) {
            normalize_uri_into(uri, &mut self.uri_norm);
        }
        let host = self
            .headers
            .iter()
            .find(|(n, _)| h[n.0..n.1].eq_ignore_ascii_case(b"host"))
            .map(|(_, v)| &h[v.0..v.1]);
        if let Some(x) = host {
            let x = if x.first() == Some(&b'[') {
                match x.iter().position(|&c| c == b']') {
                    Some(p) => &x[..=p],
                    None => x,
                }
            } else {
                match x.iter().rposition(|&c| c == b':') {
                    Some(p) => &x[..p],
                    None => x,
                }
            };
            self.host_norm.extend(x.iter().map(u8::to_ascii_lowercase));
        }
    }

    /// Part `i` (0, 1, 2) of the start line split at spaces; the third
    /// takes the rest of the line (a status message may hold spaces).
    fn part(&self, i: usize) -> Option<&[u8]> {
        let l = &self.head[self.line.0..self.line.1];
        let mut it = l.splitn(3, |&c| c == b' ');
        let p = it.nth(i)?;
        Some(p)
    }

    /// The first header of this name.
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| self.head[n.0..n.1].eq_ignore_ascii_case(name))
            .map(|(_, v)| &self.head[v.0..v.1])
    }

    /// The header block as received: the lines after the start line,
    /// blank line excluded.
    fn header_raw(&self) -> &[u8] {
        let start = (self.line.1 + 2).min(self.head.len());
        let mut end = self.head.len();
        for tail in [&b"\r\n\r\n"[..], b"\n\n"] {
            if self.head[start..].ends_with(tail) {
                end = self.head.len() - tail.len() / 2;
                break;
            }
        }
        &self.head[start..end.max(start)]
    }

    /// Appends body bytes (up to the limit).
    pub fn add_body(&mut self, data: &[u8]) {
        let room = BODY_LIMIT.saturating_sub(self.body.len());
        if data.len() > room {
            self.cut = true;
        }
        self.body.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// The body decompressed by its Content-Encoding (gzip, deflate), up
    /// to the limit; the body as received for other encodings or when
    /// decoding fails at the first byte.
    pub fn decode_body(&mut self) {
        let enc = self.header(b"content-encoding").unwrap_or_default();
        let has = |w: &[u8]| enc.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w));
        if !has(b"gzip") && !has(b"deflate") {
            self.decoded = None;
            return;
        }
        let out = if has(b"gzip") {
            inflate(flate2::read::GzDecoder::new(&self.body[..]))
        } else if has(b"deflate") {
            inflate(flate2::read::ZlibDecoder::new(&self.body[..]))
                .filter(|v| !v.is_empty())
                .or_else(|| inflate(flate2::read::DeflateDecoder::new(&self.body[..])))
        } else {
            None
        };
        self.decoded = out.filter(|v| !v.is_empty());
    }

    /// The body for rules: decoded when it was compressed.
    pub fn body_for_rules(&self) -> &[u8] {
        self.decoded.as_deref().unwrap_or(&self.body)
    }
}

fn inflate(r: impl std::io::Read) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut r = r.take(BODY_LIMIT as u64);
    match r.read_to_end(&mut out) {
        Ok(_) => Some(out),
        // A truncated stream still yields what came before the damage.
        Err(_) if !out.is_empty() => Some(out),
        Err(_) => None,
    }
}

/// The HTTP side of a flow: the request being read, requests awaiting
/// their responses, the response being read.
#[derive(Debug, Default)]
pub struct HttpFlow {
    /// The request whose body is being read.
    pub req: Option<Msg>,
    /// Requests inspected, waiting for their responses.
    pub pending: VecDeque<Msg>,
    /// The response whose body is being read.
    pub resp: Option<Msg>,
    /// Messages done with, kept for the next ones (their buffers reused).
    pub spare: Vec<Msg>,
}

/// Messages kept for reuse per flow.
const SPARE: usize = 3;

impl HttpFlow {
    /// A message for `head`, from the spares when there is one.
    pub fn msg(&mut self, head: &[u8], has_body: bool) -> Msg {
        match self.spare.pop() {
            Some(mut m) => {
                m.reset(head, has_body);
                m
            }
            None => Msg::new(head, has_body),
        }
    }

    /// Keeps a message done with (a big one is let go).
    pub fn done(&mut self, m: Msg) {
        if self.spare.len() < SPARE && m.head.capacity() + m.body.capacity() <= 64 * 1024 {
            self.spare.push(m);
        }
    }
}

/// The buffers of one side of a transaction.
pub struct TxBuffers<'a> {
    /// The request.
    pub req: Option<&'a Msg>,
    /// The response (at the response's inspection).
    pub resp: Option<&'a Msg>,
}

impl TxBuffers<'_> {
    /// The message a buffer of either side is taken from: the response's
    /// when there is one.
    fn own(&self) -> Option<&Msg> {
        self.resp.or(self.req)
    }
}

impl Buffers for TxBuffers<'_> {
    fn each(&self, buf: Buf, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        use Buf::*;
        let (req, own) = (self.req, self.own());
        let one = |m: Option<&Msg>,
                   g: &dyn Fn(&Msg) -> Option<&[u8]>,
                   f: &mut dyn FnMut(&[u8]) -> bool| {
            match m.and_then(g) {
                Some(v) => f(v),
                None => false,
            }
        };
        match buf {
            PktData => {
                let Some(m) = own else { return false };
                if m.body.is_empty() {
                    return f(&m.head);
                }
                let mut raw = m.head.clone();
                raw.extend_from_slice(&m.body);
                f(&raw)
            }
            HttpUri => one(req, &|m| Some(&m.uri_norm), f),
            HttpUriRaw => one(req, &|m| m.part(1), f),
            HttpMethod => one(req, &|m| m.part(0), f),
            HttpProtocol => one(
                own,
                &|m| {
                    if self.resp.is_some() {
                        m.part(0)
                    } else {
                        m.part(2)
                    }
                },
                f,
            ),
            HttpRequestLine => one(req, &|m| Some(&m.head[m.line.0..m.line.1]), f),
            HttpResponseLine => one(self.resp, &|m| Some(&m.head[m.line.0..m.line.1]), f),
            HttpStatCode => one(self.resp, &|m| m.part(1), f),
            HttpStatMsg => one(self.resp, &|m| m.part(2), f),
            HttpHeader => one(own, &|m| Some(&m.header_buf), f),
            HttpHeaderRaw => one(own, &|m| Some(m.header_raw()), f),
            HttpHeaderNames => one(own, &|m| Some(&m.header_names), f),
            HttpStart => one(own, &|m| Some(&m.head), f),
            HttpCookie => {
                if self.resp.is_some() {
                    one(self.resp, &|m| m.header(b"set-cookie"), f)
                } else {
                    one(req, &|m| m.header(b"cookie"), f)
                }
            }
            HttpUserAgent => one(req, &|m| m.header(b"user-agent"), f),
            HttpHost => one(req, &|m| m.header(b"host").map(|_| &m.host_norm[..]), f),
            HttpHostRaw => one(req, &|m| m.header(b"host"), f),
            HttpAccept => one(req, &|m| m.header(b"accept"), f),
            HttpAcceptEnc => one(req, &|m| m.header(b"accept-encoding"), f),
            HttpAcceptLang => one(req, &|m| m.header(b"accept-language"), f),
            HttpReferer => one(req, &|m| m.header(b"referer"), f),
            HttpConnection => one(own, &|m| m.header(b"connection"), f),
            HttpContentType => one(own, &|m| m.header(b"content-type"), f),
            HttpContentLen => one(own, &|m| m.header(b"content-length"), f),
            HttpLocation => one(self.resp, &|m| m.header(b"location"), f),
            HttpServer => one(self.resp, &|m| m.header(b"server"), f),
            HttpRequestBody => one(req, &|m| (!m.body.is_empty()).then_some(&m.body[..]), f),
            HttpResponseBody => one(
                self.resp,
                &|m| {
                    let b = m.body_for_rules();
                    (!b.is_empty()).then_some(b)
                },
                f,
            ),
            FileData => one(
                own,
                &|m| {
                    let b = m.body_for_rules();
                    (!b.is_empty()).then_some(b)
                },
                f,
            ),
            HttpRequestHeader | HttpResponseHeader => {
                let m = if buf == HttpRequestHeader {
                    req
                } else {
                    self.resp
                };
                let Some(m) = m else { return false };
                m.headers.iter().any(|&(n, v)| {
                    let mut line = m.head[n.0..n.1].to_vec();
                    line.extend_from_slice(b": ");
                    line.extend_from_slice(&m.head[v.0..v.1]);
                    f(&line)
                })
            }
            _ => false,
        }
    }

    fn urilen(&self, raw: bool) -> Option<usize> {
        let m = self.req?;
        if raw {
            m.part(1).map(<[u8]>::len)
        } else {
            Some(m.uri_norm.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The normalisation written plainly (segments in a list), against
    /// which the in-place one is checked.
    fn reference(raw: &[u8]) -> Vec<u8> {
        let mut t = raw;
        for scheme in [&b"http://"[..], b"https://"] {
            if t.len() >= scheme.len() && t[..scheme.len()].eq_ignore_ascii_case(scheme) {
                let rest = &t[scheme.len()..];
                t = match rest.iter().position(|&c| c == b'/' || c == b'?') {
                    Some(p) => &rest[p..],
                    None => b"/",
                };
                break;
            }
        }
        let (path, query) = match t.iter().position(|&c| c == b'?') {
            Some(q) => (&t[..q], Some(&t[q..])),
            None => (t, None),
        };
        let mut dec = Vec::new();
        let mut i = 0;
        while i < path.len() {
            let h = |x: u8| char::from(x).to_digit(16);
            if path[i] == b'%' {
                if let (Some(a), Some(b)) = (
                    path.get(i + 1).and_then(|&x| h(x)),
                    path.get(i + 2).and_then(|&x| h(x)),
                ) {
                    dec.push((a * 16 + b) as u8);
                    i += 3;
                    continue;
                }
            }
            dec.push(path[i]);
            i += 1;
        }
        let absolute = dec.first() == Some(&b'/');
        let trailing = dec.last() == Some(&b'/') || dec.ends_with(b"/.") || dec.ends_with(b"/..");
        let mut segs: Vec<&[u8]> = Vec::new();
        for s in dec.split(|&c| c == b'/') {
            match s {
                b"" | b"." => {}
                b".." => {
                    segs.pop();
                }
                s => segs.push(s),
            }
        }
        let mut out = Vec::new();
        if absolute {
            out.push(b'/');
        }
        out.extend(segs.join(&b'/'));
        if trailing && !segs.is_empty() {
            out.push(b'/');
        }
        if let Some(q) = query {
            out.extend_from_slice(q);
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn in_place_normalisation_equals_the_plain_one(
            raw in proptest::collection::vec(proptest::sample::select(b"/.a%2e?Fh:".to_vec()), 0..40)
        ) {
            let mut out = Vec::new();
            normalize_uri_into(&raw, &mut out);
            proptest::prop_assert_eq!(out, reference(&raw));
        }
    }

    fn get(b: &dyn Buffers, buf: Buf) -> Option<Vec<u8>> {
        let mut out = None;
        b.each(buf, &mut |v| {
            out = Some(v.to_vec());
            true
        });
        out
    }

    #[test]
    fn uris_normalise_as_libhtp_does() {
        assert_eq!(normalize_uri(b"/a/./b/../c%20d?x=%20"), b"/a/c d?x=%20");
        assert_eq!(normalize_uri(b"//x//y/"), b"/x/y/");
        assert_eq!(normalize_uri(b"http://Host:80/p?q"), b"/p?q");
        assert_eq!(normalize_uri(b"/%2e%2e/etc/passwd"), b"/etc/passwd");
        assert_eq!(normalize_uri(b"/bad%zz"), b"/bad%zz");
    }

    #[test]
    fn request_buffers_by_hand() {
        let head = b"GET /a%41?b HTTP/1.1\r\nHost: WWW.Example.com:8080\r\nUser-Agent:  curl/8.0 \r\nCookie: s=1\r\nAccept: */*\r\n\r\n";
        let m = Msg::new(head, false);
        let b = TxBuffers {
            req: Some(&m),
            resp: None,
        };
        assert_eq!(get(&b, Buf::HttpMethod).unwrap(), b"GET");
        assert_eq!(get(&b, Buf::HttpUri).unwrap(), b"/aA?b");
        assert_eq!(get(&b, Buf::HttpUriRaw).unwrap(), b"/a%41?b");
        assert_eq!(get(&b, Buf::HttpProtocol).unwrap(), b"HTTP/1.1");
        assert_eq!(
            get(&b, Buf::HttpRequestLine).unwrap(),
            b"GET /a%41?b HTTP/1.1"
        );
        assert_eq!(get(&b, Buf::HttpHost).unwrap(), b"www.example.com");
        assert_eq!(get(&b, Buf::HttpHostRaw).unwrap(), b"WWW.Example.com:8080");
        assert_eq!(get(&b, Buf::HttpUserAgent).unwrap(), b"curl/8.0");
        assert_eq!(get(&b, Buf::HttpCookie).unwrap(), b"s=1");
        assert_eq!(
            get(&b, Buf::HttpHeader).unwrap(),
            b"Host: WWW.Example.com:8080\r\nUser-Agent: curl/8.0\r\nCookie: s=1\r\nAccept: */*\r\n"
        );
        assert_eq!(
            get(&b, Buf::HttpHeaderNames).unwrap(),
            b"\r\nHost\r\nUser-Agent\r\nCookie\r\nAccept\r\n\r\n"
        );
        assert!(get(&b, Buf::HttpStatCode).is_none());
        assert_eq!(b.urilen(false), Some(5));
        assert_eq!(b.urilen(true), Some(7));
    }

    #[test]
    fn response_buffers_and_gzip_bodies() {
        use std::io::Write as _;
        let req = Msg::new(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n", false);
        let mut resp = Msg::new(
            b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\nContent-Encoding: gzip\r\nSet-Cookie: a=b\r\n\r\n",
            true,
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"<html>hello</html>").unwrap();
        resp.add_body(&gz.finish().unwrap());
        resp.decode_body();
        let b = TxBuffers {
            req: Some(&req),
            resp: Some(&resp),
        };
        assert_eq!(get(&b, Buf::HttpStatCode).unwrap(), b"404");
        assert_eq!(get(&b, Buf::HttpStatMsg).unwrap(), b"Not Found");
        assert_eq!(get(&b, Buf::HttpServer).unwrap(), b"nginx");
        assert_eq!(get(&b, Buf::HttpCookie).unwrap(), b"a=b");
        assert_eq!(get(&b, Buf::FileData).unwrap(), b"<html>hello</html>");
        assert_eq!(get(&b, Buf::HttpUri).unwrap(), b"/x", "the request's side");
        assert_eq!(get(&b, Buf::HttpProtocol).unwrap(), b"HTTP/1.1");
    }
}
