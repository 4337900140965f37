//! SMTP: detection, commands, AUTH, messages and attachments over a stream
//! cut between the two directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::{AppMeta, AppProto, AppSession, Events, Step};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else { return };
    let _ = mekong_appmeta::smtp::detect(data, (40000, 25));
    let protos = [AppProto::Smtp];
    let proto = protos[usize::from(sel) % protos.len()];
    let mut meta = AppMeta::default();
    let Some(mut s) = AppSession::new(proto, &mut meta) else { return };
    let mut ev = Events::new();
    let cut = usize::from(sel >> 2).min(data.len());
    for (dir, part) in [(1, &data[..cut]), (0, &data[cut..]), (1, data), (0, data)] {
        let mut pos = 0;
        while pos < part.len() {
            match s.parse(dir, &part[pos..], &mut meta, &mut ev) {
                Step::Consumed(n) => {
                    assert!(n > 0 && n <= part.len() - pos);
                    pos += n;
                }
                _ => break,
            }
        }
    }
    if let Some(m) = &meta.smtp {
        assert!(m.attachments.len() <= mekong_appmeta::MAX_LIST);
        assert!(m.message_sizes.len() <= mekong_appmeta::MAX_LIST);
    }
});
