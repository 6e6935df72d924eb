//! RFC 3263 resolution against a real DNS server: Debian's `dnsmasq`, started by each test on a free loopback
//! port in the foreground and killed when the test ends, serving a test zone `sipedge.test`:
//!
//! - `core`: NAPTR `SIP+D2S` (order 5, never followed: no SCTP), `SIP+D2U` (10), `SIP+D2T` (20),
//!   `SIPS+D2T` (30), each to the SRV name of its service;
//! - `_sip._udp.core`: `one:5070` priority 10 weight 5, `two:5071` priority 20;
//!   `_sip._tcp.core`: `three:5080`; `_sips._tcp.core`: `four:5081`;
//! - `plain`: no NAPTR, SRV `_sip._tcp.plain` to `three:5090`; `bare`: an A record only;
//! - `one` .. `four`: A records on 127.0.0.21 .. 24 (`four` also AAAA `::1`); `one`'s TTL 33 s, every other
//!   record's 77 s (`--local-ttl`).

use std::time::{Duration, Instant};

use super::{Resolution, ResolveError, Resolver, Target};
use crate::config::CoreUri;

/// The TTL of every record but `one`'s A record.
const LOCAL_TTL: u64 = 77;
/// `one`'s A record's TTL.
const ONE_TTL: u64 = 33;

/// The dnsmasq guard the integration tests use too.
#[path = "../../tests/common/dnsmasq.rs"]
mod dnsmasq;

use dnsmasq::{Dnsmasq, free_port};

fn zone() -> Vec<String> {
    let naptr = |order: u16, service: &str, srv: &str| {
        format!("--naptr-record=core.sipedge.test,{order},10,s,{service},,{srv}.core.sipedge.test")
    };
    let one = format!("--host-record=one.sipedge.test,127.0.0.21,{ONE_TTL}");
    vec![
        format!("--local-ttl={LOCAL_TTL}"),
        "--local=/sipedge.test/".into(),
        naptr(5, "SIP+D2S", "_sip._sctp"),
        naptr(10, "SIP+D2U", "_sip._udp"),
        naptr(20, "SIP+D2T", "_sip._tcp"),
        naptr(30, "SIPS+D2T", "_sips._tcp"),
        "--srv-host=_sip._sctp.core.sipedge.test,one.sipedge.test,5099,1,0".into(),
        "--srv-host=_sip._udp.core.sipedge.test,two.sipedge.test,5071,20,0".into(),
        "--srv-host=_sip._udp.core.sipedge.test,one.sipedge.test,5070,10,5".into(),
        "--srv-host=_sip._tcp.core.sipedge.test,three.sipedge.test,5080,10,0".into(),
        "--srv-host=_sips._tcp.core.sipedge.test,four.sipedge.test,5081,10,0".into(),
        "--srv-host=_sip._tcp.plain.sipedge.test,three.sipedge.test,5090,10,0".into(),
        one,
        "--host-record=two.sipedge.test,127.0.0.22".into(),
        "--host-record=three.sipedge.test,127.0.0.23".into(),
        "--host-record=four.sipedge.test,127.0.0.24,::1".into(),
        "--host-record=bare.sipedge.test,127.0.0.25".into(),
    ]
}

/// dnsmasq serving [`zone`], answering once this returns.
fn dnsmasq() -> Dnsmasq {
    Dnsmasq::start(free_port(), &zone())
}

fn uri(s: &str) -> CoreUri {
    s.parse().unwrap()
}

/// Each target `uri` resolves to, as `address transport priority/weight name`, and the TTL.
async fn targets(resolver: &Resolver, uri: &str) -> (Vec<String>, Duration) {
    let r: Resolution = resolver.resolve(&self::uri(uri)).await.unwrap();
    let rows = r
        .targets
        .iter()
        .map(|t: &Target| {
            let name = t.name.as_deref().unwrap_or("-");
            format!(
                "{} {:?} {}/{} {name}",
                t.addr, t.transport, t.priority, t.weight
            )
        })
        .collect();
    (rows, r.ttl)
}

