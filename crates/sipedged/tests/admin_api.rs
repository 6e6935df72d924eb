//! The admin API against a running daemon: list and find connections, close one with a chosen code, the
//! registrar's bindings, a drain spread over its period, and the guard (token, loopback Host, Origin, JSON).

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::admin::{get, post, request};
use common::{Gateway, Ua, WsSip, status};

/// Alice and bob registered on a standalone node.
fn two_users(gw: &Gateway) -> (Ua, Ua) {
    let mut alice = Ua::new("alice", gw.port);
    let mut bob = Ua::new("bob", gw.port);
    assert_eq!(status(&alice.register(600)), 200);
    assert_eq!(status(&bob.register(600)), 200);
    (alice, bob)
}

#[test]
fn connections_are_listed_found_by_aor_and_closed_with_a_chosen_code() {
    let gw = Gateway::start("");
    let (mut alice, mut bob) = two_users(&gw);
    let all = get(gw.admin, "/admin/connections").json();
    assert_eq!(all["workers_answered"], 2, "{all}");
    let list = all["connections"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{all}");
    for c in list {
        assert!(c["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{c}");
        assert!(c["bytes_in"].as_u64().unwrap() > 200, "{c}");
        assert!(c["bytes_out"].as_u64().unwrap() > 200, "{c}");
        assert!(c["age_seconds"].as_f64().unwrap() < 60.0, "{c}");
        assert_eq!(c["tls"], false);
        assert!(!c["flow"].as_str().unwrap().is_empty());
    }
    let found = get(
        gw.admin,
        "/admin/connections?aor=sip%3Aalice%40example.test",
    )
    .json();
    let found = found["connections"].as_array().unwrap().clone();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["aors"][0], "alice@example.test");
    let bindings = get(gw.admin, "/admin/bindings?aor=alice@example.test").json();
    assert_eq!(
        bindings["bindings"][0]["aor"], "alice@example.test",
        "{bindings}"
    );
    assert!(
        bindings["bindings"][0]["contact"]
            .as_str()
            .unwrap()
            .starts_with("sip:alice@")
    );
    // Close alice's connection with 4001; bob's stays.
    let flow = found[0]["flow"].as_str().unwrap();
    let closed = post(
        gw.admin,
        "/admin/close",
        &format!(r#"{{"flow":"{flow}","code":4001,"reason":"moved"}}"#),
    );
    assert_eq!(closed.status, 200, "{closed:?}");
    assert_eq!(alice.ws.recv_timeout(Duration::from_secs(3)), None);
    assert_eq!(alice.ws.closed, Some(Some(4001)));
    assert_eq!(
        status(&bob.register(600)),
        200,
        "bob's connection is served"
    );
    let again = post(gw.admin, "/admin/close", &format!(r#"{{"flow":"{flow}"}}"#));
    assert_eq!(again.status, 404, "{again:?}");
    let left = get(gw.admin, "/admin/connections").json();
    assert_eq!(left["connections"].as_array().unwrap().len(), 1, "{left}");
}

#[test]
fn bad_close_orders_are_refused_with_the_rule_they_break() {
    let gw = Gateway::start("");
    let (_alice, _bob) = two_users(&gw);
    let list = get(gw.admin, "/admin/connections").json();
    let flow = list["connections"][0]["flow"].as_str().unwrap().to_owned();
    for (body, why) in [
        (format!(r#"{{"flow":"{flow}","code":1006}}"#), "code"),
        (format!(r#"{{"flow":"{flow}","code":5000}}"#), "code"),
        (
            format!(r#"{{"flow":"{flow}","reason":"{}"}}"#, "x".repeat(124)),
            "reason",
        ),
        (r#"{"flow":"forged-token"}"#.to_owned(), "flow"),
        (r#"{"flow":1}"#.to_owned(), "close"),
        (format!(r#"{{"flow":"{flow}","extra":1}}"#), "close"),
    ] {
        let a = post(gw.admin, "/admin/close", &body);
        assert_eq!(a.status, 400, "{body}: {a:?}");
        assert!(a.body.contains(why), "{body}: {a:?}");
    }
    assert_eq!(
        get(gw.admin, "/admin/connections?limit=0").status,
        400,
        "limit out of range"
    );
    assert_eq!(get(gw.admin, "/admin/nothing").status, 404);
    assert_eq!(post(gw.admin, "/admin/connections", "{}").status, 405);
}

#[test]
fn the_api_refuses_other_origins_other_hosts_and_form_posts() {
    let gw = Gateway::start("");
    let p = gw.admin;
    let origin = request(
        p,
        "GET",
        "/admin/connections",
        &["Origin: http://evil.example"],
        "",
    );
    assert_eq!(origin.status, 403, "{origin:?}");
    let own = format!("Origin: http://127.0.0.1:{p}");
    assert_eq!(
        request(p, "GET", "/admin/connections", &[&own], "").status,
        200
    );
    // DNS rebinding: a name of the attacker's that resolves to 127.0.0.1.
    let rebound = request(p, "GET", "/admin/connections", &["Host: evil.example"], "");
    assert_eq!(rebound.status, 403, "{rebound:?}");
    let form = request(
        p,
        "POST",
        "/admin/drain",
        &["Content-Type: application/x-www-form-urlencoded"],
        "period=1s",
    );
    assert_eq!(form.status, 415, "{form:?}");
    // No CORS grant is ever sent.
    assert!(
        !origin.head.contains("access-control-allow"),
        "{}",
        origin.head
    );
    // The read-only pages stay open to any Host (Prometheus, probes).
    let metrics = request(p, "GET", "/metrics", &["Host: prometheus.internal"], "");
    assert_eq!(metrics.status, 200);
}

#[test]
fn with_a_token_the_api_needs_it() {
    let token = "0123456789abcdef-token";
    let gw = Gateway::start(&format!("token = \"{token}\"\n"));
    let p = gw.admin;
    let none = get(p, "/admin/connections");
    assert_eq!(none.status, 401, "{none:?}");
    assert!(
        none.head.contains("www-authenticate: bearer"),
        "{}",
        none.head
    );
    let wrong = request(
        p,
        "GET",
        "/admin/connections",
        &["Authorization: Bearer nope"],
        "",
    );
    assert_eq!(wrong.status, 401);
    let bearer = format!("Authorization: Bearer {token}");
    let ok = request(p, "GET", "/admin/connections", &[&bearer], "");
    assert_eq!(ok.status, 200, "{ok:?}");
    // With the token, any Host may be named (the operator reaches the node by its name).
    let named = request(
        p,
        "GET",
        "/admin/connections",
        &[&bearer, "Host: edge-1.example"],
        "",
    );
    assert_eq!(named.status, 200, "{named:?}");
}

/// When each client saw its close (on a thread each), with the close code.
fn close_times(
    clients: Vec<WsSip>,
    start: Instant,
    within: Duration,
) -> Vec<(Duration, Option<Option<u16>>)> {
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || {
                assert_eq!(c.recv_timeout(within), None);
                (start.elapsed(), c.closed)
            })
        })
        .collect();
    let mut out: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    out.sort_by_key(|(at, _)| *at);
    out
}

#[test]
fn a_drain_stops_accepting_and_closes_every_websocket_over_its_period() {
    let gw = Gateway::start("");
    let clients: Vec<WsSip> = (0..8).map(|_| WsSip::connect(gw.port)).collect();
    let start = Instant::now();
    let a = post(gw.admin, "/admin/drain", r#"{"period":"1s"}"#);
    assert_eq!(a.status, 202, "{a:?}");
    let closed = close_times(clients, start, Duration::from_secs(5));
    assert!(
        closed.iter().all(|(_, code)| *code == Some(Some(1001))),
        "{closed:?}"
    );
    assert!(
        closed[7].0 < Duration::from_secs(3),
        "all closed within the period: {closed:?}"
    );
    let status = get(gw.admin, "/status.json").json();
    assert_eq!(status["draining"], true);
    // No new connection is accepted once every worker closed its listener.
    let refused = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        TcpStream::connect(("127.0.0.1", gw.port)).is_err()
    });
    assert!(refused, "the listener is closed after a drain");
    let again = post(gw.admin, "/admin/drain", r#"{"period":"1s"}"#).json();
    assert_eq!(again["already"], true);
}

#[test]
fn a_drain_spreads_its_closes() {
    let gw = Gateway::start("");
    let clients: Vec<WsSip> = (0..20).map(|_| WsSip::connect(gw.port)).collect();
    let start = Instant::now();
    assert_eq!(
        post(gw.admin, "/admin/drain", r#"{"period":"2s"}"#).status,
        202
    );
    let closed = close_times(clients, start, Duration::from_secs(6));
    assert!(
        closed.iter().all(|(_, code)| *code == Some(Some(1001))),
        "{closed:?}"
    );
    // Not all at once: the first closes come early in the period, the last near its end.
    assert!(closed[0].0 < Duration::from_millis(800), "{closed:?}");
    assert!(closed[19].0 > Duration::from_millis(1200), "{closed:?}");
}
