//! SSH: banners and KEXINIT through the session, and KEXINIT alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::ssh::{self, SshMeta, SshSession};
use mekong_appmeta::{Events, Step};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else { return };
    if let Some(k) = ssh::kexinit(data) {
        let _ = k.hassh(sel & 1 == 1);
    }
    let (mut s, mut meta, mut a) = (SshSession::default(), SshMeta::default(), 0);
    let mut ev = Events::new();
    let mut pos = 0;
    while pos < data.len() {
        match s.parse(usize::from(sel & 1), &data[pos..], &mut meta, &mut a, &mut ev) {
            Step::Consumed(n) => pos += n.max(1),
            _ => break,
        }
    }
});
