//! Client side of the opening handshake (RFC 6455 §4.1).

use std::io::Write as _;

use super::accept::{accept_key, encode_key};
use super::http::{self, DEFAULT_MAX_HEAD};
use crate::deflate::{DeflateConfig, DeflateParams, ResponseError};

/// Why the server's answer does not complete the handshake (§4.1, "the client MUST _Fail_").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientHandshakeError {
    /// The answer head is larger than the cap.
    #[error("handshake response larger than {0} bytes")]
    ResponseTooLarge(usize),
    /// Not valid HTTP/1.1.
    #[error("malformed HTTP response")]
    Malformed,
    /// §4.1: anything but 101 means the server refused.
    #[error("server answered {0} instead of 101 (RFC 6455 §4.1)")]
    NotSwitchingProtocols(u16),
    /// §4.1: `Upgrade: websocket` is required.
    #[error("response lacks `Upgrade: websocket` (RFC 6455 §4.1)")]
    NotWebSocketUpgrade,
    /// §4.1: `Connection: Upgrade` is required.
    #[error("response `Connection` lacks `Upgrade` (RFC 6455 §4.1)")]
    ConnectionNotUpgrade,
    /// §4.1: `Sec-WebSocket-Accept` must match our key.
    #[error("Sec-WebSocket-Accept does not match the key (RFC 6455 §4.1)")]
    AcceptMismatch,
    /// §4.1: the server chose a subprotocol we did not offer.
    #[error("server chose subprotocol {0:?}, which was not offered (RFC 6455 §4.1)")]
    SubprotocolNotOffered(String),
    /// §4.1: the server named an extension we did not offer.
    #[error("server named an extension that was not offered (RFC 6455 §4.1)")]
    ExtensionNotOffered,
    /// RFC 7692 §7.1: the server's permessage-deflate answer does not fit the offer.
    #[error(transparent)]
    Deflate(#[from] ResponseError),
}

/// The server's accepted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The subprotocol the server chose, one of ours.
    pub subprotocol: Option<String>,
    /// permessage-deflate as the server accepted it (only if offered).
    pub deflate: Option<DeflateParams>,
    /// Bytes after the response head (already frames).
    pub leftover: Vec<u8>,
}

/// Builds the Upgrade request and checks the answer.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    key: String,
    subprotocols: Vec<String>,
    deflate: Option<DeflateConfig>,
    buf: Vec<u8>,
}

impl ClientHandshake {
    /// A handshake with `nonce` (16 bytes from a strong random source, §4.1) offering `subprotocols`.
    pub fn new(nonce: [u8; 16], subprotocols: &[&str]) -> Self {
        Self {
            key: encode_key(nonce),
            subprotocols: subprotocols.iter().map(|s| (*s).to_owned()).collect(),
            deflate: None,
            buf: Vec::new(),
        }
    }

    /// Offers permessage-deflate (RFC 7692) under `config` as well.
    pub fn offer_deflate(mut self, config: DeflateConfig) -> Self {
        self.deflate = Some(config);
        self
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Append the GET Upgrade request for `host` and `path` (and `origin`, as a browser would).
    pub fn write_request(&self, host: &str, path: &str, origin: Option<&str>, out: &mut Vec<u8>) {
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n",
            self.key
        );
        if let Some(origin) = origin {
            let _ = write!(out, "Origin: {origin}\r\n");
        }
        if !self.subprotocols.is_empty() {
            let _ = write!(
                out,
                "Sec-WebSocket-Protocol: {}\r\n",
                self.subprotocols.join(", ")
            );
        }
        if let Some(deflate) = &self.deflate {
            let _ = write!(out, "Sec-WebSocket-Extensions: {}\r\n", deflate.offer());
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Feed the server's bytes: `Ok(None)` until the head is complete, then the verified answer.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<Response>, ClientHandshakeError> {
        let Some(end) = http::append_find_end(&mut self.buf, bytes) else {
            if self.buf.len() > DEFAULT_MAX_HEAD {
                return Err(ClientHandshakeError::ResponseTooLarge(DEFAULT_MAX_HEAD));
            }
            return Ok(None);
        };
        if end > DEFAULT_MAX_HEAD {
            return Err(ClientHandshakeError::ResponseTooLarge(DEFAULT_MAX_HEAD));
        }
        let (head, leftover) = self.buf.split_at(end);
        let (subprotocol, deflate) = self.verify(head)?;
        let response = Response {
            subprotocol,
            deflate,
            leftover: leftover.to_vec(),
        };
        self.buf = Vec::new();
        Ok(Some(response))
    }

    fn verify(&self, head: &[u8]) -> Result<Answer, ClientHandshakeError> {
        let mut headers = [httparse::EMPTY_HEADER; http::MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(ClientHandshakeError::Malformed),
        }
        match resp.code {
            Some(101) => {}
            Some(code) => return Err(ClientHandshakeError::NotSwitchingProtocols(code)),
            None => return Err(ClientHandshakeError::Malformed),
        }
        let headers = resp.headers;
        if !http::any_has_token(headers, "Upgrade", "websocket") {
            return Err(ClientHandshakeError::NotWebSocketUpgrade);
        }
        if !http::any_has_token(headers, "Connection", "upgrade") {
            return Err(ClientHandshakeError::ConnectionNotUpgrade);
        }
        let expected = accept_key(self.key.as_bytes());
        match http::single(headers, "Sec-WebSocket-Accept") {
            Ok(Some(v)) if v.trim_ascii() == expected.as_bytes() => {}
            _ => return Err(ClientHandshakeError::AcceptMismatch),
        }
        let extensions: Vec<&str> = headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
            .map(|h| std::str::from_utf8(h.value).unwrap_or("\u{fffd}"))
            .filter(|v| !v.trim().is_empty())
            .collect();
        let deflate = match (&self.deflate, extensions.is_empty()) {
            (_, true) => None,
            (None, false) => return Err(ClientHandshakeError::ExtensionNotOffered),
            (Some(offer), false) => crate::deflate::read_response(&extensions, offer)?,
        };
        let chosen = http::tokens(headers, "Sec-WebSocket-Protocol");
        match chosen.as_slice() {
            [] => Ok((None, deflate)),
            [one] if self.subprotocols.contains(one) => Ok((Some(one.clone()), deflate)),
            _ => Err(ClientHandshakeError::SubprotocolNotOffered(
                chosen.join(", "),
            )),
        }
    }
}

/// What a verified answer settled: the subprotocol and permessage-deflate.
type Answer = (Option<String>, Option<DeflateParams>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{ServerConfig, ServerHandshake};

    const NONCE: [u8; 16] = *b"the sample nonce";

    fn answer(accept: &str, extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
        )
    }

