//! The simulated network: hosts, their addresses and how frames between them
//! look on the sensor's SPAN port (the sensor watches the internet gateway and
//! the core switch trunk).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::rng::{Rng, Weighted};
use crate::wire::{Link, Mac};

/// MAC address of the internet gateway (router) on the office side.
pub const GATEWAY_MAC: Mac = [0x00, 0x1a, 0x2b, 0x00, 0x00, 0x01];

/// One host as the sensor sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    /// Address.
    pub ip: IpAddr,
    /// MAC of its interface (internal hosts only; external hosts are behind the gateway).
    pub mac: Mac,
    /// VLAN of its access port, when the trunk carries it tagged.
    pub vlan: Option<u16>,
    /// TTL (or hop limit) of its packets as they reach the sensor.
    pub ttl: u8,
    /// True for hosts inside the office network.
    pub internal: bool,
}

impl Host {
    /// An internal host.
    pub fn internal(ip: IpAddr, mac: Mac, vlan: Option<u16>, ttl: u8) -> Host {
        Host {
            ip,
            mac,
            vlan,
            ttl,
            internal: true,
        }
    }

    /// A host on the internet, `hops` away from the sensor, with initial TTL `ttl0`.
    pub fn external(ip: IpAddr, ttl0: u8, hops: u8) -> Host {
        Host {
            ip,
            mac: GATEWAY_MAC,
            vlan: None,
            ttl: ttl0.saturating_sub(hops),
            internal: false,
        }
    }

    /// The same host with another address (dual-stack hosts).
    pub fn with_ip(&self, ip: IpAddr) -> Host {
        Host { ip, ..self.clone() }
    }
}

/// The layer-2 framing of a frame from `from` to `to` on the SPAN port.
pub fn link(from: &Host, to: &Host) -> Link {
    let vlan = from.vlan.or(to.vlan);
    let routed = !from.internal || !to.internal || from.vlan != to.vlan;
    let src = if from.internal { from.mac } else { GATEWAY_MAC };
    let dst = if to.internal && (from.internal || routed) {
        to.mac
    } else {
        GATEWAY_MAC
    };
    Link { src, dst, vlan }
}

/// A locally administered MAC derived from a number.
pub fn mac_from(n: u32, oui: [u8; 3]) -> Mac {
    let b = n.to_be_bytes();
    [oui[0], oui[1], oui[2], b[1], b[2], b[3]]
}

const CLIENT_OUIS: [[u8; 3]; 4] = [
    [0x3c, 0x52, 0x82],
    [0xf4, 0x8e, 0x38],
    [0x00, 0x50, 0x56],
    [0xa4, 0xbb, 0x6d],
];

/// An internal office workstation.
#[derive(Clone, Debug)]
pub struct Client {
    /// The host (IPv4).
    pub v4: Host,
    /// IPv6 address when dual-stacked.
    pub v6: Option<Ipv6Addr>,
    /// Index into the TLS client profiles (browser family).
    pub tls_profile: usize,
    /// User-agent index.
    pub ua: usize,
    /// Windows (TTL 128) or Linux/macOS (TTL 64).
    pub windows: bool,
}

/// An external server that office clients visit.
#[derive(Clone, Debug)]
pub struct ExternalServer {
    /// DNS name.
    pub name: String,
    /// IPv4 host.
    pub v4: Host,
    /// IPv6 address when it has one.
    pub v6: Option<Ipv6Addr>,
    /// Serves HTTPS (else plain HTTP only).
    pub https: bool,
    /// Also serves plain HTTP.
    pub http: bool,
    /// Offers TLS 1.3 (else TLS 1.2 only).
    pub tls13: bool,
    /// Round-trip time from the sensor, nanoseconds.
    pub rtt_ns: u64,
    /// Index of its HTTP `Server` header.
    pub server_sw: usize,
}

/// First octets used for the external server pool (public unicast space,
/// disjoint from the attacker and infrastructure addresses of the scenarios).
const POOL_FIRST_OCTETS: [u8; 20] = [
    13, 23, 31, 34, 35, 52, 64, 74, 81, 88, 104, 113, 125, 142, 151, 157, 162, 172, 210, 217,
];

