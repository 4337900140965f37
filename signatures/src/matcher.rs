//! Matching one buffer: the compiled content, pcre, byte and isdataat
//! steps of a rule, evaluated in order with a cursor (the end of the
//! previous match) and Suricata's backtracking: when a relative step fails,
//! the step before it is tried at its next occurrence.

use std::sync::Arc;

use memchr::memmem;

use crate::rule::{Cmp, Endian, NumBase};

/// Variables a rule may set (`byte_extract`, `byte_math`).
pub const MAX_VARS: usize = 16;

/// Steps tried (with backtracking) per buffer before giving up, as
/// Suricata's inspection recursion limit.
pub const STEP_BUDGET: u32 = 3000;

/// A number in a compiled step: a constant or a variable slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val {
    /// Constant.
    Lit(i64),
    /// Variable slot.
    Var(u8),
}

impl Val {
    fn get(self, vars: &[i64; MAX_VARS]) -> i64 {
        match self {
            Val::Lit(n) => n,
            Val::Var(i) => vars[usize::from(i)],
        }
    }
}

/// A compiled content.
#[derive(Clone, Debug)]
pub struct ContentStep {
    /// The pattern (lower case when `nocase`).
    pub pattern: Vec<u8>,
    /// Case-insensitive.
    pub nocase: bool,
    /// Must not occur.
    pub negated: bool,
    /// Absolute: offset and depth.
    pub offset: Option<Val>,
    /// Absolute: bytes from the offset the match must end within.
    pub depth: Option<Val>,
    /// Relative: bytes after the previous match.
    pub distance: Option<Val>,
    /// Relative: the match ends within this many bytes of
    /// previous end + distance.
    pub within: Option<Val>,
    /// Must end at the buffer's end.
    pub endswith: bool,
    /// Made at the first search (most contents of a big rule set are
    /// never verified: their fast pattern never occurs).
    finder: std::sync::OnceLock<Box<memmem::Finder<'static>>>,
}

impl ContentStep {
    /// A content step; `pattern` is lower-cased here when `nocase`.
    pub fn new(mut pattern: Vec<u8>, nocase: bool) -> ContentStep {
        if nocase {
            pattern.make_ascii_lowercase();
        }
        let finder = std::sync::OnceLock::new();
        ContentStep {
            pattern,
            nocase,
            negated: false,
            offset: None,
            depth: None,
            distance: None,
            within: None,
            endswith: false,
            finder,
        }
    }

    /// Relative to the previous match.
    pub fn relative(&self) -> bool {
        self.distance.is_some() || self.within.is_some()
    }

    /// The window `[start, end)` of `len` bytes searched, from the cursor.
    fn window(&self, len: usize, cursor: usize, vars: &[i64; MAX_VARS]) -> Option<(usize, usize)> {
        let len = len as i64;
        let (start, end) = if self.relative() {
            let d = self.distance.map_or(0, |v| v.get(vars));
            let s = cursor as i64 + d;
            let e = match self.within {
                Some(w) => s + w.get(vars),
                None => len,
            };
            (s.max(0), e)
        } else {
            let o = self.offset.map_or(0, |v| v.get(vars)).max(0);
            let e = match self.depth {
                Some(d) => o + d.get(vars),
                None => len,
            };
            (o, e)
        };
        let end = end.min(len);
        if start > end {
            return None;
        }
        Some((start as usize, end as usize))
    }

    /// The first occurrence in `hay` at or after `from`.
    fn find(&self, hay: &[u8], from: usize) -> Option<usize> {
        if from > hay.len() {
            return None;
        }
        let h = &hay[from..];
        if !self.nocase {
            let f = self
                .finder
                .get_or_init(|| Box::new(memmem::Finder::new(&self.pattern).into_owned()));
            return f.find(h).map(|p| p + from);
        }
        find_nocase(h, &self.pattern).map(|p| p + from)
    }
}

/// First case-insensitive occurrence of lower-case `pat` in `h`.
pub fn find_nocase(h: &[u8], pat: &[u8]) -> Option<usize> {
    let first = *pat.first()?;
    if pat.len() > h.len() {
        return None;
    }
    let last_start = h.len() - pat.len();
    let up = first.to_ascii_uppercase();
    let mut i = 0;
    while i <= last_start {
        let rel = if up == first {
            memchr::memchr(first, &h[i..=last_start])
        } else {
            memchr::memchr2(first, up, &h[i..=last_start])
        }?;
        let p = i + rel;
        if h[p..p + pat.len()].eq_ignore_ascii_case(pat) {
            return Some(p);
        }
        i = p + 1;
    }
    None
}

