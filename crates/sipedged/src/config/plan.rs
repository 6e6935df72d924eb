//! The configuration as the daemon uses it: every rule checked, every value typed, TLS and authentication
//! material loaded, once. `sipedged --check` is [`Plan::new`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ringmux::{TlsAcceptor, TlsFiles};

use super::core_plan::CorePlan;
use super::uri::UriError;
use super::{Capture, Config, ConfigError, Limits, Log, Registrar, Runtime, Sip};
use crate::auth::{AuthConfigError, Authenticator};
use crate::capture::CapturePlan;

/// Most workers a node runs.
pub const MAX_WORKERS: usize = 1024;
/// Smallest `max_message_size` (a SIP INVITE with SDP is larger).
pub const MIN_MESSAGE_SIZE: usize = 1024;
/// Longest `[limits] close_timeout` and `tcp_user_timeout`: past it a client that stopped reading holds its
/// connection and queued bytes for what is, to an edge, forever.
pub const MAX_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);
/// Shortest `[limits] tcp_user_timeout`: below it a connection is dropped on one delayed acknowledgement.
pub const MIN_TCP_USER_TIMEOUT: Duration = Duration::from_secs(1);

/// A rule of the configuration that a value breaks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    /// `listen = []`.
    #[error("at least one [[listen]] entry is needed")]
    NoListener,
    /// Two listeners on one address (SO_REUSEPORT would let both bind and split the connections).
    #[error("listen {0} appears twice in [[listen]]")]
    DuplicateListener(SocketAddr),
    /// A path that is not absolute.
    #[error("listen path {0:?} must start with '/'")]
    RelativePath(String),
    /// PROXY protocol with nobody allowed to send it.
    #[error(
        "listen {0}: proxy_protocol = true needs [limits] trusted_proxies, the addresses of the load balancers that \
         send the PROXY protocol header (with none, no connection could use it)"
    )]
    ProxyWithoutTrustedProxies(SocketAddr),
    /// Certificates that cannot be served.
    #[error("listen {address} tls: {error}")]
    Tls {
        /// The listener.
        address: SocketAddr,
        /// What is wrong.
        error: String,
    },
    /// The core's URI.
    #[error(transparent)]
    CoreUri(#[from] UriError),
    /// Worker `w` binds `local_address` port + `w`: the last one must be a port.
    #[error("core.local_address port {port} + {workers} workers passes 65535")]
    CorePorts {
        /// The configured port.
        port: u16,
        /// The workers.
        workers: usize,
    },
    /// `local_address` on every address (`0.0.0.0`, `::`) with no `advertise_host`: the core would be told to
    /// send to the unspecified address.
    #[error(
        "core.local_address {0} is the unspecified address, which Via, Path and Record-Route toward the core \
         cannot name: set core.advertise_host (e.g. \"${{POD_IP}}\") or bind a real address"
    )]
    UnspecifiedCoreHost(SocketAddr),
    /// `[core] uri = []`.
    #[error("core.uri names no URI")]
    NoCoreUri,
    /// URIs that name different transports.
    #[error("core.uri: every URI must name the same transport (one transport toward the core)")]
    CoreTransports,
    /// TLS toward the core cannot be set up.
    #[error("core.tls: {0}")]
    CoreTls(String),
    /// A probe time-out not shorter than the interval.
    #[error(
        "core.probe_timeout = {} must be above 0 and shorter than core.probe_interval = {}",
        humantime_serde::re::humantime::format_duration(*timeout),
        humantime_serde::re::humantime::format_duration(*interval)
    )]
    ProbeTimeout {
        /// `probe_timeout`.
        timeout: Duration,
        /// `probe_interval`.
        interval: Duration,
    },
    /// A probe threshold of zero.
    #[error("core.{0} must be > 0")]
    ZeroProbes(&'static str),
    /// `max_message_size` too small for SIP.
    #[error("limits.max_message_size = {0} is below {MIN_MESSAGE_SIZE} bytes")]
    MessageSize(usize),
    /// `max_frame_size = 0`.
    #[error("limits.max_frame_size must be > 0")]
    FrameSize,
    /// A timeout of zero.
    #[error("limits.{0} must be > 0")]
    ZeroDuration(&'static str),
    /// A duration outside its range (`[limits] close_timeout`, `tcp_user_timeout`, `[core] t1`).
    #[error(
        "{key} = {} must be from {} to {}",
        humantime_serde::re::humantime::format_duration(*value),
        humantime_serde::re::humantime::format_duration(*min),
        humantime_serde::re::humantime::format_duration(*max)
    )]
    DurationRange {
        /// The key.
        key: &'static str,
        /// Its value.
        value: Duration,
        /// The shortest accepted.
        min: Duration,
        /// The longest accepted.
        max: Duration,
    },
    /// A size in bytes out of its range.
    #[error("{key} = {value} must be from {min} to {max} bytes")]
    ByteRange {
        /// The key.
        key: &'static str,
        /// Its value.
        value: u64,
        /// The smallest accepted.
        min: u64,
        /// The largest accepted.
        max: u64,
    },
    /// A connection rate beyond what its token bucket counts.
    #[error("limits.{key} = {value} must be at most {max}", max = crate::limits::MAX_RATE)]
    Rate {
        /// The key.
        key: &'static str,
        /// Its value.
        value: u32,
    },
    /// An IPv6 prefix longer than an address.
    #[error("limits.ipv6_prefix = {0} must be from 0 to 128 (bits of an IPv6 address)")]
    Ipv6Prefix(u32),
    /// Registrar expiries out of order.
    #[error(
        "registrar: need min_expires ({min}) <= default_expires ({default}) <= max_expires ({max})"
    )]
    Expires {
        /// `min_expires`.
        min: u32,
        /// `default_expires`.
        default: u32,
        /// `max_expires`.
        max: u32,
    },
    /// A cap on the registrar's bindings of zero (no REGISTER could ever be taken).
    #[error("registrar.{0} must be > 0")]
    ZeroBindings(&'static str),
    /// `[auth]`.
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    /// Too many workers.
    #[error("runtime.workers = {0} is more than {MAX_WORKERS}")]
    Workers(usize),
    /// A remembered window larger than the window the edge announces.
    #[error(
        "deflate.server_window_bytes = {0} is more than the 2^server_max_window_bits = {1} bytes a browser keeps"
    )]
    DeflateWindow(u16, u32),
    /// An admin token short enough to guess.
    #[error("admin.token has {0} characters; at least {MIN_ADMIN_TOKEN} are needed")]
    AdminToken(usize),
    /// A share of logged connections outside 0.0 to 1.0.
    #[error("log.connections = {0} must be from 0.0 to 1.0")]
    LogConnections(f64),
    /// A capture sample outside 0.0 to 1.0.
    #[error("capture.sample = {0} must be from 0.0 to 1.0")]
    CaptureSample(f64),
    /// A capture method that is not a SIP method token.
    #[error("capture.methods: {0:?} is not a SIP method")]
    CaptureMethod(String),
    /// A collector on port 0.
    #[error("capture.hep = {0}: the collector needs a port")]
    CapturePort(SocketAddr),
    /// A permessage-deflate setting outside what RFC 7692 and the codec allow.
    #[error("deflate.{key} = {value} is outside {min}..={max}")]
    DeflateRange {
        /// The key.
        key: &'static str,
        /// Its value.
        value: u8,
        /// The smallest allowed.
        min: u8,
        /// The largest allowed.
        max: u8,
    },
}