const SYLLABLES: [&str; 24] = [
    "ba", "co", "da", "ke", "lo", "mi", "na", "po", "ri", "sa", "tu", "vi", "xa", "an", "long",
    "minh", "hoa", "net", "cloud", "tech", "media", "shop", "news", "bank",
];
const TLDS: [&str; 7] = ["com", "net", "vn", "com.vn", "org", "io", "gov.vn"];

/// The office network: clients, internal servers, external servers.
pub struct Network {
    /// Workstations.
    pub clients: Vec<Client>,
    /// Internal DNS resolver.
    pub resolver: Host,
    /// Upstream resolvers the internal resolver forwards to.
    pub upstream_dns: Vec<Host>,
    /// Internal NTP server.
    pub ntp: Host,
    /// Public NTP servers the internal server synchronises with.
    pub upstream_ntp: Vec<Host>,
    /// Internal file server (SMB).
    pub file_server: Host,
    /// Internal SSH bastion.
    pub ssh_bastion: Host,
    /// Intranet web server (HTTP).
    pub intranet: Host,
    /// DMZ: public web server.
    pub dmz_web: Host,
    /// DMZ: SSH server.
    pub dmz_ssh: Host,
    /// DMZ: FTP server.
    pub dmz_ftp: Host,
    /// DMZ: RDP jump host.
    pub dmz_rdp: Host,
    /// IoT cameras (telnet exposed).
    pub cameras: Vec<Host>,
    /// Domain controller (Kerberos, DHCP).
    pub dc: Host,
    /// Internal mail server (submission on 587).
    pub mail: Host,
    /// Database server (MySQL).
    pub db: Host,
    /// External servers, most popular first.
    pub servers: Vec<ExternalServer>,
    /// Popularity of `servers` (Zipf).
    pub popularity: Weighted,
}

impl Network {
    /// Builds the network deterministically from `rng`.
    pub fn build(rng: &mut Rng) -> Network {
        let mut clients = Vec::new();
        let subnets: [(u8, Option<u16>); 4] = [(1, None), (2, None), (3, None), (4, Some(40))];
        let mut n = 0u32;
        for (subnet, vlan) in subnets {
            for h in 10..110u8 {
                n += 1;
                let windows = rng.chance(0.7);
                let oui = *rng.pick(&CLIENT_OUIS);
                let ip = IpAddr::V4(Ipv4Addr::new(10, 10, subnet, h));
                let v6 = rng.chance(0.25).then(|| {
                    Ipv6Addr::new(0x2001, 0x0db8, 0x0010, subnet.into(), 0, 0, 0, h.into())
                });
                let tls_profile = if windows {
                    *rng.pick(&[0usize, 0, 0, 1, 2, 4])
                } else {
                    *rng.pick(&[0usize, 1, 1, 3, 5])
                };
                clients.push(Client {
                    v4: Host::internal(ip, mac_from(n, oui), vlan, if windows { 128 } else { 64 }),
                    v6,
                    tls_profile,
                    ua: rng.below(1000) as usize,
                    windows,
                });
            }
        }
        let server = |last: u8, n: u32| {
            Host::internal(
                IpAddr::V4(Ipv4Addr::new(10, 10, 0, last)),
                mac_from(n, [0x00, 0x25, 0x90]),
                None,
                64,
            )
        };
        let dmz = |last: u8, n: u32| {
            Host::internal(
                IpAddr::V4(Ipv4Addr::new(10, 10, 100, last)),
                mac_from(n, [0x00, 0x25, 0x90]),
                Some(100),
                64,
            )
        };
        let cameras = (20..40u8)
            .map(|h| {
                Host::internal(
                    IpAddr::V4(Ipv4Addr::new(10, 10, 7, h)),
                    mac_from(u32::from(h), [0xbc, 0x32, 0x5f]),
                    Some(70),
                    64,
                )
            })
            .collect();
        let upstream_dns = vec![
            Host::external(IpAddr::V4(Ipv4Addr::new(203, 162, 4, 191)), 64, 8),
            Host::external(IpAddr::V4(Ipv4Addr::new(203, 162, 4, 190)), 64, 8),
        ];
        let upstream_ntp = vec![
            Host::external(IpAddr::V4(Ipv4Addr::new(162, 159, 200, 1)), 64, 11),
            Host::external(IpAddr::V4(Ipv4Addr::new(162, 159, 200, 123)), 64, 11),
        ];
        let servers = (0..1500)
            .map(|i| external_server(rng, i))
            .collect::<Vec<_>>();
        let popularity = Weighted::zipf(servers.len(), 1.0);
        Network {
            clients,
            resolver: server(53, 1),
            upstream_dns,
            ntp: server(123, 2),
            upstream_ntp,
            file_server: server(20, 3),
            ssh_bastion: server(22, 4),
            intranet: server(80, 5),
            dmz_web: dmz(10, 6),
            dmz_ssh: dmz(22, 7),
            dmz_ftp: dmz(21, 8),
            dmz_rdp: dmz(33, 9),
            cameras,
            dc: server(10, 10),
            mail: server(25, 11),
            db: server(30, 12),
            servers,
            popularity,
        }
    }

