#!/usr/bin/env bash
# The demo: Mekong makes its own labelled capture of an office network under
# attack, runs the sensor on it, and shows the alerts it raised next to the
# ground truth, how they score against it, what the flow records reveal, and
# what the analyzer makes of them: attackers, campaigns, hunts and a report.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release -j2 -p mekong-datasets -p mekong-sensor -p mekong-analyzer
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
echo
echo "The attackers, ranked, and their campaigns (mekong-analyzer profile --attackers):"
./target/release/mekong-analyzer profile "$out" --attackers --top 8 --format json > "$out/attackers.json"
./target/release/mekong-analyzer hunt "$out" --format json > "$out/hunt.json"
.venv/bin/python3 - "$out/attackers.json" "$out/hunt.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
for x in a["attackers"]:
    techs = ", ".join(t["technique"] for t in x["techniques"])
    print(f"  {x['rank']:>2}. {x['host']:<16} score {x['score']:>6.2f}  {techs}  -> {x['targets_count']} target(s), reach {x['reach']}")
for c in a["campaigns"]:
    print(f"  campaign {c['campaign']}: {', '.join(c['hosts'])}")
    for e in c["evidence"][:2]:
        print(f"      {e['kind']}: {e['detail']}")
h = json.load(open(sys.argv[2]))
print()
print("What the hunts find over the whole capture (mekong-analyzer hunt):")
for b in h["beacons"][:3]:
    print(f"  beacon {b['client']} -> {b['server']}:{b['port']} every {b['period_s']} s, {b['calls']} calls, score {b['score']} (RITA's {b['rita_score']})")
for s in h["slow_scans"][:3]:
    aim = s["target"] or f"port {s['port']}"
    print(f"  {s['kind']} scan by {s['source']} of {aim}: {s['targets']} targets over {s['span_s']:.0f} s, score {s['score']}")
for d in h["dns_tunnels"][:3]:
    print(f"  DNS {d['technique']} via {d['domain']}: {d['names']} names, entropy {d['entropy']}, score {d['score']}")
PY
./target/release/mekong-analyzer report "$out" --out "$out/report.html" --lang vi
echo "  (open $out/report.html in a browser: the same in Vietnamese, with charts; --lang en for English)"
