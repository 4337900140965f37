//! The matcher over arbitrary payloads: Mekong's shipped rules and rules
//! of every payload keyword (relative chains, byte_*, pcre, transforms,
//! base64) inspect the input as a packet, a stream message and an HTTP
//! transaction's buffers; nothing panics or runs away.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mekong_signatures::buffers::Buf;
use mekong_signatures::compile::Point;
use mekong_signatures::engine::{Buffers, Input, PayloadBuffers, Scratch};
use mekong_signatures::state::{FlowVars, Xbits};
use mekong_signatures::{App, RuleSet, RuleSetOptions, BUILTIN_RULES};

const RULES: &str = r#"
alert tcp any any -> any any (msg:"chain"; content:"a"; content:"b"; distance:0; within:3; content:!"c"; distance:-2; within:4; sid:1;)
alert tcp any any -> any any (msg:"bytes"; byte_extract:2,0,len,relative; byte_jump:2,0,relative,from_beginning; byte_test:1,>,len,0,relative; isdataat:!2,relative; sid:2;)
alert tcp any any -> any any (msg:"math"; byte_math:bytes 2,offset 0,oper *,rvalue 3,result r; byte_test:2,<,r,2; sid:3;)
alert tcp any any -> any any (msg:"pcre"; pcre:"/(a+)+b\1(?=c)/R"; sid:4;)
alert tcp any any -> any any (msg:"text"; byte_test:4,>,100,0,string,dec; byte_jump:3,1,string,hex; sid:5;)
alert tcp any any -> any any (msg:"b64"; content:"x"; base64_decode:bytes 40,offset 1,relative; base64_data; content:"y"; sid:6;)
alert http any any -> any any (msg:"http"; http.uri; url_decode; to_lowercase; content:"/a"; http.header; content:"h"; dotprefix; sid:7;)
alert tcp any any -> any any (msg:"dsize"; dsize:<100; content:"z"; endswith; sid:8;)
"#;

fn set() -> &'static RuleSet {
    static SET: OnceLock<RuleSet> = OnceLock::new();
    SET.get_or_init(|| {
        let src = vec![
            ("mekong.rules".to_string(), BUILTIN_RULES.to_string()),
            ("fuzz.rules".to_string(), RULES.to_string()),
        ];
        RuleSet::from_sources(&src, &RuleSetOptions::default()).0
    })
}

/// Every HTTP buffer holds the input.
struct All<'a>(&'a [u8]);

impl Buffers for All<'_> {
    fn each(&self, _buf: Buf, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        f(self.0)
    }
}

fuzz_target!(|data: &[u8]| {
    let s = set();
    let mut fv = FlowVars::default();
    let mut xb = Xbits::default();
    let mut sc = Scratch::default();
    let mut hits = Vec::new();
    for (point, app) in [
        (Point::PacketNoStream, None),
        (Point::Stream, None),
        (Point::HttpRequest, Some(App::Http)),
        (Point::HttpResponse, Some(App::Http)),
    ] {
        let inp = Input {
            point,
            to_server: point != Point::HttpResponse,
            src: "10.0.0.1".parse().unwrap(),
            sport: 40000,
            dst: "10.0.0.2".parse().unwrap(),
            dport: 80,
            proto: 6,
            established: true,
            app,
            pkt: None,
            stream_bytes: [data.len() as u64, 0],
            ts_ns: 0,
            payload: true,
        };
        if app.is_some() {
            s.inspect(&inp, &All(data), &mut fv, &mut xb, &mut sc, &mut hits);
        } else {
            let b = PayloadBuffers { payload: data, pkt: None };
            s.inspect(&inp, &b, &mut fv, &mut xb, &mut sc, &mut hits);
        }
    }
});
