//! Every way a connection is refused before it becomes a WebSocket, and the ways it gets through.

use std::time::Duration;

use serde_json::json;

use super::*;

fn refused(got: &[Rec], status: &str, why: HandshakeRejection) {
    assert!(
        status_line(got).starts_with(status),
        "{}: {got:?}",
        status_line(got)
    );
    assert!(got.contains(&Rec::Rejected(why)), "{got:?}");
    assert_eq!(close_of(got), Some(Close::Graceful(None)));
    assert!(!got.contains(&Rec::Opened));
}

#[test]
fn a_browser_request_is_upgraded_with_sip() {
    let mut h = Harness::new(policy());
    assert!(h.log.contains(&Rec::Count(Counter::Accepted, 1)));
    let got = h.feed(&sip_upgrade());
    assert_eq!(status_line(&got), "HTTP/1.1 101 Switching Protocols");
    assert!(
        String::from_utf8_lossy(&transmitted(&got)).contains("Sec-WebSocket-Protocol: sip\r\n")
    );
    assert_eq!(got.last(), Some(&Rec::Opened));
    assert!(h.session.is_websocket());
}

#[test]
fn a_request_in_pieces_is_upgraded() {
    let mut h = Harness::new(policy());
    let req = sip_upgrade();
    assert!(h.feed(&req[..20]).is_empty());
    assert!(h.feed(&req[20..60]).is_empty());
    assert!(h.feed(&req[60..]).contains(&Rec::Opened));
}

#[test]
fn wrong_path_is_404() {
    let mut h = Harness::new(policy());
    let got = h.feed(&upgrade("/other", "Sec-WebSocket-Protocol: sip\r\n"));
    refused(&got, "HTTP/1.1 404", HandshakeRejection::WrongPath);
    assert!(h.session.is_closed() && !h.session.is_websocket());
    assert!(
        h.feed(&text(MESSAGE)).is_empty(),
        "input after a refusal is ignored"
    );
}

#[test]
fn the_query_string_does_not_count_in_the_path() {
    let mut h = Harness::new(policy());
    assert!(
        h.feed(&upgrade("/?x=1", "Sec-WebSocket-Protocol: sip\r\n"))
            .contains(&Rec::Opened)
    );
}

#[test]
fn foreign_origin_is_403() {
    let mut p = policy();
    p.allowed_origins = vec!["https://app.example".into()];
    let mut h = Harness::new(p);
    let got = h.feed(&upgrade(
        "/",
        "Sec-WebSocket-Protocol: sip\r\nOrigin: https://evil.example\r\n",
    ));
    refused(&got, "HTTP/1.1 403", HandshakeRejection::Origin);
    let mut p = policy();
    p.allowed_origins = vec!["https://app.example".into()];
    let mut h = Harness::new(p);
    let got = h.feed(&upgrade("/", "Sec-WebSocket-Protocol: sip\r\n"));
    refused(&got, "HTTP/1.1 403", HandshakeRejection::Origin);
    let mut p = policy();
    p.allowed_origins = vec!["https://app.example".into()];
    assert!(Harness::new(p).feed(&sip_upgrade()).contains(&Rec::Opened));
}

#[test]
fn no_sip_subprotocol_is_400() {
    let mut h = Harness::new(policy());
    let got = h.feed(&upgrade("/", "Sec-WebSocket-Protocol: chat\r\n"));
    refused(&got, "HTTP/1.1 400", HandshakeRejection::NoSipSubprotocol);
    let mut h = Harness::new(policy());
    let got = h.feed(&upgrade("/", ""));
    refused(&got, "HTTP/1.1 400", HandshakeRejection::NoSipSubprotocol);
}

#[test]
fn not_an_upgrade_is_400_and_a_huge_head_is_431() {
    let mut h = Harness::new(policy());
    let got = h.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    refused(&got, "HTTP/1.1 400", HandshakeRejection::BadRequest);
    let mut h = Harness::new(policy());
    let mut huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    huge.resize(64 * 1024, b'a');
    let got = h.feed(&huge);
    refused(&got, "HTTP/1.1 431", HandshakeRejection::TooLarge);
}

