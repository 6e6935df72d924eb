//! One admin request over one TCP connection, with every resource bounded: the request head is read into a
//! fixed buffer of [`Limits::max_head`] bytes within one overall deadline ([`Limits::head_deadline`], not a
//! per-read timeout that a trickling client could renew forever), the answer is written with a write timeout,
//! and the connection is closed after it (`Connection: close`).
//!
//! Refusals: a head larger than the buffer gets `431`, a malformed request line `400`, a method other than
//! `GET`/`HEAD` `405`, a head not complete by the deadline `408`; each is followed by a bounded lingering close
//! (so the client reads the answer rather than a reset).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// The bounds of one admin connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request head (request line and headers, with the blank line), in bytes.
    pub max_head: usize,
    /// Time from accept to the end of the request head.
    pub head_deadline: Duration,
    /// Write timeout of the answer.
    pub write_timeout: Duration,
    /// How long a refused connection is drained (read and discarded) before it is closed.
    pub linger: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head: 8 * 1024,
            head_deadline: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            linger: Duration::from_secs(1),
        }
    }
}

/// Why a request was refused; each names the rule it broke and maps to one HTTP status.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// The head did not end within [`Limits::max_head`] bytes.
    #[error("admin request head exceeds {limit} bytes")]
    HeadTooLarge {
        /// The bound.
        limit: usize,
    },
    /// The head was not complete within [`Limits::head_deadline`].
    #[error("admin request head not complete within {0:?}")]
    HeadTimeout(Duration),
    /// The request line is not `METHOD SP target SP HTTP/1.x`.
    #[error("malformed admin request line: {0}")]
    Malformed(&'static str),
    /// Only `GET` and `HEAD` are served.
    #[error("admin method not allowed (only GET and HEAD)")]
    Method,
}

impl RequestError {
    /// The status line of the refusal.
    pub fn status(&self) -> &'static str {
        match self {
            Self::HeadTooLarge { .. } => "431 Request Header Fields Too Large",
            Self::HeadTimeout(_) => "408 Request Timeout",
            Self::Malformed(_) => "400 Bad Request",
            Self::Method => "405 Method Not Allowed",
        }
    }
}

/// A parsed request line.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// `true` for `HEAD` (the answer carries no body).
    pub head_only: bool,
    /// The request-target, e.g. `/metrics?x=1`.
    pub target: String,
}

/// What reading a request gave.
#[derive(Debug)]
pub enum Outcome {
    /// A complete, well-formed request.
    Request(Request),
    /// The client closed (or reset) before sending a complete head: nothing to answer.
    Gone,
    /// A refusal to answer.
    Refused(RequestError),
}

/// Read one request head from `stream` within `limits`, starting the deadline at `start`.
pub fn read_request(stream: &mut TcpStream, limits: &Limits, start: Instant) -> Outcome {
    let deadline = start + limits.head_deadline;
    let mut buf = vec![0u8; limits.max_head];
    let mut len = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Outcome::Refused(RequestError::HeadTimeout(limits.head_deadline));
        }
        if len == buf.len() {
            return Outcome::Refused(RequestError::HeadTooLarge {
                limit: limits.max_head,
            });
        }
        if stream.set_read_timeout(Some(deadline - now)).is_err() {
            return Outcome::Gone;
        }
        let n = match stream.read(&mut buf[len..]) {
            Ok(0) => return Outcome::Gone,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Outcome::Gone,
        };
        let from = len.saturating_sub(3);
        len += n;
        if let Some(end) = head_end(&buf[from..len]) {
            return match parse(&buf[..from + end]) {
                Ok(request) => Outcome::Request(request),
                Err(e) => Outcome::Refused(e),
            };
        }
    }
}

/// The offset just past the blank line that ends a head (`\r\n\r\n`, or `\n\n` from lax clients), if present.
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).enumerate().find_map(|(i, w)| match w {
        b"\n\n" => Some(i + 2),
        b"\n\r" if bytes.get(i + 2) == Some(&b'\n') => Some(i + 3),
        _ => None,
    })
}

/// Parse the request line of a complete head.
fn parse(head: &[u8]) -> Result<Request, RequestError> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = std::str::from_utf8(line).map_err(|_| RequestError::Malformed("not UTF-8"))?;
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(RequestError::Malformed("not three words"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(RequestError::Malformed("not HTTP/1.x"));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control()) {
        return Err(RequestError::Malformed("request-target"));
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(RequestError::Method),
    };
    Ok(Request {
        head_only,
        target: target.to_string(),
    })
}

