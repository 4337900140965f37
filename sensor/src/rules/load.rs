//! Loading rules for a run: Mekong's shipped rules (unless turned off),
//! rule files, variables, `classification.config` and `threshold.config`,
//! with a report of what loaded and why the rest did not.

use std::path::PathBuf;

use mekong_signatures::addr::Vars;
use mekong_signatures::classify::Classifications;
use mekong_signatures::engine::LoadReport;
use mekong_signatures::prefilter::Backend;
use mekong_signatures::threshold::ThresholdConfig;
use mekong_signatures::{RuleSet, RuleSetOptions, BUILTIN_RULES};

use super::{Rules, RulesConfig};

/// Where rules come from.
#[derive(Clone, Debug, Default)]
pub struct RuleSources {
    /// Load Mekong's shipped rules.
    pub builtin: bool,
    /// Rule files.
    pub files: Vec<PathBuf>,
    /// Variables set (`HOME_NET=[10.0.0.0/8]`), over Suricata's defaults.
    pub vars: Vec<(String, String)>,
    /// A `classification.config` added to Mekong's.
    pub classification: Option<PathBuf>,
    /// A `threshold.config`.
    pub threshold: Option<PathBuf>,
    /// The prefilter (default: the fastest built in).
    pub backend: Option<Backend>,
    /// Where compiled prefilters are kept between runs (none: compiled
    /// every time); see [`default_cache`].
    pub cache: Option<PathBuf>,
}

/// Cached prefilters unused this long are removed when rules load.
pub const CACHE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// The default place of the compiled-prefilter cache:
/// `$XDG_CACHE_HOME/mekong/rules`, else `$HOME/.cache/mekong/rules`; none
/// without either.
pub fn default_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("mekong").join("rules"))
}

/// What went wrong loading rules (not a bad rule: those are skipped and
/// reported).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why (in the message, not repeated as a source).
        cause: std::io::Error,
    },
    /// A variable, classification or threshold file is wrong.
    #[error("{0}")]
    Config(String),
}