#[test]
fn a_slow_handshake_is_408_at_its_deadline() {
    let mut h = Harness::new(policy());
    assert!(h.feed(b"GET / HTTP/1.1\r\n").is_empty());
    assert_eq!(
        h.session.poll_timeout(),
        Some(h.now + Duration::from_secs(10))
    );
    assert!(h.advance(Duration::from_secs(9)).is_empty());
    let got = h.advance(Duration::from_secs(1));
    refused(&got, "HTTP/1.1 408", HandshakeRejection::Timeout);
    assert_eq!(h.session.poll_timeout(), None);
}

#[test]
fn missing_or_bad_credentials_are_401_with_the_scheme() {
    for extra in [
        String::new(),
        "Authorization: Bearer not.a.jwt\r\n".to_string(),
        format!(
            "Authorization: Bearer {}\r\n",
            token(
                json!({"sip_aor": "alice", "aud": "sipedge", "exp": crate::auth::unix_now() - 60})
            )
        ),
    ] {
        let mut p = policy();
        p.auth = bearer_auth();
        let mut h = Harness::new(p);
        let got = h.feed(&upgrade(
            "/",
            &format!("Sec-WebSocket-Protocol: sip\r\n{extra}"),
        ));
        assert!(status_line(&got).starts_with("HTTP/1.1 401"), "{got:?}");
        assert!(String::from_utf8_lossy(&transmitted(&got)).contains("WWW-Authenticate: Bearer"));
        assert!(
            got.iter().any(|r| matches!(
                r,
                Rec::Rejected(
                    HandshakeRejection::AuthMissing
                        | HandshakeRejection::AuthInvalid
                        | HandshakeRejection::AuthExpired
                )
            )),
            "{got:?}"
        );
        assert_eq!(close_of(&got), Some(Close::Graceful(None)));
    }
}

#[test]
fn a_credential_for_another_audience_or_no_identity_is_403() {
    for (claims, why) in [
        (
            json!({"sip_aor": "alice", "aud": "other", "exp": crate::auth::unix_now() + 600}),
            HandshakeRejection::AuthAudience,
        ),
        (
            json!({"aud": "sipedge", "exp": crate::auth::unix_now() + 600}),
            HandshakeRejection::AuthIdentity,
        ),
    ] {
        let mut p = policy();
        p.auth = bearer_auth();
        let mut h = Harness::new(p);
        let got = h.feed(&upgrade(
            "/",
            &format!(
                "Sec-WebSocket-Protocol: sip\r\nAuthorization: Bearer {}\r\n",
                token(claims)
            ),
        ));
        refused(&got, "HTTP/1.1 403", why);
    }
}

#[test]
fn a_listener_without_auth_skips_it() {
    let mut p = policy();
    p.auth = bearer_auth();
    p.listeners[0].authenticate = false;
    assert!(Harness::new(p).feed(&sip_upgrade()).contains(&Rec::Opened));
}

#[test]
fn a_valid_credential_binds_its_identity_to_the_flow() {
    let mut p = policy();
    p.auth = bearer_auth();
    let mut h = Harness::new(p);
    let t = token(
        json!({"sip_aor": "sip:alice@example.com", "aud": "sipedge", "exp": crate::auth::unix_now() + 600}),
    );
    let got = h.feed(&upgrade(
        "/",
        &format!("Sec-WebSocket-Protocol: sip\r\nAuthorization: Bearer {t}\r\n"),
    ));
    assert!(got.contains(&Rec::Opened), "{got:?}");
    let got = h.feed(&text(MESSAGE));
    assert!(
        got.iter()
            .any(|r| matches!(r, Rec::ToEdge { user: Some(u), .. } if u == "alice")),
        "{got:?}"
    );
}

#[test]
fn per_ip_connection_cap_is_503_at_accept_and_released_at_close() {
    let mut p = policy();
    p.ip_limits = std::sync::Arc::new(IpLimits::new(1, 0, 0));
    let mut first = Harness::new(p);
    assert!(!first.session.is_closed());
    let second = Harness::new(std::mem::replace(&mut first.policy, policy()));
    refused(
        &second.log,
        "HTTP/1.1 503",
        HandshakeRejection::IpConnectionCap,
    );
    let p = second.policy;
    first.session.closed(&p);
    let third = Harness::new(p);
    assert!(
        !third.session.is_closed(),
        "the first connection's count was released"
    );
}

