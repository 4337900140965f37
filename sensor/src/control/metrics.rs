//! The Prometheus metrics endpoint: `GET /metrics` in the OpenMetrics
//! text format, encoded by the `prometheus-client` crate from the run's
//! counters at each scrape.
//!
//! The HTTP side is a few lines over tokio's listener rather than an HTTP
//! library: one path, `GET` only, no body, one answer per connection, and
//! a bounded, timed read of the request. It answers 404 for other paths,
//! 405 for other methods, 400 for what is not HTTP.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::decode::Reason;
use crate::pipeline::Live;

type Labels = Vec<(String, String)>;

fn counter(r: &mut Registry, name: &str, help: &str, values: Vec<(Labels, u64)>) {
    if let [(l, v)] = values.as_slice() {
        if l.is_empty() {
            let c = Counter::<u64>::default();
            c.inner().store(*v, Ordering::Relaxed);
            r.register(name, help, c);
            return;
        }
    }
    let f = Family::<Labels, Counter>::default();
    for (l, v) in values {
        f.get_or_create(&l).inner().store(v, Ordering::Relaxed);
    }
    r.register(name, help, f);
}

fn gauge(r: &mut Registry, name: &str, help: &str, values: Vec<(Labels, i64)>) {
    if let [(l, v)] = values.as_slice() {
        if l.is_empty() {
            let g = Gauge::<i64>::default();
            g.set(*v);
            r.register(name, help, g);
            return;
        }
    }
    let f = Family::<Labels, Gauge>::default();
    for (l, v) in values {
        f.get_or_create(&l).set(v);
    }
    r.register(name, help, f);
}

fn l(k: &str, v: impl ToString) -> Labels {
    vec![(k.to_string(), v.to_string())]
}

/// The metrics of `live` as OpenMetrics text.
pub fn render(live: &Live) -> String {
    let r = Ordering::Relaxed;
    let mut reg = Registry::default();
    let caps = &live.captures;
    let by_if = |f: &dyn Fn(&crate::pipeline::counters::CaptureCounters) -> u64| {
        caps.iter()
            .map(|c| (l("interface", &c.interface), f(c)))
            .collect::<Vec<_>>()
    };
    counter(
        &mut reg,
        "mekong_packets",
        "Packets read from the interface",
        by_if(&|c| c.packets.load(r)),
    );
    counter(
        &mut reg,
        "mekong_bytes",
        "Bytes on the wire of the packets read",
        by_if(&|c| c.bytes.load(r)),
    );
    counter(
        &mut reg,
        "mekong_capture_received",
        "Packets the kernel delivered to the capture (libpcap's ps_recv, AF_PACKET's tp_packets), read every second",
        by_if(&|c| c.received.load(r)),
    );
    let mut drops = Vec::new();
    for c in caps {
        drops.push((
            vec![
                ("interface".into(), c.interface.clone()),
                ("reason".into(), "kernel".into()),
            ],
            c.kernel_dropped.load(r),
        ));
        drops.push((
            vec![
                ("interface".into(), c.interface.clone()),
                ("reason".into(), "interface".into()),
            ],
            c.if_dropped.load(r),
        ));
    }
    drops.push((l("reason", "disk_full_records"), live.records_lost.load(r)));
    drops.push((l("reason", "disk_full_alerts"), live.alerts_lost.load(r)));
    counter(
        &mut reg,
        "mekong_drops",
        "What was lost, by reason: packets the kernel (buffer full) or the interface dropped, flow records and alerts not written because the disk was full",
        drops,
    );
    let w = &live.workers;
    let by_w = |f: &dyn Fn(&crate::pipeline::counters::WorkerCounters) -> u64| {
        w.iter()
            .enumerate()
            .map(|(i, c)| (l("worker", i), f(c)))
            .collect::<Vec<_>>()
    };
    let mut errs = Vec::new();
    for (i, reason) in Reason::ALL.iter().enumerate() {
        let (layer, name) = reason.names();
        let n: u64 = w.iter().map(|c| c.decode_errors[i].load(r)).sum();
        errs.push((l("reason", format!("{layer}.{name}")), n));
    }
    counter(
        &mut reg,
        "mekong_decode_errors",
        "Packets that did not decode, by reason",
        errs,
    );
    gauge(
        &mut reg,
        "mekong_flows_active",
        "Flows held in the worker's table",
        by_w(&|c| c.flows.load(r) as u64)
            .into_iter()
            .map(|(l, v)| (l, v as i64))
            .collect(),
    );
    counter(
        &mut reg,
        "mekong_flows",
        "Flows created",
        by_w(&|c| c.flows_created.load(r)),
    );
    counter(
        &mut reg,
        "mekong_flows_evicted",
        "Flows evicted because the table was full (their records are written)",
        by_w(&|c| c.evicted.load(r)),
    );
    gauge(
        &mut reg,
        "mekong_worker_queue_depth",
        "Batches waiting in the worker's queue",
        by_w(&|c| c.queue.load(r) as u64)
            .into_iter()
            .map(|(l, v)| (l, v as i64))
            .collect(),
    );
    gauge(
        &mut reg,
        "mekong_stream_buffer_bytes",
        "Parser stream buffer bytes the worker's flows hold",
        by_w(&|c| c.stream_buffer_bytes.load(r) as u64)
            .into_iter()
            .map(|(l, v)| (l, v as i64))
            .collect(),
    );
    counter(
        &mut reg,
        "mekong_stream_budget_exhausted",
        "Stream buffers refused because the budget was used up",
        by_w(&|c| c.stream_budget_exhausted.load(r)),
    );
    counter(
        &mut reg,
        "mekong_records",
        "Flow records handed to the writer",
        vec![(vec![], live.records.load(r))],
    );
    counter(
        &mut reg,
        "mekong_files_written",
        "Parquet and EVE files completed",
        vec![(vec![], live.files.load(r))],
    );
    let alerts: Vec<(Labels, u64)> = live
        .alerts
        .lock()
        .map(|m| m.iter().map(|(t, n)| (l("technique", t), *n)).collect())
        .unwrap_or_default();
    counter(
        &mut reg,
        "mekong_alerts",
        "Alerts written, by primary ATT&CK technique",
        alerts,
    );
    counter(
        &mut reg,
        "mekong_write_errors",
        "Output writes that failed",
        vec![(vec![], live.write_errors.load(r))],
    );
    gauge(
        &mut reg,
        "mekong_disk_full",
        "1 while writing is stopped because the disk is full",
        vec![(vec![], live.disk_full.load(r) as i64)],
    );
    counter(
        &mut reg,
        "mekong_reloads",
        "Reloads of rules, indicators and thresholds (SIGHUP)",
        vec![(vec![], live.reloads.load(r))],
    );
    counter(
        &mut reg,
        "mekong_reload_failures",
        "Reloads refused because the new settings did not load",
        vec![(vec![], live.reload_failures.load(r))],
    );
    counter(
        &mut reg,
        "mekong_retention_deleted",
        "Hour partitions deleted by retention",
        vec![(vec![], live.retention_deleted.load(r))],
    );
    let mut out = String::new();
    let _ = encode(&mut out, &reg);
    out
}

