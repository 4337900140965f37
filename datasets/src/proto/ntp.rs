//! NTPv4 client and server packets (RFC 5905).

/// Seconds between the NTP epoch (1900) and the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

fn ntp_ts(unix_ns: u64) -> [u8; 8] {
    let secs = unix_ns / 1_000_000_000 + NTP_UNIX_OFFSET;
    let frac = ((unix_ns % 1_000_000_000) << 32) / 1_000_000_000;
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&(secs as u32).to_be_bytes());
    b[4..].copy_from_slice(&(frac as u32).to_be_bytes());
    b
}

/// A mode-3 (client) request sent at `now_ns`.
pub fn client(now_ns: u64) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 0x23; // LI 0, version 4, mode 3
    p[2] = 6; // poll
    p[3] = 0xe9; // precision
    p[40..48].copy_from_slice(&ntp_ts(now_ns));
    p
}

/// A mode-4 (server) reply to a request with transmit timestamp `origin`.
pub fn server(request: &[u8], recv_ns: u64, xmit_ns: u64, stratum: u8, refid: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 0x24; // LI 0, version 4, mode 4
    p[1] = stratum;
    p[2] = 6;
    p[3] = 0xe7;
    p[4..8].copy_from_slice(&0x0000_0345u32.to_be_bytes()); // root delay
    p[8..12].copy_from_slice(&0x0000_0512u32.to_be_bytes()); // root dispersion
    p[12..16].copy_from_slice(&refid);
    p[16..24].copy_from_slice(&ntp_ts(recv_ns.saturating_sub(32_000_000_000)));
    if request.len() >= 48 {
        p[24..32].copy_from_slice(&request[40..48]);
    }
    p[32..40].copy_from_slice(&ntp_ts(recv_ns));
    p[40..48].copy_from_slice(&ntp_ts(xmit_ns));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_echoes_origin_timestamp() {
        let q = client(1_700_000_000_500_000_000);
        let r = server(
            &q,
            1_700_000_000_510_000_000,
            1_700_000_000_510_100_000,
            2,
            [10, 0, 0, 1],
        );
        assert_eq!(&r[24..32], &q[40..48]);
        assert_eq!(r[0] & 7, 4);
        // 1.7e9 + offset, fraction of 0.5 s is 2^31
        assert_eq!(
            u32::from_be_bytes(q[40..44].try_into().unwrap()),
            (1_700_000_000 + NTP_UNIX_OFFSET) as u32
        );
        assert_eq!(u32::from_be_bytes(q[44..48].try_into().unwrap()), 1 << 31);
    }
}
