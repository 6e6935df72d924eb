//! Live reload against a running daemon: a setting changed in the file takes effect on SIGHUP or `POST
//! /admin/reload` without dropping anyone; a bad file changes nothing and says why; what needs a restart is
//! reported and keeps its running value; a JWT key rotation keeps the previous key valid for the overlap only.

mod common;

use std::time::{Duration, Instant};

use common::admin::post;
use common::{Gateway, Ua, WsSip, header, status};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

const SECRET_A: &str = "reload-test-secret-a-of-32-bytes!";
const SECRET_B: &str = "reload-test-secret-b-of-32-bytes!";

/// The daemon's configuration file as the test started it, with `extra` after it.
fn rewrite(gw: &Gateway, base: &str, extra: &str) {
    std::fs::write(&gw.config, format!("{base}{extra}")).unwrap();
}

fn upgrade(gw: &Gateway, headers: &str) -> Result<WsSip, String> {
    WsSip::connect_full(gw.port, &["sip"], "/", headers, None)
}

/// The status line of a refused upgrade (panics if it was accepted).
fn refused(r: Result<WsSip, String>) -> String {
    match r {
        Ok(_) => panic!("the upgrade was accepted"),
        Err(line) => line,
    }
}

fn reload(gw: &Gateway) -> serde_json::Value {
    let a = post(gw.admin, "/admin/reload", "");
    assert!(matches!(a.status, 200 | 422), "{a:?}");
    a.json()
}

