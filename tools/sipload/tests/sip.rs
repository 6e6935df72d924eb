//! The SIP scenarios end to end against a real `sipedged` (standalone: embedded registrar, MESSAGE
//! and INVITE routed between the registered clients).
//!
//! The gateway binary is the workspace's `target/{debug,release}/sipedged` when it is there (`cargo
//! test --workspace` builds it); otherwise it is built once with `cargo build -p sipedged` into a
//! target directory of its own (so as not to wait for the lock of the running `cargo test`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The newest sipedged binary of the workspace, built if there is none.
fn sipedged() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"));
        let newest = ["debug", "release"]
            .iter()
            .map(|p| target.join(p).join("sipedged"))
            .filter_map(|p| {
                let t = p.metadata().and_then(|m| m.modified()).ok()?;
                Some((t, p))
            })
            .max_by_key(|(t, _)| *t);
        if let Some((_, p)) = newest {
            return p;
        }
        let own = target.join("sipload-tests");
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "sipedged", "--target-dir"])
            .arg(&own)
            .current_dir(workspace())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p sipedged failed");
        own.join("debug").join("sipedged")
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running sipedged standalone, killed on drop.
struct Gateway {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Gateway {
    /// Registrations from 1 s, WebSocket pings every second (the clients must answer them).
    fn start(tag: &str) -> Self {
        Self::start_at(tag, free_port())
    }

    /// As [`Gateway::start`], on `port`.
    fn start_at(tag: &str, port: u16) -> Self {
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("sipload-sip-{tag}-{stamp}"));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("sipedge.toml");
        std::fs::write(
            &cfg,
            format!(
                "[[listen]]\naddress = \"127.0.0.1:{port}\"\n[runtime]\nworkers = 2\n[admin]\nenabled = false\n\
                 [registrar]\nmin_expires = 1\n[limits]\nping_interval = \"1s\"\n"
            ),
        )
        .unwrap();
        let child = Command::new(sipedged())
            .arg("--config")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sipedged.log")).unwrap())
            .spawn()
            .expect("sipedged starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sipedged did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, dir }
    }

