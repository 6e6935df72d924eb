//! Starting the node from its [`Plan`]: the edge's configuration, each session's policy, the ringmux server,
//! the admin endpoint; then serving until a signal (SIGHUP reloads the configuration and certificates and
//! resolves the core again, as `POST /admin/reload` does; SIGTERM/SIGINT drain).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge::flow_token::{Epoch, FlowTokenKey};
use edge::stamp::{Hop, Transport};

use crate::config::Plan;
use crate::session::{ListenerPolicy, Policy, RequestRate};
use crate::targets::CoreView;
use crate::worker::{self, Shared};
use crate::{admin, capture, limits, metrics, targets, tls, web};

mod core_side;
mod reload;

pub use reload::{Reloading, SetLogLevel};

/// Size of each receive buffer a worker hands the kernel: SIP over WebSocket messages are mostly under 4 KiB (a
/// WebRTC INVITE is 1-3 KiB); larger ones arrive in several buffers.
const RECV_BUFFER_BYTES: u32 = 4096;
/// Receive buffers per worker (io_uring provided-buffer ring): 4 MiB, mapped at start.
const RECV_BUFFERS: u16 = 1024;
/// The shortest drain on SIGTERM.
const MIN_GRACE: Duration = Duration::from_millis(100);
/// How often the main thread looks at signals and certificate files.
const MAIN_TICK: Duration = Duration::from_millis(100);
/// The core-side port written in hops when no UDP socket names one (TCP toward the core).
const DEFAULT_CORE_PORT: u16 = 5070;

/// Why the node could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A worker's UDP port toward the core is taken.
    #[error("cannot bind {addr} toward the core: {error}")]
    CorePort {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// The core side cannot start (no resolver, no TLS toward it).
    #[error(transparent)]
    Targets(#[from] crate::targets::manager::TargetsError),
    /// TLS toward the core without a wss:// listener for the core's own requests to come back to.
    #[error(
        "the core is reached over TLS: add a [[listen]] with tls, where the core's requests to browsers arrive"
    )]
    TlsCoreListener,
    /// The listeners cannot be served.
    #[error("cannot start on {listeners}: {error}")]
    Server {
        /// The listeners' addresses.
        listeners: String,
        /// Why.
        error: ringmux::Error,
    },
    /// The admin endpoint cannot bind.
    #[error("cannot bind the admin endpoint {addr}: {error}")]
    Admin {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// The capture thread's socket toward the HEP collector cannot be opened.
    #[error("cannot open the socket toward the HEP collector {addr}: {error}")]
    Capture {
        /// The collector.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// Signal handlers cannot be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// A worker thread failed.
    #[error("worker failed: {0}")]
    Worker(String),
    /// Taking over from the running node failed (it serves on).
    #[error(transparent)]
    TakeOver(#[from] crate::handover::TakeOverError),
    /// The OS random source failed: the node does not start with a guessable flow-token key or branch salt.
    #[error(
        "cannot read the OS random source for the {what}: {error} (refusing to start with a guessable value)"
    )]
    Random {
        /// What the bytes were for.
        what: &'static str,
        /// Why the source failed.
        error: getrandom::Error,
    },
}

/// Fills a buffer from a random source: [`getrandom::fill`] (the OS's), or a failing one in tests.
type Fill = fn(&mut [u8]) -> Result<(), getrandom::Error>;

/// What the node draws from the OS random source at start (or takes over from the node before it).
struct StartSecrets {
    /// The flow-token key.
    key: FlowTokenKey,
    /// Its secret, for a node taking over from this one.
    secret: Vec<u8>,
    /// The salt of the edge's Via branches.
    branch_salt: u64,
    /// The zero of the edge's clock, when it goes on from the node taken over from.
    clock_zero: Option<Instant>,
}

impl StartSecrets {
    /// The flow-token key (from `secret`, or random) and the branch salt, from `fill`; its failure is an error.
    fn draw(secret: Option<&str>, fill: Fill) -> Result<Self, StartError> {
        let (key, secret) = flow_key(secret, fill)?;
        Ok(Self {
            key,
            secret,
            branch_salt: u64::from_le_bytes(random_bytes(fill, "Via branch salt")?),
            clock_zero: None,
        })
    }

