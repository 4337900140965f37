//! Mining protocols on any port: stratum (Bitcoin-style `mining.*`
//! methods, `eth_*` for Ethereum-style pools) and the JSON-RPC login of
//! Monero pools (XMRig and its kin), recognised from the first bytes a
//! client sends, then read request by request: the methods used, the
//! miner's agent, the login and worker names, the shares submitted.
//!
//! The login is usually a wallet address: it is kept masked (see
//! [`mask`]), enough to tell campaigns apart, never enough to use or
//! trace the wallet. Pool passwords are never kept.

use crate::event::Events;
use crate::text::text;
use crate::{Outcome, Step};

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

/// What a mining client's first request said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
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
pub fn recognise(b: &[u8]) -> Option<Hello> {
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
    (known || xmr).then(|| Hello {
        method: method.to_string(),
        agent,
    })
}

/// Recognises a mining client from the first bytes of a direction.
pub fn detect(first: &[u8]) -> Outcome<()> {
    if recognise(first).is_some() {
        return Outcome::Parsed(());
    }
    let start = first.iter().position(|c| !c.is_ascii_whitespace());
    let json = start.is_none_or(|i| first[i] == b'{');
    if json && first.len() < MAX_LINE && !first.contains(&b'\n') {
        Outcome::Incomplete
    } else {
        Outcome::NotThis
    }
}

/// Longest request read.
const MAX_LINE: usize = 4096;
/// Requests read before the parser stops.
pub const MAX_REQUESTS: u32 = 256;
/// Methods kept per record.
pub const MAX_METHODS: usize = 16;
/// Longest name kept (agent, login, worker).
const MAX_NAME: usize = 64;

/// What a mining connection said, for its record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MiningMeta {
    /// Methods the client called, each once, in order.
    pub methods: Vec<String>,
    /// The miner's agent (`XMRig/6.21.0 ...`, `cgminer/4.10.0`).
    pub agent: Option<String>,
    /// The pool login, masked when it is a wallet address ([`mask`]).
    pub login: Option<String>,
    /// The worker (rig) name.
    pub worker: Option<String>,
    /// Shares submitted.
    pub submits: u32,
    /// A list or name was cut.
    pub cut: bool,
}

/// A pool login as kept: a wallet address (at least 26 letters and
/// digits, `0x` hex included) keeps its first 6 and last 4 characters
/// around `…`; other logins (pool account names) are kept as they are, at
/// most 64 bytes.
pub fn mask(login: &str) -> String {
    let core = login.strip_prefix("0x").unwrap_or(login);
    if login.len() >= 26 && core.chars().all(|c| c.is_ascii_alphanumeric()) {
        format!("{}…{}", &login[..6], &login[login.len() - 4..])
    } else {
        text(login.as_bytes(), MAX_NAME).0
    }
}

/// The first string of the `params` array (`mining.authorize`'s user,
/// `eth_submitLogin`'s wallet).
fn first_param(b: &[u8]) -> Option<&[u8]> {
    let at = find(b, b"\"params\"")? + 8;
    let rest = &b[at..];
    let colon = rest.iter().position(|&c| c == b':')?;
    let rest = &rest[colon + 1..];
    let i = rest.iter().position(|c| !c.is_ascii_whitespace())?;
    let rest = rest[i..].strip_prefix(b"[")?;
    let j = rest.iter().position(|c| !c.is_ascii_whitespace())?;
    let v = rest[j..].strip_prefix(b"\"")?;
    let end = v.iter().position(|&c| c == b'"' || c == b'\\')?;
    Some(&v[..end])
}

/// The mining state of one connection.
#[derive(Clone, Debug, Default)]
pub struct MiningSession {
    requests: u32,
    announced: bool,
}

impl MiningSession {
    /// Parses the next in-order bytes of direction `dir` (0 client; the
    /// pool's answers are not read).
    pub fn parse(
        &mut self,
        dir: usize,
        data: &[u8],
        meta: &mut MiningMeta,
        ev: &mut Events,
    ) -> Step {
        if dir != 0 || self.requests >= MAX_REQUESTS {
            return Step::Done;
        }
        let nl = match crate::line_end(data, MAX_LINE) {
            Ok(nl) => nl,
            Err(Step::Malformed) => return Step::Consumed(data.len().min(MAX_LINE)),
            Err(step) => return step,
        };
        self.requests += 1;
        let line = &data[..nl];
        if let Some(m) = string_after(line, b"\"method").and_then(|m| std::str::from_utf8(m).ok()) {
            self.request(line, m, meta, ev);
        }
        Step::Consumed(nl + 1)
    }

