//! The multi-pattern prefilter: one fast pattern per rule, all the rules of
//! a buffer in one automaton, one pass over the buffer naming the rules
//! worth verifying. Two back ends, measured against each other in the
//! benchmark: the `aho-corasick` crate (two automata, one for patterns
//! with `nocase`) and Hyperscan (one database, `CASELESS` per pattern;
//! with the `hyperscan` feature).

use std::fmt;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// Which back end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// The `aho-corasick` crate.
    AhoCorasick,
    /// Hyperscan (Debian's `libhyperscan`).
    #[default]
    Hyperscan,
}

impl Backend {
    /// Hyperscan when built with it, else aho-corasick.
    pub fn best() -> Backend {
        if cfg!(feature = "hyperscan") {
            Backend::Hyperscan
        } else {
            Backend::AhoCorasick
        }
    }

    /// The name (`hyperscan`, `aho-corasick`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::AhoCorasick => "aho-corasick",
            Backend::Hyperscan => "hyperscan",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Backend> {
        match s {
            "aho-corasick" | "ac" => Some(Backend::AhoCorasick),
            "hyperscan" | "hs" => Some(Backend::Hyperscan),
            _ => None,
        }
    }
}

/// A pattern and the rules it stands for.
#[derive(Clone, Debug)]
struct Pat {
    bytes: Vec<u8>,
    nocase: bool,
    rules: Vec<u32>,
}

enum Engine {
    Ac {
        /// Case-sensitive patterns and their ids.
        cs: Option<(AhoCorasick, Vec<u32>)>,
        /// Case-insensitive ones.
        ci: Option<(AhoCorasick, Vec<u32>)>,
    },
    #[cfg(feature = "hyperscan")]
    Hs(hyperscan::BlockDatabase),
}

/// One buffer's prefilter.
pub struct Prefilter {
    pats: Vec<Pat>,
    engine: Engine,
    /// Its place among the prefilters of a rule set (where a thread keeps
    /// its Hyperscan scratch space for it).
    slot: usize,
}

impl fmt::Debug for Prefilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefilter")
            .field("patterns", &self.pats.len())
            .finish()
    }
}

/// Per-thread state of prefilter scans.
#[derive(Default)]
pub struct Scratch {
    stamp: Vec<u32>,
    gen: u32,
    hits: Vec<u32>,
    /// Hyperscan scratch space, one per database (by its slot), with the
    /// address of the database it was made for.
    #[cfg(feature = "hyperscan")]
    hs: Vec<Option<(usize, hyperscan::Scratch)>>,
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scratch").finish()
    }
}

impl Scratch {
    fn begin(&mut self, pats: usize) {
        if self.stamp.len() < pats {
            self.stamp.resize(pats, 0);
        }
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.gen = 1;
        }
        self.hits.clear();
    }

    fn hit(&mut self, pat: u32) {
        let s = &mut self.stamp[pat as usize];
        if *s != self.gen {
            *s = self.gen;
            self.hits.push(pat);
        }
    }
}

/// Escapes bytes as a Hyperscan expression matching them literally.
#[cfg(feature = "hyperscan")]
fn hs_literal(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 4);
    for &c in b {
        if c.is_ascii_alphanumeric() {
            s.push(char::from(c));
        } else {
            let _ = write!(s, "\\x{c:02x}");
        }
    }
    s
}

/// Removes the cached databases (`*.hsdb`) of `dir` not used for `max_age`
/// (a database is touched when it is read): rule files that changed leave
/// theirs behind. Returns how many were removed; a directory that cannot
/// be read removes nothing.
pub fn prune_cache(dir: &std::path::Path, max_age: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "hsdb") {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > max_age);
        if old && std::fs::remove_file(&p).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The name of a cached database: the SHA-256 of the Hyperscan version
