//! Via values (RFC 3261 §20.42, RFC 3581 rport).

use super::params::{self, Params};
use super::uri::{Host, hostport};
use crate::ViewError;
use crate::lex;

/// `sent-protocol LWS sent-by *( SEMI via-params )`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// protocol-name, normally `SIP`.
    pub protocol: &'a [u8],
    /// protocol-version, normally `2.0`.
    pub version: &'a [u8],
    /// transport: UDP, TCP, TLS, SCTP, WS, WSS or other.
    pub transport: &'a [u8],
    /// sent-by host.
    pub host: Host<'a>,
    /// sent-by port.
    pub port: Option<u16>,
    /// via-params.
    pub params: Params<'a>,
}

/// Parse one (trimmed) Via element.
pub fn parse_via(s: &[u8]) -> Result<Via<'_>, ViewError> {
    if s.is_empty() {
        return Err(ViewError::Empty);
    }
    let mut parts = [&s[..0]; 3];
    let mut i = 0;
    for (n, part) in parts.iter_mut().enumerate() {
        if n > 0 {
            i = lex::skip_lws(s, i);
            if s.get(i) != Some(&b'/') {
                return Err(ViewError::SentProtocol);
            }
            i = lex::skip_lws(s, i + 1);
        }
        let e = lex::token_end(s, i);
        if e == i {
            return Err(ViewError::SentProtocol);
        }
        *part = &s[i..e];
        i = e;
    }
    let j = lex::skip_lws(s, i);
    if j == i {
        return Err(ViewError::SentProtocol);
    }
    let (host, port, e) = hostport(s, j)?;
    let ps = lex::skip_lws(s, e);
    let end = params::scan(s, ps)?;
    if end != s.len() {
        return Err(ViewError::Trailing);
    }
    Ok(Via {
        protocol: parts[0],
        version: parts[1],
        transport: parts[2],
        host,
        port,
        params: Params::new(lex::trim(&s[ps..end])),
    })
}

impl<'a> Via<'a> {
    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'a [u8]> {
        self.params.get("branch").flatten()
    }
    /// The `received` parameter.
    pub fn received(&self) -> Option<&'a [u8]> {
        self.params.get("received").flatten()
    }
    /// `rport`: `Some(None)` when present without a value (RFC 3581 §3).
    pub fn rport(&self) -> Option<Option<&'a [u8]>> {
        self.params.get("rport")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_lws_and_params() {
        let v =
            parse_via(b"SIP / 2.0 / WS df7jal23ls0d.invalid:443 ;branch=z9hG4bK1;rport").unwrap();
        assert_eq!(v.transport, b"WS");
        assert_eq!(v.host, Host::Name(b"df7jal23ls0d.invalid"));
        assert_eq!(v.port, Some(443));
        assert_eq!(v.branch(), Some(&b"z9hG4bK1"[..]));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(parse_via(b"SIP/2.0/UDP"), Err(ViewError::SentProtocol));
        assert_eq!(parse_via(b"SIP/2.0/UDP h;;"), Err(ViewError::Param));
        assert_eq!(parse_via(b"SIP/2.0/UDP h x"), Err(ViewError::Trailing));
        let v6 = parse_via(b"SIP/2.0/TCP [::1]:5060;received=::1").unwrap();
        assert_eq!(v6.host, Host::Ipv6(b"::1"));
        assert_eq!(v6.received(), Some(&b"::1"[..]));
    }
}