    fn target(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// Runs sipload with `args` plus --target, --watch-pid and --json; returns the output and the JSON.
    fn sipload(&self, args: &[&str]) -> (Output, serde_json::Value) {
        let json = self
            .dir
            .join(format!("{}.json", args.join("_").replace('/', "")));
        let out = Command::new(env!("CARGO_BIN_EXE_sipload"))
            .args(args)
            .args(["--target", &self.target(), "--watch-pid"])
            .arg(self.child.id().to_string())
            .arg("--json")
            .arg(&json)
            .output()
            .expect("sipload runs");
        let text = std::fs::read_to_string(&json).unwrap_or_else(|_| {
            panic!(
                "no JSON report; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out, serde_json::from_str(&text).unwrap())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ok(j: &serde_json::Value, kind: &str) -> u64 {
    j["transactions"][kind]["ok"].as_u64().unwrap_or(0)
}

fn assert_clean(out: &Output, j: &serde_json::Value) {
    assert!(
        out.status.success(),
        "exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(j["connections_failed"], 0, "{j}");
    assert_eq!(j["messages_failed"], 0, "{}", j["errors"]);
}

#[test]
fn register_refreshes_keepalives_and_pongs_through_the_hold() {
    let gw = Gateway::start("register");
    let (out, j) = gw.sipload(&[
        "register",
        "--connections",
        "20",
        "--procs",
        "2",
        "--expires",
        "2",
        "--keepalive",
        "1",
        "--hold",
        "3",
        "--duration",
        "0",
    ]);
    assert_clean(&out, &j);
    assert_eq!(j["connections_ok"], 20);
    // One REGISTER each, at least one refresh each in the 3 s hold (at 1-1.5 s of the 2 s granted),
    // and the final refresh of --duration 0.
    let reg = ok(&j, "REGISTER");
    assert!(reg >= 20 * 3, "REGISTER ok {reg}");
    assert!(
        ok(&j, "keepalive") >= 20,
        "CRLF pongs: {}",
        ok(&j, "keepalive")
    );
    assert_eq!(ok(&j, "handshake"), 20);
    assert!(
        j["transactions"]["REGISTER"]["latency"]["p50_us"]
            .as_u64()
            .unwrap()
            > 0
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("REGISTER"), "{summary}");
    assert!(j["server"]["held"]["pss_kib"].as_u64().unwrap() > 0);
}

#[test]
fn message_pairs_at_a_fixed_rate_with_a_plot() {
    let gw = Gateway::start("message");
    let plot = gw.dir.join("message.svg");
    let (out, j) = gw.sipload(&[
        "message",
        "--connections",
        "10",
        "--rate",
        "200/s",
        "--duration",
        "2",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_clean(&out, &j);
    let m = ok(&j, "MESSAGE");
    assert!((360..=440).contains(&m), "about 200/s for 2 s: {m}");
    let rate = j["transactions"]["MESSAGE"]["per_sec"].as_f64().unwrap();
    assert!((180.0..=220.0).contains(&rate), "{rate}");
    let timeline = j["timeline"].as_array().unwrap();
    assert!(
        timeline
            .iter()
            .any(|p| p["kind"] == "MESSAGE" && p["ok"].as_u64() > Some(50))
    );
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("MESSAGE p99"));
    assert!(j["server"]["traffic_cpu_secs"].as_f64().is_some());
}

#[test]
fn message_flat_out_with_a_window_from_two_processes() {
    let gw = Gateway::start("flat");
    let (out, j) = gw.sipload(&[
        "message",
        "--connections",
        "8",
        "--procs",
        "2",
        "--flat-out",
        "--window",
        "4",
        "--duration",
        "1",
    ]);
    assert_clean(&out, &j);
    assert!(ok(&j, "MESSAGE") > 100, "{}", ok(&j, "MESSAGE"));
}

#[test]
fn calls_with_hold_and_bye() {
    let gw = Gateway::start("call");
    let (out, j) = gw.sipload(&[
        "call",
        "--connections",
        "6",
        "--rate",
        "10/s",
        "--duration",
        "2",
        "--call-secs",
        "0.4",
        "--hold-call",
    ]);
    assert_clean(&out, &j);
    let invites = ok(&j, "INVITE");
    assert!((16..=24).contains(&invites), "{invites}");
    assert_eq!(ok(&j, "re-INVITE"), invites, "every call was held");
    assert_eq!(ok(&j, "BYE"), invites, "every call was hung up");
    assert!(
        j["transactions"]["INVITE"]["latency"]["p99_us"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn mix_once_and_call_once() {
    let gw = Gateway::start("mix");
    let (out, j) = gw.sipload(&["mix", "--connections", "6", "--duration", "0"]);
    assert_clean(&out, &j);
    assert_eq!(ok(&j, "MESSAGE"), 6, "one MESSAGE each");
    let (out, j) = gw.sipload(&[
        "call",
        "--connections",
        "4",
        "--duration",
        "0",
        "--call-secs",
        "0",
    ]);
    assert_clean(&out, &j);
    assert_eq!((ok(&j, "INVITE"), ok(&j, "BYE")), (4, 4));
}

#[test]
fn clients_reconnect_and_register_again_when_the_gateway_restarts() {
    let gw = Gateway::start("reconnect");
    let port = gw.port;
    let json = std::env::temp_dir().join(format!("sipload-reconnect-{port}.json"));
    let run = Command::new(env!("CARGO_BIN_EXE_sipload"))
        .args([
            "message",
            "--connections",
            "20",
            "--rate",
            "40/s",
            "--duration",
            "6",
        ])
        .args([
            "--reconnect",
            "5",
            "--tx-timeout",
            "2",
            "--target",
            &gw.target(),
        ])
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipload runs");
    // The ramp (20 at 2000/s) and a second of traffic, then the gateway dies and a new one takes its port.
    std::thread::sleep(Duration::from_millis(2500));
    drop(gw);
    let _gw = Gateway::start_at("reconnect-again", port);
    let out = run.wait_with_output().unwrap();
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let _ = std::fs::remove_file(&json);
    assert_eq!(ok(&j, "reconnect"), 20, "{}", j["errors"]);
    assert_eq!(j["transactions"]["reconnect"]["failed"], 0);
    let errors = j["errors"].as_object().unwrap();
    assert!(
        !errors.keys().any(|k| k.starts_with("session:")),
        "no session counts as broken: {errors:?}"
    );
    // Registered again (20 at the start, 20 after), and MESSAGEs go through after the restart.
    assert!(ok(&j, "REGISTER") >= 40, "{j}");
    let start = j["phases"]["start"].as_u64().unwrap();
    let first_reconnect = j["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "reconnect")
        .map(|p| p["t"].as_u64().unwrap())
        .unwrap();
    let after: u64 = j["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "MESSAGE" && p["t"].as_u64().unwrap() > first_reconnect)
        .map(|p| p["ok"].as_u64().unwrap())
        .sum();
    assert!(after > 0, "no MESSAGE after the reconnects: {j}");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        start <= now && start + 60 > now,
        "phases.start {start} is a unix second of this run"
    );
}

#[test]
fn sip_help_and_bad_flags() {
    for (cmd, flags) in [
        (
            "register",
            &[
                "--expires",
                "--keepalive",
                "--tx-timeout",
                "--domain",
                "--user-prefix",
                "--plot",
                "--watch-pid",
            ][..],
        ),
        (
            "message",
            &[
                "--rate",
                "--flat-out",
                "--window",
                "--message-size",
                "--reconnect",
            ],
        ),
        ("call", &["--call-secs", "--hold-call", "--rate"]),
        ("mix", &["--blend", "--call-secs", "--message-size"]),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sipload"))
            .args([cmd, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        for f in flags {
            assert!(help.contains(f), "{cmd}: {f} missing");
        }
    }
    for args in [
        &["mix", "--blend", "1:x"][..],
        &["message", "--duration", "5"],
        &["message", "--window", "0", "--flat-out"],
        &["call", "--call-secs", "100", "--rate", "1/s"],
        &["register", "--tx-timeout", "0"],
        &["register", "--user-prefix", "a@b"],
        &["register", "--user-prefix", ""],
        &["message", "--reconnect", "1001"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sipload"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.is_empty() && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}
