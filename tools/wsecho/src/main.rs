//! `wsecho`: a WebSocket echo server on the ringmux multiplexer (io_uring, or epoll) and the sans-io `wsproto`
//! codec. It echoes text and binary messages, chooses the `sip` subprotocol when offered (else none), accepts
//! permessage-deflate (RFC 7692) under wsproto's default policy unless `--no-deflate`, and is what
//! Autobahn|Testsuite drives (`tools/autobahn/wsecho.sh`, over wss:// `tools/autobahn/wsecho-tls.sh`) and what the
//! load runs measure (`tools/scale/`). `--tls-cert FILE --tls-key FILE` (PEM) serve wss://: ringmux terminates TLS,
//! the handler is the same.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ringmux::{CloseReason, Conn, Ctx, Handler, IoChoice, Origin};
use wsproto::deflate::{Deflate, DeflateConfig, SharedCodecs};
use wsproto::writer::{write_compressed_frame, write_frame};
use wsproto::{Connection, Event, Role, ServerConfig, ServerHandshake};

/// WebSocket echo server (RFC 6455) on ringmux + wsproto.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (every worker listens on it with SO_REUSEPORT).
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// I/O backend: auto (io_uring when available), uring or epoll.
    #[arg(long, default_value = "auto")]
    io: String,
    /// Largest message echoed; larger ones close with 1009 (Autobahn sends up to 16 MiB).
    #[arg(long, default_value_t = 16 << 20)]
    max_message_size: usize,
    /// Most connections per worker (io_uring: also the direct-descriptor table size, capped by RLIMIT_NOFILE).
    #[arg(long)]
    max_connections_per_worker: Option<u32>,
    /// io_uring: completions a worker waits for before a loop pass (ringmux `batch_events`; 0 or 1: a pass per
    /// completion).
    #[arg(long)]
    batch_events: Option<u32>,
    /// io_uring: the longest a worker waits for --batch-events completions, in microseconds (ringmux
    /// `batch_wait`; 0: no batching).
    #[arg(long, value_name = "USECS")]
    batch_wait_us: Option<u64>,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long, value_name = "SECS")]
    run_for: Option<u64>,
    /// Serve wss:// with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Decline permessage-deflate.
    #[arg(long)]
    no_deflate: bool,
}

/// One connection: opening handshake, then frames.
#[derive(Debug)]
enum WsConn {
    Handshake(Box<ServerHandshake>),
    Open(Box<Open>),
}

/// An open WebSocket, and permessage-deflate if it was agreed.
#[derive(Debug)]
struct Open {
    ws: Connection,
    deflate: Option<Deflate>,
}

/// The echo handler: per-worker scratch buffers, nothing shared.
#[derive(Debug)]
struct WsEcho {
    limits: wsproto::Config,
    deflate: Option<DeflateConfig>,
    shared: SharedCodecs,
    input: Vec<u8>,
    out: Vec<u8>,
}

/// Feed `input` to `open`, echoing every data message into `out` (compressed when the client compresses);
/// a pong or Close reply goes out right after the event that caused it.
fn echo(open: &mut Open, shared: &mut SharedCodecs, input: &mut [u8], out: &mut Vec<u8>) {
    let mut pos = 0;
    let ws = &mut open.ws;
    let mut codecs = open.deflate.as_mut().map(|d| d.codecs(shared));
    let mut compressed = Vec::new();
    loop {
        let input = input.get_mut(pos..).unwrap_or_default();
        let (got, compressor) = match codecs.as_mut() {
            Some((compressor, decompressor)) => {
                (ws.receive_inflating(input, decompressor), Some(compressor))
            }
            None => (ws.receive(input), None),
        };
        pos += got.consumed;
        match got.event {
            None => break,
            Some(Event::Message { kind, payload }) => {
                let opcode = kind.opcode();
                match compressor {
                    Some(c) => {
                        compressed.clear();
                        c.compress(payload, &mut compressed);
                        write_compressed_frame(out, opcode, &compressed, None);
                    }
                    None => write_frame(out, true, opcode, payload, None),
                }
            }
            Some(
                Event::Ping(_) | Event::Pong(_) | Event::Close { .. } | Event::ProtocolError { .. },
            ) => {}
        }
        // Server role: unmasked, so this cannot fail.
        while let Ok(true) = ws.poll_transmit(out, None) {}
    }
}