#[test]
fn per_ip_handshake_rate_is_503() {
    let mut p = policy();
    p.ip_limits = std::sync::Arc::new(IpLimits::new(0, 1, 1));
    let first = Harness::new(p);
    let second = Harness::new(first.policy);
    refused(
        &second.log,
        "HTTP/1.1 503",
        HandshakeRejection::IpHandshakeRate,
    );
}

#[test]
fn the_node_handshake_rate_is_503_with_retry_after_for_upgrades_only() {
    let mut p = policy();
    p.node_handshakes = std::sync::Arc::new(crate::limits::NodeHandshakeRate::new(2));
    let mut h = Harness::new(p);
    assert!(h.feed(&sip_upgrade()).contains(&Rec::Opened));
    let mut h = Harness::new(h.policy);
    assert!(h.feed(&sip_upgrade()).contains(&Rec::Opened));
    // Refused for another reason: takes nothing from the rate.
    let mut h = Harness::new(h.policy);
    let got = h.feed(&upgrade("/", "Sec-WebSocket-Protocol: other\r\n"));
    refused(&got, "HTTP/1.1 400", HandshakeRejection::NoSipSubprotocol);
    let mut h = Harness::new(h.policy);
    let got = h.feed(&sip_upgrade());
    refused(&got, "HTTP/1.1 503", HandshakeRejection::NodeHandshakeRate);
    let answer = String::from_utf8_lossy(&transmitted(&got)).into_owned();
    assert!(answer.contains("\r\nRetry-After: 1\r\n"), "{answer}");
    // A second later the node takes upgrades again.
    let mut h = Harness::new(h.policy);
    h.now += Duration::from_secs(1);
    assert!(h.feed(&sip_upgrade()).contains(&Rec::Opened));
}

#[test]
fn a_trusted_proxy_names_the_client_and_its_limits_apply_to_the_client() {
    let proxy: SocketAddr = "10.0.0.9:5555".parse().unwrap();
    let mut p = policy();
    p.trusted_proxies = vec![proxy.ip()];
    p.ip_limits = std::sync::Arc::new(IpLimits::new(1, 0, 0));
    let xff = "Sec-WebSocket-Protocol: sip\r\nX-Forwarded-For: 198.51.100.1, 203.0.113.5\r\n";
    let mut a = Harness::from_peer(p, proxy, false);
    assert!(a.feed(&upgrade("/", xff)).contains(&Rec::Opened));
    let got = a.feed(&text(MESSAGE));
    let client: IpAddr = "203.0.113.5".parse().unwrap();
    assert!(
        got.iter()
            .any(|r| matches!(r, Rec::ToEdge { client: Some(c), .. } if *c == client)),
        "the last X-Forwarded-For entry is the client: {got:?}"
    );
    let mut b = Harness::from_peer(std::mem::replace(&mut a.policy, policy()), proxy, false);
    let got = b.feed(&upgrade("/", xff));
    refused(&got, "HTTP/1.1 503", HandshakeRejection::IpConnectionCap);
}

#[test]
fn x_forwarded_for_from_anyone_else_is_ignored_and_counted() {
    let mut h = Harness::new(policy());
    let got = h.feed(&upgrade(
        "/",
        "Sec-WebSocket-Protocol: sip\r\nX-Forwarded-For: 203.0.113.5\r\n",
    ));
    assert!(
        got.contains(&Rec::Count(Counter::ForwardedForIgnored, 1)),
        "{got:?}"
    );
    let got = h.feed(&text(MESSAGE));
    let peer: IpAddr = "192.0.2.7".parse().unwrap();
    assert!(
        got.iter()
            .any(|r| matches!(r, Rec::ToEdge { client: Some(c), .. } if *c == peer))
    );
}

#[test]
fn frames_after_the_request_in_the_same_read_are_received() {
    let mut h = Harness::new(policy());
    let mut bytes = sip_upgrade();
    bytes.extend_from_slice(&text(MESSAGE));
    let got = h.feed(&bytes);
    let opened = got.iter().position(|r| *r == Rec::Opened).unwrap();
    let to_edge = got
        .iter()
        .position(|r| matches!(r, Rec::ToEdge { .. }))
        .unwrap();
    assert!(opened < to_edge, "{got:?}");
}

