//! Property tests: packets and files are hostile input.

use std::path::Path;

use mekong_sensor::app::AppStage;
use mekong_sensor::capture::{linktype, packets_in, RawPacket};
use mekong_sensor::decode::{decode_stateless, Decoded, Decoder, DefragConfig, PacketView};
use mekong_sensor::engine::Engine;
use mekong_sensor::flow::{EndReason, FlowConfig, FlowKey, FlowTable};
use mekong_sensor::pipeline::Stages;
use mekong_testkit::build::*;
use proptest::prelude::*;

const LINKTYPES: [u16; 7] = [
    linktype::ETHERNET,
    linktype::LINUX_SLL,
    linktype::LINUX_SLL2,
    linktype::RAW,
    linktype::NULL,
    linktype::IPV4,
    147,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary bytes under any link type decode or fail, never panic.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(lt in proptest::sample::select(&LINKTYPES[..]), data in proptest::collection::vec(any::<u8>(), 0..200), orig in 0u32..70_000) {
        let raw = RawPacket { ts_ns: 1, linktype: lt, orig_len: orig, data: &data, offset: 0 };
        let mut d = Decoder::new(DefragConfig::default());
        let _ = d.decode(&raw);
        let _ = decode_stateless(&raw);
    }

    /// Mutating a valid frame (flipping bytes, cutting it) never panics,
    /// and what decodes keeps its lengths consistent.
    #[test]
    fn mutated_frames_decode_consistently(flips in proptest::collection::vec((0usize..120, any::<u8>()), 0..6), cut in 0usize..130) {
        let mut f = tcp4([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, 7, 1000, psh_ack(9), &[1u8; 40]);
        for (i, v) in flips {
            if i < f.len() { f[i] ^= v; }
        }
        f.truncate(cut.min(f.len()));
        let raw = RawPacket { ts_ns: 1, linktype: 1, orig_len: f.len() as u32, data: &f, offset: 0 };
        let mut d = Decoder::new(DefragConfig::default());
        if let Decoded::Packet(p) = d.decode(&raw) {
            // Captured payload never exceeds what the headers declare.
            prop_assert!(p.payload.len() as u32 <= p.payload_len);
            prop_assert!(p.l4_header_len + p.payload_len <= p.ip_len);
        }
    }

    /// Arbitrary files are read or refused, never panic, never loop.
    #[test]
    fn capture_readers_never_panic(header in proptest::sample::select(vec![
            vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0],
            vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0],
            vec![]]),
        body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = header;
        bytes.extend(body);
        if let Ok(it) = packets_in(Path::new("fuzz"), &bytes) {
            let mut n = 0usize;
            for p in it {
                n += 1;
                prop_assert!(n <= bytes.len());
                if let Ok(p) = p {
                    prop_assert!(p.data.len() <= bytes.len());
                }
            }
        }
    }

    /// Both directions of a conversation have one key and opposite sides.
    #[test]
    fn flow_keys_are_symmetric(a in any::<[u8; 4]>(), b in any::<[u8; 4]>(), pa in any::<u16>(), pb in any::<u16>(), udp in any::<bool>()) {
        let f1 = if udp { udp4(a, b, pa, pb, b"x") } else { tcp4(a, b, pa, pb, 1, 100, ack(1), b"") };
        let f2 = if udp { udp4(b, a, pb, pa, b"x") } else { tcp4(b, a, pb, pa, 1, 100, ack(1), b"") };
        let p1 = view(&f1);
        let p2 = view(&f2);
        let (k1, lo1) = FlowKey::of(&p1);
        let (k2, lo2) = FlowKey::of(&p2);
        prop_assert_eq!(k1, k2);
        if (a, pa) != (b, pb) {
            prop_assert_ne!(lo1, lo2);
        }
    }

    /// Whatever packets come, the table holds at most its limit, and every
    /// packet ends up in exactly one record.
    #[test]
    fn the_table_is_bounded_and_loses_no_packet(pkts in proptest::collection::vec((0u8..40, 0u8..4, 0u16..3, 0u64..400, 0u8..6), 1..300)) {
        let cfg = FlowConfig { max_flows: 16, active_ns: 100 * 1_000_000_000, ..FlowConfig::default() };
        let mut table = FlowTable::new(cfg);
        let mut out = Vec::new();
        let mut t = 1_000_000_000_000u64;
        let mut frames = Vec::new();
        for (host, peer, port, gap_ms, kind) in &pkts {
            t += gap_ms * 1_000_000;
            let (a, b) = ([10, 0, 0, *host], [10, 0, 1, *peer]);
            let f = match kind {
                0 => tcp4(a, b, 1000 + port, 80, 1, 100, syn(), b""),
                1 => tcp4(b, a, 80, 1000 + port, 1, 100, syn_ack(2), b""),
                2 => tcp4(a, b, 1000 + port, 80, 2, 100, fin_ack(2), b""),
                3 => tcp4(b, a, 80, 1000 + port, 2, 100, rst_ack(3), b""),
                4 => udp4(a, b, 2000 + port, 53, b"q"),
                _ => icmp4_echo(a, b, *port, 1, false, b"p"),
            };
            frames.push((t, f));
        }
        let mut d = Decoder::new(DefragConfig::default());
        for (ts, f) in &frames {
            let raw = RawPacket { ts_ns: *ts, linktype: 1, orig_len: f.len() as u32, data: f, offset: 0 };
            if let Decoded::Packet(p) = d.decode(&raw) {
                table.process(&p, &mut out);
                prop_assert!(table.len() <= 16);
            }
        }
        table.flush(t, EndReason::Eof, &mut out, &mut |_| {});
        prop_assert_eq!(table.len(), 0);
        let total: u64 = out.iter().map(|r| r.entry.dir[0].pkts + r.entry.dir[1].pkts).sum();
        prop_assert_eq!(total, frames.len() as u64);
    }
}

