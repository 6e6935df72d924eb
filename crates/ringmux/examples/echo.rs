//! A plain TCP echo server on ringmux; the integration tests drive it over loopback.
//!
//! ```text
//! cargo run --release -p ringmux --example echo -- --listen 127.0.0.1:7000 --workers 2 --io uring --idle-secs 60
//! ```
//!
//! `--for SECS` stops it gracefully after SECS seconds and prints each worker's counters. `--tls-cert FILE
//! --tls-key FILE` (PEM) terminate TLS on the listener (`tls_load` drives that).

use std::time::Duration;

use ringmux::{CloseReason, Conn, Ctx, Handler, Origin};

/// Echoes every byte back; closes connections idle for longer than `idle` (if set).
#[derive(Debug, Default)]
pub struct Echo {
    /// Idle timeout.
    pub idle: Option<Duration>,
}

/// Per-connection state: whether bytes arrived since the idle timer was armed.
#[derive(Debug, Default)]
pub struct EchoConn {
    active: bool,
}

const IDLE: u64 = 1;

impl Handler for Echo {
    type State = EchoConn;
    type Message = ();

    fn open(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _origin: Origin) -> EchoConn {
        if let Some(idle) = self.idle {
            ctx.arm_timer(conn, idle, IDLE);
        }
        EchoConn::default()
    }

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, state: &mut EchoConn, bytes: &[u8]) {
        state.active = true;
        // A peer that does not read its echo is a slow consumer: the default policy closes it.
        let _ = ctx.send(conn, bytes);
    }

    fn timer(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, state: &mut EchoConn, token: u64) {
        if token != IDLE {
            return;
        }
        if std::mem::take(&mut state.active) {
            if let Some(idle) = self.idle {
                ctx.arm_timer(conn, idle, IDLE);
            }
        } else {
            ctx.close(conn, CloseReason::Local(1));
        }
    }
}

#[allow(dead_code)] // the tests include this file for `Echo` only
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = ringmux::Config::default();
    let mut listen: std::net::SocketAddr = "127.0.0.1:7000".parse()?;
    let mut run_for = None;
    let mut idle = None;
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = value()?.parse()?,
            "--workers" => cfg.workers = value()?.parse()?,
            "--io" => cfg.io = value()?.parse()?,
            "--max-conns" => cfg.max_connections_per_worker = value()?.parse()?,
            "--idle-secs" => idle = Some(Duration::from_secs(value()?.parse()?)),
            "--for" => run_for = Some(Duration::from_secs(value()?.parse()?)),
            "--tls-cert" => cert = Some(std::path::PathBuf::from(value()?)),
            "--tls-key" => key = Some(std::path::PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut listener = ringmux::Listener::plain(listen);
    if let (Some(cert), Some(key)) = (cert, key) {
        listener = listener.with_tls(ringmux::TlsAcceptor::from_files(&ringmux::TlsFiles {
            default: Some(ringmux::PemFiles { cert, key }),
            sni: Vec::new(),
        })?);
    }
    cfg.listeners = vec![listener];
    let server = ringmux::Server::start(cfg, move |_| Echo { idle })?;
    eprintln!(
        "echo: {:?} backend, {} workers, on {:?}",
        server.backend(),
        server.workers(),
        server.local_addr()
    );
    match run_for {
        Some(d) => std::thread::sleep(d),
        None => loop {
            std::thread::park();
        },
    }
    server.shutdown(Duration::from_secs(5));
    for (i, s) in server.join()?.iter().enumerate() {
        eprintln!("worker {i}: {s:?}");
    }
    Ok(())
}
