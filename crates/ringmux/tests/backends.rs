//! The multiplexer's guarantees, each checked on both backends over loopback.

mod common;
#[path = "../examples/echo.rs"]
mod echo;

use std::io::{Read, Write};
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};

use common::{closed_by_server, config, connect, echo_once};
use echo::Echo;
use ringmux::{Backend, CloseReason, Conn, Ctx, Handler, Origin, SendError, Server, Udp};

fn wait<T>(rx: &std::sync::mpsc::Receiver<T>) -> T {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("handler event within 10 s")
}

/// Reports opens and closes; a message pokes a handle with `send` and reports the outcome.
struct Recorder {
    events: Sender<Event>,
}

#[derive(Debug, PartialEq)]
enum Event {
    Open(Conn),
    Closed(Conn, CloseReason),
    Poked(Conn, Result<(), SendError>),
}

impl Handler for Recorder {
    type State = ();
    type Message = Conn;

    fn open(&mut self, _: &mut Ctx<'_, Conn>, conn: Conn, _: Origin) {
        self.events.send(Event::Open(conn)).unwrap();
    }

    fn data(&mut self, ctx: &mut Ctx<'_, Conn>, conn: Conn, _: &mut (), bytes: &[u8]) {
        ctx.send(conn, bytes).unwrap();
    }

    fn closed(&mut self, _: &mut Ctx<'_, Conn>, conn: Conn, _: (), reason: CloseReason) {
        self.events.send(Event::Closed(conn, reason)).unwrap();
    }

    fn message(&mut self, ctx: &mut Ctx<'_, Conn>, conn: Conn) {
        let r = ctx.send(conn, b"poke");
        self.events.send(Event::Poked(conn, r)).unwrap();
    }
}

both_backends! {
    fn slot_generation_reuse(b: Backend) {
        let (tx, rx) = channel();
        let server = Server::start(config(b), move |_| Recorder { events: tx.clone() }).unwrap();
        assert_eq!(server.backend(), b);
        let addr = server.local_addr().unwrap();

        let mut first = connect(addr);
        assert_eq!(echo_once(&mut first, b"one"), b"one");
        let Event::Open(a) = wait(&rx) else { panic!("expected open") };
        drop(first);
        assert_eq!(wait(&rx), Event::Closed(a, CloseReason::PeerClosed));

        let mut second = connect(addr);
        assert_eq!(echo_once(&mut second, b"two"), b"two");
        let Event::Open(b2) = wait(&rx) else { panic!("expected open") };
        assert_eq!(b2.slot, a.slot, "the freed slot is reused");
        assert_ne!(b2.generation, a.generation, "with a new generation");

        // The stale handle reaches nothing; the fresh one reaches the second connection.
        server.post(0, a).unwrap();
        assert_eq!(wait(&rx), Event::Poked(a, Err(SendError::Gone)));
        server.post(0, b2).unwrap();
        assert_eq!(wait(&rx), Event::Poked(b2, Ok(())));
        let mut poke = [0; 4];
        second.read_exact(&mut poke).unwrap();
        assert_eq!(&poke, b"poke");

        server.shutdown(Duration::from_secs(1));
        assert_eq!(wait(&rx), Event::Closed(b2, CloseReason::Shutdown));
        let stats = server.join().unwrap();
        assert_eq!(stats[0].accepted, 2);
        assert_eq!(stats[0].closed, 2);
    }
}

/// Arms three timers and cancels a fourth; reports tokens as they fire, with the time since open.
struct Timers {
    fired: Sender<(u64, Duration)>,
}

impl Handler for Timers {
    type State = Instant;
    type Message = ();

    fn open(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: Origin) -> Instant {
        ctx.arm_timer(conn, Duration::from_millis(60), 3);
        ctx.arm_timer(conn, Duration::from_millis(20), 1);
        let gone = ctx.arm_timer(conn, Duration::from_millis(30), 99);
        ctx.arm_timer(conn, Duration::from_millis(40), 2);
        assert!(ctx.cancel_timer(gone));
        assert!(!ctx.cancel_timer(gone));
        Instant::now()
    }

    fn data(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: &mut Instant, _: &[u8]) {}

    fn timer(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, opened: &mut Instant, token: u64) {
        self.fired.send((token, opened.elapsed())).unwrap();
        ctx.send(conn, &[b'0' + token as u8]).unwrap();
    }
}

