//! Address functions for SQL over the flow record, whose addresses are
//! text (`orig_addr`, `resp_addr`, `src_addr` ...):
//!
//! - `in_cidr(addr, '10.0.0.0/8')`: the address lies in the block (IPv4 or
//!   IPv6; a bare address is a /32 or /128);
//! - `is_private(addr)`: RFC 1918, RFC 4193 (fc00::/7), loopback,
//!   link-local, CGNAT (100.64.0.0/10);
//! - `network(addr, 24)`: the block of that prefix length holding the
//!   address, as CIDR text (`10.1.2.0/24`).
//!
//! An argument that is not an address or a block gives null, never an
//! error: a column of mixed content stays queryable.

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use datafusion::prelude::SessionContext;

/// An address block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    addr: IpAddr,
    prefix: u8,
}

fn bits(a: IpAddr) -> (u128, u8) {
    match a {
        IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
        IpAddr::V6(v) => (u128::from(v), 128),
    }
}

/// The network mask of `prefix` bits in an address of `width` bits.
fn mask(width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let all = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    // prefix >= 1, so the host part is at most 127 bits.
    let host = (1u128 << (width - prefix)) - 1;
    all & !host
}

impl Block {
    /// Parses `a.b.c.d/n`, `x::/n` or a bare address.
    pub fn parse(s: &str) -> Option<Block> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let width = bits(addr).1;
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|&p| p <= width)?,
            None => width,
        };
        Some(Block { addr, prefix })
    }

    /// True when `a` lies in the block.
    pub fn contains(&self, a: IpAddr) -> bool {
        let (x, wx) = bits(a);
        let (y, wy) = bits(self.addr);
        if wx != wy {
            return false;
        }
        let m = mask(wx, self.prefix);
        x & m == y & m
    }
}

/// The block of `prefix` bits holding `a`, as CIDR text.
pub fn network_of(a: IpAddr, prefix: u8) -> Option<String> {
    let (x, w) = bits(a);
    if prefix > w {
        return None;
    }
    let n = x & mask(w, prefix);
    let base: IpAddr = match a {
        IpAddr::V4(_) => IpAddr::V4((n as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(n.into()),
    };
    Some(format!("{base}/{prefix}"))
}

/// Private, loopback, link-local or shared (CGNAT) space.
pub fn private(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || Block::parse("100.64.0.0/10").is_some_and(|b| b.contains(a))
        }
        IpAddr::V6(v) => {
            v.is_loopback()
                || Block::parse("fc00::/7").is_some_and(|b| b.contains(a))
                || Block::parse("fe80::/10").is_some_and(|b| b.contains(a))
        }
    }
}

fn strings(v: &ColumnarValue, n: usize) -> Result<ArrayRef> {
    let a = v.clone().into_array(n)?;
    if a.data_type() == &DataType::Utf8 {
        Ok(a)
    } else {
        datafusion::arrow::compute::cast(&a, &DataType::Utf8).map_err(DataFusionError::from)
    }
}

