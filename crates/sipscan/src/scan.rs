//! The scanner: one pass that frames a message and indexes its start line and header lines.

use crate::ScanError;
use crate::arch::{self, BATCH, Kernel};
use crate::lex;
use crate::lines::LineFeeds;
use crate::list::Elements;
use crate::method::Method;
use crate::name::{self, HeaderName};
use crate::span::Span;
use crate::window::Window;

/// Headers kept inline before the index spills to the heap.
pub const INLINE_HEADERS: usize = 32;

const NONE: u8 = u8::MAX;

/// One indexed header line (with its continuation lines): 8 bytes. The line ends where
/// the next one starts (or at the blank line); the field-name ends at the colon less any
/// SP/HT; the field-value is trimmed when asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    /// Start of the line (and of the field-name).
    start: u32,
    /// Offset of the `:` from `start`; [`FAR_COLON`] when it does not fit (the colon is
    /// then found again: it is the line's first, as field-names and SP/HT hold none).
    colon_offset: u16,
    name: HeaderName,
}

const FAR_COLON: u16 = u16::MAX;

impl Line {
    fn new(start: usize, colon: usize, name: HeaderName) -> Line {
        Line {
            start: start as u32,
            colon_offset: u16::try_from(colon - start).unwrap_or(FAR_COLON),
            name,
        }
    }

    /// Offset of the colon in `buf`.
    #[inline]
    fn colon(&self, buf: &[u8]) -> usize {
        let start = self.start as usize;
        match self.colon_offset {
            FAR_COLON => {
                let line = buf.get(start..).unwrap_or(&[]);
                start + lex::find_byte(line, b':').unwrap_or(0)
            }
            off => start + usize::from(off),
        }
    }
}

/// Filler for unused inline slots (all zero bytes, so the array is cheap to set).
const NO_LINE: Line = Line {
    start: 0,
    colon_offset: 0,
    name: HeaderName::Via,
};

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
    /// One past the CRLF that ends the last continuation line.
    end: u32,
    index: usize,
}

