//! Server side of the opening handshake (RFC 6455 §4.2).

use std::io::Write as _;

use super::accept::{accept_key, is_valid_key};
use super::error::HandshakeError;
use super::http::{self, DEFAULT_MAX_HEAD};
use crate::deflate::{DeflateConfig, DeflateParams};

/// What the server offers in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Subprotocols this server speaks, most preferred first (sipedge: `["sip"]`).
    pub subprotocols: Vec<String>,
    /// Largest request head accepted (431 beyond it).
    pub max_request_size: usize,
    /// permessage-deflate (RFC 7692): accepted under this policy when offered; `None` declines it.
    pub deflate: Option<DeflateConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            subprotocols: Vec::new(),
            max_request_size: DEFAULT_MAX_HEAD,
            deflate: None,
        }
    }
}

/// A valid opening handshake request: what a policy needs to decide, and the negotiated subprotocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request-target (path and query).
    pub path: String,
    /// The `Host` header.
    pub host: String,
    /// The `Origin` header (browsers always send it, §10.2).
    pub origin: Option<String>,
    /// The `Cookie` header.
    pub cookie: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `X-Forwarded-For` header (from a proxy in front of us).
    pub x_forwarded_for: Option<String>,
    /// Subprotocols the client offered, in its order.
    pub offered_subprotocols: Vec<String>,
    /// The subprotocol chosen: the first of the server's list that the client offered.
    pub subprotocol: Option<String>,
    /// permessage-deflate as agreed (the answer names it), if it was offered and the server accepts it.
    pub deflate: Option<DeflateParams>,
    /// The `Sec-WebSocket-Accept` value for the answer.
    pub accept: String,
    /// Bytes the client sent after the request head (already frames).
    pub leftover: Vec<u8>,
}

