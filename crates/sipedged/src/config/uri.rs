//! The core's SIP URI (`[core] uri`), parsed once: scheme (`sip:` or `sips:`), host, port and transport, the
//! port and transport left unset when the URI names none, as RFC 3263 resolution needs to know.

use std::net::IpAddr;

/// The transport toward the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoreTransport {
    /// UDP, one socket per worker.
    Udp,
    /// TCP, one connection per worker.
    Tcp,
    /// TLS over TCP (`sips:`, or `transport=tls`).
    Tls,
}

impl CoreTransport {
    /// The port a target listens on when nothing names one (RFC 3261 §19.1.2).
    pub fn default_port(self) -> u16 {
        match self {
            Self::Udp | Self::Tcp => 5060,
            Self::Tls => 5061,
        }
    }
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
    /// Its port; `None` when the URI names none (RFC 3263 then looks for SRV records).
    pub port: Option<u16>,
    /// The transport the URI names; `None` when it names none (RFC 3263 then looks for NAPTR records).
    pub transport: Option<CoreTransport>,
    /// The scheme is `sips:`: only TLS reaches the core.
    pub secure: bool,
}

/// Why a core URI cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Not a `sip:` or `sips:` URI.
    #[error("core uri {0:?} must be a sip: or sips: URI (sip:HOST[:PORT][;transport=udp|tcp|tls])")]
    Scheme(String),
    /// `sips:` over UDP: a `sips:` URI is reached over TLS only (RFC 3261 §26.2.2).
    #[error("core uri {0:?}: a sips: URI is reached over TLS, not transport=udp")]
    SecureUdp(String),
    /// A transport other than udp, tcp or tls.
    #[error("core uri {uri:?}: unsupported transport={transport} (udp, tcp or tls)")]
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
        let (secure, rest) = if lower.starts_with("sips:") {
            (true, &uri[5..])
        } else if lower.starts_with("sip:") {
            (false, &uri[4..])
        } else {
            return Err(UriError::Scheme(uri.into()));
        };
        let (hostport, params) = rest.split_once(';').unwrap_or((rest, ""));
        let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
        let mut transport = None;
        for p in params.split(';').map(str::to_ascii_lowercase) {
            transport = match p.strip_prefix("transport=") {
                Some("udp") if secure => return Err(UriError::SecureUdp(uri.into())),
                Some("udp") => Some(CoreTransport::Udp),
                // RFC 3261 §26.2.2: `sips:...;transport=tcp` is TLS over TCP.
                Some("tcp") if secure => Some(CoreTransport::Tls),
                Some("tcp") => Some(CoreTransport::Tcp),
                Some("tls") => Some(CoreTransport::Tls),
                Some(other) => {
                    return Err(UriError::Transport {
                        uri: uri.into(),
                        transport: other.into(),
                    });
                }
                None => transport,
            };
        }
        let (host, port) =
            split_host_port(hostport).ok_or_else(|| UriError::HostPort(uri.into()))?;
        let bracketed = hostport.starts_with('[');
        let host = match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) if bracketed => return Err(UriError::HostPort(uri.into())),
            Ok(ip) => Host::Ip(ip),
            Err(_) if !bracketed && is_host_name(host) => Host::Name(host.into()),
            Err(_) => return Err(UriError::HostPort(uri.into())),
        };
        Ok(Self {
            host,
            port,
            transport,
            secure,
        })
    }
}

/// `host[:port]` or `[v6][:port]`; the port `None` when absent, `None` overall when malformed.
fn split_host_port(hostport: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        if !after.is_empty() && !after.starts_with(':') {
            return None;
        }
        (host, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse().ok().filter(|&p| p != 0)?),
        None => None,
    };
    (!host.is_empty()).then_some((host, port))
}

