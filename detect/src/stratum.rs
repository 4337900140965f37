//! Mining protocols on any port: stratum (Bitcoin-style `mining.*` methods)
//! and the JSON-RPC login of Monero pools (XMRig and its kin), recognised
//! from the first bytes a client sends.
//!
//! Only the method name and the miner's agent string are kept; wallet
//! addresses, worker names and passwords never leave this function.

/// Stratum methods (a client's first requests).
const METHODS: [&str; 12] = [
    "mining.subscribe",
    "mining.authorize",
    "mining.submit",
    "mining.configure",
    "mining.extranonce.subscribe",
    "mining.notify",
    "mining.set_difficulty",
    "eth_submitLogin",
    "eth_submitWork",
    "eth_getWork",
    "eth_submitHashrate",
    "submitLogin",
];

/// What a mining client said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stratum {
    /// The method (`mining.subscribe`, `login`...).
    pub method: String,
    /// The miner's agent string, when it sent one (at most 64 bytes).
    pub agent: Option<String>,
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    h.windows(n.len()).position(|w| w == n)
}

/// The JSON string value that follows `"key"` and a colon in `b`.
fn string_after<'a>(b: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut start = 0;
    while let Some(i) = find(&b[start..], key) {
        let at = start + i + key.len();
        let rest = &b[at..];
        let rest = rest.strip_prefix(b"\"").unwrap_or(rest);
        let mut j = 0;
        while j < rest.len() && (rest[j] == b' ' || rest[j] == b'\t') {
            j += 1;
        }
        if rest.get(j) == Some(&b':') {
            let mut k = j + 1;
            while k < rest.len() && (rest[k] == b' ' || rest[k] == b'\t') {
                k += 1;
            }
            if rest.get(k) == Some(&b'"') {
                let v = &rest[k + 1..];
                let end = v.iter().position(|&c| c == b'"' || c == b'\\')?;
                return Some(&v[..end]);
            }
        }
        start = at;
    }
    None
}

/// Recognises a mining client from the first bytes of a direction of a TCP
/// stream (a JSON-RPC object, possibly after whitespace).
pub fn recognise(b: &[u8]) -> Option<Stratum> {
    let b = &b[..b.len().min(4096)];
    let first = b.iter().position(|c| !c.is_ascii_whitespace())?;
    if b[first] != b'{' {
        return None;
    }
    let method = string_after(b, b"\"method")?;
    let method = std::str::from_utf8(method).ok()?;
    let agent = string_after(b, b"\"agent")
        .and_then(|a| std::str::from_utf8(a).ok())
        .map(|a| a.chars().take(64).collect::<String>());
    let known = METHODS.contains(&method);
    // Monero pools: `login` with the miner's agent or algorithms.
    let xmr = method == "login"
        && (agent.is_some() || find(b, b"\"algo").is_some())
        && find(b, b"\"params").is_some();
    (known || xmr).then(|| Stratum {
        method: method.to_string(),
        agent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratum_and_monero_logins() {
        let s =
            recognise(br#"{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]}"#)
                .unwrap();
        assert_eq!(s.method, "mining.subscribe");
        let x = recognise(br#"{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge","pass":"x","agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0"]}}"#).unwrap();
        assert_eq!(x.method, "login");
        assert!(x.agent.unwrap().starts_with("XMRig/6.21.0"));
        assert_eq!(
            recognise(b"  {\"method\" : \"mining.authorize\"}")
                .unwrap()
                .method,
            "mining.authorize"
        );
    }

    #[test]
    fn other_json_is_not_mining() {
        assert!(recognise(br#"{"method":"login","params":{"user":"bob"}}"#).is_none());
        assert!(recognise(br#"{"jsonrpc":"2.0","method":"eth_blockNumber"}"#).is_none());
        assert!(recognise(b"GET / HTTP/1.1\r\n").is_none());
        assert!(recognise(b"").is_none());
        assert!(recognise(b"{\"method\":\"mining.sub").is_none());
    }

    #[test]
    fn no_wallet_is_kept() {
        let x = recognise(br#"{"method":"login","params":{"login":"WALLET123","pass":"secret","agent":"xmr-stak"}}"#).unwrap();
        let dump = format!("{x:?}");
        assert!(!dump.contains("WALLET123") && !dump.contains("secret"));
    }
}
