//! HTTP/1.1 requests and response headers with real header sets.

/// Browser and tool user-agents seen in an office.
pub const USER_AGENTS: [&str; 10] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Microsoft-CryptoAPI/10.0",
    "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.50",
    "curl/7.88.1",
    "python-requests/2.31.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
];

/// `Server` header values.
pub const SERVERS: [&str; 6] = [
    "nginx",
    "Apache/2.4.62 (Debian)",
    "Microsoft-IIS/10.0",
    "cloudflare",
    "nginx/1.24.0",
    "LiteSpeed",
];

/// Builds a request. `extra` headers come after the standard ones.
pub fn request(
    method: &str,
    host: &str,
    uri: &str,
    ua: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut s = format!("{method} {uri} HTTP/1.1\r\nHost: {host}\r\n");
    if !ua.is_empty() {
        s.push_str(&format!("User-Agent: {ua}\r\n"));
    }
    s.push_str("Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n");
    s.push_str("Accept-Language: vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7\r\n");
    for (k, v) in extra {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        s.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    s.push_str("Connection: keep-alive\r\n\r\n");
    let mut b = s.into_bytes();
    b.extend_from_slice(body);
    b
}

/// Builds response headers for a body of `content_length` bytes sent after them.
pub fn response_head(
    status: u16,
    server: &str,
    content_type: &str,
    content_length: usize,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Unknown",
    };
    let mut s = format!(
        "HTTP/1.1 {status} {reason}\r\nDate: Mon, 02 Mar 2026 01:00:00 GMT\r\nServer: {server}\r\n"
    );
    if status != 304 && status != 204 {
        s.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {content_length}\r\n"
        ));
    }
    for (k, v) in extra {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("Connection: keep-alive\r\n\r\n");
    s.into_bytes()
}

/// Base64 (standard alphabet, padded), for Basic authentication.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"admin:admin"), "YWRtaW46YWRtaW4=");
    }

    #[test]
    fn request_has_host_and_length() {
        let r = request("POST", "h.vn", "/x", "ua", &[], b"abc");
        let s = String::from_utf8(r).unwrap();
        assert!(s.starts_with("POST /x HTTP/1.1\r\nHost: h.vn\r\nUser-Agent: ua\r\n"));
        assert!(s.contains("Content-Length: 3\r\n"));
        assert!(s.ends_with("\r\n\r\nabc"));
    }
}
