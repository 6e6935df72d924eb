//! WSS-independent parts of issue 8 over real sockets: handshake authentication (RFC 7118 §7) with the identity
//! bound to the flow, the Origin allow-list, per-source-IP connection caps, and the per-connection request rate.

mod common;

use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

/// At least 32 bytes: sipedged refuses a shorter HS256 secret.
const SECRET: &str = "integration-secret-of-32-bytes-x";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(user: &str, aud: &str, exp: u64) -> String {
    let claims = json!({"sip_aor": format!("sip:{user}@example.test"), "aud": aud, "exp": exp});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn auth_config(mode: &str) -> String {
    format!("[auth]\nmode = \"{mode}\"\nsecret = \"{SECRET}\"\naudience = \"sipedge\"\n")
}

/// A UA on an already-open WebSocket.
fn ua(user: &str, ws: WsSip) -> Ua {
    Ua {
        user: user.into(),
        host: format!("{user}ws.invalid"),
        ws,
        cseq: 0,
        tag: format!("t{user}"),
    }
}

#[test]
fn bearer_token_statuses_and_identity_binding() {
    let gw = Gateway::start(&auth_config("bearer"));
    let status_of = |r: Result<WsSip, String>| r.err().unwrap_or_else(|| "HTTP/1.1 101".into());
    // No token, expired, wrong audience, forged.
    assert!(
        status_of(WsSip::connect_full(gw.port, &["sip"], "/", "", None))
            .starts_with("HTTP/1.1 401")
    );
    let expired = token("alice", "sipedge", now() - 600);
    let r = WsSip::connect_full(
        gw.port,
        &["sip"],
        &format!("/?access_token={expired}"),
        "",
        None,
    );
    assert!(status_of(r).starts_with("HTTP/1.1 401"));
    let other = token("alice", "another-service", now() + 600);
    let r = WsSip::connect_full(
        gw.port,
        &["sip"],
        "/",
        &format!("Authorization: Bearer {other}\r\n"),
        None,
    );
    assert!(status_of(r).starts_with("HTTP/1.1 403"));
    let forged = encode(
        &Header::default(),
        &json!({"sip_aor": "alice", "aud": "sipedge", "exp": now() + 600}),
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    let r = WsSip::connect_full(
        gw.port,
        &["sip"],
        &format!("/?access_token={forged}"),
        "",
        None,
    );
    assert!(status_of(r).starts_with("HTTP/1.1 401"));
    assert_eq!(
        gw.metric("sipedge_handshake_rejections_total{reason=\"auth_missing\"}"),
        1
    );
    assert_eq!(
        gw.metric("sipedge_handshake_rejections_total{reason=\"auth_expired\"}"),
        1
    );
    assert_eq!(
        gw.metric("sipedge_handshake_rejections_total{reason=\"auth_audience\"}"),
        1
    );
    assert_eq!(
        gw.metric("sipedge_handshake_rejections_total{reason=\"auth_invalid\"}"),
        1
    );

    // A valid token in the query string (browsers cannot set headers on a WebSocket).
    let t = token("alice", "sipedge", now() + 600);
    let ws = WsSip::connect_full(gw.port, &["sip"], &format!("/?access_token={t}"), "", None)
        .expect("101");
    let mut alice = ua("alice", ws);
    assert_eq!(status(&alice.register(300)), 200);
    // Registering as someone else: 403.
    let mut as_bob = ua("bob", alice.ws_take());
    let r = as_bob.register(300);
    assert_eq!(status(&r), 403, "{}", text(&r));
    // An INVITE with someone else's From: 403.
    let mut alice = ua("alice", as_bob.ws_take());
    let inv = alice.request(
        "INVITE",
        "sip:alice@example.test",
        "<sip:alice@example.test>",
        "id-1",
        "",
        "",
    );
    let forged_from = inv.replace(
        "From: \"alice\" <sip:alice@example.test>",
        "From: \"carol\" <sip:carol@example.test>",
    );
    alice.ws.send(&forged_from);
    let r = alice.ws.recv();
    assert_eq!(status(&r), 403, "{}", text(&r));
}

#[test]
fn listener_with_auth_off_beside_one_with_auth() {
    let open_port = free_tcp_port();
    let gw = Gateway::start(&format!(
        "{}[[listen]]\naddress = \"127.0.0.1:{open_port}\"\nauth = false\n",
        auth_config("bearer")
    ));
    let refused = WsSip::connect_full(gw.port, &["sip"], "/", "", None).err();
    assert!(
        refused
            .as_deref()
            .is_some_and(|s| s.starts_with("HTTP/1.1 401")),
        "{refused:?}"
    );
    // No token needed on the listener that says auth = false; no identity is bound to its flows.
    let mut carol = ua("carol", WsSip::connect(open_port));
    assert_eq!(status(&carol.register(600)), 200);
}

#[test]
fn cookie_token() {
    // Cookie authentication needs the Origin allow-list (the test client's Origin is http://127.0.0.1).
    let gw = Gateway::start(&format!(
        "{}[limits]\nallowed_origins = [\"http://127.0.0.1\"]\n",
        auth_config("cookie")
    ));
    let t = token("alice", "sipedge", now() + 600);
    let ws = WsSip::connect_full(
        gw.port,
        &["sip"],
        "/",
        &format!("Cookie: lang=en; sipedge_token={t}\r\n"),
        None,
    );
    let mut alice = ua("alice", ws.expect("101 with the cookie"));
    assert_eq!(status(&alice.register(300)), 200);
    // The same token as a bearer header does not count in cookie mode.
    let r = WsSip::connect_full(
        gw.port,
        &["sip"],
        "/",
        &format!("Authorization: Bearer {t}\r\n"),
        None,
    );
    assert!(r.err().unwrap_or_default().starts_with("HTTP/1.1 401"));
}

#[test]
fn origin_not_allowed_is_403() {
    let gw = Gateway::start("[limits]\nallowed_origins = [\"https://app.example\"]\n");
    let err = WsSip::connect_with(gw.port, &["sip"])
        .err()
        .expect("refused");
    assert!(err.starts_with("HTTP/1.1 403"), "{err}");
    assert_eq!(
        gw.metric("sipedge_handshake_rejections_total{reason=\"origin\"}"),
        1
    );
}

#[test]
fn per_ip_connection_cap_spares_other_addresses() {
    let gw = Gateway::start("[limits]\nmax_connections_per_ip = 3\n");
    let src = Some(Ipv4Addr::new(127, 0, 0, 2));
    let held: Vec<WsSip> = (0..3)
        .map(|_| WsSip::connect_full(gw.port, &["sip"], "/", "", src).expect("within the cap"))
        .collect();
    let err = WsSip::connect_full(gw.port, &["sip"], "/", "", src)
        .err()
        .expect("over the cap");
    assert!(err.starts_with("HTTP/1.1 503") || err.is_empty(), "{err:?}");
    // Another source address is not affected, and registers normally.
    let other = WsSip::connect_full(
        gw.port,
        &["sip"],
        "/",
        "",
        Some(Ipv4Addr::new(127, 0, 0, 3)),
    )
    .expect("other source");
    let mut carol = ua("carol", other);
    assert_eq!(status(&carol.register(300)), 200);
    assert!(gw.metric("sipedge_handshake_rejections_total{reason=\"ip_connection_cap\"}") >= 1);
    // Closing one frees a place.
    drop(held);
    std::thread::sleep(std::time::Duration::from_millis(300));
    WsSip::connect_full(gw.port, &["sip"], "/", "", src).expect("a place freed");
}

#[test]
fn request_rate_is_throttled_per_connection() {
    let gw = Gateway::start("[limits]\nrequests_per_second = 5\nrequest_burst = 5\n");
    let mut noisy = Ua::new("noisy", gw.port);
    let mut quiet = Ua::new("quiet", gw.port);
    let mut rejected = 0;
    for i in 0..20 {
        let m = noisy.request(
            "OPTIONS",
            "sip:127.0.0.1",
            "<sip:127.0.0.1>",
            &format!("o{i}"),
            "",
            "",
        );
        noisy.ws.send(&m);
    }
    for _ in 0..20 {
        let r = noisy.ws.recv();
        if status(&r) == 503 {
            assert_eq!(header(&r, "Retry-After").as_deref(), Some("1"));
            rejected += 1;
        }
    }
    assert!(
        (10..=15).contains(&rejected),
        "{rejected} of 20 rejected at 5/s with a burst of 5"
    );
    // The quiet connection is not affected.
    let m = quiet.request("OPTIONS", "sip:127.0.0.1", "<sip:127.0.0.1>", "q1", "", "");
    quiet.ws.send(&m);
    assert_eq!(status(&quiet.ws.recv()), 200);
}