    /// An external server chosen by popularity.
    pub fn pick_server(&self, rng: &mut Rng) -> &ExternalServer {
        &self.servers[self.popularity.sample(rng)]
    }
}

fn external_server(rng: &mut Rng, i: usize) -> ExternalServer {
    let a = *rng.pick(&POOL_FIRST_OCTETS);
    let b = rng.below(256) as u8;
    let c = rng.below(256) as u8;
    let d = rng.range(1, 254) as u8;
    let b = if a == 172 { 64 + (b % 128) } else { b }; // stay outside 172.16/12
    let syl = rng.range(2, 3);
    let mut name = String::new();
    for _ in 0..syl {
        let syl: &&str = rng.pick(&SYLLABLES);
        name.push_str(syl);
    }
    if rng.chance(0.3) {
        let prefix: &&str = rng.pick(&["www.", "cdn.", "api.", "static.", "img."]);
        name.insert_str(0, prefix);
    }
    name.push('.');
    let tld: &&str = rng.pick(&TLDS);
    name.push_str(tld);
    // Deduplicate names deterministically.
    name.insert_str(name.find('.').unwrap_or(0), &format!("{}", i % 97));
    let v6 = rng.chance(0.3).then(|| {
        Ipv6Addr::new(
            0x2001,
            0x0db8,
            0xf000 | (i as u16 & 0x0fff),
            0,
            0,
            0,
            0,
            rng.range(1, 0xfffe) as u16,
        )
    });
    let https = rng.chance(0.88);
    let rtt_ms = rng.lognormal(40.0, 0.7).clamp(3.0, 400.0);
    ExternalServer {
        name,
        v4: Host::external(
            IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            *rng.pick(&[64, 64, 128, 255]),
            rng.range(6, 20) as u8,
        ),
        v6,
        https,
        http: !https || rng.chance(0.2),
        tls13: rng.chance(0.8),
        rtt_ns: (rtt_ms * 1e6) as u64,
        server_sw: rng.below(6) as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_is_deterministic_and_sized() {
        let a = Network::build(&mut Rng::new(1, 0));
        let b = Network::build(&mut Rng::new(1, 0));
        assert_eq!(a.clients.len(), 400);
        assert_eq!(a.servers.len(), 1500);
        assert_eq!(a.servers[7].name, b.servers[7].name);
        assert!(a.clients.iter().any(|c| c.v6.is_some()));
        assert!(a.clients.iter().any(|c| c.v4.vlan == Some(40)));
    }

    #[test]
    fn links_go_through_the_gateway_for_external_hosts() {
        let net = Network::build(&mut Rng::new(1, 0));
        let c = &net.clients[0].v4;
        let s = &net.servers[0].v4;
        let l = link(c, s);
        assert_eq!(l.src, c.mac);
        assert_eq!(l.dst, GATEWAY_MAC);
        let r = link(s, c);
        assert_eq!(r.src, GATEWAY_MAC);
        assert_eq!(r.dst, c.mac);
        let local = link(c, &net.resolver);
        assert_eq!(local.dst, net.resolver.mac);
    }

    #[test]
    fn pool_avoids_private_space() {
        let net = Network::build(&mut Rng::new(5, 0));
        for s in &net.servers {
            let IpAddr::V4(v4) = s.v4.ip else { panic!() };
            assert!(!v4.is_private(), "{v4}");
        }
    }
}
