//! The daemon's TOML configuration: built-in defaults (`default.toml`), a file, and command-line overrides, read
//! into these raw structures and then turned, once, into a typed [`Plan`] (`plan.rs`) that the rest of the
//! daemon uses. `--check` is exactly that step.

mod core_plan;
mod core_side;
mod env;
mod plan;
mod uri;

pub use core_plan::{CorePlan, client_config};
pub use core_side::{Core, CoreTls, Uris};
pub use plan::Plan;
pub use uri::CoreTransport;
pub use uri::{CoreUri, Host};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The documented default configuration, printed by `--print-default-config`; parsing it gives [`Config::default`].
pub const DEFAULT_TOML: &str = include_str!("../default.toml");

/// Everything sipedged is configured with.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// WebSocket listeners.
    pub listen: Vec<Listener>,
    /// The SIP core; `None` runs standalone.
    pub core: Option<Core>,
    /// SIP identity of the node.
    pub sip: Sip,
    /// Threads and I/O backend.
    pub runtime: Runtime,
    /// Protocol and abuse limits.
    pub limits: Limits,
    /// Standalone registrar settings.
    pub registrar: Registrar,
    /// Admin / metrics endpoint.
    pub admin: Admin,
    /// Static web content (the web phone) on the WebSocket port.
    pub web: Web,
    /// Handshake authentication (RFC 7118 §7).
    pub auth: Auth,
    /// permessage-deflate (RFC 7692).
    pub deflate: Deflate,
    /// Logging.
    pub log: Log,
    /// SIP capture to a HEP collector.
    pub capture: Capture,
}

/// One WebSocket listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// Address and port to listen on.
    pub address: SocketAddr,
    /// URL path the upgrade is accepted on.
    #[serde(default = "default_path")]
    pub path: String,
    /// `host:port` written in the Via and Record-Route entries browsers see (default: `address`).
    #[serde(default)]
    pub advertise: Option<String>,
    /// Serve wss:// (TLS terminated in the workers) with these certificates; `None`: plain ws://.
    #[serde(default)]
    pub tls: Option<ListenerTls>,
    /// Connections from `[limits] trusted_proxies` start with a PROXY protocol v2 header naming the client
    /// (before TLS on wss://); other peers are direct clients.
    #[serde(default)]
    pub proxy_protocol: bool,
    /// Whether `[auth]` applies to handshakes on this listener; `false` only for a listener no browser can
    /// reach (a private address for monitoring or test tools).
    #[serde(default = "default_true")]
    pub auth: bool,
}

fn default_true() -> bool {
    true
}

/// The certificates of a wss:// listener (PEM files), reloaded on SIGHUP and when the files change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// Certificate chain (end-entity first) served when no SNI entry matches; without it (and `key`) only the
    /// SNI entries are served.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Private key of `cert`.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// Certificates chosen by the name the client asks for (SNI); `*.example.com` matches one label.
    #[serde(default)]
    pub sni: Vec<SniCert>,
    /// How often the files' modification times are checked (a change reloads them).
    #[serde(default = "default_reload_poll", with = "humantime_serde")]
    pub reload_poll: Duration,
}

/// One SNI entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SniCert {
    /// Host name the client asks for.
    pub name: String,
    /// Certificate chain PEM.
    pub cert: PathBuf,
    /// Private key PEM.
    pub key: PathBuf,
}

fn default_reload_poll() -> Duration {
    Duration::from_secs(5)
}

impl Listener {
    /// A plain ws:// listener on `address` at `/`, with the defaults.
    pub fn plain(address: SocketAddr) -> Self {
        Self {
            address,
            path: default_path(),
            advertise: None,
            tls: None,
            proxy_protocol: false,
            auth: true,
        }
    }

    /// What browsers are told this hop is.
    pub fn advertised(&self) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| self.address.to_string())
    }
}

fn default_path() -> String {
    "/".into()
}

/// SIP identity.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sip {
    /// Domains served (empty: any).
    pub domains: Vec<String>,
    /// Node id in flow tokens.
    pub node_id: u32,
    /// Flow-token HMAC secret (`None`: random per start).
    #[serde(deserialize_with = "non_empty")]
    pub flow_token_secret: Option<String>,
    /// Which browser addresses are written as `received` in the Via the browser's requests carry on.
    pub received: Received,
}