fn is_host_name(host: &str) -> bool {
    host.split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl CoreUri {
    /// The transport when no DNS record chooses one: the URI's, else TLS for `sips:`, else UDP
    /// (RFC 3263 §4.1).
    pub fn transport_or_default(&self) -> CoreTransport {
        self.transport.unwrap_or(if self.secure {
            CoreTransport::Tls
        } else {
            CoreTransport::Udp
        })
    }

    /// The port when no SRV record names one: the URI's, else the default of
    /// [`CoreUri::transport_or_default`] (5061 for TLS, else 5060).
    pub fn port_or_default(&self) -> u16 {
        self.port
            .unwrap_or_else(|| self.transport_or_default().default_port())
    }

    /// The host when it is a name (not an IP literal).
    pub fn host_name(&self) -> Option<&str> {
        match &self.host {
            Host::Name(name) => Some(name),
            Host::Ip(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CoreTransport::{Tcp, Tls, Udp};

    fn parse(s: &str) -> Result<CoreUri, UriError> {
        s.parse()
    }

    #[test]
    fn hosts_ports_and_transports() {
        let u = parse("sip:127.0.0.1:5080;transport=tcp").unwrap();
        assert_eq!(
            (u.host, u.port, u.transport, u.secure),
            (
                Host::Ip([127, 0, 0, 1].into()),
                Some(5080),
                Some(Tcp),
                false
            )
        );
        let u = parse("SIP:core.example.net").unwrap();
        assert_eq!(
            (&u.host, u.port, u.transport),
            (&Host::Name("core.example.net".into()), None, None)
        );
        assert_eq!(u.host_name(), Some("core.example.net"));
        assert_eq!((u.transport_or_default(), u.port_or_default()), (Udp, 5060));
        let u = parse("sip:[::1]:5062;lr;transport=UDP").unwrap();
        assert_eq!(
            (u.host, u.port, u.transport),
            (Host::Ip("::1".parse().unwrap()), Some(5062), Some(Udp))
        );
        let u = parse("sip:[::1]").unwrap();
        assert_eq!(
            (u.port, u.port_or_default(), u.host_name()),
            (None, 5060, None)
        );
        assert_eq!(
            parse("sip:proxy@10.0.0.1").unwrap().host,
            Host::Ip([10, 0, 0, 1].into())
        );
    }

    #[test]
    fn tls_from_the_scheme_or_the_transport() {
        let u = parse("sips:core.example.net").unwrap();
        assert!(u.secure);
        assert_eq!(u.transport, None);
        assert_eq!((u.transport_or_default(), u.port_or_default()), (Tls, 5061));
        let u = parse("sip:core.example.net;transport=TLS").unwrap();
        assert!(!u.secure);
        assert_eq!((u.transport, u.port_or_default()), (Some(Tls), 5061));
        // RFC 3261 §26.2.2: sips: with transport=tcp is TLS over TCP.
        let u = parse("SIPS:[::1]:5070;transport=tcp").unwrap();
        assert_eq!(
            (u.host, u.port, u.transport, u.secure),
            (
                Host::Ip("::1".parse().unwrap()),
                Some(5070),
                Some(Tls),
                true
            )
        );
        // The last transport= wins, and an explicit port beats the TLS default.
        let u = parse("sip:c.example;transport=tls;transport=tcp").unwrap();
        assert_eq!(u.transport_or_default(), Tcp);
        assert_eq!(
            parse("sips:c.example:6000").unwrap().port_or_default(),
            6000
        );
    }

    #[test]
    fn refusals_name_the_rule() {
        assert!(matches!(parse("http://x"), Err(UriError::Scheme(_))));
        assert!(matches!(parse("sipx:host"), Err(UriError::Scheme(_))));
        assert!(matches!(
            parse("sips:core;transport=udp"),
            Err(UriError::SecureUdp(_))
        ));
        assert!(matches!(
            parse("sip:core;transport=sctp"),
            Err(UriError::Transport { .. })
        ));
        for bad in [
            "sip:",
            "sips:",
            "sip:host:99999",
            "sip:host:0",
            "sip:host:",
            "sip:ho st",
            "sip:[::1",
            "sip:[::1]5070",
            "sip:[nonsense]",
            "sip:[127.0.0.1]",
            "sip:a..b",
        ] {
            assert!(matches!(parse(bad), Err(UriError::HostPort(_))), "{bad}");
        }
    }
}