    /// The secrets of the node taken over from: its tokens and branches go on, and its clock.
    fn taken(s: &crate::handover::Secrets) -> Self {
        let ago = Duration::from_millis(s.clock_ms);
        Self {
            key: FlowTokenKey::new(&s.secret, Epoch(s.epoch)),
            secret: s.secret.clone(),
            branch_salt: s.branch_salt,
            clock_zero: Some(Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)),
        }
    }
}

/// Run the node until SIGTERM or SIGINT (or a new process took it over), then drain. With `take_over`, the
/// node starts on what the running one hands over (see [`crate::handover`]).
pub fn run(plan: Plan, reloading: Reloading, take_over: bool) -> Result<(), StartError> {
    // The addresses both processes must share: the listeners, and the workers' first port toward a core (its
    // sockets are taken over by address).
    let addresses = plan
        .listeners
        .iter()
        .map(|l| l.address.to_string())
        .chain(
            plan.core
                .iter()
                .map(|c| format!("core side {}", c.local_address)),
        )
        .collect();
    let own_hello = crate::handover::Hello::this_build(
        plan.workers,
        crate::handover::Mode::of(plan.core.as_ref()),
        addresses,
    );
    let taken = match (take_over, &plan.runtime.handover_socket) {
        (false, _) => None,
        (true, None) => return Err(crate::handover::TakeOverError::NoSocket.into()),
        (true, Some(path)) => match crate::handover::take_over(path, &own_hello) {
            Ok(taken) => Some(taken),
            // The first start of a node started with --take-over: nothing to take over.
            Err(e @ crate::handover::TakeOverError::NobodyWaits(_)) => {
                tracing::info!("{e}: starting afresh");
                None
            }
            Err(e) => return Err(e.into()),
        },
    };
    let secrets = match &taken {
        Some(t) => StartSecrets::taken(&t.secrets),
        None => StartSecrets::draw(plan.sip.flow_token_secret.as_deref(), getrandom::fill)?,
    };
    let handover_secret = (
        secrets.secret.clone(),
        secrets.key.epoch(),
        secrets.branch_salt,
    );
    let mut core = core_side::start(&plan, taken.is_some())?;
    let transport = core.as_ref().map(|c| c.side.view.transport);
    let capture_stats = Arc::new(capture::Stats::default());
    let capture = capture_side(&plan, &capture_stats)?;
    let mut shared = shared(
        &plan,
        core.as_ref().map(|c| c.side.clone()),
        transport,
        secrets,
    );
    shared.capture = capture;
    let shared = Arc::new(shared);
    if shared.policy.auth.required() {
        tracing::info!(mode = ?shared.policy.auth.mode(), "handshake authentication on (RFC 7118 §7)");
        for l in plan.listeners.iter().filter(|l| !l.authenticate) {
            tracing::warn!(listen = %l.address, "handshake authentication off on this listener ([[listen]] auth = false)");
        }
    }
    let mut reloaders: Vec<tls::Reloader> = plan
        .listeners
        .iter()
        .filter_map(|l| l.tls.clone())
        .map(|(acceptor, files, poll)| tls::Reloader::new(acceptor, files, poll))
        .collect();
    let started = match taken {
        None => ringmux::Server::start(server_config(&plan), {
            let shared = shared.clone();
            move |w| worker::Worker::new(shared.clone(), w)
        })
        .map(|s| (s, None)),
        Some(mut taken) => {
            let mut inheritance = taken.inheritance();
            let workers = std::mem::take(&mut inheritance.workers);
            let worker_states = std::mem::take(&mut inheritance.worker_states);
            ringmux::Server::start_inheriting(
                server_config(&plan),
                {
                    let shared = shared.clone();
                    move |w| {
                        let state = worker_states.get(w).map_or(&[][..], Vec::as_slice);
                        worker::Worker::inheriting(shared.clone(), w, state)
                    }
                },
                workers,
            )
            .map(|s| (s, Some((taken, inheritance))))
        }
    };
    let (server, taken) = started.map_err(|error| StartError::Server {
        listeners: describe(&plan),
        error,
    })?;
    let took_over = taken.is_some();
    if let Some((taken, mut inheritance)) = taken {
        match taken.stream(&mut inheritance) {
            Ok(count) => tracing::info!(
                connections = count,
                "took the listeners and WebSockets over from the running node"
            ),
            Err(e) => {
                // The workers wait until the old node released everything, and have read and written nothing:
                // leave before they could (no destructor runs, the queues stay open), so that the running node,
                // which serves on, stays the only one on these connections.
                tracing::error!("{e}; the running node serves on");
                eprintln!("sipedged: {e}; the running node serves on");
                std::process::exit(1);
            }
        }
    }
    let handed = match &plan.runtime.handover_socket {
        Some(path) => {
            let policy = shared.policy.clone();
            let (secret, epoch, branch_salt) = handover_secret;
            let secrets = move || crate::handover::Secrets {
                secret: secret.clone(),
                epoch: epoch.0,
                branch_salt,
                clock_ms: policy.timestamp(Instant::now()).0,
            };
            Some(crate::handover::serve(
                path,
                own_hello,
                secrets,
                server.poster(),
            )?)
        }
        None => None,
    };
    let (reload_tx, reload_rx) = std::sync::mpsc::channel();
    if let Some(a) = &plan.admin {
        let addr = a.listen;
        let sources = admin::Sources {
            workers: shared.metrics.clone(),
            targets: core.as_ref().map(|c| c.handle.registry.clone()),
            capture: Some(capture_stats),
        };
        let operator = admin::Operator {
            poster: server.poster(),
            key: shared.key.clone(),
            node: plan.sip.node_id,
            standalone: plan.core.is_none(),
            reload: reload_tx,
        };
        // Taken over, the port is free once the node before exits (after its drain): wait for it, and never
        // drop the connections this process now holds for want of metrics.
        let wait = if took_over {
            plan.runtime.shutdown_grace + Duration::from_secs(5)
        } else {
            Duration::ZERO
        };
        match admin::spawn(addr, sources, operator, a.token.clone(), wait) {
            Ok(bound) => tracing::info!(
                "metrics on http://{bound}/metrics, admin API on http://{bound}/admin/"
            ),
            Err(error) if took_over => {
                tracing::error!(%addr, %error, "serving without the admin endpoint: its port stayed taken")
            }
            Err(error) => return Err(StartError::Admin { addr, error }),
        }
    }
    announce(&plan, &server, core.as_ref().map(|c| &*c.side.view));
    let mut running = reload::Running::new(&plan, shared.policy.clone(), transport, reloading);
    serve(
        &plan,
        &server,
        &mut reloaders,
        core.as_mut(),
        &mut running,
        (&reload_rx, handed.as_ref()),
    )?;
    server.shutdown(plan.runtime.shutdown_grace.max(MIN_GRACE));
    server
        .join()
        .map_err(|e| StartError::Worker(e.to_string()))?;
    tracing::info!("stopped");
    Ok(())
}