/// Write one answer (status line, `Content-Type`, body unless `head_only`) and close for writing.
pub fn respond(
    stream: &mut TcpStream,
    limits: &Limits,
    status: &str,
    ctype: &str,
    body: &str,
    head_only: bool,
) -> std::io::Result<()> {
    stream.set_write_timeout(Some(limits.write_timeout))?;
    let allow = if status.starts_with("405") {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Write)
}

/// Answer a refusal, then drain what the client still sends for at most [`Limits::linger`] (and at most 64 KiB)
/// so that closing does not reset the connection before the client has read the answer.
pub fn refuse(stream: &mut TcpStream, limits: &Limits, error: &RequestError) {
    let body = format!("{error}\n");
    if respond(stream, limits, error.status(), "text/plain", &body, false).is_err() {
        return;
    }
    let until = Instant::now() + limits.linger;
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 64 * 1024 {
        let now = Instant::now();
        if now >= until || stream.set_read_timeout(Some(until - now)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connected pair (client, server side) on loopback.
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    }

    fn small() -> Limits {
        Limits {
            max_head: 64,
            head_deadline: Duration::from_millis(300),
            write_timeout: Duration::from_secs(1),
            linger: Duration::from_millis(100),
        }
    }

    #[test]
    fn a_whole_head_is_parsed() {
        let (mut c, mut s) = pair();
        c.write_all(b"HEAD /metrics?x HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let Outcome::Request(r) = read_request(&mut s, &small(), Instant::now()) else {
            panic!("no request");
        };
        assert_eq!(
            r,
            Request {
                head_only: true,
                target: "/metrics?x".into()
            }
        );
    }

    #[test]
    fn a_head_split_across_reads_at_its_terminator_is_found() {
        let (mut c, mut s) = pair();
        let t = std::thread::spawn(move || {
            c.write_all(b"GET / HTTP/1.0\r\n\r").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            c.write_all(b"\n").unwrap();
            c
        });
        assert!(matches!(
            read_request(&mut s, &small(), Instant::now()),
            Outcome::Request(_)
        ));
        drop(t.join());
    }

    #[test]
    fn a_trickled_head_is_cut_at_its_deadline() {
        let (mut c, mut s) = pair();
        let t = std::thread::spawn(move || {
            for _ in 0..20 {
                if c.write_all(b"G").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let start = Instant::now();
        let got = read_request(&mut s, &small(), start);
        assert!(start.elapsed() < Duration::from_millis(600));
        assert!(
            matches!(got, Outcome::Refused(RequestError::HeadTimeout(_))),
            "{got:?}"
        );
        drop(s);
        drop(t.join());
    }

    #[test]
    fn an_oversized_head_is_refused_with_431() {
        let (mut c, mut s) = pair();
        c.write_all(&[b'a'; 200]).unwrap();
        let got = read_request(&mut s, &small(), Instant::now());
        let Outcome::Refused(e) = got else {
            panic!("{got:?}")
        };
        assert_eq!(e, RequestError::HeadTooLarge { limit: 64 });
        assert!(e.status().starts_with("431"));
    }

    #[test]
    fn bad_request_lines_are_refused() {
        for (head, want) in [
            (
                &b"GET /\r\n\r\n"[..],
                RequestError::Malformed("not three words"),
            ),
            (
                b"GET / SIP/2.0\r\n\r\n",
                RequestError::Malformed("not HTTP/1.x"),
            ),
            (
                b"GET x HTTP/1.1\r\n\r\n",
                RequestError::Malformed("request-target"),
            ),
            (
                b"GET /\xff HTTP/1.1\r\n\r\n",
                RequestError::Malformed("not UTF-8"),
            ),
            (b"POST / HTTP/1.1\r\n\r\n", RequestError::Method),
        ] {
            assert_eq!(
                parse(head),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn a_refusal_is_read_by_the_client_then_closed() {
        let (mut c, mut s) = pair();
        c.write_all(&[b'a'; 200]).unwrap();
        let Outcome::Refused(e) = read_request(&mut s, &small(), Instant::now()) else {
            panic!("not refused");
        };
        refuse(&mut s, &small(), &e);
        drop(s);
        let mut out = String::new();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
    }
}
