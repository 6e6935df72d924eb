//! Issue 19 item 9 over real sockets: on a dual-stack `[::]` listener an IPv4 peer is seen as an IPv4-mapped
//! IPv6 address (`::ffff:a.b.c.d`); the gateway must still recognise it as the trusted proxy it is configured as.

mod common;

use common::*;

/// The sum of a counter over its labels (one line per worker).
fn sum_of(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_trusted_proxy_seen_as_an_ipv4_mapped_address_on_a_dual_stack_listener_is_recognised() {
    let dual = free_tcp_port();
    // A second listener on [::]: a connection from 127.0.0.1 arrives there as ::ffff:127.0.0.1.
    let gw = Gateway::start(&format!(
        "[limits]\nmax_connections_per_ip = 1\ntrusted_proxies = [\"127.0.0.1\"]\n\
         [[listen]]\naddress = \"[::]:{dual}\"\n"
    ));
    let through_proxy = |client: &str| {
        WsSip::connect_full(
            dual,
            &["sip"],
            "/",
            &format!("X-Forwarded-For: {client}\r\n"),
            None,
        )
    };
    // The proxy is not held to the per-IP cap, and each client it names is counted on its own.
    let first = through_proxy("203.0.113.5").expect("first client through the proxy");
    let second = through_proxy("198.51.100.1").expect(
        "a second client through the same proxy is not refused as the proxy's second connection",
    );
    assert_eq!(
        sum_of(&gw.metrics(), "sipedge_forwarded_for_ignored_total"),
        0,
        "the proxy's X-Forwarded-For is believed"
    );
    // The cap still holds for each client the proxy names.
    let again = through_proxy("203.0.113.5");
    assert!(
        again.as_ref().is_err_and(|e| e.starts_with("HTTP/1.1 503")),
        "the first client's second connection is over the cap: {:?}",
        again.err()
    );
    drop((first, second));
}
