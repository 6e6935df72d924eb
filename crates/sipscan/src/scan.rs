//! The scanner: one pass that frames a message and indexes its start line and header lines.

use crate::ScanError;
use crate::arch::{self, Kernel};
use crate::lex;
use crate::lines::LineFeeds;
use crate::list::Elements;
use crate::method::Method;
use crate::name::{self, HeaderName};
use crate::span::Span;

/// Headers kept inline before the index spills to the heap.
pub const INLINE_HEADERS: usize = 32;

const NONE: u8 = u8::MAX;

/// One indexed header line (with its continuation lines).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Line {
    /// Start of the line (and of the field-name).
    pub(crate) start: u32,
    /// End of the field-name.
    pub(crate) name_end: u32,
    /// The field-value, trimmed; may span folded lines.
    pub(crate) value: Span,
    /// One past the CRLF that ends the last continuation line.
    pub(crate) end: u32,
    pub(crate) name: Option<HeaderName>,
}

/// Start line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// `Method SP Request-URI SP SIP/2.0`
    Request {
        /// The method.
        method: Method<'a>,
        /// The Request-URI bytes.
        uri: &'a [u8],
    },
    /// `SIP/2.0 SP Status-Code SP Reason-Phrase`
    Response {
        /// Status-Code, 100..=699.
        code: u16,
        /// Reason-Phrase bytes (possibly empty, possibly UTF-8).
        reason: &'a [u8],
    },
}

/// A scanned SIP message borrowing its bytes: start line, header index and body.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    buf: &'a [u8],
    start: u32,
    start_line_end: u32,
    kind: Kind<'a>,
    inline: [Line; INLINE_HEADERS],
    len: usize,
    spill: Vec<Line>,
    first: [u8; name::COUNT],
    headers_end: u32,
    body: Span,
    content_length: Option<u32>,
}

/// One header field of a [`Message`].
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    buf: &'a [u8],
    line: Line,
    index: usize,
}

impl<'a> Header<'a> {
    /// The recognized name ([`HeaderName::Other`] for the rest).
    pub fn name(&self) -> HeaderName {
        self.line.name.unwrap_or(HeaderName::Other)
    }
    /// The field-name as written (e.g. `v`, `VIA`).
    pub fn raw_name(&self) -> &'a [u8] {
        self.buf
            .get(self.line.start as usize..self.line.name_end as usize)
            .unwrap_or(&[])
    }
    /// The field-value, trimmed; folded lines keep their CRLF + whitespace.
    pub fn value(&self) -> &'a [u8] {
        self.buf.get(self.line.value.range()).unwrap_or(&[])
    }
    /// Where the value lies in the message.
    pub fn value_span(&self) -> Span {
        self.line.value
    }
    /// The whole header line(s) including the final CRLF.
    pub fn line_span(&self) -> Span {
        Span {
            start: self.line.start,
            end: self.line.end,
        }
    }
    /// Position of this header among all header lines.
    pub fn index(&self) -> usize {
        self.index
    }
    /// The comma-separated elements of the value (one element for non-list fields).
    pub fn elements(&self) -> impl Iterator<Item = Element<'a>> + use<'a> {
        let base = self.line.value.start as usize;
        let index = self.index;
        let value = self.value();
        let split = self.name().is_list();
        let mut single = Some((0usize, lex::trim(value)));
        let mut list = Elements::new(value);
        core::iter::from_fn(move || {
            let (off, bytes) = if split { list.next()? } else { single.take()? };
            Some(Element {
                header: index,
                span: Span::new(base + off, base + off + bytes.len()),
                bytes,
            })
        })
    }
}

