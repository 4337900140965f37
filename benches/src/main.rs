//! `mekong-bench [PACKETS] [RUNS]`: the end-to-end benchmark (see the crate docs).

fn main() -> anyhow::Result<()> {
    // The sensor's own process settings, so the runs measure what it runs.
    mekong_sensor::memory::no_transparent_huge_pages();
    let args_line: Vec<String> = std::env::args().skip(1).collect();
    let command = format!(
        "cargo run --release -p mekong-benches -- {}",
        args_line.join(" ")
    );
    let mut cfg = mekong_benches::BenchConfig::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(p) = args.first() {
        cfg.packets = p.parse()?;
    }
    if let Some(r) = args.get(1) {
        cfg.runs = r.parse()?;
    }
    if let Some(d) = std::env::var_os("MEKONG_BENCH_DIR") {
        cfg.workdir = d.into();
    }
    let report = mekong_benches::bench(&cfg)?;
    // MEKONG_BENCH_README=1 writes the table into benches/README.md.
    let readme = std::env::var_os("MEKONG_BENCH_README")
        .map(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"));
    mekong_benches::publish(&cfg, &report, command.trim_end(), readme.as_deref())?;
    Ok(())
}