fn view(f: &[u8]) -> PacketView<'_> {
    let raw = RawPacket {
        ts_ns: 1,
        linktype: 1,
        orig_len: f.len() as u32,
        data: f,
        offset: 0,
    };
    decode_stateless(&raw).expect("valid frame")
}

/// The application metadata of a TCP conversation whose client stream is
/// cut at `cuts`, sent in `order` (indices into the pieces, repeats allowed).
fn app_of_segments(
    stream: &[u8],
    cuts: &[usize],
    order: &[usize],
) -> Option<Box<mekong_appmeta::AppMeta>> {
    let mut bounds: Vec<usize> = cuts
        .iter()
        .map(|&c| c % stream.len())
        .filter(|&c| c > 0)
        .collect();
    bounds.push(0);
    bounds.push(stream.len());
    bounds.sort_unstable();
    bounds.dedup();
    let pieces: Vec<(usize, &[u8])> = bounds
        .windows(2)
        .map(|w| (w[0], &stream[w[0]..w[1]]))
        .collect();
    let (c, s) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let isn = 4_000_000_000u32; // the sequence numbers wrap inside the stream
    let mut frames = vec![tcp4(c, s, 40000, 443, isn, 1000, syn(), b"")];
    let mut sent = vec![false; pieces.len()];
    for &i in order {
        let k = i % pieces.len();
        sent[k] = true;
        let (off, p) = pieces[k];
        frames.push(tcp4(
            c,
            s,
            40000,
            443,
            isn.wrapping_add(1 + off as u32),
            1000,
            psh_ack(1),
            p,
        ));
    }
    for (k, (off, p)) in pieces.iter().enumerate() {
        if !sent[k] {
            frames.push(tcp4(
                c,
                s,
                40000,
                443,
                isn.wrapping_add(1 + *off as u32),
                1000,
                psh_ack(1),
                p,
            ));
        }
    }
    let cfg = FlowConfig::default();
    let stages: Stages = (Some(AppStage::new(cfg.app)), None, None);
    let mut engine = Engine::new(cfg, stages);
    for (n, f) in frames.iter().enumerate() {
        let mut p = view(f);
        p.ts_ns = 1_000_000_000 + n as u64 * 1000;
        p.first_ns = p.ts_ns;
        engine.process(&p);
    }
    engine.flush(2_000_000_000, EndReason::Eof, &mut |_, _| {});
    let out = engine.records();
    assert_eq!(out.len(), 1);
    out.pop().and_then(|r| r.app)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// However the client's bytes are cut into segments, reordered and
    /// repeated, the record's application columns are those of the
    /// conversation sent in order.
    #[test]
    fn app_metadata_does_not_depend_on_segmentation(
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        order in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut stream = mekong_testkit::app::record(22, &mekong_testkit::app::client_hello("prop.example"));
        stream.extend_from_slice(&mekong_testkit::app::record(23, &[0x55; 300]));
        let app = app_of_segments(&stream, &cuts, &order).expect("metadata");
        let tls = app.tls.as_ref().expect("tls");
        prop_assert_eq!(tls.sni.as_deref(), Some("prop.example"));
        prop_assert_eq!(tls.ja4.as_deref(), Some(mekong_testkit::app::JA4));
        prop_assert_eq!(tls.ja3.as_deref(), Some(mekong_testkit::app::JA3));
        prop_assert_eq!(app.anomalies, 0);
    }
}

proptest! {
    /// Any text is a configuration or an error that names the file.
    #[test]
    fn any_text_is_a_configuration_or_a_named_error(text in "\\PC{0,300}") {
        match mekong_sensor::config::SensorConfig::parse(&text, "p.toml") {
            Ok(c) => prop_assert!(c.check().is_ok()),
            Err(e) => prop_assert!(e.to_string().starts_with("p.toml")),
        }
    }

    /// A value is accepted exactly when it is in its field's range, and a
    /// refusal names the line the field is written on.
    #[test]
    fn out_of_range_values_are_refused_at_their_line(
        blank in 0usize..5,
        udp in 0u64..4_000_000,
        level in -3i32..30,
        snaplen in 0u32..300_000,
    ) {
        let text = format!(
            "[capture]\nsnaplen = {snaplen}\n{}[flows]\nidle_udp_s = {udp}\n[output]\nzstd_level = {level}\n",
            "\n".repeat(blank)
        );
        let ok_snap = (64..=262_144).contains(&snaplen);
        let ok_udp = (1..=2_592_000).contains(&udp);
        let ok_level = (1..=22).contains(&level);
        match mekong_sensor::config::SensorConfig::parse(&text, "p.toml") {
            Ok(c) => {
                prop_assert!(ok_snap && ok_udp && ok_level);
                prop_assert_eq!(c.flows.idle_udp_s, udp);
            }
            Err(e) => {
                prop_assert!(!(ok_snap && ok_udp && ok_level), "{}", e);
                let want = if !ok_snap {
                    2
                } else if !ok_udp {
                    4 + blank
                } else {
                    6 + blank
                };
                prop_assert_eq!(e.line, Some(want), "{}", e);
            }
        }
    }
}
