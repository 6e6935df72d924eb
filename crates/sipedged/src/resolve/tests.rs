//! Unit tests of the RFC 3263 rules (which query first, NAPTR filtering and order, SRV order), without a
//! network; and an IP literal through [`Resolver`], which needs no lookup.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::proto::rr::Name;
use hickory_resolver::proto::rr::rdata::{NAPTR, SRV};

use super::rfc3263::{self, Step};
use super::{Resolver, Target};
use crate::config::{CoreTransport, CoreUri};
use CoreTransport::{Tcp, Tls, Udp};

fn uri(s: &str) -> CoreUri {
    s.parse().unwrap()
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn naptr(order: u16, preference: u16, flags: &str, services: &str, replacement: &str) -> NAPTR {
    NAPTR::new(
        order,
        preference,
        flags.as_bytes().into(),
        services.as_bytes().into(),
        Box::default(),
        name(replacement),
    )
}

fn srv(priority: u16, weight: u16, target: &str) -> SRV {
    SRV::new(priority, weight, 5060, name(target))
}

#[test]
fn the_first_step_follows_what_the_uri_names() {
    let literal = |s: &str, addr: &str, t| {
        assert_eq!(
            rfc3263::first_step(&uri(s)),
            Step::Literal(addr.parse().unwrap(), t),
            "{s}"
        );
    };
    literal("sip:10.0.0.1", "10.0.0.1:5060", Udp);
    literal("sip:10.0.0.1;transport=tcp", "10.0.0.1:5060", Tcp);
    literal("sips:10.0.0.1", "10.0.0.1:5061", Tls);
    literal("sip:[::1]:5070", "[::1]:5070", Udp);
    literal("sip:[::1];transport=tls", "[::1]:5061", Tls);
    assert_eq!(
        rfc3263::first_step(&uri("sips:core.example:5071")),
        Step::Address {
            name: "core.example".into(),
            port: 5071,
            transport: Tls
        }
    );
    assert_eq!(
        rfc3263::first_step(&uri("sip:core.example:5060;transport=tcp")),
        Step::Address {
            name: "core.example".into(),
            port: 5060,
            transport: Tcp
        }
    );
    assert_eq!(
        rfc3263::first_step(&uri("sip:core.example;transport=tcp")),
        Step::Srv {
            name: "core.example".into(),
            transport: Tcp
        }
    );
    for s in ["sip:core.example", "sips:core.example"] {
        assert_eq!(
            rfc3263::first_step(&uri(s)),
            Step::Naptr {
                name: "core.example".into()
            },
            "{s}"
        );
    }
}

#[test]
fn srv_names_and_fallback_order() {
    assert_eq!(rfc3263::srv_name(Udp, "c.example"), "_sip._udp.c.example");
    assert_eq!(rfc3263::srv_name(Tcp, "c.example"), "_sip._tcp.c.example");
    assert_eq!(rfc3263::srv_name(Tls, "c.example"), "_sips._tcp.c.example");
    assert_eq!(rfc3263::srv_fallbacks(false), [Tls, Tcp, Udp]);
    assert_eq!(rfc3263::srv_fallbacks(true), [Tls]);
}

#[test]
fn naptr_services_a_sip_client_may_use() {
    assert_eq!(rfc3263::naptr_transport(b"SIP+D2U", false), Some(Udp));
    assert_eq!(rfc3263::naptr_transport(b"sip+d2t", false), Some(Tcp));
    assert_eq!(rfc3263::naptr_transport(b"SIPS+D2T", false), Some(Tls));
    assert_eq!(rfc3263::naptr_transport(b"SIPS+D2T", true), Some(Tls));
    for (service, secure) in [
        (&b"SIP+D2U"[..], true),
        (b"SIP+D2T", true),
        (b"SIP+D2S", false),
        (b"SIPS+D2S", true),
        (b"E2U+sip", false),
        (b"", false),
    ] {
        assert_eq!(
            rfc3263::naptr_transport(service, secure),
            None,
            "{service:?}"
        );
    }
}

#[test]
fn naptr_records_filtered_and_ordered() {
    let records = [
        naptr(20, 10, "s", "SIP+D2U", "_sip._udp.c.example."),
        naptr(10, 50, "S", "SIP+D2T", "_sip._tcp.c.example."),
        naptr(10, 20, "s", "SIPS+D2T", "_sips._tcp.c.example."),
        // Not terminal, an unknown service, SCTP, an empty replacement: never followed.
        naptr(1, 1, "a", "SIP+D2U", "a.c.example."),
        naptr(1, 1, "s", "E2U+sip", "_x._udp.c.example."),
        naptr(1, 1, "s", "SIP+D2S", "_sip._sctp.c.example."),
        naptr(1, 1, "s", "SIP+D2U", "."),
    ];
    let got = rfc3263::naptr_candidates(&records, false);
    assert_eq!(
        got,
        [
            (Tls, name("_sips._tcp.c.example.")),
            (Tcp, name("_sip._tcp.c.example.")),
            (Udp, name("_sip._udp.c.example.")),
        ]
    );
    assert_eq!(
        rfc3263::naptr_candidates(&records, true),
        [(Tls, name("_sips._tcp.c.example."))]
    );
    assert!(rfc3263::naptr_candidates(&records[3..], false).is_empty());
}

#[test]
fn srv_records_lower_priority_then_larger_weight() {
    let records = [
        srv(20, 0, "c.example."),
        srv(10, 5, "b.example."),
        srv(10, 60, "a.example."),
        srv(5, 0, "."),
    ];
    let got: Vec<(u16, u16, String)> = rfc3263::srv_order(&records)
        .iter()
        .map(|r| (r.priority, r.weight, rfc3263::name_text(&r.target)))
        .collect();
    assert_eq!(
        got,
        [
            (10, 60, "a.example".into()),
            (10, 5, "b.example".into()),
            (20, 0, "c.example".into()),
        ]
    );
    assert!(rfc3263::srv_order(&records[3..]).is_empty());
}

#[test]
fn names_print_without_the_root_dot() {
    assert_eq!(rfc3263::name_text(&name("core.example.")), "core.example");
    assert_eq!(rfc3263::name_text(&name("core.example")), "core.example");
    assert_eq!(rfc3263::name_text(&Name::root()), ".");
}

#[tokio::test]
async fn an_ip_literal_needs_no_lookup() {
    // Port 9 (discard) answers no DNS: a lookup would fail, an IP literal makes none.
    let resolver = Resolver::new(&["127.0.0.1:9".parse().unwrap()]).unwrap();
    let r = resolver.resolve(&uri("sips:[::1]:5070")).await.unwrap();
    assert_eq!(r.ttl, Duration::MAX);
    assert_eq!(
        r.targets,
        [Target {
            addr: "[::1]:5070".parse::<SocketAddr>().unwrap(),
            transport: Tls,
            priority: 0,
            weight: 0,
            name: None,
        }]
    );
    let r = resolver.resolve(&uri("sip:10.1.2.3")).await.unwrap();
    assert_eq!(
        (r.targets[0].addr, r.targets[0].transport),
        ("10.1.2.3:5060".parse().unwrap(), Udp)
    );
}

#[tokio::test]
async fn no_name_servers_means_the_system_configuration() {
    // Building reads /etc/resolv.conf and sends nothing; an IP literal still needs no lookup.
    let resolver = Resolver::new(&[]).unwrap();
    let r = resolver.resolve(&uri("sip:127.0.0.1:5070")).await.unwrap();
    assert_eq!(r.targets[0].addr, "127.0.0.1:5070".parse().unwrap());
}
