//! Parsing rules: files into rules (comments, continuation lines), a rule
//! into its header and typed options, with an error naming the line and the
//! keyword.

use std::fmt;

use crate::buffers;
use crate::rule::*;

/// What is wrong with a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not valid rule syntax (Suricata would refuse it too).
    Invalid(String),
    /// Valid Suricata syntax that Mekong does not support (the rule is
    /// skipped and counted by this reason).
    Unsupported(String),
}

/// A rule that could not be parsed (or compiled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// Line of the rule in its file (1-based; 0 when not from a file).
    pub line: usize,
    /// The rule's sid, when it could be read.
    pub sid: Option<u32>,
    /// The keyword at fault, when one is.
    pub keyword: Option<String>,
    /// What is wrong.
    pub problem: Problem,
}

impl RuleError {
    /// An invalid rule.
    pub fn invalid(keyword: Option<&str>, msg: impl Into<String>) -> RuleError {
        RuleError {
            line: 0,
            sid: None,
            keyword: keyword.map(str::to_string),
            problem: Problem::Invalid(msg.into()),
        }
    }

    /// A rule Mekong does not support.
    pub fn unsupported(keyword: Option<&str>, msg: impl Into<String>) -> RuleError {
        RuleError {
            line: 0,
            sid: None,
            keyword: keyword.map(str::to_string),
            problem: Problem::Unsupported(msg.into()),
        }
    }

    /// True for an unsupported (not invalid) rule.
    pub fn is_unsupported(&self) -> bool {
        matches!(self.problem, Problem::Unsupported(_))
    }

    /// The reason as a short key for counting: `unsupported keyword
    /// asn1`, `unsupported protocol krb5`...
    pub fn reason(&self) -> String {
        match &self.problem {
            Problem::Unsupported(m) => m.clone(),
            Problem::Invalid(_) => match &self.keyword {
                Some(k) => format!("invalid {k}"),
                None => "invalid rule".into(),
            },
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        if let Some(s) = self.sid {
            write!(f, "sid {s}: ")?;
        }
        if let Some(k) = &self.keyword {
            write!(f, "{k}: ")?;
        }
        match &self.problem {
            Problem::Invalid(m) => write!(f, "{m}"),
            Problem::Unsupported(m) => write!(f, "{m} (skipped)"),
        }
    }
}

impl std::error::Error for RuleError {}

/// Rules longer than this are refused (Suricata's limit is 8 KiB per line;
/// long IP lists reach tens of KiB with continuation lines).
pub const MAX_RULE_LEN: usize = 256 * 1024;

/// One rule's text and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleText {
    /// Line of its first line (1-based).
    pub line: usize,
    /// The text, continuation lines joined.
    pub text: String,
}

/// The rules of a file: blank lines and `#` comments skipped, lines ending
/// in `\` joined with the next.
pub fn rule_texts(file: &str) -> Vec<RuleText> {
    let mut out = Vec::new();
    let mut cur: Option<RuleText> = None;
    for (i, raw) in file.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        match cur.as_mut() {
            Some(c) => {
                let (body, more) = continued(line);
                c.text.push_str(body.trim_start());
                if !more {
                    out.extend(cur.take());
                }
            }
            None => {
                let t = line.trim_start();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                let (body, more) = continued(t);
                let rt = RuleText {
                    line: i + 1,
                    text: body.to_string(),
                };
                if more {
                    cur = Some(rt);
                } else {
                    out.push(rt);
                }
            }
        }
    }
    out.extend(cur);
    out
}

fn continued(line: &str) -> (&str, bool) {
    let t = line.trim_end();
    match t.strip_suffix('\\') {
        Some(b) => (b, true),
        None => (t, false),
    }
}

/// Parses one rule.
pub fn parse_rule(text: &str) -> Result<Rule, RuleError> {
    if text.len() > MAX_RULE_LEN {
        return Err(RuleError::invalid(None, "rule longer than 256 KiB"));
    }
    let open = text
        .find('(')
        .ok_or_else(|| RuleError::invalid(None, "no '(' before the options"))?;
    let close = text
        .rfind(')')
        .filter(|&c| c > open)
        .ok_or_else(|| RuleError::invalid(None, "no ')' after the options"))?;
    if !text[close + 1..].trim().is_empty() {
        return Err(RuleError::invalid(None, "text after the closing ')'"));
    }
    let header = parse_header(&text[..open])?;
    let mut options = Vec::new();
    let mut sid = None;
    for raw in split_options(&text[open + 1..close]) {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let (kw, val) = match raw.find(':') {
            Some(i) => (raw[..i].trim(), Some(raw[i + 1..].trim())),
            None => (raw, None),
        };
        let r = parse_option(kw, val, &mut options);
        if let Err(mut e) = r {
            e.sid = sid.or_else(|| find_sid(&text[open + 1..close]));
            return Err(e);
        }
        if let Some(Opt::Sid(s)) = options.last() {
            sid = Some(*s);
        }
    }
    let rule = Rule { header, options };
    let err = |k: &str, m: &str| {
        let mut e = RuleError::invalid(Some(k), m);
        e.sid = sid;
        e
    };
    if !rule.options.iter().any(|o| matches!(o, Opt::Sid(_))) {
        return Err(err("sid", "the rule has no sid"));
    }
    if rule.sid() == 0 {
        return Err(err("sid", "sid 0 is not allowed"));
    }
    Ok(rule)
}

/// The sid of a rule text, found without parsing it (for error messages).
fn find_sid(body: &str) -> Option<u32> {
    split_options(body).into_iter().find_map(|o| {
        let o = o.trim();
        let v = o.strip_prefix("sid")?.trim_start().strip_prefix(':')?;
        v.trim().parse().ok()
    })
}

/// Splits the option body at every `;` not escaped by a backslash (as
/// Suricata does: a `;` inside a value must be written `\;`, quotes do
/// not protect it).
fn split_options(body: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = body.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b';' => {
                out.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < body.len() {
        out.push(&body[start..]);
    }
    out
}

/// Splits the header into its seven fields; brackets may hold spaces.
fn header_fields(h: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    for c in h.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            c if c.is_whitespace() && depth <= 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c if c.is_whitespace() => {}
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse_header(h: &str) -> Result<Header, RuleError> {
    let f = header_fields(h);
    if f.len() != 7 {
        return Err(RuleError::invalid(
            None,
            format!(
                "the header needs 7 fields (action proto src sport dir dst dport), found {}",
                f.len()
            ),
        ));
    }
    let action = Action::parse(&f[0])
        .ok_or_else(|| RuleError::invalid(None, format!("unknown action {:?}", f[0])))?;
    let proto = f[1].to_ascii_lowercase();
    if proto.is_empty()
        || !proto
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(RuleError::invalid(None, format!("bad protocol {:?}", f[1])));
    }
    let (bidirectional, transactional) = match f[4].as_str() {
        "->" => (false, false),
        "<>" => (true, false),
        "=>" => (false, true),
        d => {
            return Err(RuleError::invalid(
                None,
                format!("bad direction {d:?} (->, <> or =>)"),
            ))
        }
    };
    Ok(Header {
        action,
        proto,
        src: parse_addr(&f[2]).map_err(|m| RuleError::invalid(Some("source address"), m))?,
        sport: parse_port(&f[3]).map_err(|m| RuleError::invalid(Some("source port"), m))?,
        bidirectional,
        transactional,
        dst: parse_addr(&f[5]).map_err(|m| RuleError::invalid(Some("destination address"), m))?,
        dport: parse_port(&f[6]).map_err(|m| RuleError::invalid(Some("destination port"), m))?,
    })
}

/// Splits a bracketed list's inside at top-level commas.
fn list_items(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced ']'".into());
                }
            }
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '['".into());
    }
    out.push(s[start..].trim());
    Ok(out)
}