/// What the server answers to a request head.
fn answer(head: &str, live: &Live) -> (u16, &'static str, String) {
    let mut parts = head.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return (400, "text/plain", "bad request\n".into());
    };
    if !version.starts_with("HTTP/1.") {
        return (400, "text/plain", "bad request\n".into());
    }
    if method != "GET" && method != "HEAD" {
        return (405, "text/plain", "method not allowed\n".into());
    }
    let path = target.split('?').next().unwrap_or("");
    if path != "/metrics" {
        return (
            404,
            "text/plain",
            "not found: the metrics are at /metrics\n".into(),
        );
    }
    (
        200,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        render(live),
    )
}

/// Serves `GET /metrics` until the process ends.
pub async fn serve(listener: TcpListener, live: Arc<Live>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let live = Arc::clone(&live);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while n < buf.len() {
                    match sock.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => {
                            n += k;
                            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let text = String::from_utf8_lossy(&buf[..n]);
            let head = text.lines().next().unwrap_or("");
            let (code, ctype, body) = answer(head, &live);
            let reason = match code {
                200 => "OK",
                404 => "Not Found",
                405 => "Method Not Allowed",
                _ => "Bad Request",
            };
            let is_head = head.starts_with("HEAD ");
            let resp = format!(
                "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            if !is_head {
                let _ = sock.write_all(body.as_bytes()).await;
            }
            let _ = sock.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_name_every_counter_with_its_value() {
        let live = Live::new(2, &["eth1".to_string()]);
        live.captures[0].packets.store(1234, Ordering::Relaxed);
        live.captures[0].kernel_dropped.store(7, Ordering::Relaxed);
        live.workers[1].flows.store(42, Ordering::Relaxed);
        live.alert("T1046");
        live.alert("T1046");
        let t = render(&live);
        assert!(
            t.contains("mekong_packets_total{interface=\"eth1\"} 1234"),
            "{t}"
        );
        assert!(
            t.contains("mekong_drops_total{interface=\"eth1\",reason=\"kernel\"} 7"),
            "{t}"
        );
        assert!(t.contains("mekong_flows_active{worker=\"1\"} 42"), "{t}");
        assert!(
            t.contains("mekong_alerts_total{technique=\"T1046\"} 2"),
            "{t}"
        );
        assert!(t.contains("# TYPE mekong_disk_full gauge"), "{t}");
        assert!(t.contains("\nmekong_disk_full 0\n"), "{t}");
        assert!(!t.contains("{}"), "no empty label sets: {t}");
        assert!(t.ends_with("# EOF\n"), "{t}");
    }

    #[test]
    fn only_get_metrics_is_answered() {
        let live = Live::new(1, &[]);
        assert_eq!(answer("GET /metrics HTTP/1.1", &live).0, 200);
        assert_eq!(answer("GET /metrics?x=1 HTTP/1.0", &live).0, 200);
        assert_eq!(answer("GET / HTTP/1.1", &live).0, 404);
        assert_eq!(answer("POST /metrics HTTP/1.1", &live).0, 405);
        assert_eq!(answer("\u{1}\u{2}", &live).0, 400);
        assert_eq!(answer("GET /metrics SSH-2.0", &live).0, 400);
    }
}
