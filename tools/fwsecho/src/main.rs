//! fwsecho: a WebSocket echo server built on the `fastwebsockets` crate (hyper upgrade, tokio
//! multi-thread runtime). It is the comparison peer for sipedge's throughput runs: the same `sipload`
//! client drives it and the ringmux echo server side by side.
//!
//! ```text
//! fwsecho --listen 127.0.0.1:9003 --workers 2 [--for SECS]
//! ```
//!
//! Text and binary messages are echoed whole (a `FragmentCollector` reassembles fragments and checks
//! UTF-8); pings are answered and Close is echoed by fastwebsockets itself.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// WebSocket echo server on fastwebsockets + tokio.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9003")]
    listen: SocketAddr,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Stop after this many seconds (unbounded when absent).
    #[arg(long = "for", value_name = "SECS")]
    run_for: Option<u64>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("cannot build the tokio runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Echoes every data message of one upgraded connection until Close or an error.
async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

/// Answers the HTTP Upgrade and runs the echo on the upgraded stream.
async fn upgrade_request(
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        if let Err(e) = echo(fut).await
            && !matches!(
                e,
                WebSocketError::UnexpectedEOF | WebSocketError::ConnectionClosed
            )
        {
            eprintln!("fwsecho: connection ended: {e}");
        }
    });
    Ok(response)
}

async fn serve(listener: tokio::net::TcpListener) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors and the like: back off briefly rather than spin.
                eprintln!("fwsecho: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(upgrade_request))
                .with_upgrades();
            let _ = conn.await;
        });
    }
}

fn run(args: Args) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: args.listen,
                source,
            })?;
        eprintln!(
            "fwsecho: listening on {} with {} workers",
            args.listen, args.workers
        );
        match args.run_for {
            Some(secs) => {
                let _ = tokio::time::timeout(Duration::from_secs(secs), serve(listener)).await;
            }
            None => serve(listener).await,
        }
        Ok(())
    })
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fwsecho: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