/// How address and port fields are built: negation, lists, `any`,
/// variables, and their own leaves (networks, port ranges).
struct Group<T> {
    what: &'static str,
    not: fn(Box<T>) -> T,
    list: fn(Vec<T>) -> T,
    any: fn() -> T,
    var: fn(String) -> T,
    leaf: fn(&str) -> Result<T, String>,
}

impl<T> Group<T> {
    fn parse(&self, s: &str, depth: u32) -> Result<T, String> {
        if depth > 16 {
            return Err(format!("{} groups nested too deeply", self.what));
        }
        if s.is_empty() {
            return Err(format!("empty {}", self.what));
        }
        if let Some(rest) = s.strip_prefix('!') {
            return Ok((self.not)(Box::new(self.parse(rest.trim(), depth + 1)?)));
        }
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| format!("{s:?}: '[' without ']'"))?;
            let items = list_items(inner)?
                .into_iter()
                .map(|i| self.parse(i, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok((self.list)(items));
        }
        if s.eq_ignore_ascii_case("any") {
            return Ok((self.any)());
        }
        if let Some(v) = s.strip_prefix('$') {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("bad variable name {s:?}"));
            }
            return Ok((self.var)(v.to_string()));
        }
        (self.leaf)(s)
    }
}

/// Parses an address field (`any`, `$HOME_NET`, `!10.0.0.0/8`, `[a,b]`).
pub fn parse_addr(s: &str) -> Result<AddrSpec, String> {
    Group {
        what: "address",
        not: AddrSpec::Not,
        list: AddrSpec::List,
        any: || AddrSpec::Any,
        var: AddrSpec::Var,
        leaf: |s| {
            crate::addr::parse_net(s).map_err(|e| format!("{s:?}: {e}"))?;
            Ok(AddrSpec::Net(s.to_string()))
        },
    }
    .parse(s.trim(), 0)
}

/// Parses a port field (`any`, `80`, `1024:`, `!$HTTP_PORTS`, `[80,443]`).
pub fn parse_port(s: &str) -> Result<PortSpec, String> {
    Group {
        what: "port",
        not: PortSpec::Not,
        list: PortSpec::List,
        any: || PortSpec::Any,
        var: PortSpec::Var,
        leaf: port_range,
    }
    .parse(s.trim(), 0)
}

/// `80`, `1024:`, `:1023`, `8000:8080`.
fn port_range(s: &str) -> Result<PortSpec, String> {
    let num = |t: &str| -> Result<u16, String> {
        t.trim()
            .parse::<u16>()
            .map_err(|_| format!("bad port {t:?} (0 to 65535)"))
    };
    if let Some((a, b)) = s.split_once(':') {
        let lo = if a.trim().is_empty() { 0 } else { num(a)? };
        let hi = if b.trim().is_empty() { 65535 } else { num(b)? };
        if lo > hi {
            return Err(format!("port range {s:?} runs backwards"));
        }
        return Ok(PortSpec::Range(lo, hi));
    }
    let p = num(s)?;
    Ok(PortSpec::Range(p, p))
}

/// Removes the quotes of a quoted value, resolving `\"`, `\\`, `\;`.
fn unquote(kw: &str, v: &str) -> Result<String, RuleError> {
    let v = v.trim();
    let inner = v
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .filter(|_| v.len() >= 2)
        .ok_or_else(|| RuleError::invalid(Some(kw), "the value must be in double quotes"))?;
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(n) if matches!(n, '"' | '\\' | ';' | ':') => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Removes the quotes of a pcre value, resolving only `\"` and `\;`:
/// other backslashes belong to the expression.
fn unquote_pcre(kw: &str, v: &str) -> Result<String, RuleError> {
    let v = v.trim();
    let inner = v
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .filter(|_| v.len() >= 2)
        .ok_or_else(|| RuleError::invalid(Some(kw), "the value must be in double quotes"))?;
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\' && matches!(it.peek(), Some('"') | Some(';')) {
            out.extend(it.next());
        } else if c == '\\' {
            out.push(c);
            out.extend(it.next());
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// The bytes of a content string: text with `|hex|` runs.
pub fn content_bytes(kw: &str, s: &str) -> Result<Vec<u8>, RuleError> {
    let mut out = Vec::with_capacity(s.len());
    let mut in_hex = false;
    let mut nibble: Option<u8> = None;
    for c in s.bytes() {
        if c == b'|' {
            if nibble.is_some() {
                return Err(RuleError::invalid(Some(kw), "odd number of hex digits"));
            }
            in_hex = !in_hex;
            continue;
        }
        if in_hex {
            if c == b' ' || c == b'\t' {
                if nibble.is_some() {
                    return Err(RuleError::invalid(Some(kw), "odd number of hex digits"));
                }
                continue;
            }
            let v = (c as char).to_digit(16).ok_or_else(|| {
                RuleError::invalid(Some(kw), format!("bad hex digit {:?}", c as char))
            })? as u8;
            match nibble.take() {
                Some(h) => out.push(h << 4 | v),
                None => nibble = Some(v),
            }
        } else {
            out.push(c);
        }
    }
    if in_hex {
        return Err(RuleError::invalid(Some(kw), "'|' hex run not closed"));
    }
    Ok(out)
}

fn num_u32(kw: &str, v: Option<&str>) -> Result<u32, RuleError> {
    let v = need(kw, v)?;
    parse_int(v)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| RuleError::invalid(Some(kw), format!("not a number: {v:?}")))
}

fn need<'a>(kw: &str, v: Option<&'a str>) -> Result<&'a str, RuleError> {
    match v {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(RuleError::invalid(Some(kw), "needs a value")),
    }
}

/// An integer, decimal or `0x` hex, with an optional sign.
pub fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else {
        if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        body.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn num_or_var(kw: &str, s: &str) -> Result<Num, RuleError> {
    let s = s.trim();
    if let Some(n) = parse_int(s) {
        return Ok(Num::Lit(n));
    }
    if !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return Ok(Num::Var(s.to_string()));
    }
    Err(RuleError::invalid(
        Some(kw),
        format!("not a number or variable: {s:?}"),
    ))
}

