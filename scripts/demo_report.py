"""What Mekong found in the demo capture: DuckDB queries over the alert
records (`alerts`) or the flow records (`flows`)."""
import sys

import duckdb

root = sys.argv[1]
part = sys.argv[2] if len(sys.argv) > 2 else "flows"
flows = f"read_parquet('{root}/flows/**/*.parquet', hive_partitioning = 1)"
alerts = f"read_parquet('{root}/alerts/**/*.parquet', hive_partitioning = 1)"
con = duckdb.connect()


def show(title, sql):
    print(f"\n== {title}")
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    widths = [max(len(str(n)), *(len(str(r[i])) for r in rows)) if rows else len(n) for i, n in enumerate(names)]
    print("  " + "  ".join(str(n).ljust(w) for n, w in zip(names, widths)))
    for r in rows:
        print("  " + "  ".join(str(v).ljust(w) for v, w in zip(r, widths)))


if part == "alerts":
    show("Alerts, as they were raised (packet time)", f"""
        SELECT strftime(ts, '%H:%M:%S') AS time, array_to_string(technique_ids, ',') AS techniques,
               left(signature, 72) AS signature, count AS evidence
        FROM {alerts} WHERE phase = 'start'
        QUALIFY row_number() OVER (PARTITION BY detector, technique_ids[1], src_addr ORDER BY ts) = 1
        ORDER BY ts""")
    show("Incidents by technique and tactic", f"""
        SELECT technique_ids[1] AS technique, technique_names[1] AS name, tactic_names[1] AS tactic,
               count(DISTINCT incident) AS incidents,
               coalesce(sum(count) FILTER (WHERE phase = 'update'), sum(count)) AS evidence_total
        FROM {alerts} GROUP BY ALL ORDER BY incidents DESC""")
    show("Flows that raised alerts (joined on flow_uid)", f"""
        SELECT f.orig_addr, f.resp_addr, f.resp_port, f.app_proto, f.alert_count,
               array_to_string(f.alert_techniques, ',') AS techniques
        FROM {flows} f WHERE f.alert_count > 0 ORDER BY f.first_ts LIMIT 8""")
    sys.exit(0)

show("Flow records", f"""
    SELECT CASE proto WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' WHEN 1 THEN 'icmp' ELSE proto::varchar END AS proto,
           count(*) AS records, sum(orig_pkts + resp_pkts) AS packets,
           round(sum(orig_wire_bytes + resp_wire_bytes) / 1e6, 1) AS mbytes
    FROM {flows} GROUP BY 1 ORDER BY records DESC""")

show("Scanners: most distinct ports tried without a completed handshake", f"""
    SELECT orig_addr, resp_addr, count(DISTINCT resp_port) AS ports, count(*) AS attempts
    FROM {flows} WHERE proto = 6 AND conn_state IN ('S0', 'REJ', 'RSTOS0', 'RSTO', 'RSTR')
    GROUP BY ALL HAVING ports >= 100 ORDER BY ports DESC LIMIT 5""")

show("Sweeps: one port across many hosts", f"""
    SELECT orig_addr, resp_port, count(DISTINCT resp_addr) AS hosts
    FROM {flows} WHERE proto IN (1, 6)
    GROUP BY ALL HAVING hosts >= 100 ORDER BY hosts DESC LIMIT 5""")

show("Repeated short sessions to a login service (password guessing)", f"""
    SELECT orig_addr, resp_port, count(DISTINCT resp_addr) AS targets, count(*) AS sessions,
           round(avg(duration_us) / 1e6, 1) AS avg_s
    FROM {flows} WHERE proto = 6 AND orig_payload_bytes > 0 AND resp_port IN (21, 22, 23, 80, 3389)
    GROUP BY ALL HAVING sessions >= 50 ORDER BY sessions DESC LIMIT 6""")

show("Floods: one target, far more packets in than out", f"""
    SELECT resp_addr, proto, count(DISTINCT orig_addr) AS sources,
           sum(orig_pkts) AS pkts_in, sum(resp_pkts) AS pkts_out, sum(orig_frags) AS fragments_in
    FROM {flows} GROUP BY ALL HAVING pkts_in > 5000 AND pkts_out * 2 < pkts_in ORDER BY pkts_in DESC LIMIT 5""")

show("Regular callers: connections at a steady interval (beaconing)", f"""
    WITH s AS (
      SELECT orig_addr, resp_addr, resp_port, epoch_us(first_ts) AS t,
             epoch_us(first_ts) - lag(epoch_us(first_ts)) OVER (PARTITION BY orig_addr, resp_addr, resp_port ORDER BY first_ts) AS gap
      FROM {flows} WHERE proto = 6 AND orig_syn > 0)
    SELECT orig_addr, resp_addr, resp_port, count(*) + 1 AS connections,
           round(avg(gap) / 1e6, 1) AS mean_gap_s, round(stddev_samp(gap) / avg(gap), 3) AS spread
    FROM s WHERE gap IS NOT NULL GROUP BY ALL
    HAVING connections >= 30 AND spread < 0.2 ORDER BY connections DESC LIMIT 5""")

show("Largest uploads to the internet", f"""
    SELECT orig_addr, resp_addr, resp_port, round(sum(orig_payload_bytes) / 1e6, 1) AS mb_out,
           round(sum(resp_payload_bytes) / 1e6, 2) AS mb_in
    FROM {flows} WHERE NOT regexp_matches(resp_addr, '^10\\.')
    GROUP BY ALL ORDER BY mb_out DESC LIMIT 3""")

show("Application protocols recognised (whatever the port)", f"""
    SELECT app_proto, count(*) AS flows, count(DISTINCT resp_port) AS ports
    FROM {flows} WHERE app_proto IS NOT NULL GROUP BY ALL ORDER BY flows DESC""")

show("DNS names with the most random-looking labels (tunnels score above 4 bits)", f"""
    SELECT orig_addr, left(dns_query, 60) || CASE WHEN length(dns_query) > 60 THEN '...' ELSE '' END AS dns_query,
           dns_qname_len AS len, round(dns_qname_entropy, 2) AS entropy,
           dns_queries AS queries, dns_distinct_names AS distinct_names
    FROM {flows} WHERE dns_qname_entropy IS NOT NULL
    ORDER BY dns_qname_entropy * dns_qname_len DESC LIMIT 5""")

show("TLS clients by JA4, with a server name and the issuer they saw", f"""
    SELECT tls_ja4, count(*) AS flows, count(DISTINCT orig_addr) AS clients,
           any_value(tls_sni) AS a_name, any_value(tls_cert_issuer) AS an_issuer
    FROM {flows} WHERE tls_ja4 IS NOT NULL GROUP BY tls_ja4 ORDER BY flows DESC LIMIT 6""")

show("SSH and HTTP clients", f"""
    SELECT app_proto, left(coalesce(ssh_client_banner, http_user_agent), 70) AS client,
           any_value(ssh_hassh) AS hassh, count(*) AS flows, count(DISTINCT resp_addr) AS servers
    FROM {flows} WHERE app_proto IN ('ssh', 'http') GROUP BY ALL ORDER BY flows DESC LIMIT 8""")
