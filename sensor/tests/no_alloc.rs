//! The hot path does not allocate per packet: once flows exist, decoding
//! and accounting packets (time moving on, timers firing and rescheduling)
//! through the whole worker path (table, stream reassembly, application
//! parsing, detection events) makes no heap allocation, nor does reading the
//! application messages of long-lived flows (HTTP keep-alive, DNS) and
//! turning them into events for the host stage. With the rule stage too:
//! packet, stream, DNS and HTTP inspections (prefilters, verification,
//! transforms, HTTP messages whose buffers are reused) make none. Checked
//! with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::sync::Arc;

use mekong_sensor::app::AppStage;
use mekong_sensor::capture::RawPacket;
use mekong_sensor::decode::{Decoded, Decoder, DefragConfig};
use mekong_sensor::detect::DetectStage;
use mekong_sensor::engine::Engine;
use mekong_sensor::flow::FlowConfig;
use mekong_sensor::pipeline::Stages;
use mekong_testkit::build::*;

/// Rules of every inspection point the traffic below meets: raw payload of
/// packets and streams, UDP, DNS names, HTTP buffers, header keywords;
/// with Mekong's shipped rules. Their fast patterns occur, so each is
/// verified, and none matches (a match makes one event, boxed: an alert
/// is not the hot path).
const RULES: &str = r#"
alert udp any any -> any 53 (msg:"udp payload"; content:"quer"; content:"x"; distance:0; sid:1;)
alert tcp any any -> any any (msg:"packet payload"; flow:no_stream; content:"|07 07 07 07|"; dsize:100; content:!"|07|"; sid:2;)
alert tcp any any -> any any (msg:"stream"; flow:established,to_server; content:"status"; content:"nope"; sid:3;)
alert dns any any -> any any (msg:"dns"; dns.query; content:"example"; content:"nope"; sid:4;)
alert http any any -> any any (msg:"uri"; http.uri; content:"/stat"; http.host; content:"nope"; sid:5;)
alert http any any -> any any (msg:"ua"; http.user_agent; pcre:"/^probe\\/\\d{3}/"; sid:6;)
alert http any any -> any any (msg:"body"; flow:to_client; file.data; content:"ok"; content:"nope"; sid:7;)
alert tcp any any -> any 443 (msg:"flags"; flags:PA; ttl:63; sid:8;)
"#;

fn engine_with(rules: Option<&str>) -> Engine<Stages> {
    let cfg = FlowConfig::default();
    let fd = mekong_sensor::pipeline::Detection::default().flow;
    let rule_stage = rules.map(|text| {
        let dir =
            std::env::temp_dir().join(format!("mekong-no-alloc-{}.rules", std::process::id()));
        std::fs::write(&dir, text).unwrap();
        let (r, rep) = mekong_sensor::rules::load::load(
            &mekong_sensor::rules::load::RuleSources {
                builtin: true,
                files: vec![dir.clone()],
                ..Default::default()
            },
            mekong_sensor::rules::RulesConfig::default(),
        )
        .unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(rep.loaded, rep.read);
        mekong_sensor::rules::RuleStage::new(Arc::new(r))
    });
    // As the pipeline does: the parsers hand HTTP heads and bodies over
    // when a rule reads them.
    let raw = rule_stage.as_ref().is_some_and(|r| r.wants_raw());
    let stages: Stages = (
        Some(AppStage::new(cfg.app)),
        Some(DetectStage::new(Arc::clone(&fd))),
        rule_stage,
    );
    let mut e = Engine::new(cfg, stages);
    e.want_raw_app_data(raw);
    e
}

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static EVENTS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counters are global: the tests of this file run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const SEC: u64 = 1_000_000_000;

/// Decodes and accounts `frames`, counting the allocations made meanwhile;
/// returns the packets accounted.
fn account(frames: &[(u64, Vec<u8>)], decoder: &mut Decoder, engine: &mut Engine<Stages>) -> u64 {
    let mut n = 0;
    COUNTING.store(true, Ordering::Relaxed);
    for (ts, frame) in frames {
        let raw = RawPacket {
            ts_ns: *ts,
            linktype: 1,
            orig_len: frame.len() as u32,
            data: frame,
            offset: 0,
        };
        if let Decoded::Packet(p) = decoder.decode(&raw) {
            engine.process(&p);
            n += 1;
        }
        // The worker hands the events over in batches; the buffer is reused.
        let ev = engine.events();
        EVENTS.fetch_add(ev.len() as u64, Ordering::Relaxed);
        ev.clear();
    }
    COUNTING.store(false, Ordering::Relaxed);
    n
}

/// One second of traffic: 100 UDP flows and 20 TCP connections each send a packet.
fn second(t: u64) -> Vec<(u64, Vec<u8>)> {
    let mut v = Vec::new();
    for k in 0..100u16 {
        v.push((
            t + u64::from(k) * 1000,
            udp4(
                [10, 0, 1, (k % 200) as u8],
                [10, 0, 2, 1],
                5000 + k,
                53,
                b"query",
            ),
        ));
    }
    for k in 0..20u16 {
        let seq = ((t / SEC) as u32).wrapping_mul(100).wrapping_add(1);
        v.push((
            t + 500_000 + u64::from(k),
            tcp4(
                [10, 0, 3, k as u8],
                [10, 0, 4, 1],
                40000 + k,
                443,
                seq,
                502,
                psh_ack(1),
                &[7u8; 100],
            ),
        ));
    }
    v
}