/// Parses a comparison (`10`, `<10`, `>=3`, `!9`, `8<>20`, `8-20`).
pub fn parse_cmp(kw: &str, s: &str) -> Result<Cmp, RuleError> {
    let s = s.trim();
    let bad = || RuleError::invalid(Some(kw), format!("bad comparison {s:?}"));
    let n = |t: &str| -> Result<u64, RuleError> {
        parse_int(t)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(bad)
    };
    if let Some((a, b)) = s.split_once("<>") {
        let (a, b) = (n(a)?, n(b)?);
        if a >= b {
            return Err(bad());
        }
        return Ok(Cmp::Between(a, b));
    }
    for (p, f) in [
        ("<=", Cmp::Le as fn(u64) -> Cmp),
        (">=", Cmp::Ge),
        ("<", Cmp::Lt),
        (">", Cmp::Gt),
        ("!", Cmp::Ne),
        ("=", Cmp::Eq),
    ] {
        if let Some(r) = s.strip_prefix(p) {
            return Ok(f(n(r)?));
        }
    }
    if let Some((a, b)) = s.split_once('-') {
        if !a.trim().is_empty() {
            let (a, b) = (n(a)?, n(b)?);
            if a > b {
                return Err(bad());
            }
            return Ok(Cmp::Range(a, b));
        }
    }
    Ok(Cmp::Eq(n(s)?))
}

fn byte_flag(kw: &str, word: &str, o: &mut ByteOpts) -> Result<bool, RuleError> {
    let w = word.trim();
    match w {
        "relative" => o.relative = true,
        "big" => o.endian = Endian::Big,
        "little" => o.endian = Endian::Little,
        "dce" => o.endian = Endian::Dce,
        "hex" => o.base = NumBase::Hex,
        "dec" => o.base = NumBase::Dec,
        "oct" => o.base = NumBase::Oct,
        "string" => {
            if o.base == NumBase::Binary {
                o.base = NumBase::Dec;
            }
        }
        _ => {
            if let Some(m) = w.strip_prefix("bitmask") {
                let v = parse_int(m)
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or_else(|| RuleError::invalid(Some(kw), format!("bad bitmask {m:?}")))?;
                o.bitmask = Some(v);
            } else {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn byte_count(kw: &str, s: &str, max: u8) -> Result<u8, RuleError> {
    // With `string`, 0 means: the digits there are (up to the maximum).
    let min = if max > 8 { 0 } else { 1 };
    parse_int(s)
        .and_then(|v| u8::try_from(v).ok())
        .filter(|&v| v >= min && v <= max)
        .ok_or_else(|| {
            RuleError::invalid(Some(kw), format!("bytes must be {min} to {max}, not {s:?}"))
        })
}

fn parse_byte_test(kw: &str, v: &str) -> Result<ByteTest, RuleError> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() < 4 {
        return Err(RuleError::invalid(
            Some(kw),
            "needs bytes,operator,value,offset",
        ));
    }
    let mut opts = ByteOpts::default();
    for p in &parts[4..] {
        if !byte_flag(kw, p, &mut opts)? {
            return Err(RuleError::invalid(
                Some(kw),
                format!("unknown option {p:?}"),
            ));
        }
    }
    let max = if opts.base == NumBase::Binary { 8 } else { 23 };
    let bytes = byte_count(kw, parts[0], max)?;
    let (negated, op) = match parts[1].strip_prefix('!') {
        Some(o) => (true, o.trim()),
        None => (false, parts[1]),
    };
    let op = if op.is_empty() { "=" } else { op };
    if !["<", ">", "=", "<=", ">=", "&", "^"].contains(&op) {
        return Err(RuleError::invalid(Some(kw), format!("bad operator {op:?}")));
    }
    Ok(ByteTest {
        bytes,
        negated,
        op: op.to_string(),
        value: num_or_var(kw, parts[2])?,
        offset: num_or_var(kw, parts[3])?,
        opts,
    })
}

fn parse_byte_jump(kw: &str, v: &str) -> Result<ByteJump, RuleError> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() < 2 {
        return Err(RuleError::invalid(Some(kw), "needs bytes,offset"));
    }
    let mut j = ByteJump {
        bytes: 0,
        offset: num_or_var(kw, parts[1])?,
        opts: ByteOpts::default(),
        multiplier: None,
        align: false,
        from_beginning: false,
        from_end: false,
        post_offset: None,
    };
    for p in &parts[2..] {
        if byte_flag(kw, p, &mut j.opts)? {
            continue;
        }
        if *p == "align" {
            j.align = true;
        } else if *p == "from_beginning" {
            j.from_beginning = true;
        } else if *p == "from_end" {
            j.from_end = true;
        } else if let Some(m) = p.strip_prefix("multiplier") {
            j.multiplier = Some(
                parse_int(m)
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or_else(|| RuleError::invalid(Some(kw), format!("bad multiplier {m:?}")))?,
            );
        } else if let Some(m) = p.strip_prefix("post_offset") {
            j.post_offset =
                Some(parse_int(m).ok_or_else(|| {
                    RuleError::invalid(Some(kw), format!("bad post_offset {m:?}"))
                })?);
        } else {
            return Err(RuleError::invalid(
                Some(kw),
                format!("unknown option {p:?}"),
            ));
        }
    }
    let max = if j.opts.base == NumBase::Binary {
        8
    } else {
        23
    };
    j.bytes = byte_count(kw, parts[0], max)?;
    Ok(j)
}

fn parse_byte_extract(kw: &str, v: &str) -> Result<ByteExtract, RuleError> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() < 3 {
        return Err(RuleError::invalid(Some(kw), "needs bytes,offset,name"));
    }
    let mut e = ByteExtract {
        bytes: 0,
        offset: parse_int(parts[1])
            .ok_or_else(|| RuleError::invalid(Some(kw), format!("bad offset {:?}", parts[1])))?,
        name: parts[2].to_string(),
        opts: ByteOpts::default(),
        multiplier: None,
        align: None,
    };
    if e.name.is_empty()
        || !e
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return Err(RuleError::invalid(
            Some(kw),
            format!("bad variable name {:?}", e.name),
        ));
    }
    for p in &parts[3..] {
        if byte_flag(kw, p, &mut e.opts)? {
            continue;
        }
        if let Some(m) = p.strip_prefix("multiplier") {
            e.multiplier = Some(
                parse_int(m)
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or_else(|| RuleError::invalid(Some(kw), format!("bad multiplier {m:?}")))?,
            );
        } else if let Some(m) = p.strip_prefix("align") {
            e.align = Some(
                parse_int(m)
                    .and_then(|v| u8::try_from(v).ok())
                    .filter(|v| *v == 2 || *v == 4)
                    .ok_or_else(|| RuleError::invalid(Some(kw), "align must be 2 or 4"))?,
            );
        } else {
            return Err(RuleError::invalid(
                Some(kw),
                format!("unknown option {p:?}"),
            ));
        }
    }
    let max = if e.opts.base == NumBase::Binary {
        8
    } else {
        23
    };
    e.bytes = byte_count(kw, parts[0], max)?;
    Ok(e)
}

