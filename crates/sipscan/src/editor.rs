//! Deferred edits ("lumps") applied in one pass: untouched bytes are copied, never
//! re-serialized.

use crate::lex;
use crate::scan::Message;
use crate::views::scalar;
use crate::{HeaderName, ViewError};

/// Why an edit cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// Max-Forwards is 0: answer `483 Too Many Hops` (RFC 3261 §16.3 step 2).
    #[error("Max-Forwards reached 0 (RFC 3261 §16.3: 483 Too Many Hops)")]
    TooManyHops,
    /// Max-Forwards is malformed.
    #[error("malformed Max-Forwards: {0}")]
    MaxForwards(ViewError),
    /// The header index does not exist.
    #[error("no header at that index")]
    NoSuchHeader,
    /// Two recorded edits touch the same bytes.
    #[error("overlapping edits")]
    Overlap,
}

#[derive(Debug, Clone, Copy)]
enum Piece<'e> {
    Delete,
    Bytes(&'e [u8]),
    /// A header line: `name: ` (already with its colon and space), value, CRLF.
    Header(&'e [u8], &'e [u8]),
    /// A header line with a name given as text.
    Named(&'e str, &'e [u8]),
    Number(u32),
    Param(&'e str, Option<&'e [u8]>),
    EqValue(&'e [u8]),
}

#[derive(Debug, Clone, Copy)]
struct Edit<'e> {
    start: u32,
    end: u32,
    piece: Piece<'e>,
}

/// Edits kept inline before the editor spills them to the heap.
const INLINE_EDITS: usize = 8;

/// Records edits against a scanned [`Message`] and writes the result in one pass.
/// Up to eight edits need no allocation.
#[derive(Debug)]
pub struct Editor<'e> {
    msg: &'e Message<'e>,
    /// The first `len` are `Some` (an empty slot is one tag byte to set up).
    inline: [Option<Edit<'e>>; INLINE_EDITS],
    len: usize,
    /// Every edit once there are more than [`INLINE_EDITS`].
    spill: Vec<Edit<'e>>,
}