/// Which browser addresses the edge writes as Via `received` (RFC 7118 §5 makes it optional because it can reveal
/// the addresses of proxies and balancers in between). An address of a trusted proxy is never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Received {
    /// Every client address.
    Always,
    /// Only a globally routable client address (not private, loopback, link-local, shared or reserved).
    Public,
    /// Never.
    Never,
}

/// I/O backend choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Io {
    /// io_uring when the kernel allows it, else epoll.
    Auto,
    /// io_uring only.
    Uring,
    /// epoll only.
    Epoll,
}

/// Threads and I/O.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Runtime {
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// Backend.
    pub io: Io,
    /// On SIGTERM: stop accepting, send WebSocket close 1001, and wait at most this long for clients to go.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// io_uring: while busy, a worker waits at most this long for a batch of completions before it runs (less
    /// CPU per message, at most this much added delay); "0s": a pass per completion.
    #[serde(with = "humantime_serde")]
    pub batch_wait: Duration,
    /// Where this node waits for a new process to take its connections over (`sipedged --take-over`); `None`:
    /// no hand-over.
    pub handover_socket: Option<std::path::PathBuf>,
}

/// Limits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest WebSocket message.
    pub max_message_size: usize,
    /// Largest WebSocket frame.
    pub max_frame_size: usize,
    /// Connections per node (0: kernel limit).
    pub max_connections: usize,
    /// Connections per source IP (0: unlimited).
    pub max_connections_per_ip: usize,
    /// Upgrade deadline.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Idle deadline.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Keepalive ping interval.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// How long a graceful close waits for the client to read what is queued before the connection is aborted.
    #[serde(with = "humantime_serde")]
    pub close_timeout: Duration,
    /// `TCP_USER_TIMEOUT` of client connections: how long sent bytes may stay unacknowledged (or unsent behind
    /// a zero window) before the kernel drops the connection.
    #[serde(with = "humantime_serde")]
    pub tcp_user_timeout: Duration,
    /// Allowed Origin values (empty: any).
    pub allowed_origins: Vec<String>,
    /// WebSocket upgrades per second on the whole node, a second's worth in a burst (0: unlimited).
    pub handshakes_per_second: u32,
    /// New connections per second from one source address (0: unlimited).
    pub handshakes_per_ip_per_second: u32,
    /// Burst allowed above that rate.
    pub handshake_burst: u32,
    /// SIP requests per second on one connection (0: unlimited).
    pub requests_per_second: u32,
    /// Burst allowed above that rate.
    pub request_burst: u32,
    /// What a connection over its request rate gets.
    pub over_request_rate: OverRate,
    /// Proxies whose `X-Forwarded-For` is believed (their own address is not the client's); on a listener with
    /// `proxy_protocol`, the peers that must send a PROXY protocol v2 header (and whose X-Forwarded-For is then
    /// not believed).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The IPv6 prefix length that counts as one source for the per-IP limits (0..=128).
    pub ipv6_prefix: u32,
}

/// What a connection over its SIP request rate gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverRate {
    /// `503 Service Unavailable` with `Retry-After`.
    Reject,
    /// WebSocket close 1008 (policy violation).
    Close,
}

/// Standalone registrar settings: expiries (seconds) and caps on bindings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Registrar {
    /// Expiry when none is requested.
    pub default_expires: u32,
    /// Smallest accepted expiry (423 below).
    pub min_expires: u32,
    /// Largest granted expiry.
    pub max_expires: u32,
    /// Bindings one connection holds at most in each worker's registrar shard (403 beyond).
    pub max_bindings_per_connection: usize,
    /// Bindings the node holds at most, shared evenly by the workers' shards (503 with Retry-After beyond).
    pub max_bindings: usize,
}

/// Admin endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// Whether the metrics endpoint runs.
    pub enabled: bool,
    /// Address of the metrics endpoint.
    pub listen: SocketAddr,
    /// Bearer token the admin API requires; `None`: the API answers only on a loopback address.
    #[serde(deserialize_with = "non_empty")]
    pub token: Option<String>,
}

