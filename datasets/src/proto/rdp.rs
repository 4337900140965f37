//! RDP connection start (MS-RDPBCGR 2.2.1.1 and 2.2.1.2): the X.224
//! Connection Request with a routing cookie and RDP_NEG_REQ, and the
//! Connection Confirm; TLS follows on the same connection.

/// X.224 Connection Request in a TPKT, with `Cookie: mstshash=user`.
pub fn connection_request(user: &str) -> Vec<u8> {
    let cookie = format!("Cookie: mstshash={user}\r\n");
    let li = 6 + cookie.len() + 8;
    let total = 4 + 1 + li;
    let mut out = vec![3, 0];
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.push(li as u8);
    out.extend_from_slice(&[0xE0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(cookie.as_bytes());
    // RDP_NEG_REQ: type 1, flags 0, length 8, requested TLS | CredSSP.
    out.extend_from_slice(&[1, 0, 8, 0, 3, 0, 0, 0]);
    out
}

/// X.224 Connection Confirm selecting CredSSP (HYBRID).
pub fn connection_confirm() -> Vec<u8> {
    vec![
        3, 0, 0, 19, 14, 0xD0, 0, 0, 0x12, 0x34, 0, 2, 0x1f, 8, 0, 2, 0, 0, 0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tpkt_lengths_match() {
        let r = connection_request("administrator");
        assert_eq!(u16::from_be_bytes([r[2], r[3]]) as usize, r.len());
        assert_eq!(r[4] as usize + 5, r.len());
        let c = connection_confirm();
        assert_eq!(c[3] as usize, c.len());
        assert_eq!(c[4] as usize + 5, c.len());
    }
}