/// A pcre: compiled when the rule loads (so that a bad expression is
/// reported then), JIT-compiled at its first use (most rules of a big set
/// never reach their pcre, and JIT compiling is the dearest part of
/// loading).
pub struct LazyRegex {
    plain: pcre2::bytes::Regex,
    jit: std::sync::OnceLock<pcre2::bytes::Regex>,
    pattern: String,
    /// caseless, dotall, multi_line, extended.
    opts: [bool; 4],
}

impl std::fmt::Debug for LazyRegex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyRegex")
            .field("pattern", &self.pattern)
            .finish()
    }
}

impl LazyRegex {
    fn build(
        pattern: &str,
        opts: [bool; 4],
        jit: bool,
    ) -> Result<pcre2::bytes::Regex, pcre2::Error> {
        let mut b = pcre2::bytes::RegexBuilder::new();
        b.jit_if_available(jit)
            .caseless(opts[0])
            .dotall(opts[1])
            .multi_line(opts[2])
            .extended(opts[3]);
        b.build(pattern)
    }

    /// Compiles `pattern` (without JIT) with the options caseless, dotall,
    /// multi_line, extended.
    pub fn new(pattern: &str, opts: [bool; 4]) -> Result<LazyRegex, pcre2::Error> {
        Ok(LazyRegex {
            plain: Self::build(pattern, opts, false)?,
            jit: std::sync::OnceLock::new(),
            pattern: pattern.to_string(),
            opts,
        })
    }

    /// The expression to match with: JIT-compiled at the first call.
    pub fn get(&self) -> &pcre2::bytes::Regex {
        self.jit.get_or_init(|| {
            Self::build(&self.pattern, self.opts, true).unwrap_or_else(|_| self.plain.clone())
        })
    }
}

/// A compiled pcre.
#[derive(Clone, Debug)]
pub struct PcreStep {
    /// The expression.
    pub re: Arc<LazyRegex>,
    /// Must not match.
    pub negated: bool,
    /// `/R`: from the cursor.
    pub relative: bool,
}

/// How a number is read.
#[derive(Clone, Copy, Debug)]
pub struct Read {
    /// Bytes.
    pub bytes: u8,
    /// Byte order.
    pub endian: Endian,
    /// Text or binary.
    pub base: NumBase,
    /// Relative to the cursor.
    pub relative: bool,
    /// Offset.
    pub offset: Val,
    /// Bitmask applied after reading (and the result shifted right by
    /// its trailing zeros, as Suricata does).
    pub bitmask: Option<u64>,
}

impl Read {
    /// Reads the number; returns it and the position after it.
    fn read(&self, data: &[u8], cursor: usize, vars: &[i64; MAX_VARS]) -> Option<(u64, usize)> {
        let base = if self.relative { cursor as i64 } else { 0 };
        let at = base + self.offset.get(vars);
        if at < 0 {
            return None;
        }
        let at = at as usize;
        let n = if self.bytes == 0 {
            // Text of any length: what is there, up to 23 digits.
            data.len().checked_sub(at)?.min(23)
        } else {
            usize::from(self.bytes)
        };
        let b = data.get(at..at.checked_add(n)?)?;
        let mut v = match self.base {
            NumBase::Binary => {
                let mut v: u64 = 0;
                match self.endian {
                    Endian::Big => {
                        for &x in b {
                            v = v << 8 | u64::from(x);
                        }
                    }
                    Endian::Little | Endian::Dce => {
                        for &x in b.iter().rev() {
                            v = v << 8 | u64::from(x);
                        }
                    }
                }
                v
            }
            base => {
                let radix = match base {
                    NumBase::Hex => 16,
                    NumBase::Oct => 8,
                    _ => 10,
                };
                let s = std::str::from_utf8(b).ok()?;
                // Suricata reads the longest leading run of digits.
                let digits: String = s.chars().take_while(|c| c.is_digit(radix)).collect();
                if digits.is_empty() {
                    return None;
                }
                u64::from_str_radix(&digits, radix).ok()?
            }
        };
        if let Some(m) = self.bitmask {
            v &= m;
            if m != 0 {
                v >>= m.trailing_zeros();
            }
        }
        Some((v, at + n))
    }
}

