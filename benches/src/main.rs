//! `mekong-bench [PACKETS] [RUNS]`: the end-to-end benchmark (see the crate docs).

fn main() -> anyhow::Result<()> {
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
    mekong_benches::bench(&cfg)?;
    Ok(())
}