/// and each pattern (its bytes and case flag, in id order).
#[cfg(feature = "hyperscan")]
fn cache_key(pats: &[Pat]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"mekong-prefilter-1\0");
    h.update(hyperscan::version_str().to_bytes());
    for p in pats {
        h.update((p.bytes.len() as u64).to_le_bytes());
        h.update(&p.bytes);
        h.update([u8::from(p.nocase)]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Prefilter {
    /// Builds a prefilter of `(pattern, nocase, rule)` triples.
    pub fn build(items: &[(Vec<u8>, bool, u32)], backend: Backend) -> Result<Prefilter, String> {
        Prefilter::build_cached(items, backend, None)
    }

    /// Builds a prefilter, a Hyperscan database read from `cache` when it
    /// holds one compiled from the same patterns (and written there when
    /// not): the file is named by the SHA-256 of the Hyperscan version and
    /// the patterns, so a changed rule file can never meet a stale one.
    pub fn build_cached(
        items: &[(Vec<u8>, bool, u32)],
        backend: Backend,
        cache: Option<&std::path::Path>,
    ) -> Result<Prefilter, String> {
        let mut pats: Vec<Pat> = Vec::new();
        let mut index: std::collections::HashMap<(Vec<u8>, bool), usize> = Default::default();
        for (p, nocase, rule) in items {
            let key = (p.clone(), *nocase);
            let i = *index.entry(key).or_insert_with(|| {
                pats.push(Pat {
                    bytes: p.clone(),
                    nocase: *nocase,
                    rules: Vec::new(),
                });
                pats.len() - 1
            });
            pats[i].rules.push(*rule);
        }
        let engine = match backend {
            Backend::AhoCorasick => {
                let build = |nocase: bool| -> Result<Option<(AhoCorasick, Vec<u32>)>, String> {
                    let ids: Vec<u32> = (0..pats.len() as u32)
                        .filter(|&i| pats[i as usize].nocase == nocase)
                        .collect();
                    if ids.is_empty() {
                        return Ok(None);
                    }
                    let ac = AhoCorasickBuilder::new()
                        .match_kind(MatchKind::Standard)
                        .ascii_case_insensitive(nocase)
                        .kind(Some(AhoCorasickKind::DFA))
                        .build(ids.iter().map(|&i| &pats[i as usize].bytes))
                        .or_else(|_| {
                            AhoCorasickBuilder::new()
                                .match_kind(MatchKind::Standard)
                                .ascii_case_insensitive(nocase)
                                .build(ids.iter().map(|&i| &pats[i as usize].bytes))
                        })
                        .map_err(|e| e.to_string())?;
                    Ok(Some((ac, ids)))
                };
                Engine::Ac {
                    cs: build(false)?,
                    ci: build(true)?,
                }
            }
            Backend::Hyperscan => {
                #[cfg(feature = "hyperscan")]
                {
                    use hyperscan::prelude::*;
                    let mut ps = Vec::with_capacity(pats.len());
                    for (i, p) in pats.iter().enumerate() {
                        let mut flags = CompileFlags::SINGLEMATCH;
                        if p.nocase {
                            flags |= CompileFlags::CASELESS;
                        }
                        let mut pat = Pattern::with_flags(hs_literal(&p.bytes), flags)
                            .map_err(|e| e.to_string())?;
                        pat.id = Some(i);
                        ps.push(pat);
                    }
                    let file = cache.map(|d| d.join(format!("{}.hsdb", cache_key(&pats))));
                    let cached: Option<BlockDatabase> = file
                        .as_ref()
                        .and_then(|f| std::fs::read(f).ok())
                        .and_then(|b| hyperscan::SerializedDatabase::deserialize(&b).ok());
                    let db = match cached {
                        Some(db) => {
                            // Used now: kept by `prune_cache`.
                            if let Some(f) = &file {
                                let _ = std::fs::File::options()
                                    .write(true)
                                    .open(f)
                                    .and_then(|h| h.set_modified(std::time::SystemTime::now()));
                            }
                            db
                        }
                        None => {
                            let patterns: Patterns = ps.into_iter().collect();
                            let db: BlockDatabase = patterns.build().map_err(|e| e.to_string())?;
                            if let (Some(f), Ok(bytes)) = (&file, db.serialize()) {
                                // A cache that cannot be written only costs
                                // the next run its compile time.
                                let tmp = f.with_extension(format!("tmp{}", std::process::id()));
                                let _ = std::fs::create_dir_all(f.parent().unwrap_or(f))
                                    .and_then(|_| std::fs::write(&tmp, &*bytes))
                                    .and_then(|_| std::fs::rename(&tmp, f));
                                let _ = std::fs::remove_file(&tmp);
                            }
                            db
                        }
                    };
                    Engine::Hs(db)
                }
                #[cfg(not(feature = "hyperscan"))]
                {
                    return Err("this build has no Hyperscan (the hyperscan feature)".into());
                }
            }
        };
        Ok(Prefilter {
            pats,
            engine,
            slot: 0,
        })
    }

    /// Sets its place among the prefilters of a rule set (distinct places
    /// keep a scratch space each; see [`Scratch`]).
    pub fn set_slot(&mut self, slot: usize) {
        self.slot = slot;
    }

    /// Distinct patterns.
    pub fn patterns(&self) -> usize {
        self.pats.len()
    }

    /// Scans `data`, calling `rule` for every rule whose pattern occurs
    /// (a rule may be named more than once).
    pub fn scan(&self, data: &[u8], scratch: &mut Scratch, rule: &mut dyn FnMut(u32)) {
        scratch.begin(self.pats.len());
        match &self.engine {
            Engine::Ac { cs, ci } => {
                for (ac, ids) in [cs, ci].into_iter().flatten() {
                    for m in ac.find_overlapping_iter(data) {
                        scratch.hit(ids[m.pattern().as_usize()]);
                    }
                }
            }
            #[cfg(feature = "hyperscan")]
            Engine::Hs(db) => {
                use hyperscan::prelude::*;
                // Each database has its own scratch space, made at its
                // first scan by this thread (not per call: making or
                // checking one costs more than a short scan).
                let at = std::ptr::from_ref(db) as usize;
                if scratch.hs.len() <= self.slot {
                    scratch.hs.resize_with(self.slot + 1, || None);
                }
                let fresh = match &scratch.hs[self.slot] {
                    Some((a, _)) => *a != at,
                    None => true,
                };
                if fresh {
                    scratch.hs[self.slot] = db.alloc_scratch().ok().map(|s| (at, s));
                }
                if let Some((a, s)) = scratch.hs[self.slot].take() {
                    let _ = db.scan(data, &s, |id: u32, _from, _to, _flags| {
                        scratch.hit(id);
                        Matching::Continue
                    });
                    scratch.hs[self.slot] = Some((a, s));
                }
            }
        }
        for i in 0..scratch.hits.len() {
            let p = scratch.hits[i];
            for &r in &self.pats[p as usize].rules {
                rule(r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_what_was_used_lately() {
        let d = std::env::temp_dir().join(format!("mekong-prune-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let old = d.join("a.hsdb");
        let new = d.join("b.hsdb");
        let other = d.join("notes.txt");
        for p in [&old, &new, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(90 * 86_400);
        for p in [&old, &other] {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        assert_eq!(
            prune_cache(&d, std::time::Duration::from_secs(30 * 86_400)),
            1
        );
        assert!(!old.exists() && new.exists() && other.exists());
        assert_eq!(
            prune_cache(&d.join("missing"), std::time::Duration::ZERO),
            0
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    fn names(p: &Prefilter, data: &[u8]) -> Vec<u32> {
        let mut s = Scratch::default();
        let mut v = Vec::new();
        p.scan(data, &mut s, &mut |r| v.push(r));
        v.sort_unstable();
        v.dedup();
        v
    }

    fn backends() -> Vec<Backend> {
        let mut v = vec![Backend::AhoCorasick];
        if cfg!(feature = "hyperscan") {
            v.push(Backend::Hyperscan);
        }
        v
    }

    #[test]
    fn every_occurring_pattern_names_its_rules_in_both_back_ends() {
        let items = vec![
            (b"GET".to_vec(), false, 1),
            (b"get".to_vec(), true, 2),
            (b"/admin".to_vec(), false, 3),
            (b"min".to_vec(), false, 4),
            (vec![0, 0xff, b'"'], false, 5),
            (b"GET".to_vec(), false, 6),
        ];
        for b in backends() {
            let p = Prefilter::build(&items, b).expect("builds");
            assert_eq!(p.patterns(), 5, "{b:?}");
            assert_eq!(names(&p, b"GET /admin"), vec![1, 2, 3, 4, 6], "{b:?}");
            assert_eq!(names(&p, b"get /x"), vec![2], "{b:?}");
            assert_eq!(names(&p, b"a\x00\xff\"b"), vec![5], "{b:?}");
            assert!(names(&p, b"").is_empty(), "{b:?}");
        }
    }
}
