//! A WebSocket echo server: ringmux for the I/O, `wsproto` (server role) for the protocol. It is the
//! "ringmux echo server" of the throughput and scale runs in `tools/scale/` until `wsecho` moves onto
//! ringmux.
//!
//! ```text
//! cargo run --release -p ringmux --example ws_echo -- --listen 127.0.0.1:9001 --workers 2 --io uring [--for SECS]
//! ```
//!
//! Per connection the server keeps ringmux's slot plus a boxed handshake (until the 101 is sent) or a
//! boxed `wsproto::Connection` (416 bytes, no heap while idle).

use std::time::Duration;

use ringmux::{CloseReason, Conn, Ctx, Handler, Origin};
use wsproto::writer::write_frame;
use wsproto::{
    Config, Connection, Event, MessageKind, OpCode, Role, ServerConfig, ServerHandshake,
};

/// One connection: opening handshake, then frames.
#[derive(Debug)]
pub enum WsConn {
    /// Waiting for the Upgrade request.
    Handshake(Box<ServerHandshake>),
    /// Upgraded.
    Open(Box<Connection>),
}

/// The echo handler: per-worker scratch buffers and the connection limits, no shared state.
#[derive(Debug, Default)]
pub struct WsEcho {
    limits: Config,
    input: Vec<u8>,
    out: Vec<u8>,
}

fn server_handshake() -> Box<ServerHandshake> {
    Box::new(ServerHandshake::new(ServerConfig {
        subprotocols: vec!["sip".to_owned()],
        ..ServerConfig::default()
    }))
}

/// Feeds `input` to `ws`, echoing every data message and queuing replies into `out`.
fn echo(ws: &mut Connection, input: &mut [u8], out: &mut Vec<u8>) {
    let mut pos = 0;
    loop {
        let got = ws.receive(input.get_mut(pos..).unwrap_or_default());
        pos += got.consumed;
        match got.event {
            None => break,
            Some(Event::Message { kind, payload }) => {
                let opcode = match kind {
                    MessageKind::Text => OpCode::Text,
                    MessageKind::Binary => OpCode::Binary,
                };
                write_frame(out, true, opcode, payload, None);
            }
            Some(
                Event::Ping(_) | Event::Pong(_) | Event::Close { .. } | Event::ProtocolError { .. },
            ) => {}
        }
        // A pong or Close reply goes out right after the event that caused it. Server role: unmasked,
        // so this cannot fail.
        while let Ok(true) = ws.poll_transmit(out, None) {}
    }
}

impl Handler for WsEcho {
    type State = WsConn;
    type Message = ();

    fn open(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: Origin) -> WsConn {
        WsConn::Handshake(server_handshake())
    }

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, state: &mut WsConn, bytes: &[u8]) {
        self.out.clear();
        match state {
            WsConn::Handshake(hs) => match hs.feed(bytes) {
                Ok(None) => return,
                Ok(Some(request)) => {
                    request.write_accept(&mut self.out);
                    let mut ws = Box::new(Connection::new(Role::Server, self.limits));
                    let mut leftover = request.leftover;
                    echo(&mut ws, &mut leftover, &mut self.out);
                    *state = WsConn::Open(ws);
                }
                Err(e) => {
                    e.write_response(&mut self.out);
                    let _ = ctx.send(conn, &self.out);
                    ctx.close(conn, CloseReason::Local(e.status()));
                    return;
                }
            },
            WsConn::Open(ws) => {
                self.input.clear();
                self.input.extend_from_slice(bytes);
                echo(ws, &mut self.input, &mut self.out);
            }
        }
        // A peer that does not read its echoes is a slow consumer: the default policy closes it.
        let _ = ctx.send(conn, &self.out);
        if let WsConn::Open(ws) = state
            && ws.is_closed()
        {
            ctx.close(conn, CloseReason::Local(wsproto::close_code::NORMAL));
        }
    }

    fn shutdown(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, state: &mut WsConn) {
        self.out.clear();
        if let WsConn::Open(ws) = state {
            let _ = ws.close(wsproto::close_code::GOING_AWAY, "", &mut self.out, None);
            let _ = ctx.send(conn, &self.out);
        }
        ctx.close(conn, CloseReason::Shutdown);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ringmux's warnings (shedding, descriptor limits) on stderr; RUST_LOG overrides.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let mut cfg = ringmux::Config {
        listen: Some("127.0.0.1:9001".parse()?),
        ..Default::default()
    };
    let mut run_for = None;
    // Autobahn sends messages up to 16 MiB; larger ones close with 1009.
    let mut max_message = 16 << 20;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => cfg.listen = Some(value()?.parse()?),
            "--workers" => cfg.workers = value()?.parse()?,
            "--io" => cfg.io = value()?.parse()?,
            "--max-conns" => cfg.max_connections_per_worker = value()?.parse()?,
            "--backlog" => cfg.backlog = value()?.parse()?,
            "--max-message-size" => max_message = value()?.parse()?,
            "--for" => run_for = Some(Duration::from_secs(value()?.parse()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    // Room for one whole echo of the largest message plus what follows it.
    cfg.send_queue_limit = cfg.send_queue_limit.max(2 * max_message + 4096);
    let limits = Config {
        max_message_size: max_message,
        max_frame_size: max_message,
        keepalive: None,
    };
    let server = ringmux::Server::start(cfg, move |_| WsEcho {
        limits,
        ..WsEcho::default()
    })?;
    eprintln!(
        "ws_echo: listening on {:?} ({:?}, {} workers)",
        server.local_addr(),
        server.backend(),
        server.workers()
    );
    match run_for {
        Some(d) => std::thread::sleep(d),
        None => loop {
            std::thread::park();
        },
    }
    server.shutdown(Duration::from_secs(2));
    for (i, s) in server.join()?.iter().enumerate() {
        eprintln!("worker {i}: {s:?}");
    }
    Ok(())
}