fn parse_byte_math(kw: &str, v: &str) -> Result<ByteMath, RuleError> {
    let mut bytes = None;
    let mut offset = None;
    let mut oper = None;
    let mut rvalue = None;
    let mut result = None;
    let mut opts = ByteOpts::default();
    for p in v.split(',').map(str::trim) {
        let (k, val) = p.split_once(' ').map_or((p, ""), |(a, b)| (a, b.trim()));
        match k {
            "bytes" => bytes = Some(val),
            "offset" => offset = Some(val),
            "oper" => oper = Some(val.to_string()),
            "rvalue" => rvalue = Some(num_or_var(kw, val)?),
            "result" => result = Some(val.to_string()),
            "endian" => {
                byte_flag(kw, val, &mut opts)?;
            }
            "string" => {
                byte_flag(kw, val, &mut opts)?;
            }
            _ => {
                if !byte_flag(kw, p, &mut opts)? {
                    return Err(RuleError::invalid(
                        Some(kw),
                        format!("unknown option {p:?}"),
                    ));
                }
            }
        }
    }
    let oper = oper.ok_or_else(|| RuleError::invalid(Some(kw), "needs oper"))?;
    if !["+", "-", "*", "/", "<<", ">>"].contains(&oper.as_str()) {
        return Err(RuleError::invalid(Some(kw), format!("bad oper {oper:?}")));
    }
    let max = if opts.base == NumBase::Binary { 4 } else { 10 };
    Ok(ByteMath {
        bytes: byte_count(
            kw,
            bytes.ok_or_else(|| RuleError::invalid(Some(kw), "needs bytes"))?,
            max,
        )?,
        offset: offset
            .and_then(parse_int)
            .ok_or_else(|| RuleError::invalid(Some(kw), "needs offset"))?,
        oper,
        rvalue: rvalue.ok_or_else(|| RuleError::invalid(Some(kw), "needs rvalue"))?,
        result: result
            .filter(|r| !r.is_empty())
            .ok_or_else(|| RuleError::invalid(Some(kw), "needs result"))?,
        opts,
    })
}

fn parse_threshold(kw: &str, v: &str, filter: bool) -> Result<Threshold, RuleError> {
    let mut kind = if filter {
        Some(ThresholdKind::DetectionFilter)
    } else {
        None
    };
    let mut track = None;
    let mut count = None;
    let mut seconds = None;
    let mut unique_on = None;
    for p in v.split(',').map(str::trim) {
        let (k, val) = p
            .split_once(char::is_whitespace)
            .map(|(a, b)| (a, b.trim()))
            .ok_or_else(|| RuleError::invalid(Some(kw), format!("bad part {p:?}")))?;
        match k {
            "type" if !filter => {
                kind = Some(match val {
                    "limit" => ThresholdKind::Limit,
                    "threshold" => ThresholdKind::Threshold,
                    "both" => ThresholdKind::Both,
                    _ => return Err(RuleError::invalid(Some(kw), format!("bad type {val:?}"))),
                })
            }
            "track" => {
                track = Some(
                    Track::parse(val)
                        .filter(|t| {
                            matches!(
                                t,
                                Track::BySrc
                                    | Track::ByDst
                                    | Track::ByBoth
                                    | Track::ByRule
                                    | Track::ByFlow
                            )
                        })
                        .ok_or_else(|| {
                            RuleError::invalid(Some(kw), format!("bad track {val:?}"))
                        })?,
                )
            }
            "count" => count = Some(num_u32(kw, Some(val))?),
            "seconds" => seconds = Some(num_u32(kw, Some(val))?),
            "unique_on" => {
                unique_on = Some(match val {
                    "src_port" => UniqueOn::SrcPort,
                    "dst_port" => UniqueOn::DstPort,
                    _ => {
                        return Err(RuleError::invalid(
                            Some(kw),
                            format!("bad unique_on {val:?}"),
                        ))
                    }
                })
            }
            _ => return Err(RuleError::invalid(Some(kw), format!("unknown part {k:?}"))),
        }
    }
    let t = Threshold {
        kind: kind.ok_or_else(|| RuleError::invalid(Some(kw), "needs type"))?,
        track: track.ok_or_else(|| RuleError::invalid(Some(kw), "needs track"))?,
        count: count.ok_or_else(|| RuleError::invalid(Some(kw), "needs count"))?,
        seconds: seconds.ok_or_else(|| RuleError::invalid(Some(kw), "needs seconds"))?,
        unique_on,
    };
    if t.count == 0 && t.kind != ThresholdKind::DetectionFilter {
        return Err(RuleError::invalid(Some(kw), "count must be at least 1"));
    }
    Ok(t)
}

fn flag_bits(kw: &str, s: &str) -> Result<u8, RuleError> {
    let mut bits = 0u8;
    for c in s.chars() {
        bits |= match c.to_ascii_uppercase() {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' | '2' => 0x40,
            'C' | '1' => 0x80,
            '0' => 0,
            _ => return Err(RuleError::invalid(Some(kw), format!("bad flag {c:?}"))),
        };
    }
    Ok(bits)
}

fn modifier(s: &str) -> (Option<char>, &str) {
    let s = s.trim();
    match s.chars().next() {
        Some(c @ ('+' | '*' | '!')) => (Some(c), s[1..].trim()),
        _ => (None, s),
    }
}

/// The last content of the rule, for a content modifier.
fn last_content<'a>(kw: &str, options: &'a mut [Opt]) -> Result<&'a mut Content, RuleError> {
    for o in options.iter_mut().rev() {
        match o {
            Opt::Content(c) => return Ok(c),
            Opt::Buffer(_) => break,
            _ => {}
        }
    }
    Err(RuleError::invalid(Some(kw), "must follow a content"))
}

/// The last content or pcre, for `distance`... (pcre takes none).
fn content_modifier(kw: &str, v: Option<&str>, options: &mut [Opt]) -> Result<(), RuleError> {
    let c = last_content(kw, options)?;
    let set = |slot: &mut Option<Num>, v: Option<&str>| -> Result<(), RuleError> {
        if slot.is_some() {
            return Err(RuleError::invalid(Some(kw), "given twice for one content"));
        }
        *slot = Some(num_or_var(kw, need(kw, v)?)?);
        Ok(())
    };
    match kw {
        "nocase" => c.nocase = true,
        "rawbytes" => c.rawbytes = true,
        "offset" => set(&mut c.offset, v)?,
        "depth" => set(&mut c.depth, v)?,
        "distance" => set(&mut c.distance, v)?,
        "within" => set(&mut c.within, v)?,
        "startswith" => c.startswith = true,
        "endswith" => c.endswith = true,
        "fast_pattern" => {
            c.fast_pattern = Some(match v {
                None => FastPattern::Yes,
                Some("only") => FastPattern::Only,
                Some(x) => {
                    let (a, b) = x
                        .split_once(',')
                        .ok_or_else(|| RuleError::invalid(Some(kw), format!("bad value {x:?}")))?;
                    let n = |t: &str| {
                        parse_int(t)
                            .and_then(|v| u16::try_from(v).ok())
                            .ok_or_else(|| RuleError::invalid(Some(kw), format!("bad value {x:?}")))
                    };
                    FastPattern::Slice(n(a)?, n(b)?)
                }
            })
        }
        _ => unreachable!("not a content modifier: {kw}"),
    }
    if c.startswith && (c.offset.is_some() || c.depth.is_some() || c.distance.is_some()) {
        return Err(RuleError::invalid(
            Some(kw),
            "startswith cannot be combined with offset, depth or distance",
        ));
    }
    if let (Some(Num::Lit(d)), true) = (&c.depth, !c.pattern.is_empty()) {
        if *d < c.pattern.len() as i64 && !c.negated {
            return Err(RuleError::invalid(
                Some(kw),
                format!(
                    "depth {d} is shorter than the content ({} bytes)",
                    c.pattern.len()
                ),
            ));
        }
    }
    if let (Some(Num::Lit(w)), true) = (&c.within, !c.pattern.is_empty()) {
        if *w < c.pattern.len() as i64 && !c.negated {
            return Err(RuleError::invalid(
                Some(kw),
                format!(
                    "within {w} is shorter than the content ({} bytes)",
                    c.pattern.len()
                ),
            ));
        }
    }
    Ok(())
}

