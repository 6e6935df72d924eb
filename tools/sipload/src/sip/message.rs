//! A small, tolerant reader of the SIP messages a load client receives (RFC 3261 §7): the start line,
//! the header fields it needs (compact forms too) and the body. sipload keeps its own reader, apart
//! from the gateway's parser, so that it checks the server instead of sharing its mistakes.

use std::borrow::Cow;

/// Why a received message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// RFC 3261 §7: a message is a start line, headers, an empty line and a body.
    #[error("no empty line ends the header section")]
    NoHeaderEnd,
    /// RFC 3261 §7.1/§7.2: `METHOD URI SIP/2.0` or `SIP/2.0 CODE REASON`.
    #[error("bad start line")]
    BadStartLine,
    /// RFC 3261 §8.1.1: every message carries Via, From, To, Call-ID and CSeq.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// RFC 3261 §20.16: `CSeq: NUMBER METHOD`.
    #[error("bad CSeq")]
    BadCSeq,
    /// RFC 3261 §20.14: Content-Length is the body's size.
    #[error("Content-Length says {said}, the body has {has} bytes")]
    ContentLength {
        /// The header's value.
        said: usize,
        /// The body's size.
        has: usize,
    },
}

/// The start line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// A request.
    Request {
        /// The method.
        method: &'a str,
        /// The Request-URI.
        uri: &'a str,
    },
    /// A response.
    Response {
        /// The status code.
        code: u16,
    },
}

/// A received SIP message, borrowed from its bytes.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// Start line.
    pub start: StartLine<'a>,
    headers: Vec<(&'a str, &'a str)>,
    /// The body.
    pub body: &'a [u8],
}

/// Long form of a compact header name (RFC 3261 §7.3.3, §20).
fn long_name(name: &str) -> Cow<'_, str> {
    let long = match name.to_ascii_lowercase().as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "m" => "contact",
        "l" => "content-length",
        "c" => "content-type",
        "k" => "supported",
        other => return Cow::Owned(other.to_owned()),
    };
    Cow::Borrowed(long)
}

impl<'a> Message<'a> {
    /// Reads `bytes` (one WebSocket message: one SIP message, RFC 7118 §5.2).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let end = memfind(bytes, b"\r\n\r\n").ok_or(ParseError::NoHeaderEnd)?;
        let head = std::str::from_utf8(bytes.get(..end).unwrap_or_default())
            .map_err(|_| ParseError::BadStartLine)?;
        let body = bytes.get(end + 4..).unwrap_or_default();
        let mut lines = head.split("\r\n");
        let first = lines.next().ok_or(ParseError::BadStartLine)?;
        let start = if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
            let code = rest
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or(ParseError::BadStartLine)?;
            StartLine::Response { code }
        } else {
            let mut parts = first.split(' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(method), Some(uri), Some("SIP/2.0")) if !method.is_empty() => {
                    StartLine::Request { method, uri }
                }
                _ => return Err(ParseError::BadStartLine),
            }
        };
        let mut headers: Vec<(&'a str, &'a str)> = Vec::with_capacity(16);
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // A folded continuation line (RFC 3261 §7.3.1): servers do not fold what a load
                // client reads (start lines, Via, tags, routes), so it is skipped.
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim(), value.trim()));
            }
        }
        let m = Self {
            start,
            headers,
            body,
        };
        for required in ["via", "from", "to", "call-id", "cseq"] {
            if m.header(required).is_none() {
                return Err(ParseError::Missing(required));
            }
        }
        m.cseq()?;
        if let Some(said) = m
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            && said != body.len()
        {
            return Err(ParseError::ContentLength {
                said,
                has: body.len(),
            });
        }
        Ok(m)
    }

    /// Every value of header `name` (long form, lower case), in order.
    pub fn headers<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| long_name(n) == name)
            .map(|(_, v)| *v)
    }

    /// The first value of header `name` (long form, lower case).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers(name).next()
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Result<(u32, &'a str), ParseError> {
        let v = self.header("cseq").ok_or(ParseError::Missing("cseq"))?;
        let (n, m) = v.split_once(' ').ok_or(ParseError::BadCSeq)?;
        Ok((n.trim().parse().map_err(|_| ParseError::BadCSeq)?, m.trim()))
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &'a str {
        self.header("call-id").unwrap_or_default()
    }

    /// The `branch` parameter of the top Via.
    pub fn top_branch(&self) -> Option<&'a str> {
        let via = split_list(self.header("via")?).next()?;
        param(via, "branch")
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// Every Record-Route entry, in order (several headers, several entries per header).
    pub fn record_route(&self) -> Vec<&'a str> {
        self.headers("record-route").flat_map(split_list).collect()
    }
}