fn read(p: &PathBuf) -> Result<String, LoadError> {
    let b = std::fs::read(p).map_err(|cause| LoadError::Io {
        path: p.clone(),
        cause,
    })?;
    // Rule files are text: taken as they are when valid UTF-8 (no copy),
    // with invalid bytes replaced otherwise.
    Ok(match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// The rule files named: a file as given, a directory as every `*.rules`
/// file in it, in name order (like Suricata's `rule-files` list).
pub fn rule_files(named: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut v = Vec::new();
    for p in named {
        if p.is_dir() {
            let io = |cause| LoadError::Io {
                path: p.clone(),
                cause,
            };
            let mut inside = Vec::new();
            for e in std::fs::read_dir(p).map_err(io)? {
                let e = e.map_err(io)?;
                let f = e.path();
                if f.extension().is_some_and(|x| x == "rules") && f.is_file() {
                    inside.push(f);
                }
            }
            if inside.is_empty() {
                return Err(LoadError::Config(format!(
                    "{}: a directory with no *.rules file",
                    p.display()
                )));
            }
            inside.sort();
            v.extend(inside);
        } else {
            v.push(p.clone());
        }
    }
    Ok(v)
}

/// Loads the rules.
pub fn load(src: &RuleSources, config: RulesConfig) -> Result<(Rules, LoadReport), LoadError> {
    let mut vars = Vars::default();
    for (k, v) in &src.vars {
        let looks_like_ports = v
            .trim_start()
            .starts_with(|c: char| c.is_ascii_digit() || c == ':')
            && !v.contains('.')
            && !v.contains('/');
        let r = if looks_like_ports || k.ends_with("_PORTS") {
            vars.set_port(k, v)
        } else {
            vars.set_addr(k, v)
        };
        r.map_err(|e| LoadError::Config(format!("--var {k}={v}: {e}")))?;
    }
    vars.check().map_err(LoadError::Config)?;
    let mut classes = Classifications::builtin();
    if let Some(p) = &src.classification {
        let c = Classifications::parse(&read(p)?)
            .map_err(|e| LoadError::Config(format!("{}: {e}", p.display())))?;
        classes.extend(c);
    }
    let thresholds = match &src.threshold {
        Some(p) => ThresholdConfig::parse(&read(p)?, &vars)
            .map_err(|e| LoadError::Config(format!("{}: {e}", p.display())))?,
        None => ThresholdConfig::default(),
    };
    let mut sources = Vec::new();
    if src.builtin {
        sources.push((
            "mekong.rules (built in)".to_string(),
            BUILTIN_RULES.to_string(),
        ));
    }
    for f in rule_files(&src.files)? {
        sources.push((f.display().to_string(), read(&f)?));
    }
    let opts = RuleSetOptions {
        vars,
        classes,
        backend: src.backend.unwrap_or_else(Backend::best),
        cache: src.cache.clone(),
    };
    let (set, report) = RuleSet::from_sources(&sources, &opts);
    if let Some(dir) = &src.cache {
        // Databases of rule files no run has used for 30 days go.
        mekong_signatures::prefilter::prune_cache(dir, CACHE_MAX_AGE);
    }
    Ok((Rules::new(set, thresholds, config), report))
}

/// A load report as lines for people: counts, then each rule not loaded
/// with its file, line, sid and keyword (`all`), or the counts by reason.
pub fn report_lines(r: &LoadReport, all: bool) -> Vec<String> {
    let mut v = vec![format!(
        "rules: {} read, {} loaded ({:.2}%), {} unsupported, {} invalid; compiled in {:.2} s, prefilters built in {:.2} s",
        r.read,
        r.loaded,
        r.loaded_share() * 100.0,
        r.unsupported.values().sum::<usize>(),
        r.invalid,
        r.compile_s,
        r.prefilter_s
    )];
    for (reason, n) in &r.unsupported {
        v.push(format!("  skipped {n:>6}: {reason}"));
    }
    for s in &r.skipped {
        if all || !s.error.is_unsupported() {
            v.push(format!("  {}: {}", s.source, s.error));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_names_its_rule_files_in_order() {
        let d = tempfile::tempdir().unwrap();
        for n in ["b.rules", "a.rules", "notes.txt"] {
            std::fs::write(d.path().join(n), "").unwrap();
        }
        let one = d.path().join("b.rules");
        let got = rule_files(&[d.path().to_path_buf(), one.clone()]).unwrap();
        assert_eq!(got, vec![d.path().join("a.rules"), one.clone(), one]);
        let empty = tempfile::tempdir().unwrap();
        let e = rule_files(&[empty.path().to_path_buf()]).unwrap_err();
        assert!(e.to_string().contains("no *.rules"), "{e}");
    }

    #[test]
    fn the_shipped_rules_all_load() {
        let (rules, rep) = load(
            &RuleSources {
                builtin: true,
                ..RuleSources::default()
            },
            RulesConfig::default(),
        )
        .expect("loads");
        assert_eq!(rep.loaded, rep.read, "{:?}", report_lines(&rep, true));
        assert!(rep.read >= 20);
        // Every shipped rule names its technique.
        for r in rules.set.rules() {
            assert!(
                !r.info.techniques.is_empty(),
                "sid {} has no technique",
                r.info.sid
            );
            assert!(r.info.sid >= 9_100_000);
        }
    }

    #[test]
    fn bad_variables_and_files_are_errors() {
        let e = load(
            &RuleSources {
                vars: vec![("HOME_NET".into(), "[10.0.0.0/33]".into())],
                ..RuleSources::default()
            },
            RulesConfig::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("HOME_NET"), "{e}");
        let e = load(
            &RuleSources {
                files: vec!["/nonexistent.rules".into()],
                ..RuleSources::default()
            },
            RulesConfig::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent.rules"), "{e}");
    }
}