both_backends! {
    fn timer_wheel_ordering(b: Backend) {
        let (tx, rx) = channel();
        let server = Server::start(config(b), move |_| Timers { fired: tx.clone() }).unwrap();
        let mut c = connect(server.local_addr().unwrap());
        let mut got = [0; 3];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"123", "timers fire in deadline order, the cancelled one never");
        for want in [(1, 20), (2, 40), (3, 60)] {
            let (token, after) = wait(&rx);
            assert_eq!(token, want.0);
            assert!(after >= Duration::from_millis(want.1), "token {token} fired early: {after:?}");
            assert!(after < Duration::from_millis(want.1 + 500), "token {token} fired late: {after:?}");
        }
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "no other timer fires");
        server.shutdown(Duration::from_secs(1));
        assert_eq!(server.join().unwrap()[0].timers_fired, 3);
    }
}

/// A worker timer that re-arms itself three times from `start`, with no connection at all.
struct Ticks {
    fired: Sender<(u64, Duration)>,
    started: Option<Instant>,
}

impl Handler for Ticks {
    type State = ();
    type Message = ();

    fn start(&mut self, ctx: &mut Ctx<'_, ()>) {
        self.started = Some(Instant::now());
        ctx.arm_worker_timer(Duration::from_millis(20), 1);
        let gone = ctx.arm_worker_timer(Duration::from_millis(10), 99);
        assert!(ctx.cancel_timer(gone));
    }

    fn open(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: Origin) {}

    fn data(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: &mut (), _: &[u8]) {}

    fn worker_timer(&mut self, ctx: &mut Ctx<'_, ()>, token: u64) {
        let since = self.started.map_or(Duration::ZERO, |s| s.elapsed());
        self.fired.send((token, since)).unwrap();
        if token < 3 {
            ctx.arm_worker_timer(Duration::from_millis(20), token + 1);
        }
    }
}

both_backends! {
    fn worker_timers_fire_without_any_connection(b: Backend) {
        let (tx, rx) = channel();
        let server =
            Server::start(config(b), move |_| Ticks { fired: tx.clone(), started: None }).unwrap();
        for (token, at_least) in [(1, 20), (2, 40), (3, 60)] {
            let (got, after) = wait(&rx);
            assert_eq!(got, token, "in order; the cancelled one never");
            assert!(after >= Duration::from_millis(at_least), "token {token} fired early: {after:?}");
        }
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "no other timer fires");
        server.shutdown(Duration::from_secs(1));
        assert_eq!(server.join().unwrap()[0].timers_fired, 3);
    }
}

both_backends! {
    fn enobufs_recovery(b: Backend) {
        // Two 64-byte receive buffers for 16 connections streaming at once: the buffer ring runs dry
        // again and again, and no byte may be lost or reordered.
        stream_through_small_buffers(b, 2);
    }
}

both_backends! {
    fn buffer_window_grows(b: Backend) {
        // 1,024 buffers of 64 bytes, of which io_uring hands the kernel a window at a time: 16
        // connections streaming at once take more buffers per loop iteration than the first window
        // holds, so it runs dry and grows, and no byte may be lost or reordered.
        stream_through_small_buffers(b, 1024);
    }
}