#[test]
fn steady_traffic_makes_no_allocation() {
    steady_traffic(None);
}

#[test]
fn steady_traffic_with_rules_makes_no_allocation() {
    steady_traffic(Some(RULES));
}

fn steady_traffic(rules: Option<&str>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut engine = engine_with(rules);
    let mut decoder = Decoder::new(DefragConfig::default());
    let t0 = 1_700_000_000 * SEC;
    let run = |from: u64, to: u64, engine: &mut Engine<Stages>, decoder: &mut Decoder| {
        (from..to)
            .map(|s| account(&second(t0 + s * SEC), decoder, engine))
            .sum::<u64>()
    };
    // Warm up: create the flows and let the timers cycle past the idle timeout.
    run(0, 200, &mut engine, &mut decoder);
    ALLOCS.store(0, Ordering::Relaxed);
    let n = run(200, 500, &mut engine, &mut decoder);
    assert_eq!(n, 300 * 120);
    assert_eq!(engine.table().len(), 120);
    assert!(engine.records().is_empty(), "no flow ended");
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "allocations while accounting {n} packets"
    );
}

/// One second of application traffic on long-lived flows: an HTTP/1.1
/// keep-alive request and response, and a DNS query and answer.
fn app_second(t: u64, k: u32) -> Vec<(u64, Vec<u8>)> {
    let (c, s) = ([10, 9, 0, 1], [10, 9, 0, 2]);
    let req = b"GET /status HTTP/1.1\r\nHost: app.example\r\nUser-Agent: probe/1\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    let cseq = 1001u32.wrapping_add(k.wrapping_mul(req.len() as u32));
    let sseq = 9001u32.wrapping_add(k.wrapping_mul(resp.len() as u32));
    let names = ["a.example.com", "b.example.com", "c.example.com"];
    let mut q = mekong_testkit::app::dns_header(k as u16, 0x0100, 1, 0);
    mekong_testkit::app::dns_name(&mut q, names[k as usize % 3]);
    q.extend_from_slice(&[0, 1, 0, 1]);
    let mut r = mekong_testkit::app::dns_header(k as u16, 0x8180, 1, 1);
    mekong_testkit::app::dns_name(&mut r, names[k as usize % 3]);
    r.extend_from_slice(&[
        0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1,
    ]);
    vec![
        (t, tcp4(c, s, 41000, 80, cseq, 502, psh_ack(sseq), req)),
        (
            t + 1_000_000,
            tcp4(
                s,
                c,
                80,
                41000,
                sseq,
                502,
                psh_ack(cseq + req.len() as u32),
                resp,
            ),
        ),
        (t + 2_000_000, udp4(c, s, 41001, 53, &q)),
        (t + 3_000_000, udp4(s, c, 53, 41001, &r)),
    ]
}

#[test]
fn steady_application_traffic_makes_no_allocation() {
    steady_application_traffic(None);
}

#[test]
fn steady_application_traffic_with_rules_makes_no_allocation() {
    steady_application_traffic(Some(RULES));
}

/// Seconds of warm-up: flows, buffers and the rules' scratch space reach
/// their size (a pcre is JIT-compiled at its first use).
const WARM: u32 = 100;

fn steady_application_traffic(rules: Option<&str>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut engine = engine_with(rules);
    let mut decoder = Decoder::new(DefragConfig::default());
    let t0 = 1_700_000_000 * SEC;
    let (c, s) = ([10, 9, 0, 1], [10, 9, 0, 2]);
    let handshake = vec![
        (t0, tcp4(c, s, 41000, 80, 1000, 502, syn(), b"")),
        (
            t0 + 1000,
            tcp4(s, c, 80, 41000, 9000, 502, syn_ack(1001), b""),
        ),
        (t0 + 2000, tcp4(c, s, 41000, 80, 1001, 502, ack(9001), b"")),
    ];
    account(&handshake, &mut decoder, &mut engine);
    for k in 0..WARM {
        account(
            &app_second(t0 + u64::from(k + 1) * SEC, k),
            &mut decoder,
            &mut engine,
        );
    }
    ALLOCS.store(0, Ordering::Relaxed);
    EVENTS.store(0, Ordering::Relaxed);
    for k in WARM..WARM + 200 {
        let frames = app_second(t0 + u64::from(k + 1) * SEC, k);
        account(&frames, &mut decoder, &mut engine);
    }
    assert!(engine.records().is_empty(), "no flow ended");
    assert_eq!(engine.table().len(), 2);
    // Every DNS query and answer became an event for the host stage.
    assert!(
        EVENTS.load(Ordering::Relaxed) >= 400,
        "{}",
        EVENTS.load(Ordering::Relaxed)
    );
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "allocations while parsing"
    );
    // The parsers did read every message.
    engine.flush(
        t0 + u64::from(WARM + 250) * SEC,
        mekong_sensor::flow::EndReason::Eof,
        &mut |_, _| {},
    );
    let out = engine.records();
    let http = out
        .iter()
        .find_map(|r| r.app.as_ref()?.http.clone())
        .expect("http");
    let n = WARM + 200;
    assert_eq!((http.requests, http.responses), (n, n));
    let dns = out
        .iter()
        .find_map(|r| r.app.as_ref()?.dns.clone())
        .expect("dns");
    assert_eq!((dns.queries, dns.distinct_names()), (n, 3));
}
