//! Prints the beacon evaluation: each class's mean score by Mekong and by
//! RITA's scoring, and both rankings' ROC AUC and precision (the table in
//! the analyzer's README).

use mekong_analyzer::beacon_eval::{auc, cases, precision_at_beacons, score};

fn main() {
    let per_class = 30;
    let s = score(&cases(1, per_class));
    println!("| class | beacon | series | Mekong (mean) | RITA (mean) |");
    println!("|---|---|---:|---:|---:|");
    let mut classes: Vec<&str> = Vec::new();
    for x in &s {
        if !classes.contains(&x.0) {
            classes.push(x.0);
        }
    }
    for c in classes {
        let v: Vec<_> = s.iter().filter(|x| x.0 == c).collect();
        let n = v.len() as f64;
        println!(
            "| {c} | {} | {} | {:.3} | {:.3} |",
            if v[0].1 { "yes" } else { "no" },
            v.len(),
            v.iter().map(|x| x.2).sum::<f64>() / n,
            v.iter().map(|x| x.3).sum::<f64>() / n
        );
    }
    let m: Vec<(f64, bool)> = s.iter().map(|x| (x.2, x.1)).collect();
    let r: Vec<(f64, bool)> = s.iter().map(|x| (x.3, x.1)).collect();
    println!();
    println!(
        "ROC AUC: Mekong {:.3}, RITA {:.3}; precision at the number of beacons: Mekong {:.3}, RITA {:.3} ({} series, seed 1)",
        auc(&m),
        auc(&r),
        precision_at_beacons(&m),
        precision_at_beacons(&r),
        s.len()
    );
}
