//! `wsecho`: a WebSocket echo server over the sans-io `wsproto` codec, one thread per connection on
//! plain `std::net`. It echoes text and binary messages, chooses the `sip` subprotocol when offered
//! (else none), and is what Autobahn|Testsuite drives (`tools/autobahn/wsecho.sh`).
#![forbid(unsafe_code)]

mod session;

use std::net::TcpListener;

use clap::Parser;

/// WebSocket echo server (RFC 6455) over wsproto.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: String,
    /// Largest message echoed; larger ones close with 1009 (Autobahn sends up to 16 MiB).
    #[arg(long, default_value_t = 16 << 20)]
    max_message_size: usize,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(&args.listen)?;
    eprintln!("wsecho: listening on {}", listener.local_addr()?);
    let limits = wsproto::Config {
        max_message_size: args.max_message_size,
        max_frame_size: args.max_message_size,
        keepalive: None,
    };
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("wsecho: accept: {e}");
                continue;
            }
        };
        std::thread::spawn(move || {
            let peer = stream.peer_addr().ok();
            if let Err(e) = session::serve(stream, limits) {
                eprintln!("wsecho: {peer:?}: {e}");
            }
        });
    }
    Ok(())
}
