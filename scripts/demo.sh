#!/usr/bin/env bash
# The demo: generate Mekong's own labelled capture of an office network under
# attack and show what it holds.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release -j2 -p mekong-datasets
out=out/demo
mkdir -p "$out"
./target/release/mekong-datasets generate --out "$out/demo.pcap" --labels "$out/demo.labels.csv" --packets 200000 --seed 1
echo
echo "Attack scenarios in $out/demo.pcap (ground truth: $out/demo.labels.csv):"
python3 - "$out/demo.labels.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{'scenario':<18} {'technique':<16} {'attacker':<16} {'target':<28} {'start (UTC)':<27} packets")
for r in rows:
    print(f"{r['scenario']:<18} {r['technique']:<16} {r['attacker']:<16} {r['target']:<28} {r['start_utc']:<27} {r['packets']}")
PY
echo
tshark -r "$out/demo.pcap" -q -z io,phs 2>/dev/null | sed -n '1,30p'
