//! sipedged: the sipedge daemon, a SIP-over-WebSocket edge gateway (RFC 7118) for browsers running JsSIP or
//! SIP.js.
//!
//! It wires the crates together: `ringmux` workers accept connections, `wsproto` terminates the WebSocket,
//! `edge` decides what happens to each SIP message, and each worker's UDP socket talks to the SIP core. With no
//! core configured it runs standalone, with an embedded registrar.
#![forbid(unsafe_code)]

mod admin;
mod auth;
mod config;
mod gateway;
mod limits;
mod metrics;
mod tls;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use config::{Config, DEFAULT_TOML};
use edge::flow_token::FlowTokenKey;
use edge::stamp::{Hop, Transport};

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
    /// Admin (metrics) listen address; "" disables it.
    #[arg(long, value_name = "ADDR")]
    admin: Option<String>,
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
            advertise: None,
            tls: None,
            proxy_protocol: false,
            auth: true,
        }];
    }
    if let Some(n) = args.workers {
        cfg.runtime.workers = n;
    }
    if let Some(uri) = &args.upstream {
        let local_address = cfg
            .core
            .as_ref()
            .map_or(config::Core::default_local(), |c| c.local_address);
        cfg.core = Some(config::Core {
            uri: uri.clone(),
            local_address,
            advertise_host: None,
        });
    }
    if let Some(admin) = &args.admin {
        cfg.admin.listen = if admin.is_empty() {
            None
        } else {
            Some(
                admin
                    .parse()
                    .map_err(|e| config::ConfigError::Invalid(format!("--admin {admin:?}: {e}")))?,
            )
        };
    }
    cfg.validate()?;
    Ok(cfg)
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log.format {
        config::LogFormat::Json => builder.json().init(),
        config::LogFormat::Text => builder.init(),
    }
}

fn flow_key(cfg: &Config) -> FlowTokenKey {
    if cfg.sip.flow_token_secret.is_empty() {
        let mut secret = [0u8; 32];
        if getrandom::fill(&mut secret).is_err() {
            // No OS randomness: fall back to time and pid (tokens still die with the process).
            let t = Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id());
            secret[..16].copy_from_slice(&t.to_le_bytes());
        }
        FlowTokenKey::from_secret(&secret)
    } else {
        FlowTokenKey::from_secret(cfg.sip.flow_token_secret.as_bytes())
    }
}

/// The web phone's directory: configured, or the source tree's built `deploy/webphone/dist`.
fn phone_dir(cfg: &Config) -> Option<PathBuf> {
    if !cfg.web.phone_dir.is_empty() {
        return Some(PathBuf::from(&cfg.web.phone_dir));
    }
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/webphone/dist");
    built.is_dir().then_some(built)
}