/// One step of a buffer's inspection.
#[derive(Clone, Debug)]
pub enum Step {
    /// `content`.
    Content(ContentStep),
    /// `pcre`.
    Pcre(PcreStep),
    /// `byte_test`.
    ByteTest {
        /// How to read.
        read: Read,
        /// Operator.
        op: ByteOp,
        /// `!`.
        negated: bool,
        /// Compared with.
        value: Val,
    },
    /// `byte_jump`.
    ByteJump {
        /// How to read.
        read: Read,
        /// Multiplier.
        multiplier: u64,
        /// Round up to 4.
        align: bool,
        /// Jump from the start of the buffer.
        from_beginning: bool,
        /// Jump from the end of the buffer.
        from_end: bool,
        /// Added after the jump.
        post_offset: i64,
    },
    /// `byte_extract`.
    ByteExtract {
        /// How to read.
        read: Read,
        /// Multiplier.
        multiplier: u64,
        /// Round up to 2 or 4.
        align: u8,
        /// Variable slot.
        var: u8,
    },
    /// `byte_math`.
    ByteMath {
        /// How to read.
        read: Read,
        /// Operator.
        op: MathOp,
        /// Other operand.
        rvalue: Val,
        /// Variable slot.
        var: u8,
    },
    /// `isdataat`.
    IsDataAt {
        /// Position.
        at: Val,
        /// From the cursor.
        relative: bool,
        /// `!`.
        negated: bool,
    },
    /// `bsize`.
    Bsize(Cmp),
    /// `base64_decode`.
    Base64Decode {
        /// At most this many bytes decoded (0: all).
        bytes: u32,
        /// Offset.
        offset: u32,
        /// From the cursor.
        relative: bool,
    },
    /// `base64_data`: the steps after it inspect what was decoded.
    Base64Data,
    /// A number buffer (decimal text) within one of the ranges
    /// (`dcerpc.opnum`, `krb5_err_code`, `krb5_msg_type`).
    IntIn(Vec<(u64, u64)>),
    /// The buffer equals this text, case ignored (`dcerpc.iface`).
    Equals(Vec<u8>),
}

impl Step {
    /// Does the step read from the cursor?
    pub fn relative(&self) -> bool {
        match self {
            Step::Content(c) => c.relative(),
            Step::Pcre(p) => p.relative,
            Step::ByteTest { read, .. }
            | Step::ByteJump { read, .. }
            | Step::ByteExtract { read, .. }
            | Step::ByteMath { read, .. } => read.relative,
            Step::IsDataAt { relative, .. } => *relative,
            Step::Base64Decode { relative, .. } => *relative,
            Step::Bsize(_) | Step::Base64Data | Step::IntIn(_) | Step::Equals(_) => false,
        }
    }
}

/// `byte_test` operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOp {
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `=`.
    Eq,
    /// `<=`.
    Le,
    /// `>=`.
    Ge,
    /// `&`.
    And,
    /// `^`.
    Xor,
}

impl ByteOp {
    /// Parses the operator.
    pub fn parse(s: &str) -> Option<ByteOp> {
        Some(match s {
            "<" => ByteOp::Lt,
            ">" => ByteOp::Gt,
            "=" => ByteOp::Eq,
            "<=" => ByteOp::Le,
            ">=" => ByteOp::Ge,
            "&" => ByteOp::And,
            "^" => ByteOp::Xor,
            _ => return None,
        })
    }
}

/// `byte_math` operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `<<`.
    Shl,
    /// `>>`.
    Shr,
}

/// What one buffer's evaluation carries: variables and the work budget.
#[derive(Debug)]
pub struct Ctx {
    /// Variables.
    pub vars: [i64; MAX_VARS],
    /// Steps left.
    pub budget: u32,
    /// What `base64_decode` decoded.
    pub b64: Vec<u8>,
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx {
            vars: [0; MAX_VARS],
            budget: STEP_BUDGET,
            b64: Vec::new(),
        }
    }
}

/// Do `steps` match `data`?
pub fn matches(steps: &[Step], data: &[u8], ctx: &mut Ctx) -> bool {
    eval(steps, 0, data, 0, ctx)
}

fn next_is_relative(steps: &[Step], idx: usize) -> bool {
    steps.get(idx + 1).is_some_and(Step::relative)
}