impl<'e> Editor<'e> {
    /// An editor with no edits.
    pub fn new(msg: &'e Message<'e>) -> Self {
        Editor {
            msg,
            inline: [None; INLINE_EDITS],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, start: usize, end: usize, piece: Piece<'e>) {
        let edit = Edit {
            start: start as u32,
            end: end as u32,
            piece,
        };
        match self.inline.get_mut(self.len) {
            Some(slot) if self.spill.is_empty() => *slot = Some(edit),
            _ => {
                if self.spill.is_empty() {
                    self.spill.extend(self.inline.iter().flatten());
                }
                self.spill.push(edit);
            }
        }
        self.len += 1;
    }

    /// Insert `name: value` as the first header line (top Via, first Record-Route, Path).
    /// Several inserts at the same place are written in the order they were recorded.
    pub fn insert_first(&mut self, name: HeaderName, value: &'e [u8]) {
        let at = self.msg.start_line_span().end as usize;
        self.push(at, at, Piece::Header(name.field_prefix(), value));
    }

    /// Insert `name: value` before header line `index` (or before the blank line when
    /// `index == header_count()`).
    pub fn insert_before(
        &mut self,
        index: usize,
        name: &'e str,
        value: &'e [u8],
    ) -> Result<(), EditError> {
        let at = match self.msg.header(index) {
            Some(h) => h.line_span().start as usize,
            None if index == self.msg.header_count() => self.msg.headers_end(),
            None => return Err(EditError::NoSuchHeader),
        };
        self.push(at, at, Piece::Named(name, value));
        Ok(())
    }

    /// Remove header line `index` (with its continuation lines).
    pub fn remove(&mut self, index: usize) -> Result<(), EditError> {
        let h = self.msg.header(index).ok_or(EditError::NoSuchHeader)?;
        let s = h.line_span();
        self.push(s.start as usize, s.end as usize, Piece::Delete);
        Ok(())
    }

    /// Replace the value of header line `index`.
    pub fn replace_value(&mut self, index: usize, value: &'e [u8]) -> Result<(), EditError> {
        let h = self.msg.header(index).ok_or(EditError::NoSuchHeader)?;
        let s = h.value_span();
        self.push(s.start as usize, s.end as usize, Piece::Bytes(value));
        Ok(())
    }

    /// Remove the first value of the first `name` header (pop a Route): the whole line
    /// when it holds one value, else the value and its comma.
    /// Returns the index of the header touched.
    pub fn pop_first(&mut self, name: HeaderName) -> Option<usize> {
        let h = self.msg.get(name)?;
        let mut els = h.elements();
        let first = els.next()?;
        match els.next() {
            Some(second) => {
                self.push(
                    first.span.start as usize,
                    second.span.start as usize,
                    Piece::Delete,
                );
            }
            None => {
                let s = h.line_span();
                self.push(s.start as usize, s.end as usize, Piece::Delete);
            }
        }
        Some(h.index())
    }

    /// Decrement Max-Forwards (adding `Max-Forwards: 70` when absent, RFC 3261 §16.6
    /// step 3); returns the new value.
    pub fn decrement_max_forwards(&mut self) -> Result<u8, EditError> {
        match self.msg.get(HeaderName::MaxForwards) {
            Some(h) => {
                let v = scalar::parse_max_forwards(h.value()).map_err(EditError::MaxForwards)?;
                if v == 0 {
                    return Err(EditError::TooManyHops);
                }
                let s = h.value_span();
                self.push(
                    s.start as usize,
                    s.end as usize,
                    Piece::Number(u32::from(v - 1)),
                );
                Ok(v - 1)
            }
            None => {
                let at = self.msg.headers_end();
                self.push(at, at, Piece::Header(b"Max-Forwards: ", b"70"));
                Ok(70)
            }
        }
    }

    /// Set Content-Length to `n` (replacing its value, or adding the field).
    pub fn set_content_length(&mut self, n: u32) {
        match self.msg.get(HeaderName::ContentLength) {
            Some(h) => {
                let s = h.value_span();
                self.push(s.start as usize, s.end as usize, Piece::Number(n));
            }
            None => {
                let at = self.msg.headers_end();
                self.push(at, at, Piece::Bytes(b"Content-Length: "));
                self.push(at, at, Piece::Number(n));
                self.push(at, at, Piece::Bytes(b"\r\n"));
            }
        }
    }

    /// Add or replace header parameter `name` on the first value of header line `index`
    /// (e.g. `received`/`rport` on a Via, `expires` on a Contact); `None` = no value.
    pub fn set_param(
        &mut self,
        index: usize,
        name: &'e str,
        value: Option<&'e [u8]>,
    ) -> Result<(), EditError> {
        let h = self.msg.header(index).ok_or(EditError::NoSuchHeader)?;
        let el = h.elements().next().ok_or(EditError::NoSuchHeader)?;
        let base = el.span.start as usize;
        let s = el.bytes;
        let mut i = params_start(s);
        while i < s.len() && s[i] == b';' {
            let ns = lex::skip_lws(s, i + 1);
            let ne = lex::token_end(s, ns);
            if ne == ns {
                break;
            }
            let mut j = lex::skip_lws(s, ne);
            let mut val: Option<(usize, usize)> = None;
            if j < s.len() && s[j] == b'=' {
                let vs = lex::skip_lws(s, j + 1);
                let ve = if s.get(vs) == Some(&b'"') {
                    lex::quoted_end(s, vs).unwrap_or(s.len())
                } else {
                    let mut k = vs;
                    while k < s.len() && (lex::is_token(s[k]) || matches!(s[k], b':' | b'[' | b']'))
                    {
                        k += 1;
                    }
                    k
                };
                val = Some((vs, ve));
                j = ve;
            }
            if s[ns..ne].eq_ignore_ascii_case(name.as_bytes()) {
                match (val, value) {
                    (Some((vs, ve)), Some(v)) => self.push(base + vs, base + ve, Piece::Bytes(v)),
                    (None, Some(v)) => self.push(base + ne, base + ne, Piece::EqValue(v)),
                    (Some(_), None) => self.push(base + ne, base + j, Piece::Delete),
                    (None, None) => {}
                }
                return Ok(());
            }
            i = lex::skip_lws(s, j);
        }
        let end = base + s.len();
        self.push(end, end, Piece::Param(name, value));
        Ok(())
    }

    /// Remove the bytes of `span` (e.g. the leading elements of a Route line, with their comma).
    pub fn remove_span(&mut self, span: crate::Span) {
        self.push(span.start as usize, span.end as usize, Piece::Delete);
    }

    /// Replace the bytes of `span` with `value` (e.g. the Request-URI of a retargeted request).
    pub fn replace_span(&mut self, span: crate::Span, value: &'e [u8]) {
        self.push(span.start as usize, span.end as usize, Piece::Bytes(value));
    }

    /// Number of recorded edits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no edit is recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append the edited message to `out` (leading keep-alive CRLFs and bytes after the
    /// body are dropped); returns the number of bytes written.
    pub fn write_into(&mut self, out: &mut Vec<u8>) -> Result<usize, EditError> {
        // Stable: edits at one position keep their recorded order, except that a value
        // given to a valueless parameter (`;rport` -> `;rport=n`) precedes appended params.
        let key = |e: &Edit<'_>| (e.start, !matches!(e.piece, Piece::EqValue(_)));
        match self.inline.get_mut(..self.len) {
            Some(inline) if self.spill.is_empty() => {
                let key = |e: &Option<Edit<'_>>| e.as_ref().map(key);
                if !inline.is_sorted_by_key(key) {
                    inline.sort_by_key(key);
                }
                write_sorted(self.msg, inline.iter().flatten(), self.len, out)
            }
            _ => {
                if !self.spill.is_sorted_by_key(key) {
                    self.spill.sort_by_key(key);
                }
                write_sorted(self.msg, self.spill.iter(), self.len, out)
            }
        }
    }
}

/// Write `msg` with `edits` (sorted by position) applied.
fn write_sorted<'x, 'e: 'x>(
    msg: &Message<'_>,
    edits: impl Iterator<Item = &'x Edit<'e>>,
    count: usize,
    out: &mut Vec<u8>,
) -> Result<usize, EditError> {
    let buf = msg.as_bytes();
    let before = out.len();
    let end = msg.body_span().end as usize;
    out.reserve(end + count * 64);
    let mut cursor = msg.start_line_span().start as usize;
    for e in edits {
        let (s, t) = (e.start as usize, e.end as usize);
        if s < cursor {
            return Err(EditError::Overlap);
        }
        out.extend_from_slice(buf.get(cursor..s).ok_or(EditError::Overlap)?);
        match e.piece {
            Piece::Delete => {}
            Piece::Bytes(b) => out.extend_from_slice(b),
            Piece::Header(prefix, v) => {
                out.extend_from_slice(prefix);
                out.extend_from_slice(v);
                out.extend_from_slice(b"\r\n");
            }
            Piece::Named(n, v) => {
                out.extend_from_slice(n.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(v);
                out.extend_from_slice(b"\r\n");
            }
            Piece::Number(n) => push_u32(out, n),
            Piece::Param(n, v) => {
                out.push(b';');
                out.extend_from_slice(n.as_bytes());
                if let Some(v) = v {
                    out.push(b'=');
                    out.extend_from_slice(v);
                }
            }
            Piece::EqValue(v) => {
                out.push(b'=');
                out.extend_from_slice(v);
            }
        }
        cursor = t;
    }
    out.extend_from_slice(buf.get(cursor..end).ok_or(EditError::Overlap)?);
    Ok(out.len() - before)
}

/// Where the header parameters of one element start: after `>` for name-addr,
/// else at the first `;` outside a quoted-string.
fn params_start(s: &[u8]) -> usize {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'"' => i = lex::quoted_end(s, i).unwrap_or(s.len()),
            b'<' => {
                return s[i..]
                    .iter()
                    .position(|&b| b == b'>')
                    .map_or(s.len(), |p| lex::skip_lws(s, i + p + 1));
            }
            b';' => return i,
            _ => i += 1,
        }
    }
    s.len()
}

