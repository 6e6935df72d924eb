//! Keepalive pings with the time passed in, and the missing-pong report.

mod common;

use std::time::{Duration, Instant};

use common::*;
use wsproto::{Config, Connection, Keepalive, Role, Timeout};

fn with_keepalive() -> Connection {
    Connection::new(
        Role::Server,
        Config {
            keepalive: Some(Keepalive {
                interval: Duration::from_secs(30),
                pong_timeout: Duration::from_secs(5),
            }),
            ..Config::default()
        },
    )
}

#[test]
fn no_keepalive_no_deadline() {
    let mut conn = server();
    conn.start_keepalive(Instant::now());
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn ping_after_interval_and_pong_rearms() {
    let t0 = Instant::now();
    let mut conn = with_keepalive();
    conn.start_keepalive(t0);
    assert_eq!(conn.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    let mut out = Vec::new();
    assert_eq!(
        conn.on_timeout(t0 + Duration::from_secs(29), &mut out, None),
        Ok(Timeout::NotDue)
    );
    assert!(out.is_empty());
    let t1 = t0 + Duration::from_secs(30);
    assert_eq!(conn.on_timeout(t1, &mut out, None), Ok(Timeout::PingSent));
    assert_eq!(out, [0x89, 0x00]);
    assert_eq!(conn.poll_timeout(), Some(t1 + Duration::from_secs(5)));
    assert_eq!(
        feed(&mut conn, &client_frame(true, 10, b"")),
        [Ev::Pong(vec![])]
    );
    assert_eq!(conn.poll_timeout(), Some(t1 + Duration::from_secs(30)));
}

#[test]
fn missing_pong_is_reported() {
    let t0 = Instant::now();
    let mut conn = with_keepalive();
    conn.start_keepalive(t0);
    let mut out = Vec::new();
    let t1 = t0 + Duration::from_secs(30);
    assert_eq!(conn.on_timeout(t1, &mut out, None), Ok(Timeout::PingSent));
    assert_eq!(
        conn.on_timeout(t1 + Duration::from_secs(4), &mut out, None),
        Ok(Timeout::NotDue)
    );
    assert_eq!(
        conn.on_timeout(t1 + Duration::from_secs(5), &mut out, None),
        Ok(Timeout::PongMissing)
    );
    assert!(conn.is_closed());
    assert_eq!(conn.poll_timeout(), None);
}