#[test]
fn plain_http_for_the_phone_is_answered_and_closed() {
    let mut h = Harness::new(policy());
    let got = h.feed(b"GET /phone HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(status_line(&got).starts_with("HTTP/1.1 30"), "{got:?}");
    assert_eq!(close_of(&got), Some(Close::Graceful(None)));
    assert!(!got.iter().any(|r| matches!(r, Rec::Rejected(_))));
}

#[test]
fn a_sip_stream_from_the_core_only_when_the_core_uses_tcp() {
    let options = b"OPTIONS sip:edge SIP/2.0\r\nVia: SIP/2.0/TCP core;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
    let mut p = policy();
    p.core_streams = true;
    let mut h = Harness::from_core(p);
    let got = h.feed(options);
    assert_eq!(got, vec![Rec::FromCore(options.to_vec())]);
    assert_eq!(
        h.session.poll_timeout(),
        Some(h.now + Duration::from_secs(300)),
        "a stream's deadline is its idle timeout, not the handshake's"
    );
    let got = h.feed(b"garbage\r\n\r\n");
    assert!(
        got.contains(&Rec::Failed(RoutingFailure::Malformed)),
        "{got:?}"
    );
    assert_eq!(close_of(&got), Some(Close::Graceful(None)));

    let mut h = Harness::new(policy());
    let got = h.feed(options);
    refused(&got, "HTTP/1.1 4", HandshakeRejection::BadRequest);
}

/// The client address the session hands to the edge with the first message, once it is open.
fn client_at_edge(h: &mut Harness) -> Option<IpAddr> {
    h.feed(&text(MESSAGE)).iter().find_map(|r| match r {
        Rec::ToEdge { client, .. } => *client,
        _ => None,
    })
}

#[test]
fn two_addresses_of_one_ipv6_slash64_share_the_connection_cap() {
    let mut p = policy();
    p.ip_limits = std::sync::Arc::new(IpLimits::new(1, 0, 0));
    let first = Harness::from_peer(p, "[2001:db8:5:6::1]:40000".parse().unwrap(), false);
    assert!(!first.session.is_closed());
    let second = Harness::from_peer(
        first.policy,
        "[2001:db8:5:6:a:b:c:d]:40000".parse().unwrap(),
        false,
    );
    refused(
        &second.log,
        "HTTP/1.1 503",
        HandshakeRejection::IpConnectionCap,
    );
    let other = Harness::from_peer(
        second.policy,
        "[2001:db8:5:7::1]:40000".parse().unwrap(),
        false,
    );
    assert!(!other.session.is_closed(), "another /64 is another source");
}

#[test]
fn a_trusted_proxy_seen_as_an_ipv4_mapped_address_is_recognised() {
    let mut p = policy();
    p.trusted_proxies = vec!["10.0.0.9".parse().unwrap()];
    p.ip_limits = std::sync::Arc::new(IpLimits::new(1, 0, 0));
    let proxy: SocketAddr = "[::ffff:10.0.0.9]:5555".parse().unwrap();
    let mut a = Harness::from_peer(p, proxy, false);
    assert!(!a.session.is_closed());
    let xff = |ip: &str| format!("Sec-WebSocket-Protocol: sip\r\nX-Forwarded-For: {ip}\r\n");
    assert!(
        a.feed(&upgrade("/", &xff("203.0.113.5")))
            .contains(&Rec::Opened)
    );
    assert_eq!(
        client_at_edge(&mut a),
        Some("203.0.113.5".parse().unwrap()),
        "the proxy's X-Forwarded-For is believed"
    );
    let mut b = Harness::from_peer(std::mem::replace(&mut a.policy, policy()), proxy, false);
    assert!(
        !b.session.is_closed(),
        "the proxy itself is not held to the per-IP cap"
    );
    let got = b.feed(&upgrade("/", &xff("198.51.100.1")));
    assert!(got.contains(&Rec::Opened), "{got:?}");
    assert!(!got.contains(&Rec::Count(Counter::ForwardedForIgnored, 1)));
}

#[test]
fn an_ipv4_client_on_a_dual_stack_listener_counts_and_reaches_the_edge_as_ipv4() {
    let mut p = policy();
    p.ip_limits = std::sync::Arc::new(IpLimits::new(1, 0, 0));
    let mut mapped = Harness::from_peer(p, "[::ffff:192.0.2.7]:40000".parse().unwrap(), false);
    assert!(mapped.feed(&sip_upgrade()).contains(&Rec::Opened));
    assert_eq!(
        client_at_edge(&mut mapped),
        Some("192.0.2.7".parse().unwrap())
    );
    let plain = Harness::new(std::mem::replace(&mut mapped.policy, policy()));
    refused(
        &plain.log,
        "HTTP/1.1 503",
        HandshakeRejection::IpConnectionCap,
    );
}

#[test]
fn a_client_named_as_an_ipv4_mapped_address_by_a_proxy_is_ipv4() {
    let proxy: SocketAddr = "10.0.0.9:5555".parse().unwrap();
    let mut p = policy();
    p.trusted_proxies = vec![proxy.ip()];
    let mut h = Harness::from_peer(p, proxy, false);
    let got = h.feed(&upgrade(
        "/",
        "Sec-WebSocket-Protocol: sip\r\nX-Forwarded-For: ::ffff:203.0.113.5\r\n",
    ));
    assert!(got.contains(&Rec::Opened), "{got:?}");
    assert_eq!(client_at_edge(&mut h), Some("203.0.113.5".parse().unwrap()));
}

#[test]
fn a_browser_speaking_sip_on_the_websocket_port_is_not_taken_for_the_core() {
    let options = b"OPTIONS sip:edge SIP/2.0\r\nVia: SIP/2.0/TCP core;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
    let mut p = policy();
    p.core_streams = true;
    let mut h = Harness::new(p);
    let got = h.feed(options);
    assert!(
        !got.iter().any(|r| matches!(r, Rec::FromCore(_))),
        "{got:?}"
    );
    assert!(
        got.contains(&Rec::Failed(RoutingFailure::NotFromCore)),
        "{got:?}"
    );
    assert_eq!(close_of(&got), Some(Close::Graceful(None)));
    assert_eq!(transmitted(&got), Vec::<u8>::new(), "nothing is answered");
}

#[test]
fn an_idle_sip_stream_from_the_core_is_closed() {
    let options = b"OPTIONS sip:edge SIP/2.0\r\nVia: SIP/2.0/TCP core;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
    let mut p = policy();
    p.core_streams = true;
    let mut h = Harness::from_core(p);
    h.feed(options);
    assert!(h.advance(Duration::from_secs(200)).is_empty());
    h.feed(options);
    assert!(
        close_of(&h.advance(Duration::from_secs(200))).is_none(),
        "bytes moved the deadline"
    );
    let got = h.advance(Duration::from_secs(100));
    assert_eq!(close_of(&got), Some(Close::Graceful(None)));
    assert_eq!(h.session.poll_timeout(), None);
}

#[test]
fn the_address_of_a_trusted_balancer_is_never_written_in_via() {
    let proxy: SocketAddr = "10.0.0.9:5555".parse().unwrap();
    let mut p = policy();
    p.trusted_proxies = vec![proxy.ip()];
    // No X-Forwarded-For: the client's address is the balancer's own.
    let mut h = Harness::from_peer(p, proxy, false);
    assert!(h.feed(&sip_upgrade()).contains(&Rec::Opened));
    let got = h.feed(&text(MESSAGE));
    assert!(
        got.iter()
            .any(|r| matches!(r, Rec::ToEdge { client: None, .. })),
        "{got:?}"
    );
}

#[test]
fn with_received_public_a_private_client_address_is_not_written() {
    let mut p = policy();
    p.received = crate::config::Received::Public;
    let mut h = Harness::from_peer(p, "10.1.2.3:40000".parse().unwrap(), false);
    h.feed(&sip_upgrade());
    let got = h.feed(&text(MESSAGE));
    assert!(
        got.iter()
            .any(|r| matches!(r, Rec::ToEdge { client: None, .. })),
        "{got:?}"
    );
    let mut p = policy();
    p.received = crate::config::Received::Public;
    let mut h = Harness::from_peer(p, "81.2.69.160:40000".parse().unwrap(), false);
    h.feed(&sip_upgrade());
    let got = h.feed(&text(MESSAGE));
    let public: IpAddr = "81.2.69.160".parse().unwrap();
    assert!(
        got.iter()
            .any(|r| matches!(r, Rec::ToEdge { client: Some(c), .. } if *c == public))
    );
}