/// 16 clients each stream 256 KiB through an echo server with `entries` receive buffers of 64 bytes
/// and read it all back.
fn stream_through_small_buffers(b: Backend, entries: u16) {
    let cfg = ringmux::Config {
        buf_ring_entries: entries,
        buf_size: 64,
        ..config(b)
    };
    let server = Server::start(cfg, |_| Echo::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let clients: Vec<_> = (0..16u8)
        .map(|n| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let msg: Vec<u8> = (0..256 * 1024u32).map(|i| (i as u8) ^ n).collect();
                let mut w = s.try_clone().unwrap();
                let sent = msg.clone();
                let writer = std::thread::spawn(move || w.write_all(&sent).unwrap());
                let mut back = vec![0; msg.len()];
                s.read_exact(&mut back).unwrap();
                writer.join().unwrap();
                assert!(back == msg, "client {n}: echo differs");
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.shutdown(Duration::from_secs(1));
    let stats = server.join().unwrap();
    assert_eq!(stats[0].bytes_in, 16 * 256 * 1024);
    assert_eq!(stats[0].bytes_out, 16 * 256 * 1024);
    if b == Backend::Uring {
        assert!(
            stats[0].enobufs > 0,
            "the buffer ring must have run dry: {stats:?}"
        );
    }
}

both_backends! {
    fn a_two_entry_submission_queue_carries_everything(b: Backend) {
        // io_uring: 16 accepts, a receive and a send per connection and the timers all pass through a queue of
        // two entries (and a completion queue of eight): each push past the second submits to make room, and
        // nothing is lost. epoll has no queue; the same traffic must pass there too.
        let cfg = ringmux::Config { ring_entries: 2, ..config(b) };
        let server = Server::start(cfg, |_| Echo::default()).unwrap();
        let addr = server.local_addr().unwrap();
        let clients: Vec<_> = (0..32u8)
            .map(|n| {
                std::thread::spawn(move || {
                    let mut s = connect(addr);
                    for i in 0..50u8 {
                        let msg = [n ^ i; 64];
                        assert_eq!(echo_once(&mut s, &msg), msg, "client {n}, message {i}");
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        server.shutdown(Duration::from_secs(2));
        let stats = server.join().unwrap();
        assert_eq!(stats[0].accepted, 32);
        assert_eq!(stats[0].bytes_in, 32 * 50 * 64);
        assert_eq!(stats[0].bytes_out, 32 * 50 * 64);
        assert_eq!(stats[0].closed, 32, "every connection closed by the shutdown: {stats:?}");
    }

    fn enfile_shedding(b: Backend) {
        // A table of 4: the fifth and later connections are shed; the held ones keep working, and a freed
        // place is taken again.
        let cfg = ringmux::Config { max_connections_per_worker: 4, ..config(b) };
        let server = Server::start(cfg, |_| Echo::default()).unwrap();
        let addr = server.local_addr().unwrap();
        let mut held: Vec<_> = (0..4).map(|_| connect(addr)).collect();
        for s in &mut held {
            assert_eq!(echo_once(s, b"in"), b"in");
        }
        for _ in 0..4 {
            let mut extra = connect(addr);
            let _ = extra.write_all(b"x");
            assert!(closed_by_server(&mut extra, Duration::from_secs(5)), "extra connection not shed");
        }
        for s in &mut held {
            assert_eq!(echo_once(s, b"still"), b"still");
        }
        drop(held.pop());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut again = connect(addr);
            if again.write_all(b"back").is_ok() {
                let mut r = [0; 4];
                if again.read_exact(&mut r).is_ok() {
                    assert_eq!(&r, b"back");
                    break;
                }
            }
            assert!(Instant::now() < deadline, "a freed place was never reused");
            std::thread::sleep(Duration::from_millis(20));
        }
        server.shutdown(Duration::from_secs(1));
        let stats = server.join().unwrap();
        assert!(stats[0].shed >= 4, "{stats:?}");
        assert!(stats[0].accepted >= 5, "{stats:?}");
    }
}

/// Echoes; a connection that sends `F` is flooded with bytes on every tick until its queue overflows.
struct Flood {
    closed: Sender<(Conn, CloseReason)>,
}

static CHUNK: [u8; 64 * 1024] = [b'f'; 64 * 1024];

impl Handler for Flood {
    type State = bool;
    type Message = ();

    fn open(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: Origin) -> bool {
        false
    }

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, flooding: &mut bool, bytes: &[u8]) {
        if bytes.first() == Some(&b'F') && !*flooding {
            *flooding = true;
            ctx.arm_timer(conn, Duration::from_millis(1), 0);
        } else {
            ctx.send(conn, bytes).unwrap();
        }
    }

    fn timer(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: &mut bool, _: u64) {
        for _ in 0..16 {
            if ctx.send(conn, &CHUNK).is_err() {
                return;
            }
        }
        ctx.arm_timer(conn, Duration::from_millis(1), 0);
    }

    fn slow_consumer(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: &mut bool) -> CloseReason {
        assert!(ctx.queued(conn).unwrap() <= 1 << 20);
        CloseReason::Local(1008)
    }

    fn closed(&mut self, _: &mut Ctx<'_, ()>, conn: Conn, _: bool, reason: CloseReason) {
        self.closed.send((conn, reason)).unwrap();
    }
}

both_backends! {
    fn slow_consumer_closed_while_others_continue(b: Backend) {
        let (tx, rx) = channel();
        let cfg = ringmux::Config { send_queue_limit: 1 << 20, ..config(b) };
        let server = Server::start(cfg, move |_| Flood { closed: tx.clone() }).unwrap();
        let addr = server.local_addr().unwrap();
        let mut good = connect(addr);
        assert_eq!(echo_once(&mut good, b"hello"), b"hello");
        let mut never_reads = connect(addr);
        never_reads.write_all(b"F").unwrap();
        // The good client keeps echoing while the other one's queue fills up.
        let until = Instant::now() + Duration::from_secs(20);
        let closed = loop {
            assert_eq!(echo_once(&mut good, b"ping"), b"ping");
            if let Ok(c) = rx.try_recv() {
                break c;
            }
            assert!(Instant::now() < until, "the slow consumer was never closed");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(closed.1, CloseReason::Local(1008), "the handler's reason is used");
        for _ in 0..10 {
            assert_eq!(echo_once(&mut good, b"after"), b"after");
        }
        assert!(closed_by_server(&mut never_reads, Duration::from_secs(10)));
        server.shutdown(Duration::from_secs(1));
        let stats = server.join().unwrap();
        assert_eq!(stats[0].slow_consumers, 1);
    }
}

/// On shutdown: says "bye" and closes, except connections that sent `stubborn`.
struct Goodbye {
    closed: Sender<CloseReason>,
}

impl Handler for Goodbye {
    type State = bool;
    type Message = ();

    fn open(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: Origin) -> bool {
        false
    }

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, stubborn: &mut bool, bytes: &[u8]) {
        *stubborn |= bytes == b"stubborn";
        ctx.send(conn, b"ok").unwrap();
    }

    fn shutdown(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, stubborn: &mut bool) {
        assert!(ctx.is_shutting_down());
        if !*stubborn {
            ctx.send(conn, b"bye").unwrap();
            ctx.close(conn, CloseReason::Local(1001));
        }
    }

    fn closed(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: bool, reason: CloseReason) {
        self.closed.send(reason).unwrap();
    }
}

both_backends! {
    fn shutdown_deadline(b: Backend) {
        let (tx, rx) = channel();
        let server = Server::start(config(b), move |_| Goodbye { closed: tx.clone() }).unwrap();
        let addr = server.local_addr().unwrap();
        let mut polite = connect(addr);
        assert_eq!(echo_once(&mut polite, b"hi"), b"ok");
        let mut stubborn = connect(addr);
        stubborn.write_all(b"stubborn").unwrap();
        let mut ok = [0; 2];
        stubborn.read_exact(&mut ok).unwrap();

        let started = Instant::now();
        server.shutdown(Duration::from_millis(300));
        let mut bye = Vec::new();
        polite.read_to_end(&mut bye).unwrap();
        assert_eq!(bye, b"bye", "the goodbye is written before the close");
        assert_eq!(wait(&rx), CloseReason::Local(1001));
        assert_eq!(wait(&rx), CloseReason::ShutdownDeadline);
        let stats = server.join().unwrap();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300), "stopped before the deadline: {took:?}");
        assert!(took < Duration::from_secs(3), "deadline not enforced: {took:?}");
        assert_eq!(stats[0].aborted_at_deadline, 1);
        assert!(closed_by_server(&mut stubborn, Duration::from_secs(2)));
        // No longer accepting.
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}

/// Relays: bytes received on worker A go as a message to worker B, which writes them to its own client.
struct Relay {
    peer_conn: Sender<(usize, Conn)>,
    target: Option<Conn>,
}

enum RelayMsg {
    Target(Conn),
    Bytes(Vec<u8>),
}

impl Handler for Relay {
    type State = ();
    type Message = RelayMsg;

    fn open(&mut self, ctx: &mut Ctx<'_, RelayMsg>, conn: Conn, _: Origin) {
        self.peer_conn.send((ctx.worker(), conn)).unwrap();
    }

    fn data(&mut self, ctx: &mut Ctx<'_, RelayMsg>, _: Conn, _: &mut (), bytes: &[u8]) {
        let other = (ctx.worker() + 1) % ctx.workers();
        ctx.post(other, RelayMsg::Bytes(bytes.to_vec())).unwrap();
    }

    fn message(&mut self, ctx: &mut Ctx<'_, RelayMsg>, msg: RelayMsg) {
        match msg {
            RelayMsg::Target(c) => self.target = Some(c),
            RelayMsg::Bytes(b) => {
                if let Some(t) = self.target {
                    ctx.send(t, &b).unwrap();
                }
            }
        }
    }
}

both_backends! {
    fn messages_between_workers(b: Backend) {
        let (tx, rx) = channel();
        let cfg = ringmux::Config { workers: 2, ..config(b) };
        let server =
            Server::start(cfg, move |_| Relay { peer_conn: tx.clone(), target: None }).unwrap();
        let addr = server.local_addr().unwrap();
        // SO_REUSEPORT spreads connections by hash: open until both workers hold one.
        let mut by_worker: [Option<(std::net::TcpStream, Conn)>; 2] = [None, None];
        let mut spare = Vec::new();
        while by_worker.iter().any(Option::is_none) {
            let s = connect(addr);
            let (w, conn) = wait(&rx);
            if by_worker[w].is_none() {
                by_worker[w] = Some((s, conn));
            } else {
                spare.push(s);
            }
        }
        let [Some((mut s0, c0)), Some((mut s1, c1))] = by_worker else { unreachable!() };
        server.post(0, RelayMsg::Target(c0)).unwrap();
        server.post(1, RelayMsg::Target(c1)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        for round in 0..100u32 {
            let msg = round.to_be_bytes();
            s0.write_all(&msg).unwrap();
            let mut got = [0; 4];
            s1.read_exact(&mut got).unwrap();
            assert_eq!(got, msg);
            s1.write_all(&msg).unwrap();
            s0.read_exact(&mut got).unwrap();
            assert_eq!(got, msg);
        }
        server.shutdown(Duration::from_secs(1));
        let stats = server.join().unwrap();
        assert!(stats.iter().all(|s| s.messages >= 100), "{stats:?}");
    }
}

/// Binds a UDP socket and dials out at start; echoes datagrams; reports what the outbound peer says.
struct Dialer {
    target: std::net::SocketAddr,
    udp_addr: Sender<std::net::SocketAddr>,
    heard: Sender<Vec<u8>>,
}

impl Handler for Dialer {
    type State = ();
    type Message = ();

    fn start(&mut self, ctx: &mut Ctx<'_, ()>) {
        let udp = ctx.bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        self.udp_addr
            .send(ctx.udp_local_addr(udp).unwrap())
            .unwrap();
        let conn = ctx.connect(self.target).unwrap();
        ctx.send(conn, b"queued before connect;").unwrap();
    }

    fn open(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, origin: Origin) {
        assert_eq!(origin, Origin::Connected);
        assert_eq!(ctx.peer_addr(conn), Some(self.target));
        ctx.send(conn, b"hello").unwrap();
    }

    fn data(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: &mut (), bytes: &[u8]) {
        self.heard.send(bytes.to_vec()).unwrap();
    }

    fn datagram(
        &mut self,
        ctx: &mut Ctx<'_, ()>,
        udp: Udp,
        from: std::net::SocketAddr,
        bytes: &[u8],
    ) {
        let mut reply = b"re:".to_vec();
        reply.extend_from_slice(bytes);
        ctx.send_to(udp, from, &reply).unwrap();
    }
}

both_backends! {
    fn udp_and_outbound_tcp(b: Backend) {
        let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = upstream.local_addr().unwrap();
        let (atx, arx) = channel();
        let (htx, hrx) = channel();
        let cfg = ringmux::Config { listeners: Vec::new(), ..config(b) };
        let server = Server::start(cfg, move |_| Dialer {
            target,
            udp_addr: atx.clone(),
            heard: htx.clone(),
        })
        .unwrap();
        let udp_addr = wait(&arx);
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        sock.send_to(b"invite", udp_addr).unwrap();
        let mut buf = [0; 64];
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"re:invite"[..], udp_addr));

        let (mut s, _) = upstream.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = vec![0; b"queued before connect;hello".len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, b"queued before connect;hello");
        s.write_all(b"200 OK").unwrap();
        assert_eq!(wait(&hrx), b"200 OK");
        server.shutdown(Duration::from_secs(1));
        server.join().unwrap();
    }
}

/// Reports each accepted connection's peer address as the handler sees it in `open`.
struct PeerReporter {
    peers: Sender<Option<std::net::SocketAddr>>,
}

impl Handler for PeerReporter {
    type State = ();
    type Message = ();

    fn open(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: Origin) {
        self.peers.send(ctx.peer_addr(conn)).unwrap();
    }

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: &mut (), bytes: &[u8]) {
        // Echo the peer address as the handler still sees it while the connection lives.
        let text = format!("{:?}", ctx.peer_addr(conn));
        let _ = bytes;
        ctx.send(conn, text.as_bytes()).unwrap();
    }
}

both_backends! {
    fn peer_addr_of_accepted_connections(b: Backend) {
        let (tx, rx) = channel();
        let server = Server::start(config(b), move |_| PeerReporter { peers: tx.clone() }).unwrap();
        let addr = server.local_addr().unwrap();
        // Several source addresses and more connections than accepts kept in flight, so every accept
        // buffer is used (and reused) at least once.
        let mut clients = Vec::new();
        for i in 0..40u8 {
            let src: std::net::SocketAddr = format!("127.0.0.{}:0", 2 + i % 5).parse().unwrap();
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            sock.bind(&src.into()).unwrap();
            sock.connect(&addr.into()).unwrap();
            let s: std::net::TcpStream = sock.into();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            clients.push(s);
        }
        let mut seen: Vec<_> = (0..clients.len()).map(|_| wait(&rx).expect("peer address")).collect();
        let mut want: Vec<_> = clients.iter().map(|c| c.local_addr().unwrap()).collect();
        seen.sort();
        want.sort();
        assert_eq!(seen, want);
        let c = &mut clients[7];
        c.write_all(b"?").unwrap();
        let mut got = vec![0; 64];
        let n = c.read(&mut got).unwrap();
        assert_eq!(&got[..n], format!("Some({})", c.local_addr().unwrap()).as_bytes());
        server.shutdown(Duration::from_secs(1));
        server.join().unwrap();
    }
}

both_backends! {
    fn batched_wait_answers_at_once(b: Backend) {
        // Far more completions than this test ever makes, and a long minimum wait: the worker must still answer a
        // lone message on an idle worker, go on answering after a wait longer than the batched wait's overall bound
        // (io_uring returns ETIME then), and lose nothing when many connections talk at once.
        let cfg = ringmux::Config {
            batch_events: 100_000,
            batch_wait: Duration::from_millis(20),
            ..config(b)
        };
        let server = Server::start(cfg, |_| Echo::default()).unwrap();
        let addr = server.local_addr().unwrap();
        let mut lone = connect(addr);
        assert_eq!(echo_once(&mut lone, b"first"), b"first");
        std::thread::sleep(Duration::from_millis(1300));
        assert_eq!(echo_once(&mut lone, b"after idle"), b"after idle");

        let mut many: Vec<_> = (0..32).map(|_| connect(addr)).collect();
        for round in 0..20u32 {
            for (i, c) in many.iter_mut().enumerate() {
                c.write_all(format!("{round:04}:{i:04}").as_bytes()).unwrap();
            }
            for (i, c) in many.iter_mut().enumerate() {
                let mut back = [0; 9];
                c.read_exact(&mut back).unwrap();
                assert_eq!(&back, format!("{round:04}:{i:04}").as_bytes());
            }
        }
        server.shutdown(Duration::from_secs(1));
        let stats = server.join().expect("the worker survives its batched waits");
        assert_eq!(stats[0].accepted, 33);
    }
}

#[test]
fn idle_connection_fits_in_512_bytes() {
    for b in [Backend::Uring, Backend::Epoll] {
        let ours = ringmux::per_connection_bytes::<()>(b);
        assert!(ours <= 512, "{b:?}: {ours} bytes");
        // Room is left for protocol state (a WebSocket/SIP flow's few hundred bytes).
        assert!(ringmux::per_connection_bytes::<[u8; 256]>(b) <= 512 + 8);
        eprintln!("{b:?}: {ours} bytes per idle connection in ringmux");
    }
}

#[test]
fn env_selects_backend() {
    assert_eq!(
        ringmux::select_backend(ringmux::IoChoice::Epoll).unwrap(),
        Backend::Epoll
    );
    assert!("bogus".parse::<ringmux::IoChoice>().is_err());
}