fn eval(steps: &[Step], idx: usize, data: &[u8], cursor: usize, ctx: &mut Ctx) -> bool {
    let Some(step) = steps.get(idx) else {
        return true;
    };
    if ctx.budget == 0 {
        return false;
    }
    ctx.budget -= 1;
    match step {
        Step::Content(c) => {
            let Some((start, end)) = c.window(data.len(), cursor, &ctx.vars) else {
                return c.negated && eval(steps, idx + 1, data, cursor, ctx);
            };
            let hay = &data[..end];
            let n = c.pattern.len();
            if c.negated {
                let mut from = start;
                let found = loop {
                    match c.find(hay, from) {
                        Some(p) if c.endswith && p + n != data.len() => from = p + 1,
                        Some(_) => break true,
                        None => break false,
                    }
                };
                return !found && eval(steps, idx + 1, data, cursor, ctx);
            }
            let backtrack = next_is_relative(steps, idx);
            let mut from = start;
            while let Some(p) = c.find(hay, from) {
                if c.endswith && p + n != data.len() {
                    from = p + 1;
                    continue;
                }
                if eval(steps, idx + 1, data, p + n, ctx) {
                    return true;
                }
                if !backtrack || ctx.budget == 0 {
                    return false;
                }
                from = p + 1;
            }
            false
        }
        Step::Pcre(pc) => {
            let base = if pc.relative {
                cursor.min(data.len())
            } else {
                0
            };
            let subject = &data[base..];
            if pc.negated {
                let hit = pc.re.get().is_match(subject).unwrap_or(false);
                return !hit && eval(steps, idx + 1, data, cursor, ctx);
            }
            let backtrack = next_is_relative(steps, idx);
            let mut from = 0;
            loop {
                let m = match pc.re.get().find_at(subject, from) {
                    Ok(Some(m)) => m,
                    _ => return false,
                };
                if eval(steps, idx + 1, data, base + m.end(), ctx) {
                    return true;
                }
                if !backtrack || ctx.budget == 0 || m.start() >= subject.len() {
                    return false;
                }
                from = m.start() + 1;
            }
        }
        Step::ByteTest {
            read,
            op,
            negated,
            value,
        } => {
            let Some((v, _)) = read.read(data, cursor, &ctx.vars) else {
                return false;
            };
            let w = value.get(&ctx.vars) as u64;
            let r = match op {
                ByteOp::Lt => v < w,
                ByteOp::Gt => v > w,
                ByteOp::Eq => v == w,
                ByteOp::Le => v <= w,
                ByteOp::Ge => v >= w,
                ByteOp::And => v & w != 0,
                ByteOp::Xor => v ^ w != 0,
            };
            r != *negated && eval(steps, idx + 1, data, cursor, ctx)
        }
        Step::ByteJump {
            read,
            multiplier,
            align,
            from_beginning,
            from_end,
            post_offset,
        } => {
            let Some((v, after)) = read.read(data, cursor, &ctx.vars) else {
                return false;
            };
            let mut jump = v.saturating_mul(*multiplier) as i64;
            if *align {
                jump = (jump + 3) & !3;
            }
            let base = if *from_beginning {
                0
            } else if *from_end {
                data.len() as i64
            } else {
                after as i64
            };
            let to = base + jump + post_offset;
            if to < 0 || to > data.len() as i64 {
                return false;
            }
            eval(steps, idx + 1, data, to as usize, ctx)
        }
        Step::ByteExtract {
            read,
            multiplier,
            align,
            var,
        } => {
            let Some((v, after)) = read.read(data, cursor, &ctx.vars) else {
                return false;
            };
            let mut x = v.saturating_mul(*multiplier) as i64;
            if *align > 1 {
                let a = i64::from(*align);
                x = (x + a - 1) / a * a;
            }
            ctx.vars[usize::from(*var)] = x;
            eval(steps, idx + 1, data, after, ctx)
        }
        Step::ByteMath {
            read,
            op,
            rvalue,
            var,
        } => {
            let Some((v, _)) = read.read(data, cursor, &ctx.vars) else {
                return false;
            };
            let r = rvalue.get(&ctx.vars);
            let v = v as i64;
            let x = match op {
                MathOp::Add => v.wrapping_add(r),
                MathOp::Sub => v.wrapping_sub(r),
                MathOp::Mul => v.wrapping_mul(r),
                MathOp::Div => {
                    if r == 0 {
                        return false;
                    }
                    v / r
                }
                MathOp::Shl => v.wrapping_shl(r as u32),
                MathOp::Shr => v.wrapping_shr(r as u32),
            };
            ctx.vars[usize::from(*var)] = x;
            eval(steps, idx + 1, data, cursor, ctx)
        }
        Step::IsDataAt {
            at,
            relative,
            negated,
        } => {
            let n = at.get(&ctx.vars);
            let there = if *relative {
                cursor as i64 + n <= data.len() as i64
            } else {
                n < data.len() as i64
            };
            there != *negated && eval(steps, idx + 1, data, cursor, ctx)
        }
        Step::Bsize(c) => c.test(data.len() as u64) && eval(steps, idx + 1, data, cursor, ctx),
        Step::IntIn(ranges) => {
            let v = std::str::from_utf8(data)
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            v.is_some_and(|v| ranges.iter().any(|&(a, b)| (a..=b).contains(&v)))
                && eval(steps, idx + 1, data, cursor, ctx)
        }
        Step::Equals(want) => {
            data.eq_ignore_ascii_case(want) && eval(steps, idx + 1, data, cursor, ctx)
        }
        Step::Base64Decode {
            bytes,
            offset,
            relative,
        } => {
            let start = if *relative { cursor } else { 0 } + *offset as usize;
            let src = data.get(start.min(data.len())..).unwrap_or(&[]);
            let src = if *bytes > 0 {
                &src[..src.len().min(*bytes as usize)]
            } else {
                src
            };
            ctx.b64 = base64_decode(src);
            eval(steps, idx + 1, data, cursor, ctx)
        }
        Step::Base64Data => {
            let decoded = std::mem::take(&mut ctx.b64);
            let r = eval(steps, idx + 1, &decoded, 0, ctx);
            ctx.b64 = decoded;
            r
        }
    }
}