impl Request {
    /// Append the `101 Switching Protocols` answer. Extensions other than an agreed permessage-deflate are
    /// declined by not naming them (§9.1).
    pub fn write_accept(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        );
        // Writing into a Vec cannot fail.
        let _ = write!(out, "Sec-WebSocket-Accept: {}\r\n", self.accept);
        if let Some(protocol) = &self.subprotocol {
            let _ = write!(out, "Sec-WebSocket-Protocol: {protocol}\r\n");
        }
        if let Some(deflate) = &self.deflate {
            let _ = write!(
                out,
                "Sec-WebSocket-Extensions: {}\r\n",
                deflate.header_value()
            );
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Collects a handshake request as its bytes arrive and validates it once complete.
#[derive(Debug, Clone)]
pub struct ServerHandshake {
    config: ServerConfig,
    buf: Vec<u8>,
}

impl ServerHandshake {
    /// A handshake waiting for its first byte.
    pub fn new(config: ServerConfig) -> Self {
        Self {
            config,
            buf: Vec::new(),
        }
    }

    /// Feed received bytes: `Ok(None)` until the request head is complete, then the request.
    ///
    /// On `Err`, answer with [`HandshakeError::write_response`] and close the connection.
    ///
    /// ```
    /// use wsproto::{ServerConfig, ServerHandshake};
    /// let mut hs = ServerHandshake::new(ServerConfig { subprotocols: vec!["sip".into()], ..Default::default() });
    /// let req = b"GET /ws HTTP/1.1\r\nHost: edge.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    ///             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
    ///             Sec-WebSocket-Protocol: sip\r\n\r\n";
    /// assert_eq!(hs.feed(&req[..30]), Ok(None));
    /// let request = hs.feed(&req[30..]).unwrap().unwrap();
    /// assert_eq!(request.subprotocol.as_deref(), Some("sip"));
    /// assert_eq!(request.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /// ```
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<Request>, HandshakeError> {
        let max = self.config.max_request_size;
        let Some(end) = http::append_find_end(&mut self.buf, bytes) else {
            if self.buf.len() > max {
                return Err(HandshakeError::RequestTooLarge(max));
            }
            return Ok(None);
        };
        if end > max {
            return Err(HandshakeError::RequestTooLarge(max));
        }
        let (head, leftover) = self.buf.split_at(end);
        let mut request = parse(head, &self.config)?;
        request.leftover = leftover.to_vec();
        self.buf = Vec::new();
        Ok(Some(request))
    }
}

fn parse(head: &[u8], config: &ServerConfig) -> Result<Request, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; http::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(HandshakeError::Malformed("incomplete head")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HandshakeError::RequestTooLarge(head.len()));
        }
        Err(_) => return Err(HandshakeError::Malformed("invalid request head")),
    }
    if req.method != Some("GET") {
        return Err(HandshakeError::MethodNotGet);
    }
    if req.version != Some(1) {
        return Err(HandshakeError::HttpVersion);
    }
    let headers = req.headers;
    let host = match http::single(headers, "Host") {
        Ok(Some(host)) if !host.is_empty() => http::text(host),
        _ => return Err(HandshakeError::MissingHost),
    };
    if !http::any_has_token(headers, "Upgrade", "websocket") {
        return Err(HandshakeError::NotWebSocketUpgrade);
    }
    if !http::any_has_token(headers, "Connection", "upgrade") {
        return Err(HandshakeError::ConnectionNotUpgrade);
    }
    match http::single(headers, "Sec-WebSocket-Version") {
        Ok(Some(v)) if v.trim_ascii() == b"13" => {}
        _ => return Err(HandshakeError::UnsupportedVersion),
    }
    let key = match http::single(headers, "Sec-WebSocket-Key") {
        Ok(Some(key)) if is_valid_key(key.trim_ascii()) => key.trim_ascii(),
        _ => return Err(HandshakeError::InvalidKey),
    };
    let optional = |name| {
        http::single(headers, name)
            .map(|v| v.map(http::text))
            .map_err(|()| HandshakeError::Malformed("repeated header"))
    };
    let offered = http::tokens(headers, "Sec-WebSocket-Protocol");
    let subprotocol = config
        .subprotocols
        .iter()
        .find(|s| offered.contains(s))
        .cloned();
    let deflate = config.deflate.as_ref().and_then(|policy| {
        let values: Vec<&str> = headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .collect();
        crate::deflate::choose(&values, policy)
    });
    Ok(Request {
        path: req.path.unwrap_or("/").to_owned(),
        host,
        origin: optional("Origin")?,
        cookie: optional("Cookie")?,
        authorization: optional("Authorization")?,
        x_forwarded_for: optional("X-Forwarded-For")?,
        offered_subprotocols: offered,
        subprotocol,
        deflate,
        accept: accept_key(key),
        leftover: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "GET /ws?x=1 HTTP/1.1\r\nHost: edge.example:443\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nOrigin: https://app.example\r\nCookie: s=1\r\n\
        Authorization: Bearer t\r\nX-Forwarded-For: 192.0.2.7\r\n\
        Sec-WebSocket-Protocol: chat, sip\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

    fn sip_server() -> ServerHandshake {
        ServerHandshake::new(ServerConfig {
            subprotocols: vec!["sip".into()],
            ..ServerConfig::default()
        })
    }

    fn status_of(request: &str) -> u16 {
        match sip_server().feed(request.as_bytes()) {
            Err(e) => e.status(),
            Ok(r) => panic!("accepted: {r:?}"),
        }
    }

    #[test]
    fn hands_policy_fields_to_the_caller() {
        let r = sip_server()
            .feed(GOOD.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(r.path, "/ws?x=1");
        assert_eq!(r.host, "edge.example:443");
        assert_eq!(r.origin.as_deref(), Some("https://app.example"));
        assert_eq!(r.cookie.as_deref(), Some("s=1"));
        assert_eq!(r.authorization.as_deref(), Some("Bearer t"));
        assert_eq!(r.x_forwarded_for.as_deref(), Some("192.0.2.7"));
        assert_eq!(r.offered_subprotocols, ["chat", "sip"]);
        assert_eq!(r.subprotocol.as_deref(), Some("sip"));
    }

    #[test]
    fn answer_declines_extensions_and_names_subprotocol() {
        let r = sip_server()
            .feed(GOOD.as_bytes())
            .expect("valid")
            .expect("complete");
        let mut out = Vec::new();
        r.write_accept(&mut out);
        let text = String::from_utf8(out).expect("ascii");
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: sip\r\n"));
        assert!(!text.contains("Extensions"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn no_subprotocol_when_none_matches() {
        let req = GOOD.replace("chat, sip", "chat");
        let r = sip_server()
            .feed(req.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(r.subprotocol, None);
        let mut out = Vec::new();
        r.write_accept(&mut out);
        assert!(!String::from_utf8_lossy(&out).contains("Sec-WebSocket-Protocol"));
    }

    #[test]
    fn byte_by_byte_arrival_and_leftover_frames() {
        let mut hs = sip_server();
        let mut wire = GOOD.as_bytes().to_vec();
        wire.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
        let mut done = None;
        for (i, b) in wire.iter().enumerate() {
            if let Some(r) = hs.feed(std::slice::from_ref(b)).expect("valid") {
                done = Some((i, r));
                break;
            }
        }
        let (at, r) = done.expect("completes");
        assert_eq!(at, GOOD.len() - 1);
        assert!(r.leftover.is_empty());
        let r2 = sip_server().feed(&wire).expect("valid").expect("complete");
        assert_eq!(r2.leftover, [0x81, 0x80, 1, 2, 3, 4]);
    }

    #[test]
    fn wrong_version_is_426() {
        assert_eq!(status_of(&GOOD.replace("Version: 13", "Version: 8")), 426);
        assert_eq!(
            status_of(&GOOD.replace("Sec-WebSocket-Version: 13\r\n", "")),
            426
        );
    }

    #[test]
    fn bad_requests_are_400() {
        let edits = [
            ("HTTP/1.1", "HTTP/1.0"),
            ("Host: edge.example:443\r\n", ""),
            ("Upgrade: websocket", "Upgrade: h2c"),
            ("keep-alive, Upgrade", "keep-alive"),
            ("dGhlIHNhbXBsZSBub25jZQ==", "short"),
            ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
        ];
        for (from, to) in edits {
            assert!(GOOD.contains(from), "{from:?}");
            assert_eq!(
                status_of(&GOOD.replace(from, to)),
                400,
                "{from:?} -> {to:?}"
            );
        }
        assert_eq!(status_of("GET / HTTP/1.1\r\nHo st: x\r\n\r\n"), 400);
    }

    #[test]
    fn non_get_is_405() {
        assert_eq!(status_of(&GOOD.replace("GET", "POST")), 405);
    }

    #[test]
    fn oversized_head_is_431_even_before_it_ends() {
        let mut hs = ServerHandshake::new(ServerConfig {
            max_request_size: 64,
            ..ServerConfig::default()
        });
        assert_eq!(hs.feed(&[b'a'; 40]), Ok(None));
        assert_eq!(hs.feed(&[b'a'; 40]).map_err(|e| e.status()), Err(431));
    }

    #[test]
    fn forbidden_is_403() {
        assert_eq!(HandshakeError::Forbidden.status(), 403);
    }
}