/// Every problem of a configuration, reported together.
#[derive(Debug, Clone, PartialEq)]
pub struct Problems(pub Vec<Problem>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            write!(f, "{}{p}", if i == 0 { "" } else { "; " })?;
        }
        Ok(())
    }
}

/// A listener, ready to serve.
#[derive(Debug, Clone)]
pub struct ListenerPlan {
    /// Where it listens.
    pub address: SocketAddr,
    /// The WebSocket path.
    pub path: String,
    /// `host:port` browsers are told this hop is.
    pub advertised: String,
    /// wss://: the acceptor (certificates loaded), its files and how often they are checked for changes.
    pub tls: Option<(TlsAcceptor, TlsFiles, Duration)>,
    /// PROXY protocol v2 from trusted proxies.
    pub proxy_protocol: bool,
    /// Whether `[auth]` applies.
    pub authenticate: bool,
}

/// The whole configuration, checked and typed.
#[derive(Debug)]
pub struct Plan {
    /// Listeners, in `[[listen]]` order.
    pub listeners: Vec<ListenerPlan>,
    /// The core; `None`: standalone.
    pub core: Option<CorePlan>,
    /// SIP identity.
    pub sip: Sip,
    /// Worker threads (resolved: at least 1).
    pub workers: usize,
    /// Backend, grace, batching.
    pub runtime: Runtime,
    /// Protocol and abuse limits.
    pub limits: Limits,
    /// Standalone registrar.
    pub registrar: Registrar,
    /// The admin endpoint, if enabled.
    pub admin: Option<AdminPlan>,
    /// A configured web phone directory.
    pub phone_dir: Option<PathBuf>,
    /// Handshake authentication (keys loaded).
    pub auth: Authenticator,
    /// What a credential's expiry during a session does.
    pub on_expiry: super::OnExpiry,
    /// permessage-deflate's policy; `None`: offers are declined.
    pub deflate: Option<wsproto::deflate::DeflateConfig>,
    /// `[deflate] server_window_bytes`.
    pub deflate_window: u16,
    /// Logging.
    pub log: Log,
    /// SIP capture to a HEP collector; `None`: off.
    pub capture: Option<CapturePlan>,
    /// The configuration this plan was made from (a reload compares the next one with it).
    pub source: super::Config,
}