/// The first position of `needle` in `hay`.
fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits a header value list at the commas outside quotes and angle brackets (RFC 3261 §7.3.1).
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut angle) = (false, false);
        for (i, b) in s.bytes().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b'<' if !quoted => angle = true,
                b'>' if !quoted => angle = false,
                b',' if !quoted && !angle => {
                    rest = s.get(i + 1..);
                    return Some(s.get(..i).unwrap_or_default().trim());
                }
                _ => {}
            }
        }
        rest = None;
        Some(s.trim())
    })
}

/// The value of parameter `name` of a header value (after the URI's `>` when it has one).
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let params = match value.rfind('>') {
        Some(i) => value.get(i + 1..)?,
        None => value,
    };
    params.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The URI of a name-addr (`"x" <sip:...>;tag=1` gives `sip:...`), or the value up to its parameters.
pub fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => value.get(a + 1..b).unwrap_or_default(),
        _ => value.split(';').next().unwrap_or_default().trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/WS a.invalid;branch=z9hG4bK1;rport=1;received=127.0.0.1\r\n\
Record-Route: <sip:127.0.0.1:5060;lr>, <sip:x@127.0.0.1;transport=ws;lr>\r\n\
Record-Route: <sip:third;lr>\r\n\
t: <sip:bob@example.test>;tag=b1\r\n\
f: \"a, b\" <sip:alice@example.test>;tag=a1\r\n\
i: c1\r\nCSeq: 7 INVITE\r\nm: <sip:bob@b.invalid;transport=ws>\r\nContent-Length: 2\r\n\r\nhi";

    #[test]
    fn reads_a_response_with_compact_headers_and_lists() {
        let m = Message::parse(OK).unwrap();
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.cseq().unwrap(), (7, "INVITE"));
        assert_eq!(m.call_id(), "c1");
        assert_eq!(m.top_branch(), Some("z9hG4bK1"));
        assert_eq!(
            m.record_route(),
            vec![
                "<sip:127.0.0.1:5060;lr>",
                "<sip:x@127.0.0.1;transport=ws;lr>",
                "<sip:third;lr>"
            ]
        );
        assert_eq!(param(m.header("to").unwrap(), "tag"), Some("b1"));
        assert_eq!(param(m.header("from").unwrap(), "tag"), Some("a1"));
        assert_eq!(
            uri_of(m.header("contact").unwrap()),
            "sip:bob@b.invalid;transport=ws"
        );
        assert_eq!(m.body, b"hi");
    }

    #[test]
    fn reads_a_request_and_refuses_broken_ones() {
        let req = b"MESSAGE sip:u1@example.test SIP/2.0\r\nVia: SIP/2.0/WS x;branch=z9hG4bKq\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:u1@example.test>\r\nCall-ID: 9\r\nCSeq: 1 MESSAGE\r\n\r\n";
        let m = Message::parse(req).unwrap();
        assert_eq!(
            m.start,
            StartLine::Request {
                method: "MESSAGE",
                uri: "sip:u1@example.test"
            }
        );
        assert_eq!(param(m.header("to").unwrap(), "tag"), None);
        assert_eq!(
            Message::parse(b"\r\n").unwrap_err(),
            ParseError::NoHeaderEnd
        );
        assert_eq!(
            Message::parse(b"HELLO\r\n\r\n").unwrap_err(),
            ParseError::BadStartLine
        );
        let no_cseq = b"SIP/2.0 200 OK\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\n\r\n";
        assert_eq!(
            Message::parse(no_cseq).unwrap_err(),
            ParseError::Missing("cseq")
        );
        let short =
            b"SIP/2.0 200 OK\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\
Content-Length: 5\r\n\r\nabc";
        assert_eq!(
            Message::parse(short).unwrap_err(),
            ParseError::ContentLength { said: 5, has: 3 }
        );
    }

    #[test]
    fn lists_split_outside_quotes_and_brackets() {
        let v: Vec<_> = split_list("\"a,b\" <sip:x,y>;p=1 , <sip:z>").collect();
        assert_eq!(v, vec!["\"a,b\" <sip:x,y>;p=1", "<sip:z>"]);
    }
}
