//! sipload end to end: flags, errors, and a run against a small in-test WebSocket echo server.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use wsproto::writer::write_frame;
use wsproto::{
    Config, Connection, Event, MessageKind, OpCode, Role, ServerConfig, ServerHandshake,
};

fn sipload(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sipload"))
        .args(args)
        .output()
        .expect("sipload runs")
}

/// A thread-per-connection echo server; `corrupt` flips the first byte of every echo. Records the peer
/// addresses it accepted.
fn echo_server(corrupt: bool) -> (SocketAddr, Arc<Mutex<Vec<SocketAddr>>>) {
    echo_server_batched(corrupt, 1)
}

/// As [`echo_server`], but echoes come back `batch` at a time, or after 200 ms without more
/// messages: a client that waits for each echo before sending the next gets five a second.
fn echo_server_batched(corrupt: bool, batch: usize) -> (SocketAddr, Arc<Mutex<Vec<SocketAddr>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peers = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&peers);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            seen.lock().unwrap().push(stream.peer_addr().unwrap());
            std::thread::spawn(move || serve(stream, corrupt, batch));
        }
    });
    (addr, peers)
}

fn serve(mut stream: TcpStream, corrupt: bool, batch: usize) {
    let mut hs = ServerHandshake::new(ServerConfig::default());
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    let request = loop {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        if let Ok(Some(r)) = hs.feed(&buf[..n]) {
            break r;
        }
    };
    request.write_accept(&mut out);
    if stream.write_all(&out).is_err() {
        return;
    }
    let mut conn = Connection::new(Role::Server, Config::default());
    let (mut held, mut held_count) = (Vec::new(), 0);
    if batch > 1 {
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
    }
    loop {
        out.clear();
        let n = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // Quiet for 200 ms: what is held goes back now.
                held_count = 0;
                if stream.write_all(&std::mem::take(&mut held)).is_err() {
                    return;
                }
                continue;
            }
            Err(_) => return,
        };
        let mut pos = 0;
        loop {
            let got = conn.receive(&mut buf[pos..n]);
            pos += got.consumed;
            match got.event {
                None => break,
                Some(Event::Message { kind, payload }) => {
                    let mut echo = payload.to_vec();
                    if corrupt {
                        echo[0] ^= 0x01;
                    }
                    let op = if kind == MessageKind::Text {
                        OpCode::Text
                    } else {
                        OpCode::Binary
                    };
                    write_frame(&mut held, true, op, &echo, None);
                    held_count += 1;
                    if held_count >= batch {
                        out.append(&mut held);
                        held_count = 0;
                    }
                }
                Some(_) => {}
            }
            while let Ok(true) = conn.poll_transmit(&mut out, None) {}
        }
        if stream.write_all(&out).is_err() || conn.is_closed() {
            return;
        }
    }
}

fn json_of(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A fresh path for a JSON report named `name`, in a directory of this test process.
fn json_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sipload-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.json"))
}