/// The admin endpoint.
#[derive(Debug, Clone)]
pub struct AdminPlan {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The API's bearer token.
    pub token: Option<String>,
}

/// The shortest `[admin] token`.
pub const MIN_ADMIN_TOKEN: usize = 16;
/// The longest `[auth] key_overlap`.
const MAX_KEY_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

impl Plan {
    /// Check `cfg` against every rule and load what it names; all problems are reported at once.
    pub fn new(cfg: Config) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let workers = match cfg.runtime.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        if workers > MAX_WORKERS {
            problems.push(Problem::Workers(workers));
        }
        let listeners = listeners(&cfg, &mut problems);
        let core = cfg
            .core
            .as_ref()
            .and_then(|c| super::core_plan::core(c, workers, &mut problems));
        limits(&cfg.limits, &mut problems);
        let r = &cfg.registrar;
        if !(r.min_expires <= r.default_expires && r.default_expires <= r.max_expires) {
            problems.push(Problem::Expires {
                min: r.min_expires,
                default: r.default_expires,
                max: r.max_expires,
            });
        }
        for (key, cap) in [
            ("max_bindings_per_connection", r.max_bindings_per_connection),
            ("max_bindings", r.max_bindings),
        ] {
            if cap == 0 {
                problems.push(Problem::ZeroBindings(key));
            }
        }
        if let Some(t) = &cfg.admin.token
            && t.chars().count() < MIN_ADMIN_TOKEN
        {
            problems.push(Problem::AdminToken(t.chars().count()));
        }
        if cfg.auth.key_overlap > MAX_KEY_OVERLAP {
            problems.push(Problem::DurationRange {
                key: "auth.key_overlap",
                value: cfg.auth.key_overlap,
                min: Duration::ZERO,
                max: MAX_KEY_OVERLAP,
            });
        }
        let source = cfg.clone();
        let deflate = deflate(&cfg.deflate, &mut problems);
        let capture = capture(&cfg.capture, &mut problems);
        log(&cfg.log, &mut problems);
        let auth = Authenticator::new(&cfg.auth).map_err(|e| problems.push(e.into()));
        problems.extend(
            crate::auth::config_problems(&cfg.auth, &cfg.limits.allowed_origins)
                .into_iter()
                .map(Problem::from),
        );
        match auth {
            Ok(auth) if problems.is_empty() => Ok(Self {
                listeners,
                core,
                sip: cfg.sip,
                workers,
                runtime: cfg.runtime,
                limits: cfg.limits,
                registrar: cfg.registrar,
                admin: cfg.admin.enabled.then(|| AdminPlan {
                    listen: cfg.admin.listen,
                    token: cfg.admin.token.clone(),
                }),
                phone_dir: cfg.web.phone_dir,
                auth,
                on_expiry: cfg.auth.on_expiry,
                deflate,
                deflate_window: cfg.deflate.server_window_bytes,
                log: cfg.log,
                capture,
                source,
            }),
            _ => Err(ConfigError::Invalid(Problems(problems))),
        }
    }
}

fn listeners(cfg: &Config, problems: &mut Vec<Problem>) -> Vec<ListenerPlan> {
    if cfg.listen.is_empty() {
        problems.push(Problem::NoListener);
    }
    let mut out = Vec::with_capacity(cfg.listen.len());
    for (i, l) in cfg.listen.iter().enumerate() {
        if cfg.listen[..i].iter().any(|o| o.address == l.address) {
            problems.push(Problem::DuplicateListener(l.address));
        }
        if !l.path.starts_with('/') {
            problems.push(Problem::RelativePath(l.path.clone()));
        }
        if l.proxy_protocol && cfg.limits.trusted_proxies.is_empty() {
            problems.push(Problem::ProxyWithoutTrustedProxies(l.address));
        }
        let tls = l.tls.as_ref().and_then(|t| {
            let loaded = crate::tls::files(t).and_then(|files| {
                let acceptor = TlsAcceptor::from_files(&files).map_err(|e| e.to_string())?;
                Ok((acceptor, files, t.reload_poll))
            });
            loaded
                .map_err(|error| {
                    problems.push(Problem::Tls {
                        address: l.address,
                        error,
                    })
                })
                .ok()
        });
        out.push(ListenerPlan {
            address: l.address,
            path: l.path.clone(),
            advertised: l.advertised(),
            tls,
            proxy_protocol: l.proxy_protocol,
            authenticate: l.auth,
        });
    }
    out
}