    fn request(&mut self, line: &[u8], method: &str, meta: &mut MiningMeta, ev: &mut Events) {
        let (m, cut) = text(method.as_bytes(), MAX_NAME);
        meta.cut |= cut;
        crate::push_distinct(&mut meta.methods, &m, MAX_METHODS, &mut meta.cut);
        let name = |b: &[u8]| text(b, MAX_NAME).0;
        if meta.agent.is_none() {
            meta.agent = string_after(line, b"\"agent").map(name);
            if method == "mining.subscribe" {
                // Stratum's subscribe names the miner first.
                meta.agent = first_param(line).filter(|a| !a.is_empty()).map(name);
            }
        }
        if matches!(method, "mining.submit" | "submit" | "eth_submitWork") {
            meta.submits = meta.submits.saturating_add(1);
        }
        let login = match method {
            "login" => string_after(line, b"\"login"),
            "mining.authorize" | "eth_submitLogin" | "submitLogin" => first_param(line),
            _ => None,
        };
        if let (Some(l), None) = (login, &meta.login) {
            let l = String::from_utf8_lossy(l);
            let (account, worker) = match l.find(['.', '/']) {
                Some(i) => (&l[..i], Some(&l[i + 1..])),
                None => (&l[..], None),
            };
            let account = account.split('+').next().unwrap_or_default();
            meta.login = Some(mask(account));
            let worker = worker
                .map(|w| w.as_bytes())
                .or_else(|| string_after(line, b"\"rigid"))
                .or_else(|| string_after(line, b"\"worker"));
            meta.worker = worker.filter(|w| !w.is_empty()).map(name);
        }
        if !self.announced {
            self.announced = true;
            ev.mining(&m, meta.agent.as_deref());
        }
    }
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
    fn a_session_keeps_methods_and_masked_names() {
        let mut s = MiningSession::default();
        let mut m = MiningMeta::default();
        let mut ev = Events::new();
        let talk: &[u8] = b"{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"cgminer/4.10.0\"]}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2.rig7\",\"x\"]}\n{\"method\":\"mining.submit\",\"params\":[]}\n{\"method\":\"mining.submit\",\"params\":[]}\n";
        let mut pos = 0;
        while let Step::Consumed(n) = s.parse(0, &talk[pos..], &mut m, &mut ev) {
            pos += n;
            if pos == talk.len() {
                break;
            }
        }
        assert_eq!(
            m.methods,
            vec!["mining.subscribe", "mining.authorize", "mining.submit"]
        );
        assert_eq!(m.login.as_deref(), Some("1BvBMS…NVN2"));
        assert_eq!(m.worker.as_deref(), Some("rig7"));
        assert_eq!(m.submits, 2);
        assert_eq!(ev.len(), 1);
        let x = br#"{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge","pass":"x","rigid":"web01","agent":"XMRig/6.21.0"}}
"#;
        let mut m = MiningMeta::default();
        let _ = MiningSession::default().parse(0, x, &mut m, &mut ev);
        assert_eq!(m.login.as_deref(), Some("4AdUnd…4Rge"));
        assert_eq!(m.worker.as_deref(), Some("web01"));
        assert_eq!(m.agent.as_deref(), Some("XMRig/6.21.0"));
        assert_eq!(mask("poolaccount"), "poolaccount");
        assert_eq!(detect(b"{\"id\":1,"), Outcome::Incomplete);
        assert_eq!(detect(b"{\"id\":1}\n"), Outcome::NotThis);
    }

    #[test]
    fn no_wallet_is_kept() {
        let x = recognise(br#"{"method":"login","params":{"login":"WALLET123","pass":"secret","agent":"xmr-stak"}}"#).unwrap();
        let dump = format!("{x:?}");
        assert!(!dump.contains("WALLET123") && !dump.contains("secret"));
    }
}
