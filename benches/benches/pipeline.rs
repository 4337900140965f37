//! `cargo bench -p mekong-benches`: the end-to-end benchmark.
//! `MEKONG_BENCH_PACKETS` and `MEKONG_BENCH_RUNS` change its size.

fn main() -> anyhow::Result<()> {
    mekong_sensor::memory::no_transparent_huge_pages();
    let mut cfg = mekong_benches::BenchConfig::default();
    if let Some(p) = std::env::var("MEKONG_BENCH_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.packets = p;
    }
    if let Some(r) = std::env::var("MEKONG_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.runs = r;
    }
    // `cargo bench` runs in the crate directory; keep the data in the workspace target.
    cfg.workdir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let report = mekong_benches::bench(&cfg)?;
    // MEKONG_BENCH_README=1 writes the table into benches/README.md.
    let readme = std::env::var_os("MEKONG_BENCH_README")
        .map(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"));
    mekong_benches::publish(
        &cfg,
        &report,
        "cargo bench -p mekong-benches",
        readme.as_deref(),
    )?;
    Ok(())
}