/// The host the edge writes in its own Via, Path and Record-Route toward the core: `advertise_host`, else the
/// local address. An IPv6 address goes in brackets (RFC 3261 §25.1 `IPv6reference`), so that `host:port` stays
/// one (a bare `::1:5070` is not a hostport).
pub(super) fn sip_host(configured: Option<&str>, local: std::net::IpAddr) -> String {
    let host = configured.map_or_else(|| local.to_string(), str::to_owned);
    match host.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => host,
    }
}

/// permessage-deflate's policy from `[deflate]` (see [`super::Deflate`]).
fn deflate(
    d: &super::Deflate,
    problems: &mut Vec<Problem>,
) -> Option<wsproto::deflate::DeflateConfig> {
    for (key, value, min, max) in [
        ("level", d.level, 0, 9),
        ("server_max_window_bits", d.server_max_window_bits, 9, 15),
        ("client_max_window_bits", d.client_max_window_bits, 8, 15),
    ] {
        if !(min..=max).contains(&value) {
            problems.push(Problem::DeflateRange {
                key,
                value,
                min,
                max,
            });
        }
    }
    let announced = 1u32 << d.server_max_window_bits.min(15);
    if u32::from(d.server_window_bytes) > announced {
        problems.push(Problem::DeflateWindow(d.server_window_bytes, announced));
    }
    d.enabled.then_some(wsproto::deflate::DeflateConfig {
        server_max_window_bits: d.server_max_window_bits,
        client_max_window_bits: d.client_max_window_bits,
        server_no_context_takeover: d.server_window_bytes == 0,
        client_no_context_takeover: !d.client_context_takeover,
        level: d.level,
    })
}

fn limits(l: &Limits, problems: &mut Vec<Problem>) {
    if l.max_message_size < MIN_MESSAGE_SIZE {
        problems.push(Problem::MessageSize(l.max_message_size));
    }
    if l.max_frame_size == 0 {
        problems.push(Problem::FrameSize);
    }
    if l.ipv6_prefix > u32::from(crate::limits::MAX_IPV6_PREFIX) {
        problems.push(Problem::Ipv6Prefix(l.ipv6_prefix));
    }
    for (key, value) in [
        ("handshakes_per_second", l.handshakes_per_second),
        (
            "handshakes_per_ip_per_second",
            l.handshakes_per_ip_per_second,
        ),
        ("handshake_burst", l.handshake_burst),
    ] {
        if value > crate::limits::MAX_RATE {
            problems.push(Problem::Rate { key, value });
        }
    }
    for (name, d) in [
        ("handshake_timeout", l.handshake_timeout),
        ("idle_timeout", l.idle_timeout),
        ("ping_interval", l.ping_interval),
        ("close_timeout", l.close_timeout),
        ("tcp_user_timeout", l.tcp_user_timeout),
    ] {
        if d.is_zero() {
            problems.push(Problem::ZeroDuration(name));
        }
    }
    for (key, value, min) in [
        (
            "limits.close_timeout",
            l.close_timeout,
            Duration::from_millis(1),
        ),
        (
            "limits.tcp_user_timeout",
            l.tcp_user_timeout,
            MIN_TCP_USER_TIMEOUT,
        ),
    ] {
        if !value.is_zero() && !(min..=MAX_CONNECTION_TIMEOUT).contains(&value) {
            problems.push(Problem::DurationRange {
                key,
                value,
                min,
                max: MAX_CONNECTION_TIMEOUT,
            });
        }
    }
}

/// `[log]`: the share of logged connections is a share.
fn log(l: &Log, problems: &mut Vec<Problem>) {
    if !(0.0..=1.0).contains(&l.connections) {
        problems.push(Problem::LogConnections(l.connections));
    }
}

/// `[capture]`: off without `hep`; the sample a share, the methods SIP tokens (kept upper case).
fn capture(c: &Capture, problems: &mut Vec<Problem>) -> Option<CapturePlan> {
    if !(0.0..=1.0).contains(&c.sample) {
        problems.push(Problem::CaptureSample(c.sample));
    }
    for m in &c.methods {
        let token = !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-');
        if !token {
            problems.push(Problem::CaptureMethod(m.clone()));
        }
    }
    let collector = c.hep?;
    if collector.port() == 0 {
        problems.push(Problem::CapturePort(collector));
    }
    Some(CapturePlan {
        collector,
        agent_id: c.agent_id,
        password: c.password.clone(),
        sample: c.sample,
        methods: c.methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
    })
}