    #[test]
    fn request_uses_rfc_sample_key() {
        let hs = ClientHandshake::new(NONCE, &["sip"]);
        assert_eq!(hs.key(), "dGhlIHNhbXBsZSBub25jZQ==");
        let mut out = Vec::new();
        hs.write_request("edge.example", "/ws", Some("https://app.example"), &mut out);
        let text = String::from_utf8(out).expect("ascii");
        assert!(text.starts_with("GET /ws HTTP/1.1\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: sip\r\n"));
        assert!(text.contains("Origin: https://app.example\r\n"));
    }

    #[test]
    fn round_trip_with_server_role() {
        let client = ClientHandshake::new([42; 16], &["chat", "sip"]);
        let mut req = Vec::new();
        client.write_request("h", "/", None, &mut req);
        let mut server = ServerHandshake::new(ServerConfig {
            subprotocols: vec!["sip".into()],
            ..ServerConfig::default()
        });
        let request = server.feed(&req).expect("valid").expect("complete");
        let mut resp = Vec::new();
        request.write_accept(&mut resp);
        resp.extend_from_slice(&[0x81, 0x00]);
        let mut client = client;
        let (a, b) = resp.split_at(10);
        assert_eq!(client.feed(a), Ok(None));
        let got = client.feed(b).expect("valid").expect("complete");
        assert_eq!(got.subprotocol.as_deref(), Some("sip"));
        assert_eq!(got.leftover, [0x81, 0x00]);
    }

    #[test]
    fn wrong_accept_is_rejected() {
        let mut hs = ClientHandshake::new(NONCE, &[]);
        let resp = answer("AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "");
        assert_eq!(
            hs.feed(resp.as_bytes()),
            Err(ClientHandshakeError::AcceptMismatch)
        );
    }

    #[test]
    fn refusal_status_is_reported() {
        let mut hs = ClientHandshake::new(NONCE, &[]);
        let resp = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            hs.feed(resp.as_bytes()),
            Err(ClientHandshakeError::NotSwitchingProtocols(403))
        );
    }

    #[test]
    fn unoffered_subprotocol_and_extension_are_rejected() {
        let good = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        let mut hs = ClientHandshake::new(NONCE, &["sip"]);
        assert_eq!(
            hs.feed(answer(good, "Sec-WebSocket-Protocol: chat\r\n").as_bytes()),
            Err(ClientHandshakeError::SubprotocolNotOffered("chat".into()))
        );
        let mut hs = ClientHandshake::new(NONCE, &["sip"]);
        assert_eq!(
            hs.feed(answer(good, "Sec-WebSocket-Extensions: permessage-deflate\r\n").as_bytes()),
            Err(ClientHandshakeError::ExtensionNotOffered)
        );
        let mut hs = ClientHandshake::new(NONCE, &["sip"]);
        let ok = hs
            .feed(answer(good, "").as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(ok.subprotocol, None);
    }
}
