//! `report` in a real headless browser (Debian's Chromium): the file is
//! self-contained (no script, nothing fetched), it renders, the numbers it
//! shows are `summary`'s, it speaks Vietnamese and English, and its
//! screenshot keeps the layout of the golden one in
//! `tests/golden/report/` (`MEKONG_BLESS=1` rewrites it after a change
//! meant to move things).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{rt, tree};
use mekong_analyzer::i18n::Lang;

mod common;

fn out(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// The DOM after Chromium rendered the file.
fn dom(file: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let o = mekong_testkit::chromium(profile.path())
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Every `data-k="…" data-v="…"` pair of the DOM.
fn figures(dom: &str) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for part in dom.split("data-k=\"").skip(1) {
        let Some((k, rest)) = part.split_once('"') else {
            continue;
        };
        let Some(v) = rest
            .strip_prefix(" data-v=\"")
            .and_then(|r| r.split_once('"'))
        else {
            continue;
        };
        m.insert(k.to_string(), v.0.parse().unwrap());
    }
    m
}

fn grey_blocks(png: &Path) -> (u32, u32, Vec<f64>) {
    let d = png::Decoder::new(std::fs::File::open(png).unwrap());
    let mut r = d.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).unwrap();
    let ch = info.color_type.samples();
    let (w, h) = (info.width, info.height);
    let bs = 16;
    let (bw, bh) = (w.div_ceil(bs), h.div_ceil(bs));
    let mut sum = vec![0f64; (bw * bh) as usize];
    let mut n = vec![0f64; (bw * bh) as usize];
    for y in 0..h {
        for x in 0..w {
            let i = ((y * w + x) as usize) * ch;
            let g = (buf[i] as f64 + buf[i + 1] as f64 + buf[i + 2] as f64) / 3.0;
            let b = ((y / bs) * bw + x / bs) as usize;
            sum[b] += g;
            n[b] += 1.0;
        }
    }
    (w, h, sum.iter().zip(&n).map(|(s, n)| s / n).collect())
}

#[test]
fn the_report_renders_in_chromium_with_summarys_numbers_in_both_languages() {
    let summary = rt()
        .block_on(mekong_analyzer::summary::summary(tree(), None, None))
        .unwrap();
    for lang in [Lang::Vi, Lang::En] {
        let html = rt()
            .block_on(mekong_analyzer::report::report(tree(), lang))
            .unwrap();
        // Self-contained: nothing to fetch, nothing to run.
        let lower = html.to_ascii_lowercase();
        for bad in ["<script", "<link", " src=", "url(", "@import"] {
            assert!(!lower.contains(bad), "{bad}");
        }
        assert_eq!(
            lower.matches("http").count(),
            lower.matches("http://www.w3.org/2000/svg").count(),
            "only the SVG namespace names an address"
        );
        let file = out(&format!("report-{}.html", lang.code()));
        std::fs::write(&file, &html).unwrap();
        let d = dom(&file);
        assert!(d.contains(&format!("<html lang=\"{}\">", lang.code())));
        assert!(d.contains(lang.text().title), "{}", lang.code());
        assert!(d.contains("<svg") && d.contains("<rect"));
        let f = figures(&d);
        let tot = &summary["totals"][0];
        for k in ["flows", "packets", "bytes", "sensors"] {
            assert_eq!(
                f.get(&format!("totals.{k}")).copied(),
                tot[k].as_i64(),
                "{k}"
            );
        }
        let by = summary["alerts_by_technique"].as_array().unwrap();
        assert!(!by.is_empty());
        for r in by {
            let t = r["technique"].as_str().unwrap();
            assert_eq!(
                f.get(&format!("technique.{t}.alerts")).copied(),
                r["alerts"].as_i64(),
                "{t}"
            );
            assert_eq!(
                f.get(&format!("technique.{t}.sources")).copied(),
                r["sources"].as_i64(),
                "{t}"
            );
            // The chart's bars of a technique add up to its alerts.
            let bars: i64 = d
                .split(&format!("data-technique=\"{t}\""))
                .skip(1)
                .map(|p| {
                    p.split("data-v=\"")
                        .nth(1)
                        .and_then(|x| x.split('"').next())
                        .unwrap()
                        .parse::<i64>()
                        .unwrap()
                })
                .sum();
            assert_eq!(Some(bars), r["alerts"].as_i64(), "{t} bars");
        }
        for r in summary["capture_completeness"].as_array().unwrap() {
            let k = format!(
                "complete.{}.{}.{}.seen",
                r["sensor"].as_str().unwrap(),
                r["date"].as_str().unwrap(),
                r["hour"].as_str().unwrap()
            );
            assert_eq!(f.get(&k).copied(), r["packets_seen"].as_i64(), "{k}");
        }
        // Localised figures: Vietnamese groups thousands with dots.
        let flows = tot["flows"].as_i64().unwrap();
        assert!(d.contains(&format!(">{}</td>", lang.number(flows))));
    }
    let vi = std::fs::read_to_string(out("report-vi.html")).unwrap();
    for word in [
        "Tổng quan",
        "Cảnh báo theo kỹ thuật",
        "Các máy tấn công hàng đầu",
        "Độ đầy đủ",
    ] {
        assert!(vi.contains(word), "{word}");
    }

    // Layout against the golden screenshot, block by block.
    let profile = tempfile::tempdir().unwrap();
    let shot = out("report-en.png");
    let o = mekong_testkit::chromium(profile.path())
        .args([
            "--window-size=1280,2400",
            &format!("--screenshot={}", shot.display()),
        ])
        .arg(format!("file://{}", out("report-en.html").display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/report/en.png");
    if std::env::var_os("MEKONG_BLESS").is_some() {
        std::fs::copy(&shot, &golden).unwrap();
    }
    assert!(
        golden.exists(),
        "{} is missing: run with MEKONG_BLESS=1 once to make it",
        golden.display()
    );
    let (w, h, a) = grey_blocks(&shot);
    let (gw, gh, b) = grey_blocks(&golden);
    assert_eq!((w, h), (gw, gh));
    let moved = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| (*x - *y).abs() > 24.0)
        .count();
    assert!(
        moved * 100 <= a.len(),
        "{moved} of {} 16-pixel blocks differ from the golden screenshot: the layout moved (see {})",
        a.len(),
        shot.display()
    );
}
