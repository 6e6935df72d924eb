//! Framing SIP messages on a stream transport (TCP toward the core): RFC 3261 §18.3 — a message ends
//! `Content-Length` bytes after the blank line that ends its headers; CRLFs between messages are keepalives.

/// Why a stream cannot be framed any further (the connection should close).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// RFC 3261 §18.3: on a stream, every message must carry Content-Length.
    #[error("message without Content-Length on a stream transport (RFC 3261 §18.3)")]
    MissingContentLength,
    /// Content-Length is not a number.
    #[error("malformed Content-Length (RFC 3261 §20.14)")]
    BadContentLength,
    /// More than one Content-Length header field: on a stream the message boundary would depend on which
    /// one a reader believes (request smuggling), so the stream ends.
    #[error("duplicate Content-Length on a stream transport (RFC 3261 §18.3, §20.14)")]
    DuplicateContentLength,
    /// The message (or its header block) exceeds the configured maximum.
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
}

/// Accumulates stream bytes and cuts them into SIP messages.
///
/// Each byte is looked at a bounded number of times however the stream is cut into reads: the search
/// for the end of the header block resumes where the last one stopped, a header block is parsed once,
/// and the bytes of the messages already handed out are dropped in one move at the next
/// [`StreamFramer::push`] rather than after each message.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// Start of the current message in `buf` (the bytes before it were handed out).
    start: usize,
    /// Where the search for the blank line resumes (absolute in `buf`; the 3 bytes before it are
    /// searched again, as a CRLFCRLF may straddle two reads).
    scan: usize,
    /// The current message's total length once its header block is parsed.
    total: Option<usize>,
    max: usize,
    failed: Option<FramingError>,
}

impl StreamFramer {
    /// A framer accepting messages up to `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            scan: 0,
            total: None,
            max,
            failed: None,
        }
    }

    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scan -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The bytes held for an incomplete message (what a new framer is [pushed](Self::push) to go on from here).
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Bytes held for an incomplete message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete message, `Ok(None)` when more bytes are needed, or the error that ends the stream.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let total = match self.total {
            Some(total) => total,
            None => match self.frame_head() {
                Ok(Some(total)) => total,
                Ok(None) => return Ok(None),
                Err(e) => return self.fail(e),
            },
        };
        if self.buffered() < total {
            return Ok(None);
        }
        let end = self.start + total;
        let msg = self.buf.get(self.start..end).unwrap_or_default().to_vec();
        self.start = end;
        self.scan = end;
        self.total = None;
        if self.start == self.buf.len() {
            self.buf = Vec::new(); // an idle stream keeps no buffer
            self.start = 0;
            self.scan = 0;
        }
        Ok(Some(msg))
    }

    /// Skip keepalive CRLFs, find the blank line (resuming the last search) and parse the header block:
    /// the message's total length, or `None` when the block is not complete yet.
    fn frame_head(&mut self) -> Result<Option<usize>, FramingError> {
        if self.scan == self.start {
            let pending = self.buf.get(self.start..).unwrap_or_default();
            let skip = pending
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.start += skip;
            self.scan = self.start;
        }
        let from = self.scan.saturating_sub(3).max(self.start);
        let found = self
            .buf
            .get(from..)
            .unwrap_or_default()
            .windows(4)
            .position(|w| w == b"\r\n\r\n");
        let Some(at) = found else {
            self.scan = self.buf.len();
            if self.buffered() > self.max {
                return Err(FramingError::TooLarge(self.max));
            }
            return Ok(None);
        };
        let head_end = from + at + 4 - self.start;
        let head = self.buf.get(self.start..self.start + head_end);
        let body_len = content_length(head.unwrap_or_default())?;
        let total = head_end.saturating_add(body_len);
        if total > self.max {
            return Err(FramingError::TooLarge(self.max));
        }
        self.scan = self.start + head_end;
        self.total = Some(total);
        Ok(Some(total))
    }

    fn fail(&mut self, e: FramingError) -> Result<Option<Vec<u8>>, FramingError> {
        self.failed = Some(e);
        self.buf = Vec::new();
        self.start = 0;
        self.scan = 0;
        self.total = None;
        Err(e)
    }
}

/// The Content-Length (or compact `l`) value of a header block; a second one is refused. Continuation
/// lines (leading SP/HT) belong to the header before them and name nothing, as in the scanner.
fn content_length(head: &[u8]) -> Result<usize, FramingError> {
    let mut found = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        if found.is_some() {
            return Err(FramingError::DuplicateContentLength);
        }
        let v = line[colon + 1..].trim_ascii();
        if v.is_empty() || v.len() > 10 || !v.iter().all(u8::is_ascii_digit) {
            return Err(FramingError::BadContentLength);
        }
        let n = std::str::from_utf8(v)
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or(FramingError::BadContentLength)?;
        found = Some(n);
    }
    found.ok_or(FramingError::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: &[u8] = b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK1\r\nContent-Length: 4\r\n\r\nbody";
    const B: &[u8] = b"SIP/2.0 200 OK\r\nl: 0\r\n\r\n";

    #[test]
    fn cuts_messages_and_skips_keepalives() {
        let mut f = StreamFramer::new(65536);
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(A);
        stream.extend_from_slice(b"\r\n");
        stream.extend_from_slice(B);
        f.push(&stream);
        assert_eq!(f.next_message().unwrap().unwrap(), A);
        assert_eq!(f.next_message().unwrap().unwrap(), B);
        assert_eq!(f.next_message().unwrap(), None);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn missing_or_bad_content_length_ends_the_stream() {
        let mut f = StreamFramer::new(65536);
        f.push(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n");
        assert_eq!(f.next_message(), Err(FramingError::MissingContentLength));
        assert_eq!(f.next_message(), Err(FramingError::MissingContentLength));
        let mut f = StreamFramer::new(65536);
        f.push(b"SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n");
        assert_eq!(f.next_message(), Err(FramingError::BadContentLength));
    }

    #[test]
    fn too_large_is_refused_before_buffering_it() {
        let mut f = StreamFramer::new(100);
        f.push(b"SIP/2.0 200 OK\r\nContent-Length: 1000\r\n\r\n");
        assert_eq!(f.next_message(), Err(FramingError::TooLarge(100)));
        let mut f = StreamFramer::new(100);
        f.push(&[b'a'; 200]);
        assert_eq!(f.next_message(), Err(FramingError::TooLarge(100)));
    }

    proptest! {
        #[test]
        fn any_cut_gives_the_same_messages(cuts in proptest::collection::vec(0usize..200, 0..8)) {
            let mut stream = A.to_vec();
            stream.extend_from_slice(B);
            stream.extend_from_slice(A);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            points.sort_unstable();
            let mut f = StreamFramer::new(65536);
            let mut got = Vec::new();
            let mut last = 0;
            for p in points.into_iter().chain([stream.len()]) {
                f.push(&stream[last..p]);
                last = p;
                while let Some(m) = f.next_message().unwrap() {
                    got.push(m);
                }
            }
            prop_assert_eq!(got, vec![A.to_vec(), B.to_vec(), A.to_vec()]);
        }
    }
}