/// Runs sipload, which must succeed.
fn sipload_ok(args: &[&str]) -> Output {
    let out = sipload(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn help_explains_every_flag() {
    let out = sipload(&["echo", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--target",
        "--connections",
        "--procs",
        "--sources",
        "--ramp",
        "--hold",
        "--duration",
        "--threads",
        "--watch-pid",
        "--json",
        "--time-limit",
        "--size",
        "--binary",
        "--rate",
        "--flat-out",
        "--window",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    assert!(!help.contains("--child"), "the internal flag stays hidden");
}

#[test]
fn bad_flags_and_unreachable_targets_fail_clearly() {
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let target = format!("ws://{free}/");
    let out = sipload(&[
        "echo",
        "--target",
        &target,
        "--connections",
        "3",
        "--duration",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the target"), "{err}");

    for args in [
        &["echo", "--rate", "0/s"][..],
        &["echo", "--rate", "5/s", "--flat-out"],
        &["echo", "--rate", "5/s", "--window", "4"],
        &["echo", "--flat-out", "--window", "0"],
        &["echo", "--target", "wss://127.0.0.1:1/"],
        &["echo", "--sources", "127.0.0.9-127.0.0.2"],
        &["echo", "--size", "0"],
        &["echo", "--duration", "5"],
        &["echo", "--connections", "40000", "--duration", "0"],
    ] {
        let out = sipload(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn echo_run_from_two_processes_and_four_sources() {
    let (addr, peers) = echo_server(false);
    let json = json_path("echo");
    let target = format!("ws://{addr}/");
    let me = std::process::id().to_string();
    let out = sipload_ok(&[
        "echo",
        "--target",
        &target,
        "--connections",
        "8",
        "--procs",
        "2",
        "--sources",
        "127.0.0.2-127.0.0.5",
        "--flat-out",
        "--duration",
        "1",
        "--size",
        "300",
        "--watch-pid",
        &me,
        "--json",
        json.to_str().unwrap(),
    ]);
    let j = json_of(&json);
    assert_eq!(j["connections_ok"], 8);
    assert_eq!(j["connections_failed"], 0);
    assert_eq!(j["messages_failed"], 0);
    assert!(j["messages_ok"].as_u64().unwrap() >= 8);
    assert_eq!(j["procs"], 2);
    assert!(j["latency"]["p50_us"].as_u64().unwrap() > 0);
    assert!(j["server"]["before"]["rss_kib"].as_u64().unwrap() > 0);
    let peers = peers.lock().unwrap();
    assert_eq!(
        peers.len(),
        8 + 1,
        "8 connections plus the reachability probe"
    );
    let from_sources = peers
        .iter()
        .filter(|p| matches!(p.ip(), IpAddr::V4(v) if (2..=5).contains(&v.octets()[3])))
        .count();
    assert_eq!(
        from_sources, 8,
        "every connection came from the source range: {peers:?}"
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("8 ok, 0 failed"), "{summary}");
}

#[test]
fn a_window_keeps_several_echoes_in_flight() {
    // The server echoes four at a time (or after 200 ms of quiet): one message in flight gets
    // five echoes a second per connection, a window of four gets hundreds.
    let (addr, _) = echo_server_batched(false, 4);
    let json = json_path("window");
    let target = format!("ws://{addr}/");
    let run = |window: &str| {
        sipload_ok(&[
            "echo",
            "--target",
            &target,
            "--connections",
            "2",
            "--flat-out",
            "--window",
            window,
            "--duration",
            "1",
            "--size",
            "100",
            "--json",
            json.to_str().unwrap(),
        ]);
        let j = json_of(&json);
        // The last window's echoes (a partial batch, sent back after 200 ms) are counted too.
        assert_eq!(j["messages_failed"], 0, "window {window}");
        j["messages_ok"].as_u64().unwrap()
    };
    let one = run("1");
    assert!(
        one <= 2 * 7,
        "one in flight waits out the 200 ms each time: {one}"
    );
    let four = run("4");
    assert!(
        four >= 2 * 40,
        "a window of four is answered at once: {four}"
    );
}

#[test]
fn wrong_echo_is_counted_as_failed() {
    let (addr, _) = echo_server(true);
    let json = json_path("bad");
    let target = format!("ws://{addr}/");
    let out = sipload(&[
        "echo",
        "--target",
        &target,
        "--connections",
        "4",
        "--duration",
        "0",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "failures make the exit status 1"
    );
    let j = json_of(&json);
    assert_eq!(j["messages_ok"], 0);
    assert_eq!(j["messages_failed"], 4);
    assert_eq!(j["errors"]["echo: echo mismatch"], 4);
}

#[test]
fn a_server_without_the_sip_subprotocol_fails_the_sip_scenarios() {
    let (addr, _) = echo_server(false);
    let json = json_path("nosip");
    let target = format!("ws://{addr}/");
    let out = sipload(&[
        "register",
        "--target",
        &target,
        "--connections",
        "3",
        "--duration",
        "0",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "failures make the exit status 1"
    );
    let j = json_of(&json);
    assert_eq!(j["connections_failed"], 3);
    assert_eq!(j["errors"]["no sip subprotocol"], 3);
}