impl<'a> Header<'a> {
    /// The recognized name ([`HeaderName::Other`] for the rest).
    pub fn name(&self) -> HeaderName {
        self.line.name
    }
    /// The field-name as written (e.g. `v`, `VIA`).
    pub fn raw_name(&self) -> &'a [u8] {
        let (start, colon) = (self.line.start as usize, self.line.colon(self.buf));
        let name = self.buf.get(start..colon).unwrap_or(&[]);
        let trailing_ws = name
            .iter()
            .rev()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        name.get(..name.len() - trailing_ws).unwrap_or(&[])
    }
    /// The field-value, trimmed; folded lines keep their CRLF + whitespace.
    pub fn value(&self) -> &'a [u8] {
        self.buf.get(self.value_span().range()).unwrap_or(&[])
    }
    /// Where the value lies in the message: from the first non-LWS byte after the colon
    /// to the last one before the final CRLF (empty right after the colon's SP/HT when
    /// the value is empty).
    pub fn value_span(&self) -> Span {
        let from = self.line.colon(self.buf) + 1;
        // The scanner guarantees the line(s) end in CRLF after the colon.
        let to = (self.end as usize).saturating_sub(2).max(from);
        let v = self.buf.get(from..to).unwrap_or(&[]);
        let (s, e) = trim_value(v);
        Span::new(from + s, from + e)
    }
    /// The whole header line(s) including the final CRLF.
    pub fn line_span(&self) -> Span {
        Span {
            start: self.line.start,
            end: self.end,
        }
    }
    /// Position of this header among all header lines.
    pub fn index(&self) -> usize {
        self.index
    }
    /// The comma-separated elements of the value (one element for non-list fields).
    pub fn elements(&self) -> impl Iterator<Item = Element<'a>> + use<'a> {
        let span = self.value_span();
        let base = span.start as usize;
        let index = self.index;
        let value = self.buf.get(span.range()).unwrap_or(&[]);
        let split = self.name().is_list();
        let mut single = (!split).then_some(value);
        let mut list = Elements::new(if split { value } else { &[] });
        core::iter::from_fn(move || {
            let (off, bytes) = match single.take() {
                Some(v) => {
                    let t = lex::trim(v);
                    (t.as_ptr() as usize - v.as_ptr() as usize, t)
                }
                None if split => list.next()?,
                None => return None,
            };
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
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, ScanError> {
        Self::parse_with(buf, arch::selected())
    }

    /// Scan `buf` with a given kernel (tests compare kernels).
    ///
    /// Inlined, so that the index is built in the caller's frame rather than moved
    /// there (the scan itself is an ordinary call).
    #[inline(always)]
    pub fn parse_with(buf: &'a [u8], kernel: Kernel) -> Result<Message<'a>, ScanError> {
        let mut msg = Message {
            buf,
            start: 0,
            start_line_end: 0,
            kind: Kind::Response {
                code: 0,
                reason: &[],
            },
            inline: [NO_LINE; INLINE_HEADERS],
            len: 0,
            spill: Vec::new(),
            first: [NONE; name::COUNT],
            headers_end: 0,
            body: Span::default(),
            content_length: None,
        };
        msg.scan(kernel)?;
        Ok(msg)
    }

    /// Frame and index `self.buf` into `self` (fresh from [`Message::parse_with`]).
    fn scan(&mut self, kernel: Kernel) -> Result<(), ScanError> {
        let buf = self.buf;
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
        let mut masks = [0u64; BATCH];
        let mut lfs = LineFeeds::new(buf, pos, kernel, &mut masks);
        let lf = lfs
            .next_lf(&mut masks)
            .ok_or(ScanError::UnterminatedStartLine)?;
        let line = match lf.checked_sub(1).and_then(|cr| buf.get(pos..=cr)) {
            Some([line @ .., b'\r']) => line,
            _ => return Err(ScanError::BareLf),
        };
        self.kind = parse_start_line(line)?;
        pos = lf + 1;
        self.start = start as u32;
        self.start_line_end = pos as u32;
        let msg = self;
        let mut n = 0usize;
        let body_start = loop {
            let lf = lfs
                .next_lf(&mut masks)
                .ok_or(ScanError::UnterminatedHeaders)?;
            // `pos` follows the start line's LF, so `lf - 1` is in bounds; for an empty
            // line ending in a bare LF it is the previous LF.
            if buf.get(lf - 1) != Some(&b'\r') {
                return Err(ScanError::BareLf);
            }
            let cr = lf - 1;
            if cr == pos {
                break lf + 1;
            }
            let (colon, name) = match field_name(buf, pos, cr) {
                Field::Name(colon, name) => (colon, name),
                Field::Fold => {
                    if n == 0 {
                        return Err(ScanError::LeadingFold);
                    }
                    pos = lf + 1;
                    continue;
                }
                Field::Slow => field_name_slow(buf, pos, cr)?,
            };
            let line = Line::new(pos, colon, name);
            match msg.inline.get_mut(n) {
                Some(entry) => *entry = line,
                None => msg.spill.push(line),
            }
            n += 1;
            pos = lf + 1;
        };
        if !free_of_controls(buf.get(start..body_start).unwrap_or(&[])) {
            return Err(ScanError::ControlCharacter);
        }
        msg.len = n;
        msg.index_first_lines();
        msg.headers_end = (body_start - 2) as u32;
        msg.frame_body(body_start)
    }

    /// Record the first line of each name, for `get` (messages with more than 254 lines fall
    /// back to a search for names not seen in the first 254). Part of [`Message::scan`], inlined
    /// into it.
    #[inline(always)]
    fn index_first_lines(&mut self) {
        for (i, line) in self.inline.iter().take(self.len).enumerate() {
            if let Some(slot) = self.first.get_mut(line.name as usize)
                && *slot == NONE
            {
                *slot = i as u8;
            }
        }
        for (i, line) in self
            .spill
            .iter()
            .enumerate()
            .take(NONE as usize - INLINE_HEADERS)
        {
            if let Some(slot) = self.first.get_mut(line.name as usize)
                && *slot == NONE
            {
                *slot = (INLINE_HEADERS + i) as u8;
            }
        }
    }

    fn frame_body(&mut self, body_start: usize) -> Result<(), ScanError> {
        let mut cl: Option<u64> = None;
        let from = match self.first[HeaderName::ContentLength as usize] {
            NONE if self.len < NONE as usize => self.len,
            NONE => 0,
            i => i as usize,
        };
        for i in from..self.len {
            if self
                .line(i)
                .is_none_or(|l| l.name != HeaderName::ContentLength)
            {
                continue;
            }
            let Some(h) = self.header(i) else { break };
            let n = match simple_digits(h) {
                Some(n) => n,
                None => content_length_value(h)?,
            };
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

    fn line(&self, i: usize) -> Option<Line> {
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
        let line = self.line(i)?;
        let end = self.line(i + 1).map_or(self.headers_end, |next| next.start);
        Some(Header {
            buf: self.buf,
            line,
            end,
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
            .filter(move |&i| self.line(i).is_some_and(|l| l.name == name))
            .filter_map(move |i| self.header(i))
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

/// Whether the start line and header section `head` (up to and including the empty line) are free of
/// control characters (RFC 3261 §25.1): no byte below 0x20 but HTAB, no DEL, no CR outside a CRLF;
/// inside a quoted-string, `quoted-pair = "\\" (%x00-09 / %x0B-0C / %x0E-7F)` may escape one (RFC 4475
/// §3.1.1.2). The common case, no control byte at all, is one branch-free pass per 64-byte block (it
/// vectorizes, and the block is still in L1 after the line-feed pass); any control byte sends the
/// message to [`controls_are_quoted_pairs`].
#[inline]
fn free_of_controls(head: &[u8]) -> bool {
    #[inline(always)]
    fn block(bytes: &[u8]) -> (u8, usize) {
        let (mut bad, mut cr, mut lf) = (0u8, 0u8, 0u8);
        for &b in bytes {
            let control = b < 0x20 || b == 0x7f;
            let allowed = b == b'\t' || b == b'\r' || b == b'\n';
            bad |= u8::from(control & !allowed);
            cr = cr.wrapping_add(u8::from(b == b'\r'));
            lf = lf.wrapping_add(u8::from(b == b'\n'));
        }
        // At most 64 of each per block: the difference fits.
        (bad, usize::from(cr).wrapping_sub(usize::from(lf)))
    }
    let (blocks, tail) = head.as_chunks::<64>();
    let (mut bad, mut extra_cr) = block(tail);
    for b in blocks {
        let (x, d) = block(b);
        bad |= x;
        extra_cr = extra_cr.wrapping_add(d);
    }
    // The scanner has refused every LF without its CR: more CRs than LFs means a bare CR.
    (bad == 0 && extra_cr == 0) || controls_are_quoted_pairs(head)
}

/// The exact rule behind [`free_of_controls`], byte by byte: control bytes (HTAB aside) only as the
/// second byte of a quoted-pair inside a quoted-string of a header field, CR only before LF. The start
/// line has no quoted-string, so none there.
#[cold]
fn controls_are_quoted_pairs(head: &[u8]) -> bool {
    let is_control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    let Some(first_lf) = lex::find_byte(head, b'\n') else {
        return false;
    };
    let start_line = head.get(..first_lf.saturating_sub(1)).unwrap_or(&[]);
    if start_line.iter().any(|&b| is_control(b)) {
        return false;
    }
    let mut in_quote = false;
    let mut i = first_lf + 1;
    while let Some(&b) = head.get(i) {
        match b {
            b'\r' if head.get(i + 1) == Some(&b'\n') => {
                // A fold continues the field (and its quoted-string); a new field starts unquoted.
                in_quote &= matches!(head.get(i + 2), Some(b' ' | b'\t'));
                i += 2;
                continue;
            }
            b'"' => in_quote = !in_quote,
            b'\\' if in_quote => match head.get(i + 1) {
                Some(b'\r' | b'\n') | None => return false,
                Some(_) => i += 1,
            },
            b if is_control(b) => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

/// Fast path for Content-Length: the line is `SP* 1*DIGIT CRLF` after the colon, with no
/// continuation line; `None` otherwise (or when the number would overflow).
#[inline]
fn simple_digits(h: Header<'_>) -> Option<u64> {
    let v = h.buf.get(h.line.colon(h.buf) + 1..h.end as usize)?;
    let sp = v.iter().take_while(|&&b| b == b' ').count();
    let digits = v.get(sp..)?.strip_suffix(b"\r\n")?;
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// `Content-Length = 1*DIGIT` (RFC 3261 §20.14); too large a number saturates (and then
/// exceeds the body).
fn content_length_value(h: Header<'_>) -> Result<u64, ScanError> {
    let v = lex::trim(h.value());
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(ScanError::ContentLength);
    }
    Ok(lex::digits_u64(v).unwrap_or(u64::MAX))
}

/// The trimmed field-value inside `v` (the bytes between the colon and the final CRLF):
/// SP/HT and fold CRLFs are skipped at both ends; a stray CR stays. An empty value sits
/// right after the SP/HT that follow the colon.
fn trim_value(v: &[u8]) -> (usize, usize) {
    let is_sp = |b: &u8| *b == b' ' || *b == b'\t';
    let first_line = v.iter().take_while(|b| is_sp(b)).count();
    let mut s = first_line;
    // Inside a header's lines every CRLF is a fold (followed by SP/HT).
    while let Some(b"\r\n") = v.get(s..s + 2) {
        s += 2;
        s += v
            .get(s..)
            .unwrap_or(&[])
            .iter()
            .take_while(|b| is_sp(b))
            .count();
    }
    let mut e = v.len();
    while e > s {
        match v.get(..e) {
            Some([.., b' ' | b'\t']) => e -= 1,
            Some([.., b'\r', b'\n']) => e = (e - 2).max(s),
            _ => break,
        }
    }
    if s == e {
        (first_line, first_line)
    } else {
        (s, e)
    }
}

/// What the fast look at a header line found.
enum Field {
    /// `field-name` (known, or all `token`) and its colon at the given offset.
    Name(usize, HeaderName),
    /// The line starts with SP/HT: a continuation of the previous header.
    Fold,
    /// Anything else: whitespace before the colon, a name of [`crate::window::WIDTH`] bytes or
    /// more, an error, the last bytes of the buffer.
    Slow,
}

/// Fast path for a header line: the first `:` within [`crate::window::WIDTH`] bytes of the
/// line start, before its CR, with a known name (perfect hash) or an all-`token` one
/// before it.
#[inline(always)]
fn field_name(buf: &[u8], pos: usize, cr: usize) -> Field {
    let w = match Window::load(buf, pos) {
        Some(w) => w,
        None => match buf.get(pos..).and_then(Window::padded) {
            Some(w) => w,
            None => return Field::Slow,
        },
    };
    if matches!(w.first(), b' ' | b'\t') {
        return Field::Fold;
    }
    let Some(len) = w.colon() else {
        return Field::Slow;
    };
    let colon = pos + len;
    if len == 0 || colon >= cr {
        return Field::Slow;
    }
    if let Some(known) = name::lookup(&w, len) {
        return Field::Name(colon, known);
    }
    match buf.get(pos..colon) {
        Some(name) if name.iter().all(|&b| lex::is_token(b)) => {
            Field::Name(colon, HeaderName::Other)
        }
        _ => Field::Slow,
    }
}

/// `field-name = token`, then `*(SP / HT) ":"` (RFC 3261 §7.3.1, §25.1), with the error
/// that names what is wrong; returns the colon and the recognized name.
#[cold]
fn field_name_slow(buf: &[u8], pos: usize, cr: usize) -> Result<(usize, HeaderName), ScanError> {
    let line = buf.get(..cr).unwrap_or(&[]);
    let name_end = lex::token_end(line, pos);
    let colon = name_end
        + line
            .get(name_end..)
            .unwrap_or(&[])
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
    let at = line.get(colon).copied();
    if name_end == pos || (at.is_some() && at != Some(b':') && colon == name_end) {
        return Err(ScanError::HeaderName);
    }
    if at != Some(b':') {
        return Err(ScanError::HeaderColon);
    }
    let name = HeaderName::parse(line.get(pos..name_end).unwrap_or(&[]));
    Ok((colon, name))
}

fn parse_start_line(line: &[u8]) -> Result<Kind<'_>, ScanError> {
    if line.starts_with(b"SIP/") {
        let sp = lex::find_byte(line, b' ').ok_or(ScanError::StatusLine)?;
        if &line[..sp] != b"SIP/2.0" {
            return Err(ScanError::Version);
        }
        let rest = &line[sp + 1..];
        let csp = lex::find_byte(rest, b' ').ok_or(ScanError::StatusLine)?;
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
    let sp = lex::find_byte(line, b' ').ok_or(ScanError::RequestLine)?;
    let method = &line[..sp];
    if method.is_empty() {
        return Err(ScanError::RequestLine);
    }
    // Known methods are tokens; only others need the check.
    let parsed = Method::parse(method);
    if matches!(parsed, Method::Other(_)) && !method.iter().all(|&b| lex::is_token(b)) {
        return Err(ScanError::Method);
    }
    let rest = &line[sp + 1..];
    let usp = lex::find_byte(rest, b' ').ok_or(ScanError::RequestLine)?;
    let uri = &rest[..usp];
    let version = &rest[usp + 1..];
    if uri.is_empty() || lex::find_byte(version, b' ').is_some() {
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
        method: parsed,
        uri,
    })
}

/// `scheme ":"` with `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
pub(crate) fn has_scheme(uri: &[u8]) -> bool {
    if uri.starts_with(b"sip:") || uri.starts_with(b"sips:") {
        return true;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn colon_far_from_the_line_start() {
        let mut m = b"OPTIONS sip:a@b SIP/2.0\r\nX-Long".to_vec();
        m.extend(std::iter::repeat_n(b' ', 70_000));
        m.extend_from_slice(b":  v \r\nVia: SIP/2.0/WS h\r\n\r\n");
        let msg = Message::parse(&m).unwrap();
        let h = msg.header(0).unwrap();
        assert_eq!(h.raw_name(), b"X-Long");
        assert_eq!(h.value(), b"v");
        assert_eq!(msg.get(HeaderName::Via).unwrap().value(), b"SIP/2.0/WS h");
    }

    proptest! {
        /// The fast field-name path agrees with the rule-by-rule one whenever it answers.
        #[test]
        fn fast_field_name_agrees_with_slow(
            line in proptest::collection::vec(prop_oneof![
                Just(b':'), Just(b' '), Just(b'\t'), Just(b'-'), Just(b'\r'), Just(b'v'),
                Just(b'V'), Just(b'i'), Just(b'a'), Just(b'@'), any::<u8>(),
            ], 1..40),
            name in prop_oneof![Just("Via"), Just("call-id"), Just("X-Foo"), Just("m"), Just("PROXY-AUTHORIZATION")],
            pad in 0usize..40,
        ) {
            // A header line as the scanner sees it: bytes, CR, LF, then more bytes.
            let mut buf = name.as_bytes().to_vec();
            buf.extend_from_slice(&line);
            let cr = buf.len();
            buf.extend_from_slice(b"\r\n");
            buf.extend(std::iter::repeat_n(b'x', pad));
            let body = &buf[..cr];
            if body.contains(&b'\r') || body.contains(&b'\n') {
                return Ok(());
            }
            match field_name(&buf, 0, cr) {
                Field::Name(colon, n) => {
                    prop_assert_eq!(field_name_slow(&buf, 0, cr), Ok((colon, n)));
                }
                Field::Fold => prop_assert!(matches!(buf[0], b' ' | b'\t')),
                Field::Slow => {}
            }
        }
    }
}