fn parse_transform(kw: &str, v: Option<&str>) -> Option<Result<Transform, RuleError>> {
    Some(Ok(match kw {
        "dotprefix" => Transform::DotPrefix,
        "to_lowercase" => Transform::ToLowercase,
        "to_uppercase" => Transform::ToUppercase,
        "strip_whitespace" => Transform::StripWhitespace,
        "compress_whitespace" => Transform::CompressWhitespace,
        "url_decode" => Transform::UrlDecode,
        "to_md5" => Transform::ToMd5,
        "to_sha1" => Transform::ToSha1,
        "to_sha256" => Transform::ToSha256,
        "header_lowercase" => Transform::HeaderLowercase,
        "strip_pseudo_headers" => Transform::StripPseudoHeaders,
        "xor" => {
            let key = match v.map(|v| unquote(kw, v)) {
                Some(Ok(k)) => k,
                Some(Err(e)) => return Some(Err(e)),
                None => return Some(Err(RuleError::invalid(Some(kw), "needs a hex key"))),
            };
            let bytes = content_bytes(kw, &format!("|{key}|"));
            match bytes {
                Ok(b) if !b.is_empty() => Transform::Xor(b),
                Ok(_) => return Some(Err(RuleError::invalid(Some(kw), "empty key"))),
                Err(e) => return Some(Err(e)),
            }
        }
        _ => return None,
    }))
}

/// Keywords accepted and ignored: they change nothing Mekong reports.
const IGNORED: &[&str] = &["tag", "requires", "config", "prefilter", "rawbytes"];

/// Keywords of Suricata that Mekong does not implement (the rule is
/// skipped with this reason).
const UNSUPPORTED: &[&str] = &[
    "asn1",
    "app-layer-event",
    "ftpbounce",
    "decode-event",
    "stream-event",
    "engine-event",
    "lua",
    "luajit",
    "dataset",
    "datarep",
    "iprep",
    "filemagic",
    "filename",
    "fileext",
    "filemd5",
    "filesha1",
    "filesha256",
    "filesize",
    "filestore",
    "geoip",
    "tls.store",
    "flowvar",
    "pktvar",
    "replace",
    "dce_iface",
    "dce_opnum",
    "dce_stub_data",
    "krb5.ticket_encryption",
    "http2.frametype",
    "ssl_state",
    "ssl_version",
    "tls.fingerprint",
    "tls_cert_notbefore",
    "tls_cert_notafter",
    "tls_cert_expired",
    "tls_cert_valid",
    "detection_only",
    "window",
    "seq",
    "ack",
    "ttl_decrement",
    "tcp.flags",
    "tls.version",
    "ssl_state",
];

