//! Retention of the output tree: hour partitions
//! (`TABLE/sensor=ID/date=D/hour=H`) older than N days are deleted, then
//! the oldest while the tree is larger than a limit. Partitions of the
//! last `keep_recent` (those the writer may still have open) are never
//! touched.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::NaiveDate;

/// What to keep.
#[derive(Clone, Debug)]
pub struct Retention {
    /// Root of the tree.
    pub root: PathBuf,
    /// Delete hours older than this many days (0: no age limit).
    pub days: u32,
    /// Delete the oldest hours while the tree holds more bytes (0: no limit).
    pub max_bytes: u64,
    /// Hours this recent are kept whatever the limits, s.
    pub keep_recent_s: u64,
}

/// An hour partition: its start (s since the epoch), directory and bytes.
#[derive(Debug)]
struct Hour {
    start: i64,
    dir: PathBuf,
    bytes: u64,
}

fn dirs(p: &Path) -> Vec<(String, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(p) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect()
}

fn size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

fn hours(root: &Path) -> Vec<Hour> {
    let mut v = Vec::new();
    for table in ["flows", "alerts"] {
        for (s, sp) in dirs(&root.join(table)) {
            if !s.starts_with("sensor=") {
                continue;
            }
            for (d, dp) in dirs(&sp) {
                let Some(date) = d
                    .strip_prefix("date=")
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                else {
                    continue;
                };
                for (h, hp) in dirs(&dp) {
                    let Some(hour) = h.strip_prefix("hour=").and_then(|h| h.parse::<u32>().ok())
                    else {
                        continue;
                    };
                    let Some(t) = date.and_hms_opt(hour.min(23), 0, 0) else {
                        continue;
                    };
                    v.push(Hour {
                        start: t.and_utc().timestamp(),
                        bytes: size(&hp),
                        dir: hp,
                    });
                }
            }
        }
    }
    v.sort_by_key(|h| h.start);
    v
}

impl Retention {
    /// Deletes what the limits say, at `now_s`; returns the partitions deleted.
    pub fn apply_at(&self, now_s: i64) -> usize {
        if self.days == 0 && self.max_bytes == 0 {
            return 0;
        }
        let all = hours(&self.root);
        let mut total: u64 = all.iter().map(|h| h.bytes).sum();
        let recent = now_s - self.keep_recent_s as i64;
        let oldest_kept = now_s - i64::from(self.days) * 86_400;
        let mut n = 0;
        for h in &all {
            if h.start + 3600 > recent {
                break;
            }
            let too_old = self.days > 0 && h.start + 3600 <= oldest_kept;
            let too_big = self.max_bytes > 0 && total > self.max_bytes;
            if !too_old && !too_big {
                continue;
            }
            if std::fs::remove_dir_all(&h.dir).is_ok() {
                total = total.saturating_sub(h.bytes);
                n += 1;
                // The date directory goes with its last hour.
                if let Some(p) = h.dir.parent() {
                    let _ = std::fs::remove_dir(p);
                }
            }
        }
        n
    }

    /// Deletes what the limits say, now.
    pub fn apply(&self) -> usize {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.apply_at(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(root: &Path, table: &str, date: &str, hour: u32, bytes: usize) -> PathBuf {
        let d = root
            .join(table)
            .join("sensor=s1")
            .join(format!("date={date}"))
            .join(format!("hour={hour:02}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("part-00000.parquet"), vec![0u8; bytes]).unwrap();
        d
    }

    // 2026-12-10T00:00:00Z
    const NOW: i64 = 1_796_860_800;

    #[test]
    fn hours_past_the_age_go_and_recent_ones_stay() {
        let t = tempfile::tempdir().unwrap();
        let old = part(t.path(), "flows", "2026-12-01", 5, 10);
        let old_alerts = part(t.path(), "alerts", "2026-12-01", 5, 10);
        let kept = part(t.path(), "flows", "2026-12-08", 5, 10);
        let r = Retention {
            root: t.path().into(),
            days: 7,
            max_bytes: 0,
            keep_recent_s: 7200,
        };
        assert_eq!(r.apply_at(NOW), 2);
        assert!(!old.exists() && !old_alerts.exists());
        assert!(
            !old.parent().unwrap().exists(),
            "the empty date directory goes too"
        );
        assert!(kept.exists());
    }

    #[test]
    fn the_oldest_go_until_the_tree_fits_but_never_the_open_hours() {
        let t = tempfile::tempdir().unwrap();
        let a = part(t.path(), "flows", "2026-12-09", 1, 1000);
        let b = part(t.path(), "flows", "2026-12-09", 2, 1000);
        let c = part(t.path(), "flows", "2026-12-09", 3, 1000);
        let open = part(t.path(), "flows", "2026-12-09", 23, 5000);
        let r = Retention {
            root: t.path().into(),
            days: 0,
            max_bytes: 2500,
            keep_recent_s: 7200,
        };
        // 8000 bytes: a, b and c go (the open hour alone is over the limit,
        // and stays).
        assert_eq!(r.apply_at(NOW), 3);
        assert!(!a.exists() && !b.exists() && !c.exists());
        assert!(open.exists());
        let r = Retention { max_bytes: 0, ..r };
        assert_eq!(r.apply_at(NOW), 0);
    }
}