/// SIGHUP, then wait for the log line of its reload (or its refusal).
fn sighup_and_wait(gw: &Gateway, lines_before: usize) -> String {
    gw.sighup();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let log = gw.log();
        let new: Vec<&str> = log
            .lines()
            .skip(lines_before)
            .filter(|l| {
                l.contains("configuration reloaded") || l.contains("configuration not reloaded")
            })
            .collect();
        if let Some(l) = new.first() {
            return (*l).to_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no reload logged: {}", gw.log());
}

#[test]
fn allowed_origins_change_live_and_open_connections_stay() {
    // The test client's upgrades come from the page http://127.0.0.1.
    let ours = "allowed_origins = [\"http://127.0.0.1\"]\n";
    let gw = Gateway::start(&format!("[limits]\n{ours}"));
    let base = std::fs::read_to_string(&gw.config)
        .unwrap()
        .replace(ours, "");
    let mut alice = Ua::on("alice", upgrade(&gw, "").unwrap());
    assert_eq!(status(&alice.register(600)), 200);
    rewrite(&gw, &base, "allowed_origins = [\"https://b.example\"]\n");
    let report = reload(&gw);
    assert_eq!(
        report["applied"],
        serde_json::json!(["limits.allowed_origins"]),
        "{report}"
    );
    assert_eq!(report["needs_restart"], serde_json::json!([]));
    assert!(refused(upgrade(&gw, "")).contains("403"));
    // Alice's connection, opened under the old list, is served.
    assert_eq!(status(&alice.register(600)), 200);
    rewrite(
        &gw,
        &base,
        "allowed_origins = [\"https://b.example\", \"http://127.0.0.1\"]\n",
    );
    assert_eq!(
        reload(&gw)["applied"],
        serde_json::json!(["limits.allowed_origins"])
    );
    let _kept = upgrade(&gw, "").unwrap();
    let open = common::admin::get(gw.admin, "/admin/connections").json();
    assert_eq!(
        open["connections"].as_array().unwrap().len(),
        2,
        "alice's and the new one: {open}"
    );
    assert_eq!(status(&alice.register(600)), 200);
}

#[test]
fn a_bad_file_changes_nothing_and_says_why() {
    let gw = Gateway::start("[registrar]\nmax_expires = 1200\n");
    let good = std::fs::read_to_string(&gw.config).unwrap();
    for bad in [
        format!("{good}[registrar]\nmax_expires = 9000\n"),
        good.replace("max_expires = 1200", "max_expires = \"soon\""),
        good.replace("max_expires = 1200", "max_expires = 10"),
    ] {
        std::fs::write(&gw.config, &bad).unwrap();
        let report = reload(&gw);
        assert!(report["error"].is_string(), "{bad}: {report}");
        assert_eq!(report["applied"], serde_json::json!([]));
        let lines = gw.log().lines().count();
        let logged = sighup_and_wait(&gw, lines);
        assert!(logged.contains("not reloaded"), "{logged}");
    }
    // Still the running bound: a REGISTER asking 3000 s gets 1200.
    let mut ua = Ua::new("carol", gw.port);
    let ok = ua.register(3000);
    assert_eq!(status(&ok), 200);
    assert!(
        header(&ok, "Contact").unwrap().contains("expires=1200"),
        "{}",
        common::text(&ok)
    );
}

#[test]
fn registrar_bounds_change_on_sighup_and_restart_settings_are_reported() {
    let gw = Gateway::start("");
    let base = std::fs::read_to_string(&gw.config).unwrap();
    let mut ua = Ua::new("dave", gw.port);
    assert!(
        header(&ua.register(3000), "Contact")
            .unwrap()
            .contains("expires=3000")
    );
    // A lower max_expires, and a worker count (which needs a restart).
    rewrite(
        &gw,
        &base.replace("workers = 2", "workers = 3"),
        "[registrar]\nmax_expires = 1200\n",
    );
    let lines = gw.log().lines().count();
    let logged = sighup_and_wait(&gw, lines);
    assert!(
        logged.contains("registrar") && logged.contains("runtime"),
        "{logged}"
    );
    assert!(
        header(&ua.register(3000), "Contact")
            .unwrap()
            .contains("expires=1200")
    );
    let report = reload(&gw);
    assert_eq!(
        report["applied"],
        serde_json::json!([]),
        "nothing new: {report}"
    );
    assert_eq!(
        report["needs_restart"],
        serde_json::json!(["runtime"]),
        "{report}"
    );
    let status_json = common::admin::get(gw.admin, "/status.json").json();
    assert_eq!(status_json["workers"], 2, "still two workers");
}

#[test]
fn the_log_level_changes_live() {
    let gw = Gateway::start("");
    let base = std::fs::read_to_string(&gw.config).unwrap();
    rewrite(&gw, &base, "[log]\nlevel = \"debug\"\n");
    assert_eq!(reload(&gw)["applied"], serde_json::json!(["log.level"]));
    // The admin endpoint logs a refused API request at debug.
    let _ = common::admin::request(
        gw.admin,
        "GET",
        "/admin/connections",
        &["Host: evil.example"],
        "",
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gw.log().contains("DEBUG") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        gw.log().contains("DEBUG"),
        "debug lines after the reload: {}",
        gw.log()
    );
}

fn token(secret: &str, user: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"sip_aor": format!("sip:{user}@example.test"), "exp": exp}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn bearer(gw: &Gateway, t: &str) -> Result<WsSip, String> {
    upgrade(gw, &format!("Authorization: Bearer {t}\r\n"))
}

#[test]
fn a_jwt_key_rotation_keeps_the_old_key_for_the_overlap_only() {
    let auth = |secret: &str| {
        format!("[auth]\nmode = \"bearer\"\nsecret = \"{secret}\"\nkey_overlap = \"2s\"\n")
    };
    let gw = Gateway::start(&auth(SECRET_A));
    let base = std::fs::read_to_string(&gw.config).unwrap();
    let base = base.replace(&auth(SECRET_A), "");
    let (old, new) = (token(SECRET_A, "erin"), token(SECRET_B, "erin"));
    let mut held = Ua::on("erin", bearer(&gw, &old).unwrap());
    assert!(refused(bearer(&gw, &new)).contains("401"));
    rewrite(&gw, &base, &auth(SECRET_B));
    let rotated = Instant::now();
    assert_eq!(reload(&gw)["applied"], serde_json::json!(["auth"]));
    assert!(bearer(&gw, &new).is_ok(), "the new key's token");
    assert!(
        bearer(&gw, &old).is_ok(),
        "the old key's token, within the overlap"
    );
    // Another reload that leaves the key alone does not cut the overlap short, nor extend it.
    assert_eq!(reload(&gw)["applied"], serde_json::json!([]));
    assert!(bearer(&gw, &old).is_ok(), "still within the overlap");
    std::thread::sleep(
        Duration::from_secs(2).saturating_sub(rotated.elapsed()) + Duration::from_millis(300),
    );
    assert!(
        refused(bearer(&gw, &old)).contains("401"),
        "after the overlap"
    );
    assert!(bearer(&gw, &new).is_ok());
    // The connection authenticated with the old key stays (its credential's own expiry governs it).
    assert_eq!(status(&held.register(600)), 200);
}

#[test]
fn the_cores_uri_changes_live() {
    let first = common::fake_core::FakeCore::start([127, 0, 0, 2]);
    let second = common::fake_core::FakeCore::start([127, 0, 0, 3]);
    let local = common::free_udp_pair();
    let core = |port: u16, ip: &str| {
        format!(
            "[core]\nuri = \"sip:{ip}:{port};transport=udp\"\nlocal_address = \"127.0.0.1:{local}\"\n\
             probe_interval = \"200ms\"\nprobe_timeout = \"100ms\"\n"
        )
    };
    let gw = Gateway::start(&core(first.port, "127.0.0.2"));
    let base = std::fs::read_to_string(&gw.config)
        .unwrap()
        .replace(&core(first.port, "127.0.0.2"), "");
    let mut ua = Ua::new("frank", gw.port);
    assert_eq!(status(&ua.register(600)), 200);
    assert!(
        first
            .request(Duration::from_secs(2))
            .unwrap()
            .starts_with("REGISTER ")
    );
    rewrite(&gw, &base, &core(second.port, "127.0.0.3"));
    assert_eq!(reload(&gw)["applied"], serde_json::json!(["core.uri"]));
    // Once the new target is resolved and probed, new requests go to it, on the same connection.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert_eq!(status(&ua.register(600)), 200);
        if second.request(Duration::from_millis(200)).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no REGISTER reached the new core"
        );
    }
}

