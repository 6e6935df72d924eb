//! The daemon's TOML configuration: built-in defaults (`default.toml`), a file, and command-line overrides.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// The documented default configuration, printed by `--print-default-config`; parsing it gives [`Config::default`].
pub const DEFAULT_TOML: &str = include_str!("default.toml");

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
    /// Logging.
    pub log: Log,
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
    /// Certificate chain (end-entity first) served when no SNI entry matches; empty with `key` empty: only the
    /// SNI entries are served.
    #[serde(default)]
    pub cert: String,
    /// Private key of `cert`.
    #[serde(default)]
    pub key: String,
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
    pub cert: String,
    /// Private key PEM.
    pub key: String,
}

fn default_reload_poll() -> Duration {
    Duration::from_secs(5)
}

impl Listener {
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

/// The SIP core behind the edge.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Core {
    /// A SIP URI such as `sip:core.example.net:5060;transport=udp`.
    pub uri: String,
    /// Where the edge's sockets toward the core are bound: worker `w` binds port `port + w`, so that answers
    /// and requests routed by our Path / Record-Route reach the worker that owns the flow.
    #[serde(default = "default_core_local")]
    pub local_address: SocketAddr,
    /// `host` written in our Via / Path / Record-Route toward the core (default: the local address's IP).
    #[serde(default)]
    pub advertise_host: Option<String>,
}

fn default_core_local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5070))
}

/// The transport toward the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreTransport {
    /// UDP, one socket per worker.
    Udp,
    /// TCP, one connection per worker.
    Tcp,
}

impl Core {
    /// The default local address of the sockets toward the core.
    pub fn default_local() -> SocketAddr {
        default_core_local()
    }

    /// The core's socket address and transport, from its URI (`sip:HOST[:PORT][;transport=udp|tcp]`; the host
    /// is an IP literal or a name resolved now).
    pub fn target(&self) -> Result<(SocketAddr, CoreTransport), String> {
        let uri = self.uri.trim();
        let rest = uri
            .strip_prefix("sip:")
            .or_else(|| uri.strip_prefix("SIP:"))
            .ok_or_else(|| format!("core uri {uri:?} must be a sip: URI"))?;
        let (hostport, params) = rest.split_once(';').unwrap_or((rest, ""));
        let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
        let mut transport = CoreTransport::Udp;
        for p in params.split(';') {
            match p.to_ascii_lowercase().as_str() {
                "transport=udp" | "" => {}
                "transport=tcp" => transport = CoreTransport::Tcp,
                other if other.starts_with("transport=") => {
                    return Err(format!(
                        "core uri {uri:?}: unsupported {other} (udp or tcp)"
                    ));
                }
                _ => {}
            }
        }
        let with_port = if hostport.starts_with('[') {
            if hostport.contains("]:") {
                hostport.to_string()
            } else {
                format!("{hostport}:5060")
            }
        } else if hostport.contains(':') {
            hostport.to_string()
        } else {
            format!("{hostport}:5060")
        };
        use std::net::ToSocketAddrs;
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("core uri {uri:?}: cannot resolve {with_port}: {e}"))?
            .next()
            .ok_or_else(|| format!("core uri {uri:?}: {with_port} has no address"))?;
        Ok((addr, transport))
    }
}

/// SIP identity.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sip {
    /// Domains served (empty: any).
    pub domains: Vec<String>,
    /// Node id in flow tokens.
    pub node_id: u32,
    /// Flow-token HMAC secret (empty: random per start).
    pub flow_token_secret: String,
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
    /// Allowed Origin values (empty: any).
    pub allowed_origins: Vec<String>,
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

/// Standalone registrar settings (seconds).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Registrar {
    /// Expiry when none is requested.
    pub default_expires: u32,
    /// Smallest accepted expiry (423 below).
    pub min_expires: u32,
    /// Largest granted expiry.
    pub max_expires: u32,
}

/// Admin endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// Address of the metrics endpoint (`None`/empty: disabled).
    #[serde(deserialize_with = "optional_addr")]
    pub listen: Option<SocketAddr>,
}

/// Static web content served on the WebSocket port.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// Directory served at `/phone/` (the built web phone); empty: `deploy/webphone/dist` beside the binary's
    /// source tree when it exists.
    pub phone_dir: String,
}