/// One comma-separated element of a header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    /// Index of the header line it belongs to.
    pub header: usize,
    /// Where the element lies in the message.
    pub span: Span,
    /// The element, trimmed of LWS.
    pub bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Scan `buf` with the CPU's best kernel.
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, ScanError> {
        Self::parse_with(buf, arch::selected())
    }

    /// Scan `buf` with a given kernel (tests compare kernels).
    pub fn parse_with(buf: &'a [u8], kernel: Kernel) -> Result<Message<'a>, ScanError> {
        if buf.len() >= u32::MAX as usize {
            return Err(ScanError::TooLarge);
        }
        let mut pos = 0;
        while buf.get(pos..pos + 2) == Some(b"\r\n") {
            pos += 2;
        }
        if pos >= buf.len() {
            return Err(ScanError::Empty);
        }
        let start = pos;
        let mut lfs = LineFeeds::new(buf, pos, kernel.lf_mask);
        let lf = lfs.next_lf().ok_or(ScanError::UnterminatedStartLine)?;
        if lf == pos || buf[lf - 1] != b'\r' {
            return Err(ScanError::BareLf);
        }
        let kind = parse_start_line(&buf[pos..lf - 1])?;
        pos = lf + 1;
        let mut msg = Message {
            buf,
            start: start as u32,
            start_line_end: pos as u32,
            kind,
            inline: [Line::default(); INLINE_HEADERS],
            len: 0,
            spill: Vec::new(),
            first: [NONE; name::COUNT],
            headers_end: 0,
            body: Span::default(),
            content_length: None,
        };
        let body_start = loop {
            let lf = lfs.next_lf().ok_or(ScanError::UnterminatedHeaders)?;
            if lf == pos || buf[lf - 1] != b'\r' {
                return Err(ScanError::BareLf);
            }
            let cr = lf - 1;
            if cr == pos {
                msg.headers_end = pos as u32;
                break lf + 1;
            }
            let first = buf[pos];
            if first == b' ' || first == b'\t' {
                let last = msg.last_mut().ok_or(ScanError::LeadingFold)?;
                let (vs, ve) = trim_sp_ht(buf, pos, cr);
                if vs < ve {
                    if last.value.is_empty() {
                        last.value.start = vs as u32;
                    }
                    last.value.end = ve as u32;
                }
                last.end = (lf + 1) as u32;
            } else {
                let name_end = lex::token_end(&buf[..cr], pos);
                let mut i = name_end;
                while i < cr && (buf[i] == b' ' || buf[i] == b'\t') {
                    i += 1;
                }
                if name_end == pos || (i < cr && buf[i] != b':' && i == name_end) {
                    return Err(ScanError::HeaderName);
                }
                if i >= cr || buf[i] != b':' {
                    return Err(ScanError::HeaderColon);
                }
                let (vs, ve) = trim_sp_ht(buf, i + 1, cr);
                let name = HeaderName::parse(&buf[pos..name_end]);
                msg.push(Line {
                    start: pos as u32,
                    name_end: name_end as u32,
                    value: Span::new(vs, ve),
                    end: (lf + 1) as u32,
                    name: Some(name),
                });
            }
            pos = lf + 1;
        };
        msg.frame_body(body_start)?;
        Ok(msg)
    }

    fn frame_body(&mut self, body_start: usize) -> Result<(), ScanError> {
        let mut cl: Option<u64> = None;
        for h in self.get_all(HeaderName::ContentLength) {
            let v = lex::trim(h.value());
            if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
                return Err(ScanError::ContentLength);
            }
            let n = lex::digits_u64(v).unwrap_or(u64::MAX);
            match cl {
                Some(prev) if prev != n => return Err(ScanError::ContentLengthConflict),
                _ => cl = Some(n),
            }
        }
        let avail = (self.buf.len() - body_start) as u64;
        let len = match cl {
            Some(n) if n > avail => return Err(ScanError::ContentLengthExceedsBody),
            Some(n) => {
                self.content_length = Some(n as u32);
                n as usize
            }
            None => avail as usize,
        };
        self.body = Span::new(body_start, body_start + len);
        Ok(())
    }

    fn push(&mut self, line: Line) {
        let i = self.len;
        if let Some(k) = line.name {
            let slot = &mut self.first[k as usize];
            if *slot == NONE && i < NONE as usize {
                *slot = i as u8;
            }
        }
        if i < INLINE_HEADERS {
            self.inline[i] = line;
        } else {
            self.spill.push(line);
        }
        self.len += 1;
    }

    fn last_mut(&mut self) -> Option<&mut Line> {
        match self.len {
            0 => None,
            n if n <= INLINE_HEADERS => self.inline.get_mut(n - 1),
            _ => self.spill.last_mut(),
        }
    }

    pub(crate) fn line(&self, i: usize) -> Option<Line> {
        if i >= self.len {
            None
        } else if i < INLINE_HEADERS {
            self.inline.get(i).copied()
        } else {
            self.spill.get(i - INLINE_HEADERS).copied()
        }
    }

    /// The message bytes (including any leading CRLFs and trailing bytes).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// Request or response, with the start line's parts.
    pub fn kind(&self) -> Kind<'a> {
        self.kind
    }
    /// The request method, if a request.
    pub fn method(&self) -> Option<Method<'a>> {
        match self.kind {
            Kind::Request { method, .. } => Some(method),
            Kind::Response { .. } => None,
        }
    }
    /// The status code, if a response.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            Kind::Response { code, .. } => Some(code),
            Kind::Request { .. } => None,
        }
    }
    /// The Request-URI bytes, if a request.
    pub fn request_uri(&self) -> Option<&'a [u8]> {
        match self.kind {
            Kind::Request { uri, .. } => Some(uri),
            Kind::Response { .. } => None,
        }
    }
    /// Start of the start line (after any leading keep-alive CRLFs).
    pub fn start_line_span(&self) -> Span {
        Span {
            start: self.start,
            end: self.start_line_end,
        }
    }
    /// Number of header lines (continuations are part of their header).
    pub fn header_count(&self) -> usize {
        self.len
    }
    /// Header number `i`.
    pub fn header(&self, i: usize) -> Option<Header<'a>> {
        self.line(i).map(|line| Header {
            buf: self.buf,
            line,
            index: i,
        })
    }
    /// All header lines in order.
    pub fn headers(&self) -> impl Iterator<Item = Header<'a>> + '_ {
        (0..self.len).filter_map(move |i| self.header(i))
    }
    /// The first header line named `name`.
    pub fn get(&self, name: HeaderName) -> Option<Header<'a>> {
        if name == HeaderName::Other {
            return None;
        }
        match self.first[name as usize] {
            NONE if self.len < NONE as usize => None,
            NONE => self.headers().find(|h| h.name() == name),
            i => self.header(i as usize),
        }
    }
    /// Every header line named `name`.
    pub fn get_all(&self, name: HeaderName) -> impl Iterator<Item = Header<'a>> + '_ {
        let from = match self.first[name as usize] {
            NONE if self.len < NONE as usize && name != HeaderName::Other => self.len,
            NONE => 0,
            i => i as usize,
        };
        (from..self.len)
            .filter_map(move |i| self.header(i))
            .filter(move |h| h.name() == name)
    }
    /// Every value named `name`, across repeated lines and comma lists, in order.
    pub fn all(&self, name: HeaderName) -> impl Iterator<Item = Element<'a>> + '_ {
        self.get_all(name).flat_map(|h| h.elements())
    }
    /// Headers not in [`HeaderName`], matched by field-name (ASCII case-insensitive).
    pub fn get_other<'n>(
        &self,
        field_name: &'n [u8],
    ) -> impl Iterator<Item = Header<'a>> + use<'_, 'a, 'n> {
        self.headers()
            .filter(move |h| h.raw_name().eq_ignore_ascii_case(field_name))
    }
    /// Offset of the empty line that ends the header section.
    pub fn headers_end(&self) -> usize {
        self.headers_end as usize
    }
    /// The body (Content-Length bytes, or everything after the header section when absent).
    pub fn body(&self) -> &'a [u8] {
        self.buf.get(self.body.range()).unwrap_or(&[])
    }
    /// Where the body lies.
    pub fn body_span(&self) -> Span {
        self.body
    }
    /// Value of Content-Length, when present.
    pub fn content_length(&self) -> Option<u32> {
        self.content_length
    }
    /// Bytes after the Content-Length body (ignored; RFC 3261 §18.3, RFC 4475 §3.1.1.8).
    pub fn trailing(&self) -> &'a [u8] {
        self.buf.get(self.body.end as usize..).unwrap_or(&[])
    }
}