/// `[capture]`: the capture thread, and what the workers need to record (off: `None`).
fn capture_side(
    plan: &Plan,
    stats: &Arc<capture::Stats>,
) -> Result<Option<worker::CaptureSide>, StartError> {
    let Some(c) = plan.capture.as_ref() else {
        return Ok(None);
    };
    let tap = capture::spawn(c, stats.clone()).map_err(|error| StartError::Capture {
        addr: c.collector,
        error,
    })?;
    tracing::info!(collector = %c.collector, sample = c.sample, "SIP capture to the HEP collector on");
    Ok(Some(worker::CaptureSide {
        tap,
        listeners: plan.listeners.iter().map(|l| l.address).collect(),
    }))
}

/// What every worker shares.
fn shared(
    plan: &Plan,
    core: Option<worker::CoreSide>,
    transport: Option<targets::Transport>,
    secrets: StartSecrets,
) -> Shared {
    let mut start_policy = policy(plan, transport, None);
    if let Some(zero) = secrets.clock_zero {
        start_policy.epoch = zero;
    }
    Shared {
        policy: Arc::new(start_policy),
        edge: edge_config(plan, secrets.branch_salt, transport),
        key: secrets.key,
        core,
        metrics: (0..plan.workers)
            .map(|_| Arc::new(metrics::WorkerMetrics::default()))
            .collect(),
        capture: None,
        log_connections: plan.log.connections,
    }
}

