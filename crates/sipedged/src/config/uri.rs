//! The core's SIP URI (`[core] uri`), parsed once: scheme, host, port and transport.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// The transport toward the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreTransport {
    /// UDP, one socket per worker.
    Udp,
    /// TCP, one connection per worker.
    Tcp,
}

/// The host part of the URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IP literal.
    Ip(IpAddr),
    /// A name, resolved at start (and again on SIGHUP).
    Name(String),
}

/// A parsed `[core] uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreUri {
    /// Where the core is.
    pub host: Host,
    /// Its port (5060 when the URI names none).
    pub port: u16,
    /// How it is reached.
    pub transport: CoreTransport,
}

/// Why a core URI cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Not a `sip:` URI.
    #[error("core uri {0:?} must be a sip: URI (sip:HOST[:PORT][;transport=udp|tcp])")]
    Scheme(String),
    /// `sips:` or `transport=tls`: TLS toward the core.
    #[error(
        "core uri {0:?}: TLS toward the core (sips: or transport=tls) is not supported; use udp or tcp"
    )]
    Tls(String),
    /// A transport other than udp or tcp.
    #[error("core uri {uri:?}: unsupported transport={transport} (udp or tcp)")]
    Transport {
        /// The URI.
        uri: String,
        /// The transport it names.
        transport: String,
    },
    /// The host or port does not parse.
    #[error("core uri {0:?}: bad host or port")]
    HostPort(String),
}

impl std::str::FromStr for CoreUri {
    type Err = UriError;

    fn from_str(uri: &str) -> Result<Self, UriError> {
        let uri = uri.trim();
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("sips:") {
            return Err(UriError::Tls(uri.into()));
        }
        let rest = lower
            .strip_prefix("sip:")
            .map(|_| &uri[4..])
            .ok_or_else(|| UriError::Scheme(uri.into()))?;
        let (hostport, params) = rest.split_once(';').unwrap_or((rest, ""));
        let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
        let mut transport = CoreTransport::Udp;
        for p in params.split(';').map(str::to_ascii_lowercase) {
            match p.strip_prefix("transport=") {
                Some("udp") => transport = CoreTransport::Udp,
                Some("tcp") => transport = CoreTransport::Tcp,
                Some("tls") => return Err(UriError::Tls(uri.into())),
                Some(other) => {
                    return Err(UriError::Transport {
                        uri: uri.into(),
                        transport: other.into(),
                    });
                }
                None => {}
            }
        }
        let (host, port) =
            split_host_port(hostport).ok_or_else(|| UriError::HostPort(uri.into()))?;
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) if is_host_name(host) => Host::Name(host.into()),
            Err(_) => return Err(UriError::HostPort(uri.into())),
        };
        Ok(Self {
            host,
            port,
            transport,
        })
    }
}

/// `host[:port]` or `[v6][:port]`, the port 5060 when absent.
fn split_host_port(hostport: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok().filter(|&p| p != 0)?,
        None => 5060,
    };
    (!host.is_empty()).then_some((host, port))
}

fn is_host_name(host: &str) -> bool {
    host.split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl CoreUri {
    /// The core's socket address now (a name is looked up with the system resolver).
    pub fn resolve(&self) -> std::io::Result<SocketAddr> {
        match &self.host {
            Host::Ip(ip) => Ok(SocketAddr::new(*ip, self.port)),
            Host::Name(name) => (name.as_str(), self.port)
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{name} has no address"),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<CoreUri, UriError> {
        s.parse()
    }

    #[test]
    fn hosts_ports_and_transports() {
        let u = parse("sip:127.0.0.1:5080;transport=tcp").unwrap();
        assert_eq!(
            (u.host, u.port, u.transport),
            (Host::Ip([127, 0, 0, 1].into()), 5080, CoreTransport::Tcp)
        );
        let u = parse("SIP:core.example.net").unwrap();
        assert_eq!(
            (u.host, u.port, u.transport),
            (
                Host::Name("core.example.net".into()),
                5060,
                CoreTransport::Udp
            )
        );
        let u = parse("sip:[::1]:5062;lr;transport=UDP").unwrap();
        assert_eq!((u.host, u.port), (Host::Ip("::1".parse().unwrap()), 5062));
        assert_eq!(parse("sip:[::1]").unwrap().port, 5060);
        assert_eq!(
            parse("sip:proxy@10.0.0.1").unwrap().host,
            Host::Ip([10, 0, 0, 1].into())
        );
    }

    #[test]
    fn refusals_name_the_rule() {
        assert!(matches!(parse("http://x"), Err(UriError::Scheme(_))));
        assert!(matches!(
            parse("sips:core.example.net"),
            Err(UriError::Tls(_))
        ));
        assert!(matches!(
            parse("sip:core;transport=tls"),
            Err(UriError::Tls(_))
        ));
        assert!(matches!(
            parse("sip:core;transport=sctp"),
            Err(UriError::Transport { .. })
        ));
        for bad in [
            "sip:",
            "sip:host:99999",
            "sip:host:0",
            "sip:ho st",
            "sip:[::1",
            "sip:a..b",
        ] {
            assert!(matches!(parse(bad), Err(UriError::HostPort(_))), "{bad}");
        }
    }

    #[test]
    fn ip_literals_resolve_without_a_lookup() {
        let u = parse("sip:127.0.0.1:5070").unwrap();
        assert_eq!(u.resolve().unwrap(), "127.0.0.1:5070".parse().unwrap());
    }
}
