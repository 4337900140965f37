//! TLS heartbeat records (content type 24, RFC 6520), read where they
//! begin a TCP segment (a heartbeat is sent alone): their lengths per side
//! and the signs of CVE-2014-0160 (Heartbleed).
//!
//! A heartbeat request echoes its payload back, so an honest response is
//! as long as the request it answers. Heartbleed shows as
//! - a request in the clear whose declared payload length, with the type,
//!   length and 16 bytes of padding RFC 6520 requires, is longer than the
//!   record (the server answers with that much of its memory),
//! - or a record from the server at least [`LEAK_MIN`] bytes longer than
//!   any the client sent (the answer, even encrypted, gives it away).

/// Content type of heartbeat records.
pub const CONTENT_TYPE: u8 = 24;

/// How much longer than every client record a server record must be to
/// be taken for leaked memory.
pub const LEAK_MIN: u32 = 1024;

/// The heartbeat records of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatMeta {
    /// Heartbeat records seen.
    pub records: u32,
    /// Longest record from the client.
    pub client_max: u32,
    /// Longest record from the server.
    pub server_max: u32,
    /// Requests in the clear declaring more payload than they carry.
    pub overclaims: u32,
}

/// What a heartbeat record said of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// Record length.
    pub len: u32,
    /// The payload length a request in the clear declares.
    pub claimed: Option<u16>,
    /// A sign of Heartbleed (see the module documentation).
    pub leak: bool,
}

/// The TLS heartbeat record at the start of `seg`, if one starts there.
pub fn record_at(seg: &[u8]) -> Option<(u32, Option<u16>)> {
    let h = seg.get(..5)?;
    if h[0] != CONTENT_TYPE || h[1] != 3 || h[2] > 4 {
        return None;
    }
    let len = u32::from(u16::from_be_bytes([h[3], h[4]]));
    // In the clear: type 1 (request) and a payload length. (Encrypted
    // records show noise here: one in 256 looks like a request; heartbeats
    // are rare, encrypted ones rarer.)
    let claimed = match seg.get(5..8) {
        Some([1, a, b]) => Some(u16::from_be_bytes([*a, *b])),
        _ => None,
    };
    Some((len, claimed))
}

impl HeartbeatMeta {
    /// Accounts a heartbeat record of length `len` from `dir` (0 client).
    pub fn add(&mut self, dir: usize, len: u32, claimed: Option<u16>) -> Heartbeat {
        self.records = self.records.saturating_add(1);
        // Type, length and at least 16 bytes of padding surround the payload.
        let over = claimed.is_some_and(|c| u32::from(c) + 19 > len);
        if over {
            self.overclaims = self.overclaims.saturating_add(1);
        }
        let leak = if dir == 0 {
            self.client_max = self.client_max.max(len);
            over
        } else {
            self.server_max = self.server_max.max(len);
            over || len >= self.client_max.saturating_add(LEAK_MIN)
        };
        Heartbeat { len, claimed, leak }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbleed_requests_and_answers() {
        // The classic probe: a 3-byte request declaring 16,384 bytes.
        let probe = [24, 3, 2, 0, 3, 1, 0x40, 0];
        assert_eq!(record_at(&probe), Some((3, Some(0x4000))));
        let mut m = HeartbeatMeta::default();
        let h = m.add(0, 3, Some(0x4000));
        assert!(h.leak);
        // The answer: 16 KiB of memory.
        assert!(m.add(1, 16_403, None).leak);
        assert_eq!(
            (m.records, m.client_max, m.server_max, m.overclaims),
            (2, 3, 16_403, 1)
        );
        // An honest exchange: payload 16 + padding 16 each way.
        let mut m = HeartbeatMeta::default();
        assert!(!m.add(0, 35, Some(16)).leak);
        // No padding at all: the request claims 3 bytes it does not hold.
        assert!(HeartbeatMeta::default().add(0, 16_368, Some(16_365)).leak);
        assert!(!m.add(1, 35, None).leak);
        assert_eq!(record_at(&[23, 3, 3, 0, 5]), None);
        assert_eq!(record_at(&[24, 3, 3]), None);
        assert_eq!(record_at(&[24, 3, 3, 0, 40, 0x9c]), Some((40, None)));
    }
}