fn trim_sp_ht(buf: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && (buf[s] == b' ' || buf[s] == b'\t') {
        s += 1;
    }
    while e > s && (buf[e - 1] == b' ' || buf[e - 1] == b'\t') {
        e -= 1;
    }
    (s, e)
}

fn parse_start_line(line: &[u8]) -> Result<Kind<'_>, ScanError> {
    if line.starts_with(b"SIP/") {
        let sp = line
            .iter()
            .position(|&b| b == b' ')
            .ok_or(ScanError::StatusLine)?;
        if &line[..sp] != b"SIP/2.0" {
            return Err(ScanError::Version);
        }
        let rest = &line[sp + 1..];
        let csp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or(ScanError::StatusLine)?;
        let code = &rest[..csp];
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return Err(ScanError::StatusCode);
        }
        let code = code.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&code) {
            return Err(ScanError::StatusCode);
        }
        return Ok(Kind::Response {
            code,
            reason: &rest[csp + 1..],
        });
    }
    let sp = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ScanError::RequestLine)?;
    let method = &line[..sp];
    if method.is_empty() {
        return Err(ScanError::RequestLine);
    }
    if !method.iter().all(|&b| lex::is_token(b)) {
        return Err(ScanError::Method);
    }
    let rest = &line[sp + 1..];
    let usp = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ScanError::RequestLine)?;
    let uri = &rest[..usp];
    let version = &rest[usp + 1..];
    if uri.is_empty() || version.contains(&b' ') {
        return Err(ScanError::RequestLine);
    }
    if version != b"SIP/2.0" {
        return Err(if version.starts_with(b"SIP/") {
            ScanError::Version
        } else {
            ScanError::RequestLine
        });
    }
    if !has_scheme(uri) {
        return Err(ScanError::RequestUri);
    }
    Ok(Kind::Request {
        method: Method::parse(method),
        uri,
    })
}

/// `scheme ":"` with `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
pub(crate) fn has_scheme(uri: &[u8]) -> bool {
    match uri.first() {
        Some(b) if b.is_ascii_alphabetic() => {}
        _ => return false,
    }
    for &b in &uri[1..] {
        if b == b':' {
            return true;
        }
        if !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) {
            return false;
        }
    }
    false
}
