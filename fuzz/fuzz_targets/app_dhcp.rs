//! DHCP messages: arbitrary bytes after a valid fixed header and cookie, as
//! a datagram to the server port; and the same bytes as DHCPv6.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::dhcp;
use mekong_appmeta::session::UdpSession;
use mekong_appmeta::{AppMeta, Events};

fuzz_target!(|data: &[u8]| {
    let _ = dhcp::parse(data);
    let _ = dhcp::parse6(data);
    let mut meta6 = AppMeta::default();
    let mut ev6 = Events::new();
    if let Some(mut s) = UdpSession::detect(data, 0, (546, 547), &mut meta6) {
        let _ = s.datagram(0, data, &mut meta6, &mut ev6);
    }
    let mut m = vec![0u8; 236];
    m[0] = 1;
    m.extend([99, 130, 83, 99]);
    m.extend(data);
    let mut meta = AppMeta::default();
    let mut ev = Events::new();
    if let Some(mut s) = UdpSession::detect(&m, 0, (68, 67), &mut meta) {
        let _ = s.datagram(0, &m, &mut meta, &mut ev);
        let _ = s.datagram(1, data, &mut meta, &mut ev);
    }
});