#[tokio::test]
async fn naptr_then_srv_then_addresses_in_priority_order() {
    let dns = dnsmasq();
    let resolver = Resolver::new(&[dns.addr]).unwrap();
    let started = Instant::now();
    let r = targets(&resolver, "sip:core.sipedge.test").await;
    let first = started.elapsed();
    // SIP+D2S (order 5) is skipped; SIP+D2U (order 10) wins; its SRV targets by priority.
    assert_eq!(
        r.0,
        [
            "127.0.0.21:5070 Udp 10/5 one.sipedge.test",
            "127.0.0.22:5071 Udp 20/0 two.sipedge.test",
        ]
    );
    // The smallest TTL on the way is one's A record, as dnsmasq served it.
    assert_eq!(r.1, Duration::from_secs(ONE_TTL));
    let started = Instant::now();
    let again = targets(&resolver, "sip:core.sipedge.test").await;
    let cached = started.elapsed();
    assert_eq!(again.0, r.0);
    assert!(again.1 <= r.1, "{:?}", again.1);
    // Fresh resolvers: every lookup goes to dnsmasq.
    let mut uncached: Vec<Duration> = Vec::new();
    for _ in 0..20 {
        let fresh = Resolver::new(&[dns.addr]).unwrap();
        let started = Instant::now();
        fresh.resolve(&uri("sip:core.sipedge.test")).await.unwrap();
        uncached.push(started.elapsed());
    }
    uncached.sort();
    eprintln!(
        "NAPTR -> SRV -> 2 x A/AAAA: first {first:?}, cached {cached:?}, uncached median {:?} max {:?}",
        uncached[uncached.len() / 2],
        uncached[uncached.len() - 1]
    );
}

#[tokio::test]
async fn sips_follows_only_sips_naptr_records() {
    let dns = dnsmasq();
    let resolver = Resolver::new(&[dns.addr]).unwrap();
    let r = targets(&resolver, "sips:core.sipedge.test").await;
    assert_eq!(
        r.0,
        [
            "127.0.0.24:5081 Tls 10/0 four.sipedge.test",
            "[::1]:5081 Tls 10/0 four.sipedge.test",
        ]
    );
    assert_eq!(r.1, Duration::from_secs(LOCAL_TTL));
}

#[tokio::test]
async fn an_explicit_transport_takes_its_srv_records() {
    let dns = dnsmasq();
    let resolver = Resolver::new(&[dns.addr]).unwrap();
    let r = targets(&resolver, "sip:core.sipedge.test;transport=tcp").await;
    assert_eq!(r.0, ["127.0.0.23:5080 Tcp 10/0 three.sipedge.test"]);
    // No SRV for the transport: the name's own address with the transport's default port.
    let r = targets(&resolver, "sip:bare.sipedge.test;transport=tls").await;
    assert_eq!(r.0, ["127.0.0.25:5061 Tls 0/0 bare.sipedge.test"]);
}

#[tokio::test]
async fn an_explicit_port_takes_addresses_only() {
    let dns = dnsmasq();
    let resolver = Resolver::new(&[dns.addr]).unwrap();
    let r = targets(&resolver, "sip:one.sipedge.test:5999").await;
    assert_eq!(r.0, ["127.0.0.21:5999 Udp 0/0 one.sipedge.test"]);
    assert_eq!(r.1, Duration::from_secs(ONE_TTL));
    // core has NAPTR and SRV records but no address: with a port, only A/AAAA is asked.
    match resolver.resolve(&uri("sip:core.sipedge.test:5060")).await {
        Err(ResolveError::NotFound { name, tried }) => {
            assert_eq!(name, "core.sipedge.test");
            assert_eq!(tried, "A/AAAA core.sipedge.test");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn without_naptr_srv_then_addresses() {
    let dns = dnsmasq();
    let resolver = Resolver::new(&[dns.addr]).unwrap();
    let r = targets(&resolver, "sip:plain.sipedge.test").await;
    assert_eq!(r.0, ["127.0.0.23:5090 Tcp 10/0 three.sipedge.test"]);
    let r = targets(&resolver, "sip:bare.sipedge.test").await;
    assert_eq!(r.0, ["127.0.0.25:5060 Udp 0/0 bare.sipedge.test"]);
    let r = targets(&resolver, "sips:bare.sipedge.test").await;
    assert_eq!(r.0, ["127.0.0.25:5061 Tls 0/0 bare.sipedge.test"]);
}

#[tokio::test]
async fn a_missing_name_is_an_error_naming_it_and_each_lookup() {
    let dns = dnsmasq();
    let resolver = Resolver::new(&[dns.addr]).unwrap();
    let e = resolver
        .resolve(&uri("sip:missing.sipedge.test"))
        .await
        .unwrap_err();
    let ResolveError::NotFound { name, tried } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(name, "missing.sipedge.test");
    assert_eq!(
        tried,
        "NAPTR missing.sipedge.test, SRV _sips._tcp.missing.sipedge.test, \
         SRV _sip._tcp.missing.sipedge.test, SRV _sip._udp.missing.sipedge.test, \
         A/AAAA missing.sipedge.test"
    );
    assert!(e.to_string().contains("missing.sipedge.test"), "{e}");
}
