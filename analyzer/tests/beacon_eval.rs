//! The beacon evaluation set scored both ways: Mekong ranks true beacons
//! above false ones better than RITA's scoring does on the same series,
//! class by class where the difference is the point.

use mekong_analyzer::beacon_eval::{auc, cases, precision_at_beacons, score};

#[test]
fn mekong_ranks_beacons_above_false_ones_better_than_rita() {
    for seed in [1, 2, 3] {
        let s = score(&cases(seed, 20));
        let m: Vec<(f64, bool)> = s.iter().map(|x| (x.2, x.1)).collect();
        let r: Vec<(f64, bool)> = s.iter().map(|x| (x.3, x.1)).collect();
        let (am, ar) = (auc(&m), auc(&r));
        assert!(am > ar, "seed {seed}: Mekong {am:.3} vs RITA {ar:.3}");
        assert!(am >= 0.95, "seed {seed}: {am:.3}");
        assert!(precision_at_beacons(&m) > precision_at_beacons(&r));
        let mean = |class: &str, i: usize| {
            let v: Vec<f64> = s
                .iter()
                .filter(|x| x.0 == class)
                .map(|x| if i == 0 { x.2 } else { x.3 })
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        // Missed calls are not irregularity; a service every client calls
        // on a schedule is not one implant's channel.
        assert!(mean("beacon, 40% of calls missed", 0) > mean("beacon, 40% of calls missed", 1));
        assert!(
            mean("update check of a popular service", 0)
                < mean("update check of a popular service", 1)
        );
    }
}