/// Where the handshake credential is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No authentication: SIP digest (by the core) as usual.
    None,
    /// A cookie (named by `cookie`) holding a JWT.
    Cookie,
    /// `Authorization: Bearer <JWT>`, or `?access_token=<JWT>` on the WebSocket URL.
    Bearer,
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
    /// HS256, RS256 or ES256.
    pub algorithm: String,
    /// The HMAC secret (HS256).
    pub secret: String,
    /// A PEM public key file (RS256 / ES256).
    pub public_key: String,
    /// Required `aud` value (empty: not checked).
    pub audience: String,
    /// Claim naming the SIP identity: `sip:user@domain`, `user@domain` or `user`.
    pub identity_claim: String,
    /// Claim listing the domains the identity may use (a string or an array; optional).
    pub domains_claim: String,
    /// Clock skew allowed on `exp` / `nbf`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// What expiry during a session does.
    pub on_expiry: OnExpiry,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            cookie: "sipedge_token".into(),
            algorithm: "HS256".into(),
            secret: String::new(),
            public_key: String::new(),
            audience: String::new(),
            identity_claim: "sip_aor".into(),
            domains_claim: "sip_domains".into(),
            leeway: Duration::from_secs(30),
            on_expiry: OnExpiry::Close,
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
}

fn optional_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        Ok(None)
    } else {
        s.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: vec![Listener {
                address: SocketAddr::from(([127, 0, 0, 1], 8080)),
                path: default_path(),
                advertise: None,
                tls: None,
                proxy_protocol: false,
                auth: true,
            }],
            core: None,
            sip: Sip::default(),
            runtime: Runtime::default(),
            limits: Limits::default(),
            registrar: Registrar::default(),
            admin: Admin::default(),
            web: Web::default(),
            auth: Auth::default(),
            log: Log::default(),
        }
    }
}