fn push_u32(out: &mut Vec<u8>, mut n: u32) {
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_edits_than_kept_inline() {
        let bytes = b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/WS a;branch=z9hG4bK0\r\n\
            Route: <sip:x;lr>\r\nMax-Forwards: 5\r\nCall-ID: c\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(bytes).unwrap();
        let vias: Vec<Vec<u8>> = (1..=10)
            .map(|i| format!("SIP/2.0/UDP e{i};branch=z9hG4bK{i}").into_bytes())
            .collect();
        let mut ed = Editor::new(&m);
        // Recorded out of order: the Route removal and Max-Forwards first.
        ed.pop_first(HeaderName::Route);
        assert_eq!(ed.decrement_max_forwards(), Ok(4));
        for v in &vias {
            ed.insert_first(HeaderName::Via, v);
        }
        ed.insert_before(4, "X-Added", b"1").unwrap();
        assert_eq!(ed.len(), 13);
        let mut out = Vec::new();
        ed.write_into(&mut out).unwrap();
        let e = Message::parse(&out).unwrap();
        let hosts: Vec<Vec<u8>> = e
            .vias()
            .map(|v| v.unwrap().host.as_bytes().to_vec())
            .collect();
        let mut want: Vec<Vec<u8>> = (1..=10).map(|i| format!("e{i}").into_bytes()).collect();
        want.push(b"a".to_vec());
        assert_eq!(hosts, want);
        assert_eq!(e.routes().count(), 0);
        assert_eq!(e.max_forwards(), Some(Ok(4)));
        assert_eq!(e.get_other(b"x-added").next().unwrap().value(), b"1");
        assert_eq!(
            e.header(e.header_count() - 2).unwrap().raw_name(),
            b"X-Added"
        );
    }
}
