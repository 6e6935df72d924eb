//! TLS load for the echo example (`echo --tls-cert C --tls-key K`): handshake rate or idle memory.
//!
//! ```text
//! tls_load --addr 127.0.0.1:7000 --ca cert.pem --handshakes 2000 [--resume] [--tls12] --watch-pid PID
//! tls_load --addr 127.0.0.1:7000 --ca cert.pem --hold 10000 --watch-pid PID
//! tls_load --addr 127.0.0.1:7000 --ca cert.pem --echoes 20000 [--size 512] [--chacha] --watch-pid PID
//! ```
//!
//! Handshake mode opens a new connection per handshake (one 1-byte echo each, so the server finished it) and
//! prints handshakes/s and, with `--watch-pid`, handshakes per server CPU-second. `--resume` reuses the client's
//! session cache (tickets), so every connection after the first resumes. Hold mode opens the connections,
//! echoes once on each, keeps them idle, and prints the server's RSS growth per connection. Echo mode sends
//! `--echoes` messages of `--size` bytes one after the other over one connection and prints the server's CPU
//! time per echo (one record decrypted and one encrypted each). `--chacha` offers ChaCha20-Poly1305 only.

#[path = "common/proc_stat.rs"]
mod proc_stat;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proc_stat::{cpu_seconds, growth_per_conn, rss_kib};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use clap::Parser;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;
type Tls = StreamOwned<ClientConnection, TcpStream>;

/// The command line.
#[derive(Debug, Parser)]
struct Args {
    /// The TLS echo server.
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: SocketAddr,
    /// The CA (PEM) that signed the server's certificate.
    #[arg(long)]
    ca: Option<String>,
    /// The server name to ask for and check.
    #[arg(long, default_value = "localhost")]
    name: String,
    /// Handshake mode: this many handshakes.
    #[arg(long, default_value_t = 1000)]
    handshakes: usize,
    /// Hold mode: this many idle connections.
    #[arg(long)]
    hold: Option<usize>,
    /// Resume sessions from the client's cache (tickets).
    #[arg(long)]
    resume: bool,
    /// TLS 1.2 only.
    #[arg(long)]
    tls12: bool,
    /// ChaCha20-Poly1305 only.
    #[arg(long)]
    chacha: bool,
    /// Echo mode: this many echoes over one connection.
    #[arg(long)]
    echoes: Option<usize>,
    /// Bytes per echo.
    #[arg(long, default_value_t = 512)]
    size: usize,
    /// The server's process, to read its CPU time and RSS.
    #[arg(long = "watch-pid")]
    pid: Option<u32>,
}

/// The client's TLS settings from the command line.
fn client_config(args: &Args) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(args.ca.as_deref().ok_or("--ca FILE is needed")?)? {
        roots.add(c?)?;
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if args.tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut provider = rustls::crypto::ring::default_provider();
    if args.chacha {
        // Offer only ChaCha20-Poly1305 (the server takes the client's first choice).
        provider.cipher_suites.retain(|s| {
            matches!(
                s.suite(),
                rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
                    | rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            )
        });
    }
    let mut cfg = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !args.resume {
        cfg.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(cfg))
}

/// A connected TLS client that has seen one 1-byte echo (so the server finished the handshake).
fn open(addr: SocketAddr, cfg: &Arc<ClientConfig>, name: &ServerName<'static>) -> Result<Tls> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    let mut s = StreamOwned::new(ClientConnection::new(cfg.clone(), name.clone())?, tcp);
    s.write_all(b"x")?;
    s.flush()?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    Ok(s)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let cfg = client_config(&args)?;
    let name = ServerName::try_from(args.name.clone())?;
    if let Some(n) = args.hold {
        return hold(&args, &cfg, &name, n);
    }
    if let Some(n) = args.echoes {
        return echoes(&args, &cfg, &name, n);
    }
    handshakes(&args, &cfg, &name)
}

/// Opens `n` TLS connections, keeps them idle, prints the server's RSS growth per connection.
fn hold(args: &Args, cfg: &Arc<ClientConfig>, name: &ServerName<'static>, n: usize) -> Result<()> {
    let before = args.pid.and_then(rss_kib);
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        held.push(open(args.addr, cfg, name)?);
    }
    std::thread::sleep(Duration::from_secs(2));
    let after = args.pid.and_then(rss_kib);
    println!("held {n} TLS connections");
    if let (Some(b), Some(a), Some(per)) = (before, after, growth_per_conn(before, after, n)) {
        println!("server RSS {b} KiB -> {a} KiB: {per:.0} B per connection");
    }
    Ok(())
}

/// `n` echoes one after the other on one connection; prints the server's CPU time per echo.
fn echoes(
    args: &Args,
    cfg: &Arc<ClientConfig>,
    name: &ServerName<'static>,
    n: usize,
) -> Result<()> {
    let mut s = open(args.addr, cfg, name)?;
    let msg = vec![b'e'; args.size.max(1)];
    let mut back = vec![0u8; msg.len()];
    let cpu0 = args.pid.and_then(cpu_seconds);
    let t0 = Instant::now();
    for _ in 0..n {
        s.write_all(&msg)?;
        s.flush()?;
        s.read_exact(&mut back)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let suite = s.conn.negotiated_cipher_suite().map(|c| c.suite());
    let size = args.size;
    println!(
        "{n} echoes of {size} B ({suite:?}) in {secs:.2} s: {:.0}/s",
        n as f64 / secs
    );
    if let (Some(c0), Some(c1)) = (cpu0, args.pid.and_then(cpu_seconds)) {
        let cpu = c1 - c0;
        println!(
            "server CPU {cpu:.2} s: {:.2} us per echo",
            cpu * 1e6 / n as f64
        );
    }
    Ok(())
}

/// A new connection per handshake; prints handshakes/s and per server CPU-second.
fn handshakes(args: &Args, cfg: &Arc<ClientConfig>, name: &ServerName<'static>) -> Result<()> {
    // The first connection fills the session cache; it is not timed.
    drop(open(args.addr, cfg, name)?);
    let cpu0 = args.pid.and_then(cpu_seconds);
    let t0 = Instant::now();
    let mut resumed = 0;
    let n = args.handshakes;
    for _ in 0..n {
        let s = open(args.addr, cfg, name)?;
        resumed += usize::from(s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed));
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{n} handshakes ({resumed} resumed) in {secs:.2} s: {:.0}/s",
        n as f64 / secs
    );
    if let (Some(c0), Some(c1)) = (cpu0, args.pid.and_then(cpu_seconds)) {
        let cpu = c1 - c0;
        println!(
            "server CPU {cpu:.2} s: {:.0} handshakes per server CPU-second",
            n as f64 / cpu.max(0.01)
        );
    }
    Ok(())
}
