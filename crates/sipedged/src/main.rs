//! sipedged: the sipedge daemon, a SIP-over-WebSocket edge gateway (RFC 7118) for browsers running JsSIP or
//! SIP.js.
//!
//! It wires the crates together: `ringmux` workers accept connections; each connection is a sans-io
//! [`session::Session`] (handshake policy, `wsproto` WebSocket, limits) driven by a thin [`worker::Worker`];
//! `edge` decides what happens to each SIP message, and each worker's socket talks to the SIP core. With no
//! core configured it runs standalone, with an embedded registrar. The configuration is parsed once into a
//! typed [`config::Plan`].
#![forbid(unsafe_code)]

mod admin;
mod auth;
mod capture;
mod config;
mod handover;
mod limits;
mod metrics;
mod reload;
mod resolve;
mod session;
mod start;
mod targets;
mod tls;
mod web;
mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use config::{Config, ConfigError, DEFAULT_TOML, Plan};

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
    /// Admin (metrics) listen address; "off" (or "") disables it.
    #[arg(long, value_name = "ADDR")]
    admin: Option<String>,
    /// Take the listeners and WebSocket connections over from the node running with the same configuration
    /// (at its `[runtime] handover_socket`): an upgrade browsers do not see. That node exits once this one holds
    /// them; if this one fails first, it serves on. With no node waiting there, start afresh.
    #[arg(long)]
    take_over: bool,
}

/// The file (or the defaults) with the command line's overrides, as a plan.
fn load(args: &Args) -> Result<Plan, ConfigError> {
    let mut cfg = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(addr) = args.listen {
        cfg.listen = vec![config::Listener::plain(addr)];
    }
    if let Some(n) = args.workers {
        cfg.runtime.workers = n;
    }
    if let Some(uri) = &args.upstream {
        match &mut cfg.core {
            Some(core) => core.uri = config::Uris::One(uri.clone()),
            None => cfg.core = Some(config::Core::new(uri.clone())),
        }
    }
    match args.admin.as_deref() {
        None => {}
        Some("" | "off") => cfg.admin.enabled = false,
        Some(addr) => {
            cfg.admin.enabled = true;
            cfg.admin.listen = addr.parse().map_err(|e| ConfigError::Argument {
                flag: "--admin",
                error: format!("{addr:?}: {e}"),
            })?;
        }
    }
    Plan::new(cfg)
}

/// Start logging as `[log]` says (`RUST_LOG`, when set, wins over `level`); returns the setter a reload uses
/// to change the filter.
fn init_logging(plan: &Plan) -> start::SetLogLevel {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&plan.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    macro_rules! setter {
        ($builder:expr) => {{
            let b = $builder.with_filter_reloading();
            let handle = b.reload_handle();
            b.init();
            Box::new(move |level: &str| {
                let filter = tracing_subscriber::EnvFilter::try_new(level)
                    .map_err(|e| format!("log.level {level:?}: {e}"))?;
                handle.reload(filter).map_err(|e| e.to_string())
            })
        }};
    }
    match plan.log.format {
        config::LogFormat::Json => setter!(builder.json()),
        config::LogFormat::Text => setter!(builder),
    }
}

/// `--check` after the plan is made: resolve the core's URIs and print their targets. A core that does not
/// resolve from here (its name exists only inside the cluster, or not yet) is a warning, not an error: the node
/// starts without a target and keeps resolving.
fn check(plan: &Plan) -> ExitCode {
    if let Some(core) = &plan.core {
        match targets::manager::resolve_once(&core.uris, &core.name_servers) {
            Ok(found) => println!("sipedged: core targets: {}", found.join(", ")),
            Err(e @ targets::manager::TargetsError::Runtime(_)) => {
                eprintln!("sipedged: {e}");
                return ExitCode::from(2);
            }
            Err(e) => eprintln!(
                "sipedged: warning: the core does not resolve from here ({e}); a node starts without a target \
                 (requests get 503) and keeps resolving"
            ),
        }
    }
    println!("sipedged: configuration is valid");
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_default_config {
        print!("{DEFAULT_TOML}");
        return ExitCode::SUCCESS;
    }
    let plan = match load(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("sipedged: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        return check(&plan);
    }
    let set_log_level = init_logging(&plan);
    let take_over = args.take_over;
    let reloading = start::Reloading {
        load: Box::new(move || load(&args)),
        set_log_level,
    };
    match start::run(plan, reloading, take_over) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("sipedged: {e}");
            ExitCode::FAILURE
        }
    }
}