fn run(cfg: Config) -> Result<(), String> {
    let workers = if cfg.runtime.workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.runtime.workers
    };
    let listeners = cfg.listen.clone();
    let first = listeners.first().ok_or("no listener configured")?;
    // Browsers on ws:// and the core over TCP are told the first plain listener; wss:// flows the first TLS one.
    let plain = listeners.iter().find(|l| l.tls.is_none()).unwrap_or(first);
    let secure = listeners.iter().find(|l| l.tls.is_some());
    let core = match &cfg.core {
        Some(c) => {
            let (addr, transport) = c.target()?;
            if transport == config::CoreTransport::Udp {
                // Fail now, with a clear message, if a worker's port toward the core is taken.
                for w in 0..workers {
                    let a =
                        SocketAddr::new(c.local_address.ip(), c.local_address.port() + w as u16);
                    std::net::UdpSocket::bind(a)
                        .map_err(|e| format!("cannot bind {a} toward the core: {e}"))?;
                }
            }
            Some((addr, transport, c.clone()))
        }
        None => None,
    };
    let core_tcp = matches!(core, Some((_, config::CoreTransport::Tcp, _)));
    // UDP: worker w's socket toward the core is local_address + w. TCP: the core reaches us on the WebSocket
    // port (its SIP is told apart from HTTP by the start line).
    let core_local = core
        .as_ref()
        .filter(|_| !core_tcp)
        .map(|(_, _, c)| c.local_address);
    let core_host = core.as_ref().map_or("127.0.0.1".to_string(), |(_, _, c)| {
        c.advertise_host
            .clone()
            .unwrap_or_else(|| c.local_address.ip().to_string())
    });
    let core_port = core_local.map_or(5070, |a| a.port());
    let ws_hop = Hop {
        host_port: plain.advertised(),
        transport: Transport::Ws,
    };
    let wss_host_port = secure
        .map(config::Listener::advertised)
        .filter(|hp| *hp != ws_hop.host_port);
    let core_hop = if core_tcp {
        Hop {
            host_port: plain.advertised(),
            transport: Transport::Tcp,
        }
    } else {
        Hop {
            host_port: format!("{core_host}:{core_port}"),
            transport: Transport::Udp,
        }
    };
    let mut own: Vec<String> = listeners
        .iter()
        .flat_map(|l| [l.advertised(), l.address.to_string()])
        .collect();
    own.dedup();
    for w in 0..workers {
        own.push(format!("{core_host}:{}", core_port as usize + w));
    }
    let metrics: Vec<_> = (0..workers)
        .map(|_| Arc::new(metrics::WorkerMetrics::default()))
        .collect();
    let mode = if core.is_some() {
        edge::Mode::Edge
    } else {
        edge::Mode::Standalone
    };
    let edge_cfg = edge::EdgeConfig {
        mode,
        node: cfg.sip.node_id,
        worker: 0,
        workers: workers as u16,
        ws_hop,
        wss_host_port,
        core_hop,
        own_addresses: own,
        domains: cfg.sip.domains.clone(),
        max_message_size: cfg.limits.max_message_size,
        branch_salt: {
            let mut b = [0u8; 8];
            let _ = getrandom::fill(&mut b);
            u64::from_le_bytes(b)
        },
        registrar: edge::registrar::RegistrarConfig {
            default_expires: cfg.registrar.default_expires,
            min_expires: cfg.registrar.min_expires,
            max_expires: cfg.registrar.max_expires,
            ..Default::default()
        },
    };
    let shared = Arc::new(gateway::Shared {
        edge: edge_cfg,
        key: flow_key(&cfg),
        paths: listeners.iter().map(|l| l.path.clone()).collect(),
        listener_auth: listeners.iter().map(|l| l.auth).collect(),
        allowed_origins: cfg.limits.allowed_origins.clone(),
        ws: wsproto::Config {
            max_message_size: cfg.limits.max_message_size,
            max_frame_size: cfg.limits.max_frame_size,
            keepalive: Some(wsproto::Keepalive {
                interval: cfg.limits.ping_interval,
                pong_timeout: cfg.limits.ping_interval,
            }),
        },
        handshake_timeout: cfg.limits.handshake_timeout,
        core: core.as_ref().map(|(a, _, _)| *a),
        core_local,
        core_tcp,
        max_message_size: cfg.limits.max_message_size,
        auth: auth::Authenticator::new(&cfg.auth)?,
        on_expiry: cfg.auth.on_expiry,
        ip_limits: limits::IpLimits::new(
            cfg.limits
                .max_connections_per_ip
                .try_into()
                .unwrap_or(u32::MAX),
            cfg.limits.handshakes_per_ip_per_second,
            cfg.limits.handshake_burst,
        ),
        trusted_proxies: cfg.limits.trusted_proxies.clone(),
        request_rate: (
            cfg.limits.requests_per_second,
            cfg.limits.request_burst,
            cfg.limits.over_request_rate,
        ),
        idle_timeout: cfg.limits.idle_timeout,
        metrics: metrics.clone(),
        web: web::WebConfig {
            phone_dir: phone_dir(&cfg),
        },
        epoch: Instant::now(),
    });
    if shared.auth.required() {
        tracing::info!(mode = ?cfg.auth.mode, algorithm = %cfg.auth.algorithm, "handshake authentication on (RFC 7118 §7)");
        for l in listeners.iter().filter(|l| !l.auth) {
            tracing::warn!(listen = %l.address, "handshake authentication off on this listener ([[listen]] auth = false)");
        }
    }
    // wss://: TLS is terminated in the workers; the files are watched from this thread.
    let mut reloaders = Vec::new();
    let mut rm_listeners = Vec::with_capacity(listeners.len());
    for l in &listeners {
        let tls = match &l.tls {
            Some(t) => {
                let files = tls::files(t)?;
                let acceptor = ringmux::TlsAcceptor::from_files(&files)
                    .map_err(|e| format!("listen {} tls: {e}", l.address))?;
                let r = tls::Reloader::new(acceptor, files, t.reload_poll);
                let acceptor = r.acceptor();
                reloaders.push(r);
                Some(acceptor)
            }
            None => None,
        };
        rm_listeners.push(ringmux::Listener {
            addr: l.address,
            tls,
            // Headers from the load balancers get the handshake's deadline.
            proxy_protocol: l.proxy_protocol.then(|| ringmux::ProxyProtocol {
                trusted: cfg.limits.trusted_proxies.clone(),
                timeout: cfg.limits.handshake_timeout,
            }),
        });
    }
    let mut rm_listeners = rm_listeners.into_iter();
    let main = rm_listeners.next().ok_or("no listener configured")?;
    let rm = ringmux::Config {
        listen: Some(main.addr),
        tls: main.tls,
        proxy_protocol: main.proxy_protocol,
        more_listeners: rm_listeners.collect(),
        workers,
        io: match cfg.runtime.io {
            config::Io::Auto => ringmux::IoChoice::Auto,
            config::Io::Uring => ringmux::IoChoice::Uring,
            config::Io::Epoll => ringmux::IoChoice::Epoll,
        },
        max_connections_per_worker: if cfg.limits.max_connections == 0 {
            ringmux::Config::default().max_connections_per_worker
        } else {
            (cfg.limits.max_connections.div_ceil(workers)) as u32
        },
        // SIP over WebSocket messages are mostly under 4 KiB (a WebRTC INVITE is 1-3 KiB); larger ones arrive
        // in several receive buffers. 1,024 of them per worker: 4 MiB, mapped at start.
        buf_size: RECV_BUFFER_BYTES,
        buf_ring_entries: RECV_BUFFERS,
        batch_wait: cfg.runtime.batch_wait,
        ..ringmux::Config::default()
    };
    let server = ringmux::Server::start(rm, {
        let shared = shared.clone();
        move |w| gateway::Worker::new(shared.clone(), w)
    })
    .map_err(|e| format!("cannot start on {}: {e}", describe(&listeners)))?;
    if let Some(admin) = cfg.admin.listen {
        match admin::spawn(admin, metrics) {
            Ok(a) => tracing::info!("metrics on http://{a}/metrics"),
            Err(e) => return Err(format!("cannot bind the admin endpoint {admin}: {e}")),
        }
    }
    let what = match &core {
        Some((addr, t, _)) => format!(
            "edge mode, SIP core at {addr} over {}",
            if *t == config::CoreTransport::Tcp {
                "TCP"
            } else {
                "UDP"
            }
        ),
        None => "standalone mode (embedded registrar)".into(),
    };
    let urls: Vec<String> = listeners
        .iter()
        .zip(server.local_addrs())
        .map(|(l, local)| {
            let scheme = if l.tls.is_some() { "wss" } else { "ws" };
            format!("{scheme}://{local}{}", l.path)
        })
        .collect();
    tracing::info!(backend = ?server.backend(), workers, "sipedge {} listening on {} — {what}", env!("CARGO_PKG_VERSION"), urls.join(" "));
    println!(
        "sipedge listening on {} ({what}, {workers} workers, {:?} backend)",
        urls.join(" and "),
        server.backend()
    );
    println!(
        "Point JsSIP at it:  new JsSIP.UA({{ sockets: [new JsSIP.WebSocketInterface('{}')], uri: 'sip:alice@example.test' }})",
        urls.first().map_or("", String::as_str)
    );
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    'serve: loop {
        for sig in signals.pending() {
            if sig == signal_hook::consts::SIGHUP {
                for r in &mut reloaders {
                    let _ = r.reload("SIGHUP");
                }
                // Resolve the core's name again (a DNS change reaches every worker by message).
                if let Some(c) = &cfg.core {
                    match c.target() {
                        Ok((addr, _)) => {
                            for w in 0..server.workers() {
                                let _ = server.post(w, gateway::Msg::CoreAddress(addr));
                            }
                            tracing::info!(%addr, "SIGHUP: core address resolved");
                        }
                        Err(e) => tracing::warn!("SIGHUP: {e}; keeping the previous core address"),
                    }
                }
                continue;
            }
            tracing::info!(signal = sig, grace = ?cfg.runtime.shutdown_grace, "draining: closing WebSockets with 1001");
            break 'serve;
        }
        for r in &mut reloaders {
            r.poll();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    server.shutdown(cfg.runtime.shutdown_grace.max(Duration::from_millis(100)));
    server.join().map_err(|e| format!("worker failed: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// The listeners' addresses, for messages.
fn describe(listeners: &[config::Listener]) -> String {
    let all: Vec<String> = listeners.iter().map(|l| l.address.to_string()).collect();
    all.join(", ")
}

/// Size of each receive buffer a worker hands the kernel.
const RECV_BUFFER_BYTES: u32 = 4096;
/// Receive buffers per worker (io_uring provided-buffer ring).
const RECV_BUFFERS: u16 = 1024;

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
        if let Some(core) = &cfg.core
            && let Err(e) = core.target()
        {
            eprintln!("sipedged: {e}");
            return ExitCode::from(2);
        }
        println!("sipedged: configuration is valid");
        return ExitCode::SUCCESS;
    }
    init_logging(&cfg);
    match run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("sipedged: {e}");
            ExitCode::FAILURE
        }
    }
}
