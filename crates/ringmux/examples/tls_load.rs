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

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn open(
    addr: SocketAddr,
    cfg: &Arc<ClientConfig>,
    name: &ServerName<'static>,
) -> Result<Tls, Box<dyn std::error::Error>> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    let mut s = StreamOwned::new(ClientConnection::new(cfg.clone(), name.clone())?, tcp);
    s.write_all(b"x")?;
    s.flush()?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    Ok(s)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: SocketAddr = "127.0.0.1:7000".parse()?;
    let (mut ca, mut handshakes, mut hold, mut pid) = (None, 1000usize, None, None);
    let (mut resume, mut tls12, mut name) = (false, false, "localhost".to_owned());
    let (mut chacha, mut echoes, mut size) = (false, None, 512usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => addr = value()?.parse()?,
            "--ca" => ca = Some(value()?),
            "--name" => name = value()?,
            "--handshakes" => handshakes = value()?.parse()?,
            "--hold" => hold = Some(value()?.parse::<usize>()?),
            "--resume" => resume = true,
            "--tls12" => tls12 = true,
            "--chacha" => chacha = true,
            "--echoes" => echoes = Some(value()?.parse::<usize>()?),
            "--size" => size = value()?.parse()?,
            "--watch-pid" => pid = Some(value()?.parse::<u32>()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca.ok_or("--ca FILE is needed")?)? {
        roots.add(c?)?;
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut provider = rustls::crypto::ring::default_provider();
    if chacha {
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
    if !resume {
        cfg.resumption = rustls::client::Resumption::disabled();
    }
    let cfg = Arc::new(cfg);
    let name = ServerName::try_from(name)?;
    if let Some(n) = hold {
        let before = pid.and_then(rss_kib);
        let mut held = Vec::with_capacity(n);
        for _ in 0..n {
            held.push(open(addr, &cfg, &name)?);
        }
        std::thread::sleep(Duration::from_secs(2));
        let after = pid.and_then(rss_kib);
        println!("held {n} TLS connections");
        if let (Some(b), Some(a)) = (before, after) {
            println!(
                "server RSS {b} KiB -> {a} KiB: {:.0} B per connection",
                (a.saturating_sub(b) * 1024) as f64 / n as f64
            );
        }
        return Ok(());
    }
    if let Some(n) = echoes {
        let mut s = open(addr, &cfg, &name)?;
        let msg = vec![b'e'; size.max(1)];
        let mut back = vec![0u8; msg.len()];
        let cpu0 = pid.and_then(cpu_seconds);
        let t0 = Instant::now();
        for _ in 0..n {
            s.write_all(&msg)?;
            s.flush()?;
            s.read_exact(&mut back)?;
        }
        let secs = t0.elapsed().as_secs_f64();
        let suite = s.conn.negotiated_cipher_suite().map(|c| c.suite());
        println!(
            "{n} echoes of {size} B ({suite:?}) in {secs:.2} s: {:.0}/s",
            n as f64 / secs
        );
        if let (Some(c0), Some(c1)) = (cpu0, pid.and_then(cpu_seconds)) {
            println!(
                "server CPU {:.2} s: {:.2} us per echo",
                c1 - c0,
                (c1 - c0) * 1e6 / n as f64
            );
        }
        return Ok(());
    }
    // The first connection fills the session cache; it is not timed.
    drop(open(addr, &cfg, &name)?);
    let cpu0 = pid.and_then(cpu_seconds);
    let t0 = Instant::now();
    let mut resumed = 0;
    for _ in 0..handshakes {
        let s = open(addr, &cfg, &name)?;
        resumed += usize::from(s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed));
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{handshakes} handshakes ({resumed} resumed) in {secs:.2} s: {:.0}/s",
        handshakes as f64 / secs
    );
    if let (Some(c0), Some(c1)) = (cpu0, pid.and_then(cpu_seconds)) {
        let cpu = c1 - c0;
        println!(
            "server CPU {cpu:.2} s: {:.0} handshakes per server CPU-second",
            handshakes as f64 / cpu.max(0.01)
        );
    }
    Ok(())
}
