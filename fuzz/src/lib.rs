//! What Mekong's fuzz targets share.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use mekong_appmeta::{AppMeta, AppProto, AppSession, Events, Step};

/// Drives an application session of one of `protos` (picked by `sel`)
/// over `data` cut between the two directions at a point `sel` also
/// picks, then over the whole of it both ways; every step must consume
/// what it says it does. The metadata it filled, when the protocol has a
/// session.
pub fn session(protos: &[AppProto], sel: u8, data: &[u8]) -> Option<AppMeta> {
    let proto = *protos.get(usize::from(sel) % protos.len().max(1))?;
    let mut meta = AppMeta::default();
    let mut s = AppSession::new(proto, &mut meta)?;
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
    Some(meta)
}