/// permessage-deflate (RFC 7692): whether browsers' offers are accepted, and how.
///
/// The codecs are shared by a worker's connections; what a connection keeps between messages is at most the last
/// `server_window_bytes` it was sent and, with `client_context_takeover`, the last 2^`client_max_window_bits`
/// bytes it sent. A connection quiet for a keepalive interval drops the first and packs the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Deflate {
    /// Accept permessage-deflate when a client offers it.
    pub enabled: bool,
    /// Compression level of what the edge sends, 0 (stored) to 9 (smallest).
    pub level: u8,
    /// The largest window the edge compresses with, 9 to 15 bits (a client may ask for less).
    pub server_max_window_bits: u8,
    /// The largest window a client may compress with, 8 to 15 bits, when the client lets the edge choose.
    pub client_max_window_bits: u8,
    /// Bytes of what the edge last sent a browser that the next message is compressed against (context
    /// takeover toward the browser); 0: every message on its own (`server_no_context_takeover`).
    pub server_window_bytes: u16,
    /// Let a browser compress against what it sent before (the edge then keeps 2^`client_max_window_bits`
    /// bytes per connection); `false`: `client_no_context_takeover`.
    pub client_context_takeover: bool,
}

impl Default for Deflate {
    fn default() -> Self {
        Self {
            enabled: true,
            level: 6,
            server_max_window_bits: 15,
            client_max_window_bits: 11,
            server_window_bytes: 4096,
            client_context_takeover: true,
        }
    }
}

/// Static web content served on the WebSocket port.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// Directory served at `/phone/` (the built web phone); `None`: the phone built with the daemon, if any.
    #[serde(deserialize_with = "non_empty_path")]
    pub phone_dir: Option<PathBuf>,
}

/// Where the handshake credential is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No authentication: SIP digest (by the core) as usual.
    None,
    /// A cookie (named by `cookie`) holding a JWT.
    Cookie,
    /// `Authorization: Bearer <JWT>`, or `?access_token=<JWT>` on the WebSocket URL.
    Bearer,
}

/// A JWT signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Algorithm {
    /// HMAC with SHA-256 (`secret`).
    HS256,
    /// RSA PKCS#1 v1.5 with SHA-256 (`public_key`).
    RS256,
    /// ECDSA P-256 with SHA-256 (`public_key`).
    ES256,
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// What happens when a flow's token expires while it is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExpiry {
    /// Close the WebSocket with 1008 (policy violation); the browser reconnects with a fresh token.
    Close,
    /// Keep the flow, but answer new REGISTERs 403.
    RefuseRegister,
}

/// Handshake authentication (RFC 7118 §7).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// none, cookie or bearer.
    pub mode: AuthMode,
    /// The cookie's name (mode = cookie).
    pub cookie: String,
    /// The token's signature algorithm.
    pub algorithm: Algorithm,
    /// The HMAC secret (HS256).
    #[serde(deserialize_with = "non_empty")]
    pub secret: Option<String>,
    /// A PEM public key file (RS256 / ES256).
    #[serde(deserialize_with = "non_empty_path")]
    pub public_key: Option<PathBuf>,
    /// A local JWKS file (RFC 7517) instead of `secret` / `public_key`: tokens name their key by `kid`; read
    /// again when it changes.
    #[serde(deserialize_with = "non_empty_path")]
    pub jwks: Option<PathBuf>,
    /// Required `aud` value (`None`: not checked).
    #[serde(deserialize_with = "non_empty")]
    pub audience: Option<String>,
    /// Required `iss` value (`None`: not checked).
    #[serde(deserialize_with = "non_empty")]
    pub issuer: Option<String>,
    /// Claim naming the SIP identity: `sip:user@domain`, `user@domain` or `user`.
    pub identity_claim: String,
    /// Claim listing the domains the identity may use (a string or an array; optional).
    pub domains_claim: String,
    /// Clock skew allowed on `exp` / `nbf`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// What expiry during a session does.
    pub on_expiry: OnExpiry,
    /// After a reload changes the key, how long tokens signed with the previous key are still accepted.
    #[serde(with = "humantime_serde")]
    pub key_overlap: Duration,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            cookie: "sipedge_token".into(),
            algorithm: Algorithm::HS256,
            secret: None,
            public_key: None,
            jwks: None,
            audience: None,
            issuer: None,
            identity_claim: "sip_aor".into(),
            domains_claim: "sip_domains".into(),
            leeway: Duration::from_secs(30),
            on_expiry: OnExpiry::Close,
            key_overlap: Duration::from_secs(300),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// Output format.
    pub format: LogFormat,
    /// Filter, as in RUST_LOG.
    pub level: String,
    /// The share of WebSocket connections (0.0 to 1.0, taken evenly at the upgrade) whose close is logged, one line
    /// each.
    pub connections: f64,
}