/// Base64url without padding (RFC 4648 §5), as a JWK's `k` is written.
fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn a_changed_jwks_file_is_read_again_without_a_reload() {
    let dir = common::TempDir::new("jwks");
    let jwks = dir.0.join("keys.json");
    let write = |kid: &str, secret: &str| {
        let set = serde_json::json!({"keys": [{"kty": "oct", "kid": kid, "alg": "HS256", "k": b64url(secret.as_bytes())}]});
        std::fs::write(&jwks, set.to_string()).unwrap();
    };
    write("one", SECRET_A);
    let gw = Gateway::start(&format!(
        "[auth]\nmode = \"bearer\"\njwks = \"{}\"\nkey_overlap = \"0s\"\n",
        jwks.display()
    ));
    let signed = |secret: &str, kid: &str| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.into());
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        encode(
            &header,
            &serde_json::json!({"sip_aor": "sip:hana@example.test", "exp": exp}),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let (one, two) = (signed(SECRET_A, "one"), signed(SECRET_B, "two"));
    let mut held = Ua::on("hana", bearer(&gw, &one).unwrap());
    assert!(refused(bearer(&gw, &two)).contains("401"));
    write("two", SECRET_B);
    let deadline = Instant::now() + Duration::from_secs(5);
    while bearer(&gw, &two).is_err() {
        assert!(
            Instant::now() < deadline,
            "the new key never took: {}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gw.log().contains("JWKS reloaded"), "{}", gw.log());
    assert!(
        refused(bearer(&gw, &one)).contains("401"),
        "the removed key, no overlap"
    );
    assert_eq!(
        status(&held.register(600)),
        200,
        "the connection it authenticated stays"
    );
    // A file that does not read keeps the keys in use.
    std::fs::write(&jwks, "not json").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(bearer(&gw, &two).is_ok());
    assert!(gw.log().contains("does not read"), "{}", gw.log());
}
