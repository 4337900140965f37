//! Classification (`classification.config`: classtype → description and
//! priority) and the documented mapping of classtypes to ATT&CK
//! techniques for rules whose metadata names none.

use std::collections::HashMap;

/// Mekong's `classification.config` (shipped in `signatures/rules/`).
pub const DEFAULT_CLASSIFICATION: &str = include_str!("../rules/classification.config");

/// A classtype's description and priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    /// Description (EVE `alert.category`).
    pub description: String,
    /// Priority (EVE `alert.severity`): 1 high … 4 low.
    pub priority: u8,
}

/// The classtypes known.
#[derive(Clone, Debug, Default)]
pub struct Classifications {
    map: HashMap<String, Class>,
}

impl Classifications {
    /// Mekong's shipped classification.
    pub fn builtin() -> Classifications {
        Classifications::parse(DEFAULT_CLASSIFICATION)
            .expect("the shipped classification.config parses")
    }

    /// Parses a `classification.config`:
    /// `config classification: name,description,priority` lines.
    pub fn parse(text: &str) -> Result<Classifications, String> {
        let mut map = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let body = l
                .strip_prefix("config classification:")
                .ok_or_else(|| format!("line {}: expected 'config classification:'", i + 1))?;
            let parts: Vec<&str> = body.split(',').map(str::trim).collect();
            if parts.len() != 3 || parts[0].is_empty() {
                return Err(format!(
                    "line {}: expected name,description,priority",
                    i + 1
                ));
            }
            let priority = parts[2]
                .parse::<u8>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| format!("line {}: bad priority {:?}", i + 1, parts[2]))?;
            map.insert(
                parts[0].to_string(),
                Class {
                    description: parts[1].to_string(),
                    priority,
                },
            );
        }
        Ok(Classifications { map })
    }

    /// The class of a classtype.
    pub fn get(&self, classtype: &str) -> Option<&Class> {
        self.map.get(classtype)
    }

    /// Adds or replaces the classes of another file.
    pub fn extend(&mut self, other: Classifications) {
        self.map.extend(other.map);
    }
}

/// ATT&CK techniques for classtypes, used only when a rule's metadata
/// names no technique. Classtypes that do not name one technique
/// (`trojan-activity`, `attempted-admin`, `policy-violation`...) map to
/// none: the alert then carries no technique rather than a guess.
pub const CLASSTYPE_TECHNIQUES: &[(&str, &str)] = &[
    ("network-scan", "T1046"),
    ("attempted-dos", "T1499"),
    ("successful-dos", "T1499"),
    ("denial-of-service", "T1499"),
    ("web-application-attack", "T1190"),
    ("command-and-control", "T1071"),
    ("domain-c2", "T1071"),
    ("coin-mining", "T1496"),
    ("exploit-kit", "T1189"),
    ("social-engineering", "T1566"),
    ("external-ip-check", "T1016"),
    ("default-login-attempt", "T1078.001"),
];

/// The technique of a classtype (see [`CLASSTYPE_TECHNIQUES`]).
pub fn classtype_technique(classtype: &str) -> Option<&'static str> {
    CLASSTYPE_TECHNIQUES
        .iter()
        .find(|(c, _)| *c == classtype)
        .map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_has_the_usual_classtypes() {
        let c = Classifications::builtin();
        let t = c.get("trojan-activity").expect("trojan-activity");
        assert_eq!(t.description, "A Network Trojan was detected");
        assert_eq!(t.priority, 1);
        assert_eq!(c.get("misc-activity").map(|c| c.priority), Some(3));
        assert!(c.get("nonsense").is_none());
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(Classifications::parse("config classification: a,b").is_err());
        assert!(Classifications::parse("config classification: a,b,x").is_err());
        assert!(Classifications::parse("classification: a,b,1").is_err());
    }

    #[test]
    fn classtypes_map_to_techniques_only_where_one_fits() {
        assert_eq!(classtype_technique("network-scan"), Some("T1046"));
        assert_eq!(classtype_technique("trojan-activity"), None);
    }
}