/// Each session's policy; on a reload, `carry` is the one in use, whose counts (per-IP, node-wide), clock
/// and previous JWT key carry over.
fn policy(plan: &Plan, core: Option<targets::Transport>, carry: Option<&Policy>) -> Policy {
    let l = &plan.limits;
    let ipv6_prefix = l.ipv6_prefix.try_into().unwrap_or(limits::MAX_IPV6_PREFIX);
    let per_ip = (
        l.max_connections_per_ip.try_into().unwrap_or(u32::MAX),
        l.handshakes_per_ip_per_second,
        l.handshake_burst,
    );
    let ip_limits = carry
        .filter(|c| {
            c.ip_limits
                .retune(per_ip.0, per_ip.1, per_ip.2, ipv6_prefix)
        })
        .map_or_else(
            || {
                Arc::new(
                    limits::IpLimits::new(per_ip.0, per_ip.1, per_ip.2)
                        .with_ipv6_prefix(ipv6_prefix),
                )
            },
            |c| c.ip_limits.clone(),
        );
    let node_handshakes = match carry {
        Some(c) => {
            c.node_handshakes.retune(l.handshakes_per_second);
            c.node_handshakes.clone()
        }
        None => Arc::new(limits::NodeHandshakeRate::new(l.handshakes_per_second)),
    };
    let epoch = carry.map_or_else(Instant::now, |c| c.epoch);
    let auth = match carry {
        Some(c) => plan
            .auth
            .clone()
            .replacing(&c.auth, Instant::now() + plan.source.auth.key_overlap),
        None => plan.auth.clone(),
    };
    Policy {
        listeners: plan
            .listeners
            .iter()
            .map(|x| ListenerPolicy {
                path: x.path.clone(),
                authenticate: x.authenticate,
            })
            .collect(),
        allowed_origins: l.allowed_origins.clone(),
        ws: wsproto::Config {
            max_message_size: l.max_message_size,
            max_frame_size: l.max_frame_size,
            keepalive: Some(wsproto::Keepalive {
                interval: l.ping_interval,
                pong_timeout: l.ping_interval,
            }),
        },
        handshake_timeout: l.handshake_timeout,
        idle_timeout: l.idle_timeout,
        core_streams: matches!(
            core,
            Some(targets::Transport::Tcp | targets::Transport::Tls)
        ),
        max_message_size: l.max_message_size,
        auth,
        on_expiry: plan.on_expiry,
        ip_limits,
        node_handshakes,
        received: plan.sip.received,
        deflate: plan.deflate,
        deflate_window: plan.deflate_window,
        trusted_proxies: l.trusted_proxies.clone(),
        request_rate: (l.requests_per_second > 0).then_some(RequestRate {
            per_second: l.requests_per_second,
            burst: l.request_burst,
            over: l.over_request_rate,
        }),
        web: web::WebConfig::resolve(plan.phone_dir.clone()),
        epoch,
    }
}

/// The edge's configuration template (each worker fills in its index).
fn edge_config(
    plan: &Plan,
    branch_salt: u64,
    core: Option<targets::Transport>,
) -> edge::EdgeConfig {
    // Browsers on ws:// and the core over TCP are told the first plain listener; wss:// flows the first TLS one.
    let first = &plan.listeners[0];
    let plain = plan
        .listeners
        .iter()
        .find(|l| l.tls.is_none())
        .unwrap_or(first);
    let secure = plan.listeners.iter().find(|l| l.tls.is_some());
    let ws_hop = Hop {
        host_port: plain.advertised.clone(),
        transport: Transport::Ws,
    };
    let core_host = plan
        .core
        .as_ref()
        .map_or("127.0.0.1", |c| c.advertise_host.as_str());
    let core_port = match (&plan.core, core) {
        (Some(c), Some(targets::Transport::Udp)) => c.local_address.port(),
        _ => DEFAULT_CORE_PORT,
    };
    // The core's own requests come back on this hop: a worker's UDP socket, else a listener (TLS: a wss one).
    let core_hop = match core {
        Some(targets::Transport::Tcp) => Hop {
            host_port: plain.advertised.clone(),
            transport: Transport::Tcp,
        },
        Some(targets::Transport::Tls) => Hop {
            host_port: secure.unwrap_or(plain).advertised.clone(),
            transport: Transport::Tls,
        },
        Some(targets::Transport::Udp) | None => Hop {
            host_port: format!("{core_host}:{core_port}"),
            transport: Transport::Udp,
        },
    };
    let mut own: Vec<String> = plan
        .listeners
        .iter()
        .flat_map(|l| [l.advertised.clone(), l.address.to_string()])
        .collect();
    own.dedup();
    own.extend((0..plan.workers).map(|w| format!("{core_host}:{}", core_port as usize + w)));
    edge::EdgeConfig {
        mode: if plan.core.is_some() {
            edge::Mode::Edge
        } else {
            edge::Mode::Standalone
        },
        node: plan.sip.node_id,
        worker: 0,
        workers: plan.workers as u16,
        wss_host_port: secure
            .map(|l| l.advertised.clone())
            .filter(|hp| *hp != ws_hop.host_port),
        ws_hop,
        core_hop,
        own_addresses: own,
        domains: plan.sip.domains.clone(),
        max_message_size: plan.limits.max_message_size,
        branch_salt,
        registrar: edge::registrar::RegistrarConfig {
            default_expires: plan.registrar.default_expires,
            min_expires: plan.registrar.min_expires,
            max_expires: plan.registrar.max_expires,
            max_bindings_per_flow: plan.registrar.max_bindings_per_connection,
            max_bindings: plan.registrar.max_bindings,
            ..Default::default()
        },
    }
}

