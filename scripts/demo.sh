#!/usr/bin/env bash
# The demo: Mekong makes its own labelled capture of an office network under
# attack, runs the sensor on it, and shows the alerts it raised next to the
# ground truth, how they score against it, and what the flow records reveal.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release -j2 -p mekong-datasets -p mekong-sensor
out=out/demo
rm -rf "$out" && mkdir -p "$out"
./target/release/mekong-datasets generate --out "$out/demo.pcap" --labels "$out/demo.labels.csv" --packets 200000 --seed 1
./target/release/mekong-sensor read "$out/demo.pcap" --out "$out" --sensor-id demo --quiet
echo
echo "Ground truth ($out/demo.labels.csv):"
.venv/bin/python3 - "$out/demo.labels.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"  {'scenario':<18} {'technique':<16} {'attacker':<16} {'target':<28} start (UTC)")
for r in rows:
    print(f"  {r['scenario']:<18} {r['technique']:<16} {r['attacker']:<16} {r['target']:<28} {r['start_utc']}")
PY
echo
echo "What Mekong detected ($out/alerts, the start alert of each incident):"
.venv/bin/python3 scripts/demo_report.py "$out" alerts
echo
echo "The alerts scored against the ground truth (web exploits, T1190, by Mekong's shipped Suricata-syntax rules):"
cat "$out"/alerts/*/*/*/_eve-*.json > "$out/eve.json"
./target/release/mekong-datasets score --labels "$out/demo.labels.csv" --alerts "$out/eve.json" | sed -n '1,/^$/p'
echo
echo "What the flow records show ($out/flows, queried with DuckDB):"
.venv/bin/python3 scripts/demo_report.py "$out" flows
