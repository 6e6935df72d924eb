//! Upgrading a node without closing a browser (`sipedged --take-over`): a new process takes the running one's
//! listener and WebSockets over, with their registrations and flows; the old one exits. A take-over that fails
//! midway, or that the running node refuses, leaves every client with the running node.

mod common;

use std::hash::{Hash, Hasher};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, Ua, answer, free_tcp_port, free_udp_pair, status, text, wait_listening};

/// A sipedged process on `cfg`, killed on drop.
struct Node {
    child: Child,
    log: PathBuf,
}

impl Node {
    fn start(cfg: &Path, args: &[&str], io: &str, log: PathBuf) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_sipedged"))
            .env("RINGMUX_IO", io)
            .arg("--config")
            .arg(cfg)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start sipedged");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its exit status, once it exited within `within`.
    fn exits_within(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A standalone node's configuration: two workers, a hand-over socket, the admin endpoint.
struct Setup {
    dir: TempDir,
    cfg: PathBuf,
    port: u16,
    admin: u16,
    socket: PathBuf,
    /// The I/O backend both processes run.
    io: &'static str,
}

impl Setup {
    fn new(io: &'static str) -> Self {
        Self::with(io, "")
    }

    /// The same with `extra` configuration after it.
    fn with(io: &'static str, extra: &str) -> Self {
        let dir = TempDir::new("handover");
        let (port, admin) = (free_tcp_port(), free_tcp_port());
        let socket = dir.0.join("handover.sock");
        let cfg = dir.0.join("sipedge.toml");
        std::fs::write(
            &cfg,
            format!(
                "[[listen]]\naddress = \"127.0.0.1:{port}\"\n[runtime]\nworkers = 2\nshutdown_grace = \"2s\"\n\
                 handover_socket = \"{}\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n{extra}",
                socket.display()
            ),
        )
        .unwrap();
        Self {
            dir,
            cfg,
            port,
            admin,
            socket,
            io,
        }
    }

    fn node(&self, name: &str, args: &[&str]) -> Node {
        Node::start(
            &self.cfg,
            args,
            self.io,
            self.dir.0.join(format!("{name}.log")),
        )
    }

    /// The running node, once it listens and waits for a take-over.
    fn running(&self) -> Node {
        let node = self.node("old", &[]);
        assert!(wait_listening(self.port), "{}", node.log());
        let until = Instant::now() + Duration::from_secs(10);
        while !self.socket.exists() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }
}

/// `from` sends `to` a MESSAGE; `to` answers 200, which reaches `from`.
fn message(from: &mut Ua, to: &mut Ua, call_id: &str) {
    let ruri = format!("sip:{}@example.test", to.user);
    let m = from.request("MESSAGE", &ruri, &format!("<{ruri}>"), call_id, "", "hi");
    from.ws.send(&m);
    let got = to.ws.recv();
    assert!(
        got.starts_with(b"MESSAGE "),
        "{} got {}",
        to.user,
        text(&got)
    );
    to.ws.send(&answer(&got, 200, "OK", ""));
    assert_eq!(status(&from.ws.recv_final()), 200);
}

fn registered(user: &str, port: u16) -> Ua {
    let mut ua = Ua::new(user, port);
    let r = ua.register(600);
    assert_eq!(status(&r), 200, "REGISTER: {}", text(&r));
    ua
}

#[test]
fn a_new_process_takes_the_websockets_over_and_the_old_one_exits_uring() {
    takes_over("uring");
}

#[test]
fn a_new_process_takes_the_websockets_over_and_the_old_one_exits_epoll() {
    takes_over("epoll");
}

fn takes_over(io: &'static str) {
    let setup = Setup::new(io);
    let mut old = setup.running();
    let mut alice = registered("alice", setup.port);
    let mut bob = registered("bob", setup.port);
    message(&mut alice, &mut bob, "before");

    let new = setup.node("new", &["--take-over"]);
    let exited = old.exits_within(Duration::from_secs(20));
    assert!(
        exited.is_some_and(|s| s.success()),
        "the old node exits once handed over: {exited:?}\n{}\n---\n{}",
        old.log(),
        new.log()
    );
    assert!(old.log().contains("handed over"), "{}", old.log());
    // The same WebSockets, the same registrations and flows, now in the new process.
    message(&mut alice, &mut bob, "after-1");
    message(&mut bob, &mut alice, "after-2");
    let mut carol = registered("carol", setup.port);
    message(&mut carol, &mut alice, "after-3");
    assert!(
        new.log().contains("took the listeners and WebSockets over"),
        "{}",
        new.log()
    );
    assert!(
        wait_listening(setup.admin),
        "the new node serves metrics once the old one is gone"
    );
}

/// A hello as `sipedged --take-over` with this build and the setup's configuration says it.
fn hello(setup: &Setup) -> Vec<u8> {
    let dictionary: &[u8] = include_bytes!("../src/worker/pack_dictionary.txt");
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dictionary.hash(&mut h);
    let listener = format!("127.0.0.1:{}", setup.port);
    let mut out = b"sipedge-handover".to_vec();
    out.push(2);
    out.extend_from_slice(&[
        wsproto::STATE_VERSION,
        1,
        edge::registrar::REGISTRAR_STATE_VERSION,
        ringmux::handover::PACKAGE_VERSION,
        ringmux::TLS_STATE_VERSION,
        1,
    ]);
    out.extend_from_slice(&h.finish().to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    out.push(0);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(listener.len() as u16).to_be_bytes());
    out.extend_from_slice(listener.as_bytes());
    out
}

/// A new process of this build, as far as the running node can tell: connected, greeted, given the secrets.
fn fake_new_process(setup: &Setup) -> ringmux::handover::Channel {
    let stream = UnixStream::connect(&setup.socket).unwrap();
    let mut channel = ringmux::handover::Channel::new(stream);
    channel.send(&hello(setup), &[]).unwrap();
    let (answer, _) = channel.recv(64 * 1024).unwrap();
    assert_eq!(answer.first(), Some(&1), "secrets: {}", text(&answer));
    channel
}

#[test]
fn a_take_over_that_fails_midway_leaves_everyone_on_the_running_node() {
    let setup = Setup::new("auto");
    let mut old = setup.running();
    let mut alice = registered("alice", setup.port);
    let mut bob = registered("bob", setup.port);
    // A new process that takes everything and dies before it says it holds it.
    let mut channel = fake_new_process(&setup);
    let (mut connections, mut ends) = (0, 0);
    while ends < 2 {
        match ringmux::handover::recv_record(&mut channel).unwrap() {
            ringmux::handover::Record::Conns { conns, .. } => connections += conns.len(),
            ringmux::handover::Record::End { .. } => ends += 1,
            ringmux::handover::Record::Start { .. } => {}
        }
    }
    assert_eq!(connections, 2, "both WebSockets were handed out");
    drop(channel);
    // The running node serves on: the same WebSockets read again, and new ones are accepted.
    message(&mut alice, &mut bob, "after-failure");
    let mut carol = registered("carol", setup.port);
    message(&mut carol, &mut bob, "new-after-failure");
    assert!(old.exits_within(Duration::from_millis(200)).is_none());
    assert!(
        old.log().contains("hand-over did not happen"),
        "{}",
        old.log()
    );
}

/// A new process that goes away right after the answer, while the workers are handing their parts out (some of
/// them waiting for room in their queues): the running node resumes and serves on.
#[test]
fn a_take_over_that_dies_at_the_start_leaves_everyone_on_the_running_node() {
    let setup = Setup::new("auto");
    let mut old = setup.running();
    let mut alice = registered("alice", setup.port);
    let mut bob = registered("bob", setup.port);
    let channel = fake_new_process(&setup);
    drop(channel);
    message(&mut alice, &mut bob, "after-early-failure");
    message(&mut bob, &mut alice, "after-early-failure-2");
    assert!(old.exits_within(Duration::from_millis(200)).is_none());
}

#[test]
fn with_no_running_node_a_take_over_starts_afresh() {
    let setup = Setup::new("auto");
    let node = setup.node("first", &["--take-over"]);
    assert!(wait_listening(setup.port), "{}", node.log());
    let mut alice = registered("alice", setup.port);
    let mut bob = registered("bob", setup.port);
    message(&mut alice, &mut bob, "fresh");
    assert!(node.log().contains("starting afresh"), "{}", node.log());
}

#[test]
fn a_new_process_the_running_node_refuses_exits_and_nobody_moves() {
    let setup = Setup::new("auto");
    let mut old = setup.running();
    let mut alice = registered("alice", setup.port);
    let mut bob = registered("bob", setup.port);
    let mut new = setup.node("new", &["--take-over", "--workers", "3"]);
    let exited = new.exits_within(Duration::from_secs(10));
    assert!(exited.is_some_and(|s| !s.success()), "{exited:?}");
    assert!(
        new.log()
            .contains("refuses the hand-over: 2 workers here, 3 in the new process"),
        "{}",
        new.log()
    );
    message(&mut alice, &mut bob, "after-refusal");
    assert!(old.exits_within(Duration::from_millis(200)).is_none());
}

/// Edge mode over UDP: a request the core has not answered when the node is handed over is sent again by the
/// new process, whose answer reaches the browser (the client transaction went with the worker).
#[test]
fn a_request_the_core_has_not_answered_is_sent_again_by_the_new_process() {
    let core = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    let core_port = core.local_addr().unwrap().port();
    let setup = Setup::with(
        "auto",
        &format!(
            "[core]\nuri = \"sip:127.0.0.2:{core_port};transport=udp\"\nlocal_address = \"127.0.0.1:{}\"\n\
             probes = false\nt1 = \"100ms\"\n",
            free_udp_pair()
        ),
    );
    let mut old = setup.running();
    let mut alice = Ua::new("alice", setup.port);
    let request = common::message(&mut alice, "across");
    alice.ws.send(&request);
    let mut buf = vec![0u8; 65536];
    core.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The core does not answer the first copy.
    let (n, _) = core
        .recv_from(&mut buf)
        .expect("the MESSAGE reaches the core");
    let first = buf[..n].to_vec();
    let new = setup.node("new", &["--take-over"]);
    let exited = old.exits_within(Duration::from_secs(20));
    assert!(
        exited.is_some_and(|s| s.success()),
        "{exited:?}\n{}\n---\n{}",
        old.log(),
        new.log()
    );
    // Copies the old node sent before it exited are read away; the next one can come from the new one only.
    core.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while core.recv_from(&mut buf).is_ok() {}
    core.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (n, edge) = core
        .recv_from(&mut buf)
        .expect("the new process sends the request again");
    assert_eq!(buf[..n], first[..], "the same request, the same branch");
    core.send_to(answer(&first, 200, "OK", "").as_bytes(), edge)
        .unwrap();
    assert_eq!(status(&alice.ws.recv_final()), 200, "{}", new.log());
}
