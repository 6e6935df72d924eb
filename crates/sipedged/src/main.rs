//! sipedged: the sipedge daemon (SIP over WebSocket edge gateway).
//!
//! Today it reads and checks its configuration; the gateway itself is not wired up yet and the binary says so.
#![forbid(unsafe_code)]

mod config;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use config::{Config, DEFAULT_TOML};

/// sipedge: SIP-over-WebSocket edge gateway (RFC 7118) for browsers running JsSIP or SIP.js.
///
/// With no arguments it runs standalone on ws://127.0.0.1:8080 with an embedded registrar.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML); keys it leaves out take their defaults (see --print-default-config).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the configuration and exit (status 0 when it is usable).
    #[arg(long)]
    check: bool,
    /// Print the documented default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
    /// WebSocket listen address, replacing the configured listeners (e.g. 0.0.0.0:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Worker threads (0: one per core).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// SIP core to front, e.g. "sip:127.0.0.1:5060;transport=udp" (switches from standalone to edge mode).
    #[arg(long, value_name = "URI")]
    upstream: Option<String>,
}

fn load(args: &Args) -> Result<Config, config::ConfigError> {
    let mut cfg = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(addr) = args.listen {
        cfg.listen = vec![config::Listener {
            address: addr,
            path: "/".into(),
        }];
    }
    if let Some(n) = args.workers {
        cfg.runtime.workers = n;
    }
    if let Some(uri) = &args.upstream {
        cfg.core = Some(config::Core { uri: uri.clone() });
    }
    cfg.validate()?;
    Ok(cfg)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_default_config {
        print!("{DEFAULT_TOML}");
        return ExitCode::SUCCESS;
    }
    let cfg = match load(&args) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("sipedged: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("sipedged: configuration is valid");
        return ExitCode::SUCCESS;
    }
    println!("sipedged {}", env!("CARGO_PKG_VERSION"));
    let mode = if cfg.core.is_some() {
        "edge"
    } else {
        "standalone"
    };
    println!(
        "configured: {mode} mode, listening on {:?}",
        cfg.listen.iter().map(|l| l.address).collect::<Vec<_>>()
    );
    eprintln!(
        "sipedged: the gateway is not built yet (the WebSocket, SIP and io_uring kernels are being written); \
         nothing is listening. See README.md for what works today."
    );
    ExitCode::SUCCESS
}