impl Handler for WsEcho {
    type State = WsConn;
    type Message = ();

    fn open(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: Origin) -> WsConn {
        WsConn::Handshake(Box::new(ServerHandshake::new(ServerConfig {
            subprotocols: vec!["sip".to_owned()],
            deflate: self.deflate,
            ..ServerConfig::default()
        })))
    }

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, state: &mut WsConn, bytes: &[u8]) {
        self.out.clear();
        match state {
            WsConn::Handshake(hs) => match hs.feed(bytes) {
                Ok(None) => return,
                Ok(Some(request)) => {
                    request.write_accept(&mut self.out);
                    let level = self.deflate.map_or(6, |d| d.level);
                    let mut open = Box::new(Open {
                        ws: Connection::new(Role::Server, self.limits),
                        deflate: request
                            .deflate
                            .map(|p| Deflate::new(p, Role::Server, level)),
                    });
                    let mut leftover = request.leftover;
                    echo(&mut open, &mut self.shared, &mut leftover, &mut self.out);
                    *state = WsConn::Open(open);
                }
                Err(e) => {
                    e.write_response(&mut self.out);
                    let _ = ctx.send(conn, &self.out);
                    ctx.close(conn, CloseReason::Local(e.status()));
                    return;
                }
            },
            WsConn::Open(open) => {
                self.input.clear();
                self.input.extend_from_slice(bytes);
                echo(open, &mut self.shared, &mut self.input, &mut self.out);
            }
        }
        // A peer that does not read its echoes is a slow consumer: ringmux's default policy closes it.
        let _ = ctx.send(conn, &self.out);
        if let WsConn::Open(open) = state
            && open.ws.is_closed()
        {
            ctx.close(conn, CloseReason::Local(wsproto::close_code::NORMAL));
        }
    }

    fn shutdown(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, state: &mut WsConn) {
        self.out.clear();
        if let WsConn::Open(open) = state {
            let _ = open
                .ws
                .close(wsproto::close_code::GOING_AWAY, "", &mut self.out, None);
            let _ = ctx.send(conn, &self.out);
        }
        ctx.close(conn, CloseReason::Shutdown);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let io: IoChoice = args.io.parse()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ringmux::TlsAcceptor::from_files(&ringmux::TlsFiles {
            default: Some(ringmux::PemFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            sni: Vec::new(),
        })?),
        _ => None,
    };
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let defaults = ringmux::Config::default();
    let cfg = ringmux::Config {
        listeners: vec![ringmux::Listener {
            tls,
            ..ringmux::Listener::plain(args.listen)
        }],
        workers: args.workers.unwrap_or(defaults.workers),
        io,
        max_connections_per_worker: args
            .max_connections_per_worker
            .unwrap_or(defaults.max_connections_per_worker),
        // Echoing a 16 MiB message queues 16 MiB at once.
        send_queue_limit: defaults
            .send_queue_limit
            .max(2 * args.max_message_size + 4096),
        batch_events: args.batch_events.unwrap_or(defaults.batch_events),
        batch_wait: args
            .batch_wait_us
            .map_or(defaults.batch_wait, Duration::from_micros),
        ..defaults
    };
    let limits = wsproto::Config {
        max_message_size: args.max_message_size,
        max_frame_size: args.max_message_size,
        keepalive: None,
    };
    let deflate = (!args.no_deflate).then(DeflateConfig::default);
    let server = ringmux::Server::start(cfg, move |_| WsEcho {
        limits,
        deflate,
        shared: SharedCodecs::new(deflate.map_or(6, |d| d.level)),
        input: Vec::new(),
        out: Vec::new(),
    })?;
    eprintln!(
        "wsecho: listening on {scheme}://{} ({:?} backend, {} workers)",
        server.local_addr().unwrap_or(args.listen),
        server.backend(),
        server.workers()
    );
    match args.run_for {
        Some(secs) => std::thread::sleep(Duration::from_secs(secs)),
        None => loop {
            std::thread::park();
        },
    }
    server.shutdown(Duration::from_secs(2));
    server.join()?;
    Ok(())
}