impl Default for Sip {
    fn default() -> Self {
        Self {
            domains: Vec::new(),
            node_id: 1,
            flow_token_secret: String::new(),
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
            allowed_origins: Vec::new(),
            handshakes_per_ip_per_second: 0,
            handshake_burst: 20,
            requests_per_second: 0,
            request_burst: 50,
            over_request_rate: OverRate::Reject,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for Registrar {
    fn default() -> Self {
        Self {
            default_expires: 600,
            min_expires: 60,
            max_expires: 3600,
        }
    }
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
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
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (with line and column).
        source: Box<toml::de::Error>,
    },
    /// Parsed, but inconsistent.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Parse a TOML document (keys not given take their defaults) and validate it.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.into(),
            source: Box::new(e),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read and parse a configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_toml(&text, &shown)
    }

    /// Check the rules that types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.listen.is_empty() {
            return bad("at least one [[listen]] entry is needed".into());
        }
        for (i, l) in self.listen.iter().enumerate() {
            if self.listen[..i].iter().any(|o| o.address == l.address) {
                // SO_REUSEPORT would let both bind and split the connections between them.
                return bad(format!("listen {} appears twice in [[listen]]", l.address));
            }
            if !l.path.starts_with('/') {
                return bad(format!("listen path {:?} must start with '/'", l.path));
            }
            if l.proxy_protocol && self.limits.trusted_proxies.is_empty() {
                return bad(format!(
                    "listen {}: proxy_protocol = true needs [limits] trusted_proxies, the addresses of the load \
                     balancers that send the PROXY protocol header (with none, no connection could use it)",
                    l.address
                ));
            }
            if let Some(tls) = &l.tls {
                // Loads and checks every certificate now, so that --check and a start fail on a bad one.
                crate::tls::acceptor(tls)
                    .map_err(|e| ConfigError::Invalid(format!("listen {} tls: {e}", l.address)))?;
            }
        }
        if let Some(core) = &self.core {
            let u = core.uri.to_ascii_lowercase();
            if !(u.starts_with("sip:") || u.starts_with("sips:")) {
                return bad(format!(
                    "core uri {:?} must be a sip: or sips: URI",
                    core.uri
                ));
            }
        }
        let l = &self.limits;
        if l.max_message_size < 1024 {
            return bad(format!(
                "limits.max_message_size = {} is below 1024 bytes",
                l.max_message_size
            ));
        }
        if l.max_frame_size == 0 {
            return bad("limits.max_frame_size must be > 0".into());
        }
        if l.handshake_timeout.is_zero() || l.ping_interval.is_zero() || l.idle_timeout.is_zero() {
            return bad(
                "limits.handshake_timeout, idle_timeout and ping_interval must be > 0".into(),
            );
        }
        let r = &self.registrar;
        if !(r.min_expires <= r.default_expires && r.default_expires <= r.max_expires) {
            return bad(format!(
                "registrar: need min_expires ({}) <= default_expires ({}) <= max_expires ({})",
                r.min_expires, r.default_expires, r.max_expires
            ));
        }
        if let Err(e) = crate::auth::Authenticator::new(&self.auth) {
            return bad(e);
        }
        if self.runtime.workers > 1024 {
            return bad(format!(
                "runtime.workers = {} is more than 1024",
                self.runtime.workers
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_default_is_the_builtin_default() {
        assert_eq!(
            Config::from_toml(DEFAULT_TOML, "default.toml").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn batch_wait_takes_microseconds_and_zero() {
        let c = Config::from_toml("[runtime]\nbatch_wait = \"250us\"", "t").unwrap();
        assert_eq!(c.runtime.batch_wait, Duration::from_micros(250));
        let c = Config::from_toml("[runtime]\nbatch_wait = \"0s\"", "t").unwrap();
        assert_eq!(c.runtime.batch_wait, Duration::ZERO);
        assert!(Config::from_toml("[runtime]\nbatch_wait = \"soon\"", "t").is_err());
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::from_toml("", "empty").unwrap(), Config::default());
    }

    #[test]
    fn partial_file_overrides_only_what_it_names() {
        let c = Config::from_toml(
            "[core]\nuri = \"sip:10.0.0.1;transport=udp\"\n[limits]\nping_interval = \"5s\"",
            "t",
        )
        .unwrap();
        assert_eq!(c.core.unwrap().uri, "sip:10.0.0.1;transport=udp");
        assert_eq!(c.limits.ping_interval, Duration::from_secs(5));
        assert_eq!(c.limits.max_message_size, 65536);
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let e = Config::from_toml("[limits]\nmax_mesage_size = 1", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_mesage_size"), "{e}");
    }

    #[test]
    fn inconsistent_values_are_refused() {
        for (doc, needle) in [
            ("listen = []", "listen"),
            ("[core]\nuri = \"http://x\"", "sip:"),
            ("[limits]\nmax_message_size = 10", "max_message_size"),
            ("[registrar]\nmin_expires = 900", "min_expires"),
            (
                "[[listen]]\naddress = \"127.0.0.1:1\"\npath = \"ws\"",
                "path",
            ),
            (
                "[[listen]]\naddress = \"127.0.0.1:1\"\n[[listen]]\naddress = \"127.0.0.1:1\"\npath = \"/b\"",
                "appears twice",
            ),
        ] {
            let e = Config::from_toml(doc, "t").unwrap_err().to_string();
            assert!(e.contains(needle), "{doc}: {e}");
        }
    }

    #[test]
    fn tls_listener_is_parsed_and_checked() {
        let doc = "[[listen]]\naddress = \"127.0.0.1:8443\"\ntls = { cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\", sni = [ { name = \"a.test\", cert = \"/nonexistent/a.pem\", key = \"/nonexistent/ak.pem\" } ] }";
        let e = Config::from_toml(doc, "t").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/c.pem"), "{e}");
        let e = Config::from_toml(
            "[[listen]]\naddress = \"127.0.0.1:8443\"\ntls = { cert = \"/x.pem\" }",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cert and key"), "{e}");
        let e = Config::from_toml(
            "[[listen]]\naddress = \"127.0.0.1:8443\"\ntls = { certs = \"/x.pem\" }",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("certs"), "{e}");
    }

    #[test]
    fn proxy_protocol_needs_trusted_proxies() {
        let listen = "[[listen]]\naddress = \"127.0.0.1:8080\"\nproxy_protocol = true\n";
        let e = Config::from_toml(listen, "t").unwrap_err().to_string();
        assert!(
            e.contains("proxy_protocol") && e.contains("trusted_proxies"),
            "{e}"
        );
        let c = Config::from_toml(
            &format!("{listen}[limits]\ntrusted_proxies = [\"10.0.0.9\"]\n"),
            "t",
        )
        .unwrap();
        assert!(c.listen[0].proxy_protocol);
        assert!(!Config::default().listen[0].proxy_protocol);
    }

    #[test]
    fn admin_can_be_disabled() {
        assert_eq!(
            Config::from_toml("[admin]\nlisten = \"\"", "t")
                .unwrap()
                .admin
                .listen,
            None
        );
    }
}