/// SIP capture to a HEP v3 collector (off while `hep` is unset).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Capture {
    /// The collector's `ip:port` (UDP); `None`: no capture.
    pub hep: Option<SocketAddr>,
    /// The capture agent id written in every HEP packet.
    pub agent_id: u32,
    /// The collector's password, sent as the HEP authentication key chunk.
    #[serde(deserialize_with = "non_empty")]
    pub password: Option<String>,
    /// The share of dialogs (by Call-ID) captured, 0.0 to 1.0.
    pub sample: f64,
    /// SIP methods captured (requests and their responses); empty: all.
    pub methods: Vec<String>,
}

impl Default for Capture {
    fn default() -> Self {
        Self {
            hep: None,
            agent_id: 1,
            password: None,
            sample: 1.0,
            methods: Vec::new(),
        }
    }
}

/// A string that must not be empty: an unset value is a key left out, never `""`.
fn non_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        return Err(serde::de::Error::custom(
            "empty string: leave the key out to leave it unset",
        ));
    }
    Ok(Some(s))
}

/// A path that must not be empty.
fn non_empty_path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    non_empty(d).map(|s| s.map(PathBuf::from))
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: vec![Listener::plain(SocketAddr::from(([127, 0, 0, 1], 8080)))],
            core: None,
            sip: Sip::default(),
            runtime: Runtime::default(),
            limits: Limits::default(),
            registrar: Registrar::default(),
            admin: Admin::default(),
            web: Web::default(),
            auth: Auth::default(),
            deflate: Deflate::default(),
            log: Log::default(),
            capture: Capture::default(),
        }
    }
}

impl Default for Sip {
    fn default() -> Self {
        Self {
            domains: Vec::new(),
            node_id: 1,
            flow_token_secret: None,
            received: Received::Public,
        }
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self {
            workers: 0,
            io: Io::Auto,
            shutdown_grace: Duration::from_secs(10),
            batch_wait: ringmux::Config::default().batch_wait,
            handover_socket: None,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 65536,
            max_frame_size: 65536,
            max_connections: 0,
            max_connections_per_ip: 0,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            ping_interval: Duration::from_secs(30),
            close_timeout: ringmux::Config::default().close_timeout,
            tcp_user_timeout: ringmux::Config::default().tcp_user_timeout,
            allowed_origins: Vec::new(),
            handshakes_per_second: 0,
            handshakes_per_ip_per_second: 0,
            handshake_burst: 20,
            requests_per_second: 0,
            request_burst: 50,
            over_request_rate: OverRate::Reject,
            trusted_proxies: Vec::new(),
            ipv6_prefix: crate::limits::DEFAULT_IPV6_PREFIX.into(),
        }
    }
}

impl Default for Registrar {
    fn default() -> Self {
        Self {
            default_expires: 600,
            min_expires: 60,
            max_expires: 3600,
            max_bindings_per_connection: 16,
            max_bindings: 1_000_000,
        }
    }
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            token: None,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
            connections: 0.0,
        }
    }
}

/// A configuration that cannot be used, with what is wrong in it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A `${NAME}` in the file that cannot be expanded (unset, malformed, or not one value).
    #[error("{path}: {source}")]
    Env {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        source: env::EnvError,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (with line and column).
        source: Box<toml::de::Error>,
    },
    /// A command-line value that does not parse.
    #[error("{flag} {error}")]
    Argument {
        /// The flag.
        flag: &'static str,
        /// What is wrong with its value.
        error: String,
    },
    /// Parsed, but breaking rules (all of them listed).
    #[error("invalid configuration: {0}")]
    Invalid(plan::Problems),
}

impl Config {
    /// Parse a TOML document (keys not given take their defaults); [`Plan::new`] checks it.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.into(),
            source: Box::new(e),
        })
    }

    /// Read a configuration file, expand its environment variables (`${NAME}`, `${NAME:-default}`; see
    /// [`env`]) and parse it.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let text = env::expand_env(&text).map_err(|source| ConfigError::Env {
            path: shown.clone(),
            source,
        })?;
        Self::from_toml(&text, &shown)
    }
}

#[cfg(test)]
mod tests;
