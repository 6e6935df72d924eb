//! Responses the edge answers itself (RFC 3261 §8.2.6): 200 to OPTIONS and REGISTER, 400/404/423/430/480/483/513.

use std::hash::{Hash, Hasher};

use sipscan::{HeaderName, Message};

/// Headers copied from a request into a response built for it (RFC 3261 §8.2.6.2).
const COPIED: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

/// A response to `req` with `code` and `reason`, and `extra` header lines (each without CRLF).
///
/// Copies every Via (in order), From, To (adding a To tag, deterministic per Call-ID and From tag, when it has
/// none and `code` > 100), Call-ID and CSeq; ends with `Content-Length: 0`.
pub fn build(req: &Message<'_>, code: u16, reason: &str, extra: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("SIP/2.0 {code} {reason}\r\n").as_bytes());
    for h in req.headers() {
        let name = h.name();
        if !COPIED.contains(&name) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value());
        if name == HeaderName::To
            && code > 100
            && req
                .to()
                .and_then(Result::ok)
                .is_some_and(|t| t.params.get("tag").is_none())
        {
            out.extend_from_slice(b";tag=");
            out.extend_from_slice(local_tag(req).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    for line in extra {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Server: sipedge\r\nContent-Length: 0\r\n\r\n");
    out
}

/// A response to a request that did not scan: the start line, and whatever Via/From/To/Call-ID/CSeq lines can
/// be found by a plain line split (RFC 3261 §8.2.2.1 wants a 400 even for a malformed request when it can be
/// answered). `None` when there is not even a Via to send it along.
pub fn build_from_unparsed(bytes: &[u8], code: u16, reason: &str) -> Option<Vec<u8>> {
    let head_end = memchr_crlfcrlf(bytes).unwrap_or(bytes.len());
    let mut lines = bytes[..head_end]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next()?;
    if first.starts_with(b"SIP/") {
        return None; // a response is never answered
    }
    let mut out = format!("SIP/2.0 {code} {reason}\r\n").into_bytes();
    let mut have_via = false;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = HeaderName::parse(line[..colon].trim_ascii());
        if COPIED.contains(&name) {
            have_via |= name == HeaderName::Via;
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(line[colon + 1..].trim_ascii());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Server: sipedge\r\nContent-Length: 0\r\n\r\n");
    have_via.then_some(out)
}

fn memchr_crlfcrlf(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n")
}

/// The To tag the edge puts in its own responses: the same for retransmissions of one request.
pub fn local_tag(req: &Message<'_>) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    req.call_id().hash(&mut h);
    req.from()
        .and_then(Result::ok)
        .and_then(|f| f.params.get("tag").flatten())
        .hash(&mut h);
    format!("se{:012x}", h.finish() & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:edge.example SIP/2.0\r\n\
Via: SIP/2.0/WS a.invalid;branch=z9hG4bK1;received=127.0.0.1\r\n\
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n\
Max-Forwards: 70\r\nTo: <sip:edge.example>\r\nFrom: <sip:alice@example.test>;tag=abc\r\n\
Call-ID: c1\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn copies_vias_in_order_and_tags_to() {
        let m = Message::parse(OPTIONS).unwrap();
        let r = build(&m, 200, "OK", &["Allow: INVITE, ACK"]);
        let text = String::from_utf8(r.clone()).unwrap();
        let tag = local_tag(&m);
        assert_eq!(
            text,
            format!(
                "SIP/2.0 200 OK\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1;received=127.0.0.1\r\n\
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\nTo: <sip:edge.example>;tag={tag}\r\n\
From: <sip:alice@example.test>;tag=abc\r\nCall-ID: c1\r\nCSeq: 7 OPTIONS\r\nAllow: INVITE, ACK\r\n\
Server: sipedge\r\nContent-Length: 0\r\n\r\n"
            )
        );
        let again = Message::parse(&r).unwrap();
        assert_eq!(again.status(), Some(200));
    }

    #[test]
    fn trying_gets_no_to_tag() {
        let m = Message::parse(OPTIONS).unwrap();
        let r = String::from_utf8(build(&m, 100, "Trying", &[])).unwrap();
        assert!(r.contains("To: <sip:edge.example>\r\n"), "{r}");
    }

    #[test]
    fn unparsed_request_still_gets_400_with_its_headers() {
        let bad =
            b"INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\ni: abc\r\nCSeq: 1 INVITE\r\nContent-Length: 999\r\n\r\n";
        let r = String::from_utf8(build_from_unparsed(bad, 400, "Bad Content-Length").unwrap())
            .unwrap();
        assert!(r.starts_with("SIP/2.0 400 Bad Content-Length\r\n"), "{r}");
        assert!(r.contains("Via: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\n"));
        assert!(r.contains("Call-ID: abc\r\n"), "compact form expanded: {r}");
        assert!(build_from_unparsed(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", 400, "x").is_none());
        assert!(build_from_unparsed(b"garbage", 400, "x").is_none());
    }
}