/// Base64 (RFC 4648, standard alphabet) decoded as Suricata's
/// `base64_decode` does: stops at the first byte outside the alphabet,
/// ignores padding.
pub fn base64_decode(src: &[u8]) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::with_capacity(src.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in src {
        let Some(v) = val(c) else { break };
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(p: &str) -> ContentStep {
        ContentStep::new(p.as_bytes().to_vec(), false)
    }

    fn run(steps: Vec<Step>, data: &str) -> bool {
        matches(&steps, data.as_bytes(), &mut Ctx::default())
    }

    #[test]
    fn relative_contents_backtrack_to_a_later_occurrence() {
        // The first "a" is followed by "x" too far away; the second fits.
        let mut b = content("x");
        b.distance = Some(Val::Lit(0));
        b.within = Some(Val::Lit(2));
        assert!(run(
            vec![Step::Content(content("a")), Step::Content(b.clone())],
            "a....ax"
        ));
        assert!(!run(
            vec![Step::Content(content("a")), Step::Content(b)],
            "a....a..x"
        ));
    }

    #[test]
    fn depth_counts_from_the_offset_and_within_from_distance() {
        let mut c = content("bc");
        c.offset = Some(Val::Lit(1));
        c.depth = Some(Val::Lit(2));
        assert!(run(vec![Step::Content(c.clone())], "abcd"));
        assert!(!run(vec![Step::Content(c)], "aabc"));
        let mut d = content("z");
        d.distance = Some(Val::Lit(2));
        d.within = Some(Val::Lit(1));
        assert!(run(
            vec![Step::Content(content("a")), Step::Content(d.clone())],
            "a..z"
        ));
        assert!(!run(
            vec![Step::Content(content("a")), Step::Content(d)],
            "a...z"
        ));
    }

    #[test]
    fn negative_distance_looks_back() {
        // byte-exact: "PE" 4 bytes before the end of "MZ".
        let mut pe = content("PE");
        pe.distance = Some(Val::Lit(-4));
        pe.within = Some(Val::Lit(2));
        assert!(run(
            vec![Step::Content(content("MZ")), Step::Content(pe)],
            "PEMZ"
        ));
    }

    #[test]
    fn negated_contents_and_endswith() {
        let mut n = content("google.com");
        n.negated = true;
        n.endswith = true;
        assert!(run(vec![Step::Content(n.clone())], "www.example.com"));
        assert!(!run(vec![Step::Content(n.clone())], "www.google.com"));
        assert!(run(vec![Step::Content(n)], "www.google.com.evil"));
    }

    #[test]
    fn nocase_matches_either_case() {
        let c = ContentStep::new(b"MiNer".to_vec(), true);
        assert!(run(vec![Step::Content(c.clone())], "cgMINER/1"));
        assert!(!run(vec![Step::Content(c)], "min er"));
        assert_eq!(find_nocase(b"xxAbC", b"abc"), Some(2));
        assert_eq!(find_nocase(b"ab", b"abc"), None);
    }

    #[test]
    fn byte_jump_and_byte_test_read_both_orders_and_text() {
        let read = |bytes, endian, base, offset| Read {
            bytes,
            endian,
            base,
            relative: true,
            offset: Val::Lit(offset),
            bitmask: None,
        };
        // Length 2 (little endian) then skip it, then "ok".
        let mut ok = content("ok");
        ok.distance = Some(Val::Lit(0));
        ok.within = Some(Val::Lit(2));
        let steps = vec![
            Step::Content(content("L")),
            Step::ByteJump {
                read: read(2, Endian::Little, NumBase::Binary, 0),
                multiplier: 1,
                align: false,
                from_beginning: false,
                from_end: false,
                post_offset: 0,
            },
            Step::Content(ok),
        ];
        assert!(matches(&steps, b"L\x03\x00xyzok", &mut Ctx::default()));
        assert!(!matches(&steps, b"L\x04\x00xyzok", &mut Ctx::default()));
        let t = Step::ByteTest {
            read: read(3, Endian::Big, NumBase::Dec, 1),
            op: ByteOp::Gt,
            negated: false,
            value: Val::Lit(99),
        };
        assert!(matches(
            &[Step::Content(content("=")), t.clone()],
            b"= 123",
            &mut Ctx::default()
        ));
        assert!(!matches(
            &[Step::Content(content("=")), t],
            b"= 012",
            &mut Ctx::default()
        ));
    }

    #[test]
    fn byte_extract_feeds_a_later_depth() {
        let steps = vec![
            Step::ByteExtract {
                read: Read {
                    bytes: 1,
                    endian: Endian::Big,
                    base: NumBase::Dec,
                    relative: false,
                    offset: Val::Lit(0),
                    bitmask: None,
                },
                multiplier: 1,
                align: 0,
                var: 0,
            },
            Step::Content({
                let mut c = content("x");
                c.depth = Some(Val::Var(0));
                c
            }),
        ];
        assert!(matches(&steps, b"3.x", &mut Ctx::default()));
        assert!(!matches(&steps, b"2..x", &mut Ctx::default()));
    }

    #[test]
    fn isdataat_absolute_and_relative() {
        let abs = |n, neg| Step::IsDataAt {
            at: Val::Lit(n),
            relative: false,
            negated: neg,
        };
        assert!(run(vec![abs(3, false)], "abcd"));
        assert!(!run(vec![abs(4, false)], "abcd"));
        assert!(run(vec![abs(4, true)], "abcd"));
        let rel = Step::IsDataAt {
            at: Val::Lit(1),
            relative: true,
            negated: true,
        };
        // Nothing after "d": the negated relative check passes.
        assert!(run(vec![Step::Content(content("d")), rel.clone()], "abcd"));
        assert!(!run(vec![Step::Content(content("c")), rel], "abcd"));
    }

    #[test]
    fn base64_is_decoded_for_the_steps_after_base64_data() {
        assert_eq!(base64_decode(b"aGVsbG8="), b"hello");
        let steps = vec![
            Step::Content(content("b64=")),
            Step::Base64Decode {
                bytes: 0,
                offset: 0,
                relative: true,
            },
            Step::Base64Data,
            Step::Content(content("hello")),
        ];
        assert!(run(steps, "x b64=aGVsbG8gd29ybGQ="));
    }

    #[test]
    fn the_budget_stops_pathological_backtracking() {
        let mut b = content("b");
        b.distance = Some(Val::Lit(0));
        b.within = Some(Val::Lit(1));
        let data = "a".repeat(10_000);
        let mut ctx = Ctx::default();
        assert!(!matches(
            &[Step::Content(content("a")), Step::Content(b)],
            data.as_bytes(),
            &mut ctx
        ));
        assert_eq!(ctx.budget, 0);
    }
}