fn rows(args: &[ColumnarValue]) -> usize {
    args.iter()
        .find_map(|a| match a {
            ColumnarValue::Array(x) => Some(x.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1)
}

fn as_str(a: &ArrayRef) -> Result<&StringArray> {
    a.as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| DataFusionError::Execution("expected text".into()))
}

fn in_cidr(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let n = rows(args);
    let (a, b) = (strings(&args[0], n)?, strings(&args[1], n)?);
    let (a, b) = (as_str(&a)?, as_str(&b)?);
    // The block is nearly always one literal: parse it once.
    let fixed = matches!(args[1], ColumnarValue::Scalar(_))
        .then(|| b.iter().next().flatten().and_then(Block::parse));
    let out: BooleanArray = (0..n)
        .map(|i| {
            if a.is_null(i) || b.is_null(i) {
                return None;
            }
            let block = match &fixed {
                Some(f) => *f,
                None => Block::parse(b.value(i)),
            }?;
            let addr: IpAddr = a.value(i).parse().ok()?;
            Some(block.contains(addr))
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

fn is_private(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let n = rows(args);
    let a = strings(&args[0], n)?;
    let a = as_str(&a)?;
    let out: BooleanArray = a
        .iter()
        .map(|v| v.and_then(|s| s.parse::<IpAddr>().ok()).map(private))
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

fn network(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let n = rows(args);
    let a = strings(&args[0], n)?;
    let a = as_str(&a)?;
    let p = args[1].clone().into_array(n)?;
    let p = datafusion::arrow::compute::cast(&p, &DataType::Int64)?;
    let p = p
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| DataFusionError::Execution("expected a prefix length".into()))?;
    let out: StringArray = (0..n)
        .map(|i| {
            if a.is_null(i) || p.is_null(i) {
                return None;
            }
            let addr: IpAddr = a.value(i).parse().ok()?;
            let prefix = u8::try_from(p.value(i)).ok()?;
            network_of(addr, prefix)
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

/// Second-level labels under which a country code's registry sells
/// names (`gov.vn`, `co.uk`): the base domain keeps one more label there.
const SECOND_LEVEL: [&str; 9] = ["com", "net", "org", "gov", "edu", "ac", "co", "int", "info"];

/// The registered domain a name belongs to, the unit DNS tunnels are
/// judged by: the last two labels, or three under a country code's
/// second-level domain (`x.y.so-tt.gov.vn` → `so-tt.gov.vn`). Lower case;
/// a trailing dot is ignored; `None` for an empty name.
pub fn base_domain(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return None;
    }
    let labels: Vec<&str> = name.rsplit('.').collect();
    let keep = if labels.len() >= 3
        && labels[0].len() == 2
        && SECOND_LEVEL.contains(&labels[1].to_ascii_lowercase().as_str())
    {
        3
    } else {
        2
    };
    let mut out: Vec<&str> = labels.into_iter().take(keep).collect();
    out.reverse();
    Some(out.join(".").to_ascii_lowercase())
}

fn base_domain_udf(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let n = rows(args);
    let a = strings(&args[0], n)?;
    let a = as_str(&a)?;
    let out: StringArray = a.iter().map(|v| v.and_then(base_domain)).collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

/// The functions, to register with a session.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        create_udf(
            "in_cidr",
            vec![DataType::Utf8, DataType::Utf8],
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(in_cidr),
        ),
        create_udf(
            "is_private",
            vec![DataType::Utf8],
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(is_private),
        ),
        create_udf(
            "network",
            vec![DataType::Utf8, DataType::Int64],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(network),
        ),
        create_udf(
            "base_domain",
            vec![DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(base_domain_udf),
        ),
    ]
}

/// Registers the functions with `ctx`.
pub fn register(ctx: &SessionContext) {
    for f in functions() {
        ctx.register_udf(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_contain_what_their_bits_say() {
        let b = Block::parse("10.0.0.0/8").unwrap();
        assert!(b.contains(ip("10.255.1.2")));
        assert!(!b.contains(ip("11.0.0.0")));
        assert!(
            !b.contains(ip("::ffff:10.0.0.1")),
            "an IPv6 address is not in an IPv4 block"
        );
        assert!(Block::parse("0.0.0.0/0").unwrap().contains(ip("1.2.3.4")));
        assert!(Block::parse("192.0.2.7").unwrap().contains(ip("192.0.2.7")));
        assert!(!Block::parse("192.0.2.7").unwrap().contains(ip("192.0.2.8")));
        assert!(Block::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("2001:db8:ffff::1")));
        assert!(!Block::parse("2001:db8::/33")
            .unwrap()
            .contains(ip("2001:db8:8000::1")));
        assert!(Block::parse("::/0").unwrap().contains(ip("::1")));
        for bad in ["10.0.0.0/33", "x/8", "", "10.0.0.0/", "::/129"] {
            assert_eq!(Block::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn base_domains_keep_a_registry_label_under_country_codes() {
        assert_eq!(
            base_domain("a1b2.t.cloudsync-api.net").as_deref(),
            Some("cloudsync-api.net")
        );
        assert_eq!(
            base_domain("www.so-tt.gov.vn.").as_deref(),
            Some("so-tt.gov.vn")
        );
        assert_eq!(
            base_domain("Mail.Example.CO.UK").as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(base_domain("localhost").as_deref(), Some("localhost"));
        assert_eq!(base_domain("vn").as_deref(), Some("vn"));
        assert_eq!(base_domain("").as_deref(), None);
        assert_eq!(base_domain(".").as_deref(), None);
    }

    #[test]
    fn networks_and_private_space() {
        assert_eq!(
            network_of(ip("10.1.2.3"), 24).as_deref(),
            Some("10.1.2.0/24")
        );
        assert_eq!(network_of(ip("10.1.2.3"), 0).as_deref(), Some("0.0.0.0/0"));
        assert_eq!(
            network_of(ip("10.1.2.3"), 32).as_deref(),
            Some("10.1.2.3/32")
        );
        assert_eq!(
            network_of(ip("2001:db8:1:2::5"), 48).as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(network_of(ip("10.1.2.3"), 33), None);
        for p in [
            "10.1.1.1",
            "172.16.0.1",
            "192.168.9.9",
            "100.64.3.3",
            "127.0.0.1",
            "169.254.1.1",
            "fd00::1",
            "fe80::1",
            "::1",
        ] {
            assert!(private(ip(p)), "{p}");
        }
        for p in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1"] {
            assert!(!private(ip(p)), "{p}");
        }
    }
}
