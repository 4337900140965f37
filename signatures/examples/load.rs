//! `cargo run --release -p mekong-signatures --example load -- FILES...`:
//! loads rule files and prints what loaded and why the rest did not.

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let b = std::fs::read(f).unwrap_or_default();
            (f.clone(), String::from_utf8_lossy(&b).into_owned())
        })
        .collect();
    let t = std::time::Instant::now();
    let (set, rep) = mekong_signatures::RuleSet::from_sources(&sources, &Default::default());
    println!(
        "read {} loaded {} ({:.2}%) invalid {} in {:.2} s (compile {:.2} s, prefilter {:.2} s), {} prefilter patterns, backend {}",
        rep.read,
        rep.loaded,
        rep.loaded_share() * 100.0,
        rep.invalid,
        t.elapsed().as_secs_f64(),
        rep.compile_s,
        rep.prefilter_s,
        set.prefilter_patterns(),
        set.backend().name()
    );
    for (r, n) in &rep.unsupported {
        println!("  unsupported {n:6}  {r}");
    }
    let mut inv = std::collections::BTreeMap::<String, usize>::new();
    for s in rep.skipped.iter().filter(|s| !s.error.is_unsupported()) {
        *inv.entry(s.error.reason()).or_insert(0) += 1;
    }
    for (r, n) in inv {
        println!("  invalid     {n:6}  {r}");
    }
    for s in rep
        .skipped
        .iter()
        .filter(|s| !s.error.is_unsupported())
        .take(15)
    {
        println!("    {}: {}", s.source, s.error);
    }
}