/// `N` random bytes from `fill`, for `what`; no fallback: a key from the time and the pid could be guessed.
fn random_bytes<const N: usize>(fill: Fill, what: &'static str) -> Result<[u8; N], StartError> {
    let mut b = [0u8; N];
    fill(&mut b).map_err(|error| StartError::Random { what, error })?;
    Ok(b)
}

/// The flow-token key: from the configured secret, or random per start (tokens then die with the process), with
/// a random epoch of this start (tokens of an earlier start are stale even with a fixed secret).
fn flow_key(secret: Option<&str>, fill: Fill) -> Result<(FlowTokenKey, Vec<u8>), StartError> {
    let secret = match secret {
        Some(s) => s.as_bytes().to_vec(),
        None => random_bytes::<32>(fill, "flow-token key")?.to_vec(),
    };
    let epoch = Epoch(u32::from_le_bytes(random_bytes(fill, "flow-token epoch")?));
    Ok((FlowTokenKey::new(&secret, epoch), secret))
}

/// ringmux's configuration.
fn server_config(plan: &Plan) -> ringmux::Config {
    let listeners = plan.listeners.iter().map(|l| ringmux::Listener {
        addr: l.address,
        tls: l.tls.as_ref().map(|(acceptor, _, _)| acceptor.clone()),
        // Headers from the load balancers get the handshake's deadline.
        proxy_protocol: l.proxy_protocol.then(|| ringmux::ProxyProtocol {
            trusted: plan.limits.trusted_proxies.clone(),
            timeout: plan.limits.handshake_timeout,
        }),
    });
    ringmux::Config {
        listeners: listeners.collect(),
        workers: plan.workers,
        io: match plan.runtime.io {
            crate::config::Io::Auto => ringmux::IoChoice::Auto,
            crate::config::Io::Uring => ringmux::IoChoice::Uring,
            crate::config::Io::Epoll => ringmux::IoChoice::Epoll,
        },
        max_connections_per_worker: match plan.limits.max_connections {
            0 => ringmux::Config::default().max_connections_per_worker,
            n => n.div_ceil(plan.workers) as u32,
        },
        buf_size: RECV_BUFFER_BYTES,
        buf_ring_entries: RECV_BUFFERS,
        batch_wait: plan.runtime.batch_wait,
        close_timeout: plan.limits.close_timeout,
        tcp_user_timeout: plan.limits.tcp_user_timeout,
        ..ringmux::Config::default()
    }
}

/// Say where the node listens and how to point a browser at it.
fn announce(plan: &Plan, server: &ringmux::Server<worker::Msg>, core: Option<&CoreView>) {
    let what = match core {
        Some(view) => format!("edge mode, {}", core_side::describe(view)),
        None => "standalone mode (embedded registrar)".into(),
    };
    let urls: Vec<String> = plan
        .listeners
        .iter()
        .zip(server.local_addrs())
        .map(|(l, local)| {
            let scheme = if l.tls.is_some() { "wss" } else { "ws" };
            format!("{scheme}://{local}{}", l.path)
        })
        .collect();
    let workers = plan.workers;
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
}

