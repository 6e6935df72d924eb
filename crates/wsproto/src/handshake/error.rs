//! Why a server refuses an opening handshake, and the HTTP answer that says so (RFC 6455 §4.2.1, §4.4).

use std::io::Write as _;

/// A refused handshake request; [`status`](Self::status) is the HTTP status to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The request head is larger than the configured cap.
    #[error("handshake request larger than {0} bytes")]
    RequestTooLarge(usize),
    /// The request is not valid HTTP/1.1.
    #[error("malformed HTTP request: {0}")]
    Malformed(&'static str),
    /// §4.1: the method must be GET.
    #[error("method is not GET (RFC 6455 §4.1)")]
    MethodNotGet,
    /// §4.1: HTTP/1.1 or higher.
    #[error("HTTP version below 1.1 (RFC 6455 §4.1)")]
    HttpVersion,
    /// §4.1: a Host header is required (exactly one).
    #[error("missing or repeated Host header (RFC 6455 §4.1)")]
    MissingHost,
    /// §4.1: `Upgrade: websocket` is required.
    #[error("no `Upgrade: websocket` header (RFC 6455 §4.1)")]
    NotWebSocketUpgrade,
    /// §4.1: `Connection` must include the `Upgrade` token.
    #[error("`Connection` header lacks `Upgrade` (RFC 6455 §4.1)")]
    ConnectionNotUpgrade,
    /// §4.4: only version 13 is spoken; answered with 426 and `Sec-WebSocket-Version: 13`.
    #[error("Sec-WebSocket-Version is not 13 (RFC 6455 §4.4)")]
    UnsupportedVersion,
    /// §4.1: exactly one `Sec-WebSocket-Key`, base64 of 16 bytes.
    #[error("missing or invalid Sec-WebSocket-Key (RFC 6455 §4.1)")]
    InvalidKey,
    /// The caller's policy (Origin, credentials, addresses) refuses the client (§4.2.2, §10.2).
    #[error("forbidden by policy")]
    Forbidden,
}

impl HandshakeError {
    /// The HTTP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::RequestTooLarge(_) => 431,
            Self::MethodNotGet => 405,
            Self::UnsupportedVersion => 426,
            Self::Forbidden => 403,
            Self::Malformed(_)
            | Self::HttpVersion
            | Self::MissingHost
            | Self::NotWebSocketUpgrade
            | Self::ConnectionNotUpgrade
            | Self::InvalidKey => 400,
        }
    }

    fn reason_phrase(&self) -> &'static str {
        match self.status() {
            403 => "Forbidden",
            405 => "Method Not Allowed",
            426 => "Upgrade Required",
            431 => "Request Header Fields Too Large",
            _ => "Bad Request",
        }
    }

    /// Append the complete HTTP response (status, headers, a one-line body) to `out`.
    pub fn write_response(&self, out: &mut Vec<u8>) {
        let body = format!("{self}\n");
        let status = self.status();
        // Writing into a Vec cannot fail.
        let _ = write!(out, "HTTP/1.1 {status} {}\r\n", self.reason_phrase());
        match self {
            Self::UnsupportedVersion => out.extend_from_slice(b"Sec-WebSocket-Version: 13\r\n"),
            Self::MethodNotGet => out.extend_from_slice(b"Allow: GET\r\n"),
            _ => {}
        }
        let _ = write!(
            out,
            "Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_mismatch_is_426_with_version_header() {
        let mut out = Vec::new();
        HandshakeError::UnsupportedVersion.write_response(&mut out);
        let text = String::from_utf8(out).expect("ascii");
        assert!(
            text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{text}");
    }

    #[test]
    fn content_length_matches_body() {
        let mut out = Vec::new();
        HandshakeError::Forbidden.write_response(&mut out);
        let text = String::from_utf8(out).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        assert!(head.starts_with("HTTP/1.1 403 Forbidden"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}
