//! Which client address the edge writes as Via `received` (`[sip] received`): RFC 7118 §5 makes it optional,
//! since behind a balancer or NAT it reveals the addresses of the machines in between.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::Received;

/// The address to write for `client` under `rule`; an address of a trusted proxy (`trusted`) is never written.
pub fn revealed(rule: Received, client: Option<IpAddr>, trusted: &[IpAddr]) -> Option<IpAddr> {
    let ip = client?.to_canonical();
    if crate::limits::is_trusted(trusted, ip) {
        return None;
    }
    match rule {
        Received::Always => Some(ip),
        Received::Public => is_public(ip).then_some(ip),
        Received::Never => None,
    }
}

/// Whether `ip` is globally routable: not unspecified, loopback, private, shared (RFC 6598), link-local,
/// documentation, benchmarking, reserved, broadcast or multicast; for IPv6 also not unique-local.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || first == 0x0100
        || first == 0x0064 && ip.segments()[1] == 0xff9b && ip.segments()[2] == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for a in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.7",
            "198.51.100.1",
            "203.0.113.5",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
            "::ffff:10.0.0.9",
            "::",
        ] {
            assert!(!is_public(ip(a)), "{a}");
        }
        for a in [
            "8.8.8.8",
            "81.2.69.160",
            "2a00:1450:4001::1",
            "::ffff:8.8.4.4",
        ] {
            assert!(is_public(ip(a)), "{a}");
        }
    }

    #[test]
    fn the_rule_decides_and_a_trusted_proxy_is_never_revealed() {
        let public = Some(ip("81.2.69.160"));
        let private = Some(ip("10.0.0.7"));
        assert_eq!(revealed(Received::Public, public, &[]), public);
        assert_eq!(revealed(Received::Public, private, &[]), None);
        assert_eq!(revealed(Received::Always, private, &[]), private);
        assert_eq!(revealed(Received::Never, public, &[]), None);
        let proxy = [ip("10.0.0.7")];
        assert_eq!(
            revealed(Received::Always, Some(ip("::ffff:10.0.0.7")), &proxy),
            None
        );
        assert_eq!(revealed(Received::Always, None, &[]), None);
    }
}
