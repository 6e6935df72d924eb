//! `[core]`: the SIP core behind the edge, as written in the file (see [`super::plan`] for the checked form).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The SIP core behind the edge.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Core {
    /// A SIP URI such as `sip:core.example.net:5060;transport=udp`, or several in order of preference. A name is
    /// resolved as RFC 3263 says (NAPTR, SRV, A/AAAA) and may give several targets.
    pub uri: Uris,
    /// Where the edge's sockets toward the core are bound: worker `w` binds port `port + w`, so that answers
    /// and requests routed by our Path / Record-Route reach the worker that owns the flow.
    #[serde(default = "default_core_local")]
    pub local_address: SocketAddr,
    /// `host` written in our Via / Path / Record-Route toward the core (default: the local address's IP).
    #[serde(default)]
    pub advertise_host: Option<String>,
    /// RFC 3261's T1 toward a UDP core: a request unanswered after T1 is sent again (doubling, to T2 = 4 s for
    /// non-INVITE requests), and given up after 64 × T1 with 408 to the browser.
    #[serde(default = "default_t1", with = "humantime_serde")]
    pub t1: Duration,
    /// UDP: the receive buffer each worker asks for on its socket toward the core, bytes (datagrams that arrive
    /// while it is full are dropped, and cost a retransmission).
    #[serde(default = "default_udp_receive_buffer")]
    pub udp_receive_buffer: u32,
    /// Name servers for the core's name (`ip:port`); empty: the system's (/etc/resolv.conf).
    #[serde(default)]
    pub name_servers: Vec<SocketAddr>,
    /// Whether targets are probed with SIP OPTIONS (off: every target counts as up).
    #[serde(default = "default_probes")]
    pub probes: bool,
    /// Time between probes of each target.
    #[serde(default = "default_probe_interval", with = "humantime_serde")]
    pub probe_interval: Duration,
    /// A probe unanswered this long failed (shorter than `probe_interval`).
    #[serde(default = "default_probe_timeout", with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// Failed probes in a row that mark a target down.
    #[serde(default = "default_down_after")]
    pub down_after: u32,
    /// Good probes in a row that mark a down target up again.
    #[serde(default = "default_up_after")]
    pub up_after: u32,
    /// TLS toward the core (`sips:` or `transport=tls`).
    #[serde(default)]
    pub tls: Option<CoreTls>,
}

/// One core URI or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Uris {
    /// One URI.
    One(String),
    /// Several, most preferred first.
    Many(Vec<String>),
}

impl Uris {
    /// The URIs, most preferred first.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Self::One(u) => std::slice::from_ref(u),
            Self::Many(v) => v,
        }
    }
}

/// `[core.tls]`: how the core's certificates are checked and how the edge proves itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreTls {
    /// PEM bundle of the certificate authorities the core's certificate must chain to (default: the system's).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// The edge's client certificate chain (PEM) for mutual TLS, with `key`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// The name every target's certificate must carry (default: the name it was resolved from, else its IP).
    #[serde(default)]
    pub server_name: Option<String>,
}

fn default_udp_receive_buffer() -> u32 {
    4 << 20
}

fn default_t1() -> Duration {
    Duration::from_millis(500)
}

fn default_core_local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5070))
}

fn default_probes() -> bool {
    true
}

fn default_probe_interval() -> Duration {
    Duration::from_secs(5)
}

fn default_probe_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_down_after() -> u32 {
    1
}

fn default_up_after() -> u32 {
    2
}

impl Core {
    /// The core at `uri`, everything else as the defaults say.
    pub fn new(uri: String) -> Self {
        Self {
            uri: Uris::One(uri),
            local_address: default_core_local(),
            advertise_host: None,
            t1: default_t1(),
            udp_receive_buffer: default_udp_receive_buffer(),
            name_servers: Vec::new(),
            probes: default_probes(),
            probe_interval: default_probe_interval(),
            probe_timeout: default_probe_timeout(),
            down_after: default_down_after(),
            up_after: default_up_after(),
            tls: None,
        }
    }
}