/// Parses one option into `options` (content modifiers change the last
/// content instead of adding).
fn parse_option(kw: &str, v: Option<&str>, options: &mut Vec<Opt>) -> Result<(), RuleError> {
    let kwl = kw.to_ascii_lowercase();
    let kw = kwl.as_str();
    let push = |options: &mut Vec<Opt>, o: Opt| {
        options.push(o);
        Ok(())
    };
    match kw {
        "msg" => push(options, Opt::Msg(unquote(kw, need(kw, v)?)?)),
        "sid" => push(options, Opt::Sid(num_u32(kw, v)?)),
        "rev" => push(options, Opt::Rev(num_u32(kw, v)?)),
        "gid" => push(options, Opt::Gid(num_u32(kw, v)?)),
        "classtype" => {
            let c = need(kw, v)?;
            if !c
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                return Err(RuleError::invalid(Some(kw), format!("bad classtype {c:?}")));
            }
            push(options, Opt::Classtype(c.to_string()))
        }
        "priority" => {
            let p = num_u32(kw, v)?;
            let p = u8::try_from(p)
                .ok()
                .filter(|p| (1..=255).contains(p))
                .ok_or_else(|| RuleError::invalid(Some(kw), "priority must be 1 to 255"))?;
            push(options, Opt::Priority(p))
        }
        "reference" => push(options, Opt::Reference(need(kw, v)?.to_string())),
        "metadata" => {
            let mut pairs = Vec::new();
            for p in need(kw, v)?.split(',') {
                let p = p.trim();
                if p.is_empty() {
                    continue;
                }
                let (k, val) = p.split_once(char::is_whitespace).unwrap_or((p, ""));
                pairs.push((k.to_string(), val.trim().to_string()));
            }
            push(options, Opt::Metadata(pairs))
        }
        "target" => push(
            options,
            Opt::Target(match need(kw, v)? {
                "src_ip" => Target::SrcIp,
                "dest_ip" => Target::DestIp,
                x => return Err(RuleError::invalid(Some(kw), format!("bad target {x:?}"))),
            }),
        ),
        "flow" => {
            let mut flags = Vec::new();
            for p in need(kw, v)?.split(',') {
                flags.push(match p.trim() {
                    "to_server" | "from_client" => FlowFlag::ToServer,
                    "to_client" | "from_server" => FlowFlag::ToClient,
                    "established" => FlowFlag::Established,
                    "not_established" => FlowFlag::NotEstablished,
                    "stateless" => FlowFlag::Stateless,
                    "only_stream" => FlowFlag::OnlyStream,
                    "no_stream" => FlowFlag::NoStream,
                    "only_frag" => FlowFlag::OnlyFrag,
                    "no_frag" => FlowFlag::NoFrag,
                    x => {
                        return Err(RuleError::invalid(
                            Some(kw),
                            format!("bad flow option {x:?}"),
                        ))
                    }
                });
            }
            let has = |f: FlowFlag| flags.contains(&f);
            if has(FlowFlag::ToServer) && has(FlowFlag::ToClient) {
                return Err(RuleError::invalid(
                    Some(kw),
                    "to_server and to_client together",
                ));
            }
            if has(FlowFlag::Established) && has(FlowFlag::NotEstablished) {
                return Err(RuleError::invalid(
                    Some(kw),
                    "established and not_established together",
                ));
            }
            push(options, Opt::Flow(flags))
        }
        "flowbits" => {
            let v = need(kw, v)?;
            if v.trim() == "noalert" {
                return push(options, Opt::Noalert);
            }
            let (op, names) = v
                .split_once(',')
                .ok_or_else(|| RuleError::invalid(Some(kw), format!("bad value {v:?}")))?;
            let op = match op.trim() {
                "set" => BitOp::Set,
                "unset" => BitOp::Unset,
                "toggle" => BitOp::Toggle,
                "isset" => BitOp::IsSet,
                "isnotset" => BitOp::IsNotSet,
                x => return Err(RuleError::invalid(Some(kw), format!("bad operation {x:?}"))),
            };
            if names.contains('&') {
                return Err(RuleError::unsupported(
                    Some(kw),
                    "unsupported keyword flowbits with '&'",
                ));
            }
            let names: Vec<String> = names.split('|').map(|n| n.trim().to_string()).collect();
            if names
                .iter()
                .any(|n| n.is_empty() || n.contains(char::is_whitespace))
            {
                return Err(RuleError::invalid(Some(kw), format!("bad name in {v:?}")));
            }
            push(options, Opt::Flowbits(op, names))
        }
        "noalert" => push(options, Opt::Noalert),
        "xbits" => {
            let v = need(kw, v)?;
            let parts: Vec<&str> = v.split(',').map(str::trim).collect();
            if parts.len() < 3 {
                return Err(RuleError::invalid(Some(kw), "needs op,name,track T"));
            }
            let op = match parts[0] {
                "set" => BitOp::Set,
                "unset" => BitOp::Unset,
                "toggle" => BitOp::Toggle,
                "isset" => BitOp::IsSet,
                "isnotset" => BitOp::IsNotSet,
                x => return Err(RuleError::invalid(Some(kw), format!("bad operation {x:?}"))),
            };
            let mut track = None;
            let mut expire = None;
            for p in &parts[2..] {
                if let Some(t) = p.strip_prefix("track") {
                    track = Some(
                        Track::parse(t.trim())
                            .filter(|t| matches!(t, Track::IpSrc | Track::IpDst | Track::IpPair))
                            .ok_or_else(|| {
                                RuleError::invalid(Some(kw), format!("bad track {t:?}"))
                            })?,
                    );
                } else if let Some(e) = p.strip_prefix("expire") {
                    expire = Some(num_u32(kw, Some(e.trim()))?);
                } else {
                    return Err(RuleError::invalid(Some(kw), format!("unknown part {p:?}")));
                }
            }
            let track = track.ok_or_else(|| RuleError::invalid(Some(kw), "needs track"))?;
            push(options, Opt::Xbits(op, parts[1].to_string(), track, expire))
        }
        "flowint" => {
            let v = need(kw, v)?;
            let parts: Vec<&str> = v.split(',').map(str::trim).collect();
            if parts.len() < 2 || parts[0].is_empty() {
                return Err(RuleError::invalid(Some(kw), "needs name,operation[,value]"));
            }
            let op = parts[1];
            let unary = matches!(op, "isset" | "notset" | "isnotset");
            if !unary && !["=", "+", "-", "==", "!=", "<", "<=", ">", ">="].contains(&op) {
                return Err(RuleError::invalid(
                    Some(kw),
                    format!("bad operation {op:?}"),
                ));
            }
            let value = if unary {
                None
            } else {
                Some(num_or_var(
                    kw,
                    parts
                        .get(2)
                        .ok_or_else(|| RuleError::invalid(Some(kw), "needs a value"))?,
                )?)
            };
            push(
                options,
                Opt::Flowint(Flowint {
                    name: parts[0].to_string(),
                    op: if op == "isnotset" {
                        "notset".into()
                    } else {
                        op.to_string()
                    },
                    value,
                }),
            )
        }
        "stream_size" => {
            let v = need(kw, v)?;
            let parts: Vec<&str> = v.split(',').map(str::trim).collect();
            if parts.len() != 3
                || !["server", "client", "both", "either"].contains(&parts[0])
                || !["<", ">", "=", "!=", "<=", ">="].contains(&parts[1])
            {
                return Err(RuleError::invalid(Some(kw), format!("bad value {v:?}")));
            }
            let value = parse_int(parts[2])
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| RuleError::invalid(Some(kw), format!("bad size {:?}", parts[2])))?;
            push(
                options,
                Opt::StreamSize(StreamSize {
                    side: parts[0].into(),
                    op: parts[1].into(),
                    value,
                }),
            )
        }
        "threshold" => push(
            options,
            Opt::Threshold(parse_threshold(kw, need(kw, v)?, false)?),
        ),
        "detection_filter" => push(
            options,
            Opt::Threshold(parse_threshold(kw, need(kw, v)?, true)?),
        ),
        "content" | "uricontent" => {
            let v = need(kw, v)?;
            let (negated, body) = match v.trim().strip_prefix('!') {
                Some(b) => (true, b),
                None => (false, v),
            };
            let text = unquote(kw, body)?;
            let pattern = content_bytes(kw, &text)?;
            if pattern.is_empty() {
                return Err(RuleError::invalid(Some(kw), "empty content"));
            }
            let mut c = Content::new(pattern);
            c.negated = negated;
            if kw == "uricontent" {
                c.legacy = Some("http.uri".into());
            }
            push(options, Opt::Content(c))
        }
        "nocase" | "offset" | "depth" | "distance" | "within" | "startswith" | "endswith"
        | "fast_pattern" => content_modifier(kw, v, options),
        "pcre" => {
            let v = need(kw, v)?;
            let (negated, body) = match v.trim().strip_prefix('!') {
                Some(b) => (true, b),
                None => (false, v),
            };
            let text = unquote_pcre(kw, body)?;
            let inner = text.strip_prefix('/').ok_or_else(|| {
                RuleError::invalid(Some(kw), "the expression must start with '/'")
            })?;
            let end = inner
                .rfind('/')
                .ok_or_else(|| RuleError::invalid(Some(kw), "the expression must end with '/'"))?;
            let flags = inner[end + 1..].to_string();
            for c in flags.chars() {
                if !"ismxAEGRUIPQHDMCKSYVWZBO".contains(c) {
                    return Err(RuleError::invalid(Some(kw), format!("unknown flag {c:?}")));
                }
            }
            push(
                options,
                Opt::Pcre(Pcre {
                    pattern: inner[..end].to_string(),
                    negated,
                    flags,
                }),
            )
        }
        "byte_test" => push(options, Opt::ByteTest(parse_byte_test(kw, need(kw, v)?)?)),
        "byte_jump" => push(options, Opt::ByteJump(parse_byte_jump(kw, need(kw, v)?)?)),
        "byte_extract" => push(
            options,
            Opt::ByteExtract(parse_byte_extract(kw, need(kw, v)?)?),
        ),
        "byte_math" => push(options, Opt::ByteMath(parse_byte_math(kw, need(kw, v)?)?)),
        "isdataat" => {
            let v = need(kw, v)?;
            let mut parts = v.split(',').map(str::trim);
            let first = parts.next().unwrap_or("");
            let (negated, n) = match first.strip_prefix('!') {
                Some(n) => (true, n),
                None => (false, first),
            };
            let mut relative = false;
            for p in parts {
                match p {
                    "relative" => relative = true,
                    "rawbytes" => {}
                    _ => {
                        return Err(RuleError::invalid(
                            Some(kw),
                            format!("unknown option {p:?}"),
                        ))
                    }
                }
            }
            push(
                options,
                Opt::IsDataAt(IsDataAt {
                    negated,
                    offset: num_or_var(kw, n)?,
                    relative,
                }),
            )
        }
        "bsize" => push(options, Opt::Bsize(parse_cmp(kw, need(kw, v)?)?)),
        "dsize" => push(options, Opt::Dsize(parse_cmp(kw, need(kw, v)?)?)),
        "urilen" => {
            let v = need(kw, v)?;
            let (c, mode) = v.split_once(',').map_or((v, ""), |(a, b)| (a, b.trim()));
            let raw = match mode {
                "" | "norm" => false,
                "raw" => true,
                m => return Err(RuleError::invalid(Some(kw), format!("bad mode {m:?}"))),
            };
            push(options, Opt::Urilen(parse_cmp(kw, c)?, raw))
        }
        "base64_decode" => {
            let mut bytes = None;
            let mut offset = None;
            let mut relative = false;
            if let Some(v) = v {
                for p in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    if p == "relative" {
                        relative = true;
                    } else if let Some(b) = p.strip_prefix("bytes") {
                        bytes = Some(num_u32(kw, Some(b.trim()))?);
                    } else if let Some(o) = p.strip_prefix("offset") {
                        offset = Some(num_u32(kw, Some(o.trim()))?);
                    } else {
                        return Err(RuleError::invalid(
                            Some(kw),
                            format!("unknown option {p:?}"),
                        ));
                    }
                }
            }
            push(
                options,
                Opt::Base64Decode {
                    bytes,
                    offset,
                    relative,
                },
            )
        }
        "base64_data" => push(options, Opt::Base64Data),
        "flags" => {
            let v = need(kw, v)?;
            let (fl, mask) = v.split_once(',').map_or((v, None), |(a, b)| (a, Some(b)));
            let (m, letters) = modifier(fl);
            let bits = flag_bits(kw, letters)?;
            let mask = match mask {
                Some(mk) => flag_bits(kw, mk.trim())?,
                None => 0,
            };
            push(
                options,
                Opt::Flags(Flags {
                    modifier: m,
                    bits,
                    mask,
                }),
            )
        }
        "ttl" => push(options, Opt::Ttl(parse_cmp(kw, need(kw, v)?)?)),
        "id" => {
            let n = num_u32(kw, v)?;
            push(
                options,
                Opt::Id(
                    u16::try_from(n)
                        .map_err(|_| RuleError::invalid(Some(kw), "id is 0 to 65535"))?,
                ),
            )
        }
        "tos" => {
            let v = need(kw, v)?;
            let (neg, n) = match v.strip_prefix('!') {
                Some(n) => (true, n),
                None => (false, v),
            };
            let n = parse_int(n)
                .and_then(|x| u8::try_from(x).ok())
                .ok_or_else(|| RuleError::invalid(Some(kw), format!("bad tos {v:?}")))?;
            push(options, Opt::Tos(neg, n))
        }
        "ipopts" => {
            let v = need(kw, v)?;
            if ![
                "rr", "eol", "nop", "ts", "sec", "esec", "lsrr", "ssrr", "satid", "any",
            ]
            .contains(&v)
            {
                return Err(RuleError::invalid(
                    Some(kw),
                    format!("unknown option {v:?}"),
                ));
            }
            push(options, Opt::Ipopts(v.to_string()))
        }
        "fragbits" => {
            let (m, letters) = modifier(need(kw, v)?);
            let mut bits = 0;
            for c in letters.chars() {
                bits |= match c.to_ascii_uppercase() {
                    'M' => 1,
                    'D' => 2,
                    'R' => 4,
                    _ => return Err(RuleError::invalid(Some(kw), format!("bad bit {c:?}"))),
                };
            }
            push(options, Opt::Fragbits(Fragbits { modifier: m, bits }))
        }
        "fragoffset" => push(options, Opt::Fragoffset(parse_cmp(kw, need(kw, v)?)?)),
        "sameip" => push(options, Opt::Sameip),
        "itype" => push(options, Opt::Itype(parse_cmp(kw, need(kw, v)?)?)),
        "icode" => push(options, Opt::Icode(parse_cmp(kw, need(kw, v)?)?)),
        "icmp_id" | "icmp_seq" => {
            let n = num_u32(kw, v)?;
            let n = u16::try_from(n).map_err(|_| RuleError::invalid(Some(kw), "0 to 65535"))?;
            push(
                options,
                if kw == "icmp_id" {
                    Opt::IcmpId(n)
                } else {
                    Opt::IcmpSeq(n)
                },
            )
        }
        "ip_proto" => {
            let v = need(kw, v)?;
            let (neg, n) = match v.strip_prefix('!') {
                Some(n) => (true, n.trim()),
                None => (false, v),
            };
            let p = match parse_int(n).and_then(|x| u8::try_from(x).ok()) {
                Some(p) => p,
                None => crate::addr::proto_number(n).ok_or_else(|| {
                    RuleError::invalid(Some(kw), format!("unknown protocol {n:?}"))
                })?,
            };
            push(options, Opt::IpProto(neg, p))
        }
        "dcerpc.opnum" | "krb5_err_code" | "krb5_msg_type" => {
            let v = need(kw, v)?;
            let bad = || RuleError::invalid(Some(kw), format!("bad number list {v:?}"));
            let n = |t: &str| -> Result<u64, RuleError> {
                let t = t.trim();
                if t.is_empty() || t.len() > 10 || !t.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                t.parse().map_err(|_| bad())
            };
            let mut ranges = Vec::new();
            for part in v.split(',') {
                let r = match part.split_once('-') {
                    Some((a, b)) => (n(a)?, n(b)?),
                    None => {
                        let x = n(part)?;
                        (x, x)
                    }
                };
                if r.0 > r.1 || ranges.len() >= 64 {
                    return Err(bad());
                }
                ranges.push(r);
            }
            if kw != "dcerpc.opnum" && ranges.len() != 1 {
                return Err(bad());
            }
            push(options, Opt::AppInt(kw.into(), ranges))
        }
        "dcerpc.iface" => {
            let v = need(kw, v)?;
            let mut parts = v.split(',').map(str::trim);
            let uuid = parts.next().unwrap_or_default().to_ascii_lowercase();
            let shape = uuid.len() == 36
                && uuid.bytes().enumerate().all(|(i, c)| {
                    if matches!(i, 8 | 13 | 18 | 23) {
                        c == b'-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                });
            if !shape {
                return Err(RuleError::invalid(
                    Some(kw),
                    format!("bad interface UUID {uuid:?}"),
                ));
            }
            let mut any_frag = false;
            for p in parts {
                if p == "any_frag" {
                    any_frag = true;
                } else {
                    return Err(RuleError::unsupported(
                        Some(kw),
                        format!("unsupported keyword dcerpc.iface with an interface version ({p})"),
                    ));
                }
            }
            push(options, Opt::DcerpcIface { uuid, any_frag })
        }
        "tcp.mss" | "tcp.wscale" => push(
            options,
            Opt::NumKeyword(kw.into(), parse_cmp(kw, need(kw, v)?)?),
        ),
        _ => {
            if let Some(t) = parse_transform(kw, v) {
                return push(options, Opt::Transform(t?));
            }
            if let Some(b) = buffers::sticky(kw) {
                // Suricata 8's transactional rules name a buffer's side
                // (`file.data: to_client`): the side is the buffer's own.
                if v.is_some_and(|v| v != "to_client" && v != "to_server") {
                    return Err(RuleError::invalid(
                        Some(kw),
                        "a sticky buffer takes no value (but to_client or to_server)",
                    ));
                }
                return push(options, Opt::Buffer(b.to_string()));
            }
            if let Some(b) = buffers::legacy_modifier(kw) {
                let c = last_content(kw, options)?;
                if c.legacy.is_some() {
                    return Err(RuleError::invalid(
                        Some(kw),
                        "the content already has a buffer",
                    ));
                }
                c.legacy = Some(b.to_string());
                return Ok(());
            }
            if IGNORED.contains(&kw) {
                return push(options, Opt::Ignored(kw.to_string(), v.map(str::to_string)));
            }
            if UNSUPPORTED.contains(&kw) || buffers::known_unsupported(kw) {
                return Err(RuleError::unsupported(
                    Some(kw),
                    format!("unsupported keyword {kw}"),
                ));
            }
            Err(RuleError::invalid(Some(kw), "unknown keyword"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_with_every_part() {
        let r = parse_rule(
            r#"alert http $HOME_NET any -> $EXTERNAL_NET [80,8080:8090] (msg:"ET TEST \"quoted\"\; semi"; flow:established,to_server; http.uri; content:"/a|20|b"; nocase; depth:10; content:!"x"; distance:0; within:5; pcre:"/a\;b/Ri"; classtype:trojan-activity; sid:42; rev:3; metadata:created_at 2020_01_01, mitre_technique_id T1071;)"#,
        )
        .expect("parses");
        assert_eq!(r.sid(), 42);
        assert_eq!(r.rev(), 3);
        assert_eq!(r.msg(), r#"ET TEST "quoted"; semi"#);
        assert_eq!(r.header.proto, "http");
        assert_eq!(
            r.header.dport,
            PortSpec::List(vec![PortSpec::Range(80, 80), PortSpec::Range(8080, 8090)])
        );
        let contents: Vec<&Content> = r
            .options
            .iter()
            .filter_map(|o| match o {
                Opt::Content(c) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(contents[0].pattern, b"/a b");
        assert!(contents[0].nocase);
        assert_eq!(contents[0].depth, Some(Num::Lit(10)));
        assert!(contents[1].negated);
        assert_eq!(contents[1].within, Some(Num::Lit(5)));
        let pcre = r
            .options
            .iter()
            .find_map(|o| match o {
                Opt::Pcre(p) => Some(p),
                _ => None,
            })
            .expect("pcre");
        assert_eq!(pcre.pattern, "a;b");
        assert!(pcre.relative());
        let md: Vec<(&str, &str)> = r.metadata().collect();
        assert_eq!(md[1], ("mitre_technique_id", "T1071"));
    }

    #[test]
    fn printing_and_parsing_again_gives_the_same_rule() {
        let texts = [
            r#"alert tcp any any -> any 445 (msg:"x"; flow:to_server,established; content:"SMB"; depth:8; content:"MZ"; distance:0; byte_jump:4,58,relative,little; content:"PE|00 00|"; distance:-64; within:4; flowbits:set,ET.smb.binary; sid:1; rev:2;)"#,
            r#"alert dns any any -> any any (dns.query; dotprefix; content:".evil.com"; endswith; fast_pattern; threshold:type limit, track by_src, count 1, seconds 60; sid:2;)"#,
            r#"alert tcp-pkt any any -> any 80 (tcp.hdr; content:"|00 50|"; offset:2; depth:2; flags:S,CE; ttl:<64; dsize:8<>20; sid:3;)"#,
            r#"alert http any any -> any any (content:"POST"; http_method; content:"/x"; http_uri; byte_test:2,!=,0x10,0,relative,string,hex; isdataat:!1,relative; sid:4;)"#,
        ];
        for t in texts {
            let r = parse_rule(t).expect(t);
            let printed = r.to_string();
            let again = parse_rule(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
            assert_eq!(r, again, "{printed}");
        }
    }

    #[test]
    fn errors_name_the_keyword_and_the_sid() {
        let e = parse_rule(r#"alert tcp any any -> any any (msg:"x"; content:"a|4|"; sid:7;)"#)
            .unwrap_err();
        assert_eq!(e.keyword.as_deref(), Some("content"));
        assert_eq!(e.sid, Some(7));
        assert!(e.to_string().contains("odd number of hex digits"), "{e}");
        let e = parse_rule(r#"alert tcp any any -> any any (msg:"x"; frobnicate; sid:7;)"#)
            .unwrap_err();
        assert_eq!(e.keyword.as_deref(), Some("frobnicate"));
        assert!(!e.is_unsupported());
        let e = parse_rule(r#"alert tcp any any -> any any (asn1:oversize_length 100; sid:8;)"#)
            .unwrap_err();
        assert!(e.is_unsupported());
        assert_eq!(e.reason(), "unsupported keyword asn1");
        let e = parse_rule(r#"alert tcp any any -> any (sid:8;)"#).unwrap_err();
        assert!(e.to_string().contains("7 fields"), "{e}");
        let e = parse_rule(r#"alert tcp any any -> any any (msg:"no sid";)"#).unwrap_err();
        assert_eq!(e.keyword.as_deref(), Some("sid"));
        let e = parse_rule(r#"alert tcp any any -> any any (nocase; sid:1;)"#).unwrap_err();
        assert!(e.to_string().contains("must follow a content"), "{e}");
    }

    #[test]
    fn files_skip_comments_and_join_continuation_lines() {
        let f = "# comment\n\nalert tcp any any -> any any (msg:\"a\"; \\\n  sid:1;)\n#alert tcp any any -> any any (sid:2;)\nalert udp any any -> any any (sid:3;)\n";
        let rs = rule_texts(f);
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].line, 3);
        assert!(parse_rule(&rs[0].text).is_ok());
        assert_eq!(rs[1].line, 6);
    }

    #[test]
    fn comparisons_in_every_form() {
        assert_eq!(parse_cmp("dsize", "10").unwrap(), Cmp::Eq(10));
        assert_eq!(parse_cmp("dsize", "<=10").unwrap(), Cmp::Le(10));
        assert_eq!(parse_cmp("dsize", "8<>20").unwrap(), Cmp::Between(8, 20));
        assert_eq!(parse_cmp("ttl", "3-5").unwrap(), Cmp::Range(3, 5));
        assert_eq!(parse_cmp("dsize", "!9").unwrap(), Cmp::Ne(9));
        assert!(parse_cmp("dsize", "20<>8").is_err());
        assert!(parse_cmp("dsize", "x").is_err());
    }

    #[test]
    fn addresses_and_ports_nest() {
        let a = parse_addr("[!$HOME_NET, [10.0.0.0/8, !10.1.0.0/16]]").unwrap();
        assert_eq!(a.to_string(), "[!$HOME_NET,[10.0.0.0/8,!10.1.0.0/16]]");
        assert!(parse_addr("[10.0.0.1").is_err());
        assert!(parse_addr("10.0.0.300").is_err());
        assert_eq!(parse_port(":1023").unwrap(), PortSpec::Range(0, 1023));
        assert_eq!(parse_port("1024:").unwrap(), PortSpec::Range(1024, 65535));
        assert!(parse_port("2:1").is_err());
        assert!(parse_port("70000").is_err());
    }
}