/// Serve until SIGTERM or SIGINT; SIGHUP (or the admin API) reloads the configuration and certificates and
/// resolves the core again.
fn serve(
    plan: &Plan,
    server: &ringmux::Server<worker::Msg>,
    reloaders: &mut [tls::Reloader],
    mut core: Option<&mut core_side::Started>,
    running: &mut reload::Running,
    (asks, handed): (
        &std::sync::mpsc::Receiver<crate::reload::ReloadAsk>,
        Option<&std::sync::mpsc::Receiver<()>>,
    ),
) -> Result<(), StartError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(StartError::Signals)?;
    loop {
        for sig in signals.pending() {
            if sig != SIGHUP {
                tracing::info!(signal = sig, grace = ?plan.runtime.shutdown_grace, "draining: closing WebSockets with 1001");
                return Ok(());
            }
            reload_all(server, reloaders, core.as_deref_mut(), running, "SIGHUP");
        }
        if handed.is_some_and(|h| h.try_recv().is_ok()) {
            tracing::info!(grace = ?plan.runtime.shutdown_grace, "handed over to the new process: draining what stayed here with 1001");
            return Ok(());
        }
        for ask in asks.try_iter() {
            let report = reload_all(server, reloaders, core.as_deref_mut(), running, "admin API");
            let _ = ask.send(report);
        }
        for r in reloaders.iter_mut() {
            r.poll();
        }
        running.poll_jwks(server);
        if let Some(c) = core.as_deref_mut() {
            core_side::forward_views(&c.handle, server);
            if let Some(r) = c.reloader.as_mut() {
                r.poll();
            }
        }
        std::thread::sleep(MAIN_TICK);
    }
}

/// Reload the configuration, the certificates, and resolve the core again.
fn reload_all(
    server: &ringmux::Server<worker::Msg>,
    reloaders: &mut [tls::Reloader],
    core: Option<&mut core_side::Started>,
    running: &mut reload::Running,
    why: &str,
) -> crate::reload::ReloadReport {
    let report = running.reload(server, core.as_deref().map(|c| &c.handle), why);
    for r in reloaders.iter_mut() {
        let _ = r.reload(why);
    }
    if let Some(c) = core {
        tracing::info!("{why}: resolving the core again");
        c.handle.resolve_now();
        if let Some(r) = c.reloader.as_mut() {
            r.reload(why);
        }
    }
    report
}

/// The listeners' addresses, for messages.
fn describe(plan: &Plan) -> String {
    let all: Vec<String> = plan
        .listeners
        .iter()
        .map(|l| l.address.to_string())
        .collect();
    all.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random source that always fails, as a seccomp filter or an exhausted descriptor table makes it.
    fn failing(_: &mut [u8]) -> Result<(), getrandom::Error> {
        Err(getrandom::Error::UNEXPECTED)
    }

    #[test]
    fn a_failing_os_random_source_refuses_to_start() {
        // The old fallback keyed flow tokens with the time and the pid: a guessable key forges any flow.
        let e = StartSecrets::draw(None, failing).err().expect("refused");
        assert!(
            matches!(
                e,
                StartError::Random {
                    what: "flow-token key",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("OS random source"), "{e}");
        // A configured secret keys the tokens, but the start's epoch (and the branch salt) still need the OS.
        let e = StartSecrets::draw(Some("configured"), failing)
            .err()
            .expect("refused");
        assert!(
            matches!(
                e,
                StartError::Random {
                    what: "flow-token epoch",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn an_ipv6_core_hop_is_a_valid_hostport_for_every_worker() {
        let cfg = crate::config::Config::from_toml(
            "[runtime]\nworkers = 2\n[core]\nuri = \"sip:[::1]:5060\"\nlocal_address = \"[::1]:5070\"",
            "t",
        )
        .unwrap();
        let edge = edge_config(&Plan::new(cfg).unwrap(), 0, Some(targets::Transport::Udp));
        assert_eq!(edge.core_hop.host_port, "[::1]:5070");
        assert!(
            edge.own_addresses.contains(&"[::1]:5071".to_owned()),
            "{:?}",
            edge.own_addresses
        );
    }

    #[test]
    fn the_os_random_source_keys_each_start_apart() {
        let a = StartSecrets::draw(None, getrandom::fill).unwrap();
        let b = StartSecrets::draw(None, getrandom::fill).unwrap();
        assert_ne!(a.branch_salt, b.branch_salt);
        let flow = edge::flow_token::FlowId {
            node: 1,
            worker: 0,
            slot: 17,
            generation: 3,
            outbound: true,
            secure: false,
        };
        let token = a.key.seal(&flow);
        assert_eq!(a.key.open(&token), Ok(flow));
        assert!(b.key.open(&token).is_err());
        // With a fixed secret, the epoch still tells two starts apart.
        let a = StartSecrets::draw(Some("fixed"), getrandom::fill).unwrap();
        let b = StartSecrets::draw(Some("fixed"), getrandom::fill).unwrap();
        assert!(b.key.open(&a.key.seal(&flow)).is_err());
    }
}
