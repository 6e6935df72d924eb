//! What an idle TLS connection costs in user space: a counting global allocator tracks the live heap while a
//! ringmux server (one worker, each backend) completes N handshakes on loopback and the connections go idle.
//! The clients keep only their sockets (their TLS state is dropped once the echo came back), so the growth of
//! the live heap is the server's. The same run without TLS gives the non-TLS part, and the difference is what
//! TLS adds per connection.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use common::Echo;
use ringmux::{Backend, Certificates, Server, TlsAcceptor};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The system allocator, counting the bytes and blocks currently allocated.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s guarantees
// (and the caller's obligations) carry over as they are; the counters are plain atomics and never touch the
// memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout, which the caller guarantees has a non-zero size.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(signed(layout.size()), Ordering::Relaxed);
            LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(signed(layout.size()), Ordering::Relaxed);
            LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(signed(layout.size()), Ordering::Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator with `layout` and that `new_size`,
        // rounded to `layout.align()`, is valid; forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(signed(new_size) - signed(layout.size()), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live heap: (bytes, blocks).
fn live() -> (isize, isize) {
    (
        LIVE_BYTES.load(Ordering::Relaxed),
        LIVE_BLOCKS.load(Ordering::Relaxed),
    )
}

/// The live heap once it stopped changing (the worker may still be freeing what the last echo used).
fn settled() -> (isize, isize) {
    let mut last = live();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(20));
        let now = live();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Opens a connection, echoes one byte over it and keeps only the socket.
fn open_idle(addr: SocketAddr, tls: Option<&Arc<ClientConfig>>) -> TcpStream {
    let mut tcp = common::connect(addr);
    let Some(cfg) = tls else {
        assert_eq!(common::echo_once(&mut tcp, b"x"), b"x");
        return tcp;
    };
    let name = ServerName::try_from("edge.test").unwrap();
    let mut s = StreamOwned::new(ClientConnection::new(cfg.clone(), name).unwrap(), tcp);
    s.write_all(b"x").unwrap();
    s.flush().unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"x");
    let (_session, sock) = s.into_parts();
    sock
}

/// Live heap growth per idle connection (bytes, blocks) over `n` connections to a fresh one-worker server, and
/// how many TLS handshakes resumed.
fn idle_cost(
    b: Backend,
    acceptor: Option<&TlsAcceptor>,
    client: Option<&Arc<ClientConfig>>,
    n: usize,
) -> (f64, f64, u64) {
    let cfg = ringmux::Config {
        listeners: vec![ringmux::Listener {
            tls: acceptor.cloned(),
            ..common::loopback()
        }],
        ..common::config(b)
    };
    let server = Server::start(cfg, |_| Echo).unwrap();
    let addr = server.local_addr().unwrap();
    let mut held = Vec::with_capacity(n);
    // Warm-up: whatever the worker allocates once (buffers, first slab page, session cache) is not per
    // connection.
    drop(open_idle(addr, client));
    let (bytes0, blocks0) = settled();
    for _ in 0..n {
        held.push(open_idle(addr, client));
    }
    let (bytes1, blocks1) = settled();
    drop(held);
    server.shutdown(Duration::from_secs(2));
    let resumed = server.join().unwrap().iter().map(|s| s.tls_resumed).sum();
    let per = |a: isize, b: isize| (b - a) as f64 / n as f64;
    (per(bytes0, bytes1), per(blocks0, blocks1), resumed)
}

fn client_config(
    der: &CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: Option<&[rustls::CipherSuite]>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(der.clone()).unwrap();
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(keep) = suites {
        provider.cipher_suites.retain(|s| keep.contains(&s.suite()));
    }
    let mut cfg = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    // The client keeps no tickets: its heap stays flat, so what grows is the server's.
    cfg.resumption = rustls::client::Resumption::disabled();
    Arc::new(cfg)
}

/// Connections held per run.
const N: usize = 1000;

/// What TLS may add to an idle connection: TLS 1.3 measured 2,345 B in 9 blocks (the session object, the
/// handshake deframer's span list rustls keeps, the traffic key schedule, two 64-byte record keys, two small
/// rustls queues, SNI and ALPN), TLS 1.2 2,433 B in 12. The bounds leave a little room, not a kilobyte.
const TLS13_MAX: f64 = 2400.0;
const TLS12_MAX: f64 = 2500.0;

#[test]
fn idle_tls_connection_cost() {
    let c = rcgen::generate_simple_self_signed(vec!["edge.test".to_owned()]).unwrap();
    let der = c.cert.der().clone();
    let certs = Certificates::from_pem(
        c.cert.pem().as_bytes(),
        c.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let acceptor = TlsAcceptor::new(certs).unwrap();
    eprintln!("session object: {} B", TlsAcceptor::SESSION_BYTES);
    use rustls::version::{TLS12, TLS13};
    let chacha = [rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256];
    // Each suite keeps its keys in the same 64 bytes: ChaCha20 costs what AES-GCM costs.
    let cases = [
        ("TLS 1.3", client_config(&der, &[&TLS13], None), TLS13_MAX),
        (
            "TLS 1.3 ChaCha20",
            client_config(&der, &[&TLS13], Some(&chacha)),
            TLS13_MAX,
        ),
        ("TLS 1.2", client_config(&der, &[&TLS12], None), TLS12_MAX),
        // Resumed with a ticket from an earlier connection (the client's ticket cache is bounded, so what it
        // keeps is a few tickets in all, not per connection).
        (
            "TLS 1.3 resumed",
            {
                let mut c = (*client_config(&der, &[&TLS13], None)).clone();
                c.resumption = rustls::client::Resumption::default();
                Arc::new(c)
            },
            TLS13_MAX,
        ),
    ];
    for b in [Backend::Uring, Backend::Epoll] {
        let (plain, plain_blocks, _) = idle_cost(b, None, None, N);
        eprintln!("{b:?} without TLS: {plain:.0} B in {plain_blocks:.2} blocks per connection");
        // Slab growth (amortized) and nothing else: an idle plaintext connection has no heap of its own.
        assert!(plain < 256.0, "{plain}");
        for (what, client, max) in &cases {
            let (tls, blocks, resumed) = idle_cost(b, Some(&acceptor), Some(client), N);
            // Every held connection resumed (each gets fresh tickets; the warm-up may too, with a ticket from
            // the run on the other backend), or none did.
            if what.ends_with("resumed") {
                assert!(resumed >= N as u64, "{what}: {resumed} resumed");
            } else {
                assert_eq!(resumed, 0, "{what}");
            }
            let added = tls - plain;
            eprintln!(
                "{b:?} {what}: {tls:.0} B in {blocks:.2} blocks per connection; TLS adds {added:.0} B in {:.2} blocks",
                blocks - plain_blocks
            );
            assert!(
                added <= *max,
                "{b:?} {what}: TLS adds {added:.0} B per idle connection"
            );
            // The session object is part of it, and something is measured at all.
            assert!(added >= TlsAcceptor::SESSION_BYTES as f64, "{added}");
        }
    }
}
