//! SMB1 and SMB2/3 with DCE/RPC over their pipes and NTLMSSP in their
//! session setups: arbitrary bytes framed as NetBIOS session messages, fed
//! to both directions, cut at a point the first byte picks; and the
//! DCE/RPC-over-TCP and NTLMSSP readers on the bytes themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::dcerpc::{self, DceRpcSession};
use mekong_appmeta::smb::{self, SmbSession};
use mekong_appmeta::{ntlmssp, AppMeta, Events, Step};

fn feed(parse: &mut dyn FnMut(usize, &[u8]) -> Step, dir: usize, b: &[u8]) {
    let mut pos = 0;
    while pos < b.len() {
        match parse(dir, &b[pos..]) {
            Step::Consumed(n) => {
                assert!(n > 0 && n <= b.len() - pos);
                pos += n;
            }
            _ => break,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else { return };
    let _ = smb::detect(data);
    let _ = dcerpc::detect(data);
    let _ = ntlmssp::find(data).map(ntlmssp::authenticate);
    // As SMB: in NetBIOS frames (the bytes as they are, and framed).
    let mut framed = vec![0u8];
    framed.extend(&(data.len() as u32).to_be_bytes()[1..]);
    framed.extend(data);
    let cut = usize::from(sel).min(framed.len());
    let (mut meta, mut ev) = (AppMeta::default(), Events::new());
    let mut s = SmbSession::default();
    let mut p = |dir: usize, b: &[u8]| s.parse(dir, b, &mut meta, &mut ev);
    feed(&mut p, 0, &framed[..cut]);
    feed(&mut p, 1, &framed[cut..]);
    feed(&mut p, 0, data);
    // As DCE/RPC over TCP.
    let (mut meta, mut ev) = (AppMeta::default(), Events::new());
    let mut d = DceRpcSession::default();
    let mut p = |dir: usize, b: &[u8]| d.parse(dir, b, &mut meta, &mut ev);
    feed(&mut p, usize::from(sel & 1), data);
    if let Some(r) = &meta.dcerpc {
        assert!(r.interfaces.len() <= dcerpc::MAX_LIST && r.operations.len() <= dcerpc::MAX_LIST);
    }
});
