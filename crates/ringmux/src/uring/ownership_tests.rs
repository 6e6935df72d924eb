//! The ownership rule for send buffers: the bytes an io_uring send names stay the bytes its connection queued
//! until the send's completion arrives, whatever happens to the connection meanwhile.
//!
//! The attack: a connection is aborted (slow consumer, missing pong, TLS error, shutdown deadline) while a large
//! send to it waits for the peer's window. If teardown handed the buffer being sent back to the pool, another
//! connection would refill it, and the kernel, once the peer reads, would send that connection's bytes to the
//! aborted peer. Debug builds poison a buffer going back to the pool ([`POISON`]), so reading a released
//! buffer shows even when nothing refilled it.
//!
//! Workers run their rings with DEFER_TASKRUN, where a send waiting for room is retried only inside the next
//! `io_uring_enter`, after the cancel teardown queued. This test runs its ring without it, so the retry happens
//! as soon as the peer reads, before the cancel is submitted: the widest window the kernel allows, made
//! deterministic.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use super::*;
use crate::conn::CloseReason;
use crate::ctx::ConnIo;
use crate::sendq::POISON;
use crate::shared::Shared;
use crate::worker::WorkerSetup;

/// A handler with nothing to say: the test drives the engine directly.
struct Quiet;

impl Handler for Quiet {
    type State = ();
    type Message = ();

    fn open(&mut self, _: &mut crate::Ctx<'_, ()>, _: Conn, _: crate::Origin) {}

    fn data(&mut self, _: &mut crate::Ctx<'_, ()>, _: Conn, _: &mut (), _: &[u8]) {}
}

/// The byte the aborted connection queued.
const QUEUED: u8 = b'A';
/// The byte another connection writes into whatever buffer the pool hands it.
const OTHER: u8 = b'B';
/// What fills the peer's socket before the send, so that the send must wait for room.
const FILLER: u8 = b'F';
/// How much the aborted connection queued.
const SEND_LEN: usize = 48 * 1024;

/// A worker ring whose deferred work runs when the thread next returns from any system call.
fn eager_ring(cfg: &Config, shared: &Shared<()>) -> Ring {
    let ring = IoUring::builder()
        .setup_cqsize(64)
        .build(16)
        .expect("io_uring ring");
    let setup = WorkerSetup {
        cfg,
        shared,
        worker: 0,
        listeners: Vec::new(),
    };
    Ring::on_ring(setup, ring).expect("worker ring")
}

/// Writes `FILLER` into `s` until the kernel takes no more; returns how many bytes it took.
fn fill(mut s: &UnixStream) -> usize {
    s.set_nonblocking(true).expect("nonblocking");
    let chunk = [FILLER; 4096];
    let mut n = 0;
    loop {
        match s.write(&chunk) {
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return n,
            Err(e) => panic!("fill: {e}"),
        }
    }
}

/// Reads what `s` holds now (without waiting), in reads of at most 4 KiB: each read returns to user space,
/// where the ring's deferred work (the waiting send) runs.
fn drain(mut s: &UnixStream) -> Vec<u8> {
    s.set_nonblocking(true).expect("nonblocking");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..10_000 {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("drain: {e}"),
        }
    }
    got
}

#[test]
fn an_aborted_connections_send_buffer_is_not_refilled_while_the_kernel_reads_it() {
    let cfg = Config::default();
    let shared = Shared::new(1);
    let mut ring = eager_ring(&cfg, &shared);
    let mut engine = Engine::new(Quiet, Core::new(0, &cfg, Arc::new(Shared::new(1)), true));

    // The aborted connection: a direct descriptor for one end of a socket pair whose buffers are full.
    let (ours, peer) = UnixStream::pair().expect("socket pair");
    let filled = fill(&ours);
    ring.io
        .ring
        .submitter()
        .register_files_update(0, &[ours.as_raw_fd()])
        .expect("register the descriptor");
    let key = engine
        .core
        .conns
        .insert(ConnIo::new(0, flag::OPENED, None))
        .expect("slot");
    let conn = Conn::from_key(key);

    // A large send that must wait for the peer to read.
    let c = engine.core.conns.get_mut(key).expect("slot");
    c.send.push(&[QUEUED; SEND_LEN], &mut engine.core.pool);
    engine.core.mark_dirty(conn);
    ring.flush_core(&mut engine.core);
    ring.io.ring.submit().expect("submit the send");
    assert_eq!(
        ring.io.ring.completion().count(),
        0,
        "the send waits for room"
    );

    // Abort it; another connection then takes a buffer from the pool and fills it.
    engine
        .core
        .close_later(conn, CloseReason::SlowConsumer, false);
    engine.settle(&mut ring);
    let mut other = engine.core.pool.take();
    other.resize(other.capacity().max(SEND_LEN), OTHER);

    // The peer reads; the kernel retries the send as soon as there is room, before the cancel is submitted.
    let got = drain(&peer);
    let sent: Vec<u8> = got.into_iter().skip(filled).collect();
    assert!(
        !sent.is_empty(),
        "the kernel sent from the buffer after teardown (the window this test needs)"
    );
    let foreign = sent.iter().filter(|&&b| b != QUEUED).count();
    assert_eq!(
        foreign,
        0,
        "{foreign} of {} bytes sent after the abort were not the connection's own (poison {:#x}: released \
         buffer; {:?}: another connection's)",
        sent.len(),
        POISON,
        OTHER as char
    );

    // The cancel and the close complete; only then is the slot, and the buffer with it, freed.
    assert!(
        engine.core.conns.get(key).is_some(),
        "slot kept while the send is in flight"
    );
    for _ in 0..100 {
        ring.io.ring.submit_and_wait(1).expect("submit");
        ring.reap(&mut engine);
        if engine.core.conns.get(key).is_none() {
            break;
        }
    }
    assert!(
        engine.core.conns.get(key).is_none(),
        "slot freed once every operation completed"
    );
    drop(other);
}
