//! A server started on listeners and connections another process held (`Server::start_inheriting`), on both
//! backends: each connection keeps its handle, its handler state and the bytes its client sent meanwhile; a new
//! connection never takes a handle that was handed out before; refused and unfit inheritances are handled.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

use common::{closed_by_server, config, connect};
use ringmux::{Conn, Ctx, Handler, InheritedConn, Origin, Server, WorkerInheritance};

/// Counts the bytes each connection received (its state, carried over as 8 bytes) and answers each read with
/// the count so far. Reports the handles it adopts and opens; refuses to adopt a state of `b"refuse"`.
struct Counter {
    seen: Sender<(&'static str, Conn)>,
}

impl Handler for Counter {
    type State = u64;
    type Message = ();

    fn open(&mut self, _: &mut Ctx<'_, ()>, conn: Conn, _: Origin) -> u64 {
        self.seen.send(("open", conn)).unwrap();
        0
    }

    fn adopt(&mut self, _: &mut Ctx<'_, ()>, conn: Conn, state: &[u8]) -> Option<u64> {
        let count = u64::from_be_bytes(state.try_into().ok()?);
        self.seen.send(("adopt", conn)).unwrap();
        Some(count)
    }

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, count: &mut u64, bytes: &[u8]) {
        *count += bytes.len() as u64;
        let _ = ctx.send(conn, format!("{count};").as_bytes());
    }
}

/// Reads `;`-terminated counts from `s` until one reaches `want`.
fn count_reaches(s: &mut TcpStream, want: u64) -> bool {
    let mut got = Vec::new();
    let mut b = [0u8; 256];
    loop {
        let n = match s.read(&mut b) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        got.extend_from_slice(&b[..n]);
        let text = String::from_utf8_lossy(&got);
        if text.split(';').any(|c| c.parse::<u64>() == Ok(want)) {
            return true;
        }
    }
}

/// The "old process": a listener and `n` connections accepted on it, as plain sockets.
fn old_side(n: usize) -> (TcpListener, Vec<(TcpStream, OwnedFd)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let pairs = (0..n)
        .map(|_| {
            let client = connect(addr);
            let (accepted, _) = listener.accept().unwrap();
            (client, OwnedFd::from(accepted))
        })
        .collect();
    (listener, pairs)
}

fn inherited(conn: Conn, fd: OwnedFd, state: &[u8]) -> InheritedConn {
    InheritedConn {
        conn,
        fd,
        peer: None,
        listener: Some(0),
        proxied: false,
        state: state.to_vec(),
        unsent: Vec::new(),
        tls: ringmux::TlsState::default(),
    }
}

both_backends! {
    fn connections_go_on_with_their_handles_state_and_bytes(b: Backend) {
        let (listener, pairs) = old_side(3);
        // The old worker's slab: slots 0, 2 and 5 held, the others vacant with their next generations.
        let generations = vec![3, 9, 1, 4, 0, 7];
        let handles = [(0, 3), (2, 1), (5, 7)].map(|(slot, generation)| Conn { slot, generation });
        let mut clients = Vec::new();
        let mut conns = Vec::new();
        for ((client, fd), (conn, count)) in pairs.into_iter().zip(handles.iter().zip([10u64, 20, 30])) {
            conns.push(inherited(*conn, fd, &count.to_be_bytes()));
            clients.push(client);
        }
        // Bytes the old process had queued for the first client, and bytes sent while no process reads.
        conns[0].unsent = b"was queued;".to_vec();
        clients[1].write_all(b"abc").unwrap();
        let (tx, rx) = channel();
        let inheritance = WorkerInheritance {
            listeners: vec![OwnedFd::from(listener)],
            generations,
            conns,
            more: None,
            udp: Vec::new(),
        };
        let server = Server::start_inheriting(config(b), move |_| Counter { seen: tx.clone() }, vec![inheritance])
            .unwrap();
        let mut adopted: Vec<Conn> = (0..3).map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .map(|(what, c)| { assert_eq!(what, "adopt"); c })
            .collect();
        adopted.sort_by_key(|c| c.slot);
        assert_eq!(adopted, handles, "each connection keeps its handle");
        assert!(count_reaches(&mut clients[1], 23), "the bytes sent meanwhile are read, on the carried count");
        let mut queued = [0u8; 11];
        clients[0].read_exact(&mut queued).unwrap();
        assert_eq!(&queued, b"was queued;", "written first");
        clients[0].write_all(b"x").unwrap();
        assert!(count_reaches(&mut clients[0], 11));
        clients[2].write_all(b"xy").unwrap();
        assert!(count_reaches(&mut clients[2], 32));
        // A new connection on the listener handed over takes a handle no connection had before.
        let mut fresh = connect(server.local_addr().unwrap());
        fresh.write_all(b"hello").unwrap();
        assert!(count_reaches(&mut fresh, 5));
        let (what, c) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(what, "open");
        let generation_before = [3, 9, 1, 4, 0, 7].get(c.slot as usize).copied().unwrap_or(0);
        assert!(c.generation >= generation_before, "{c:?} reuses a handle of the old process");
        assert!(!handles.contains(&c));
        server.shutdown(Duration::from_secs(1));
        server.join().unwrap();
    }

    fn a_refused_connection_is_closed_and_the_others_go_on(b: Backend) {
        let (listener, pairs) = old_side(2);
        let mut clients = Vec::new();
        let mut conns = Vec::new();
        for (i, (client, fd)) in pairs.into_iter().enumerate() {
            let state: &[u8] = if i == 0 { b"refuse" } else { &[0; 8] };
            conns.push(inherited(Conn { slot: i as u32, generation: 0 }, fd, state));
            clients.push(client);
        }
        let (tx, rx) = channel();
        let inheritance = WorkerInheritance {
            listeners: vec![OwnedFd::from(listener)],
            generations: vec![0, 0],
            conns,
            more: None,
            udp: Vec::new(),
        };
        let server = Server::start_inheriting(config(b), move |_| Counter { seen: tx.clone() }, vec![inheritance])
            .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), ("adopt", Conn { slot: 1, generation: 0 }));
        assert!(closed_by_server(&mut clients[0], Duration::from_secs(5)));
        clients[1].write_all(b"ok").unwrap();
        assert!(count_reaches(&mut clients[1], 2));
        server.shutdown(Duration::from_secs(1));
        server.join().unwrap();
    }

    fn an_inheritance_that_does_not_fit_is_refused_before_any_worker_starts(b: Backend) {
        let (listener, mut pairs) = old_side(1);
        let (_client, fd) = pairs.pop().unwrap();
        let start = |inheritance: Vec<WorkerInheritance>| {
            Server::<()>::start_inheriting(config(b), |_| common::Echo, inheritance).map(|_| ()).unwrap_err()
        };
        assert!(start(Vec::new()).to_string().contains("0 workers handed over, 1 configured"));
        let no_listener = WorkerInheritance::default();
        assert!(start(vec![no_listener]).to_string().contains("0 listeners handed over"));
        let stale = WorkerInheritance {
            listeners: vec![OwnedFd::from(listener)],
            generations: vec![4],
            conns: vec![inherited(Conn { slot: 0, generation: 3 }, fd, &[])],
            more: None,
            udp: Vec::new(),
        };
        let e = start(vec![stale]).to_string();
        assert!(e.contains("slot 0 has generation 4"), "{e}");
    }
}
