//! DuckDB and Spark (pyspark, local mode) read the same tree and return
//! the same rows as `mekong-analyzer query` for the same SQL, partition
//! columns and timestamps included (`tests/interop/compare.py` runs the
//! other two engines and compares).

use std::path::Path;

use common::{rt, tree};
use mekong_analyzer::output::Format;

mod common;

const QUERIES: [&str; 6] = [
    "SELECT sensor, date, hour, count(*) AS n, sum(orig_ip_bytes) AS b, sum(resp_pkts) AS p \
     FROM flows GROUP BY sensor, date, hour ORDER BY sensor, date, hour",
    "SELECT sensor, date, hour, flow_uid, piece, first_ts, last_ts, orig_addr, resp_addr, resp_port, app_proto \
     FROM flows WHERE sensor = 'hue' AND hour = '02' AND resp_port = 22 ORDER BY flow_uid, piece",
    "SELECT sensor, date, hour, signature_id, count(*) AS n, min(ts) AS first \
     FROM alerts GROUP BY sensor, date, hour, signature_id ORDER BY sensor, date, hour, signature_id",
    "SELECT app_proto, count(*) AS n, count(DISTINCT orig_addr) AS clients FROM flows \
     WHERE sensor = 'hanoi' GROUP BY app_proto ORDER BY app_proto NULLS FIRST",
    "SELECT min(first_ts) AS a, max(last_ts) AS b, sum(orig_pkts + resp_pkts) AS pk, count(DISTINCT sensor) AS sensors \
     FROM flows WHERE date = '2026-03-02'",
    "SELECT sensor, flow_uid, dns_query, dns_qtype, dns_answers, dns_qname_entropy FROM flows \
     WHERE dns_query LIKE '%cloudsync-api.net' AND sensor = 'hanoi' ORDER BY flow_uid LIMIT 40",
];

#[test]
fn duckdb_and_spark_return_the_analyzers_rows() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("queries.json"),
        serde_json::to_string(&QUERIES).unwrap(),
    )
    .unwrap();
    for (i, q) in QUERIES.iter().enumerate() {
        let mut out = Vec::new();
        let n = rt()
            .block_on(mekong_analyzer::query(tree(), q, Format::Json, &mut out))
            .unwrap();
        assert!(n > 0, "query {i} returned nothing: {q}");
        std::fs::write(dir.join(format!("q{i}.jsonl")), out).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/compare.py");
    let o = mekong_testkit::python_with(&["duckdb", "pyspark"])
        .arg(script)
        .arg(tree())
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        text.matches("the same in DuckDB and Spark").count(),
        QUERIES.len(),
        "{text}"
    );
}
