//! `*( SEMI generic-param )` lists of header values (Via, name-addr, Contact).

use crate::ViewError;
use crate::lex;

/// Header parameters (`;name[=value]`), validated when the view was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a [u8],
}

#[inline]
fn is_value_char(b: u8) -> bool {
    // gen-value = token / host / quoted-string; host adds ':' '[' ']' (IPv6).
    lex::is_token(b) || matches!(b, b':' | b'[' | b']')
}

/// Validate parameters starting at `s[i] == b';'`; returns the end of the last one
/// (LWS after it skipped).
pub(crate) fn scan(s: &[u8], mut i: usize) -> Result<usize, ViewError> {
    while i < s.len() && s[i] == b';' {
        i = lex::skip_lws(s, i + 1);
        let name_end = lex::token_end(s, i);
        if name_end == i {
            return Err(ViewError::Param);
        }
        i = lex::skip_lws(s, name_end);
        if i < s.len() && s[i] == b'=' {
            i = lex::skip_lws(s, i + 1);
            let vend = if s.get(i) == Some(&b'"') {
                lex::quoted_end(s, i).ok_or(ViewError::UnterminatedQuote)?
            } else {
                let mut j = i;
                while j < s.len() && is_value_char(s[j]) {
                    j += 1;
                }
                j
            };
            if vend == i {
                return Err(ViewError::Param);
            }
            i = lex::skip_lws(s, vend);
        }
    }
    Ok(i)
}

impl<'a> Params<'a> {
    pub(crate) fn new(raw: &'a [u8]) -> Self {
        Params { raw }
    }

    /// The parameter bytes as written, starting at the first `;` (empty when none).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// `(name, value)` pairs; quoted values keep their quotes (see [`unquote`]).
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + use<'a> {
        let s = self.raw;
        let mut i = 0;
        core::iter::from_fn(move || {
            if i >= s.len() || s[i] != b';' {
                return None;
            }
            let ns = lex::skip_lws(s, i + 1);
            let ne = lex::token_end(s, ns);
            if ne == ns {
                return None;
            }
            i = lex::skip_lws(s, ne);
            let mut value = None;
            if i < s.len() && s[i] == b'=' {
                let vs = lex::skip_lws(s, i + 1);
                let ve = if s.get(vs) == Some(&b'"') {
                    lex::quoted_end(s, vs).unwrap_or(s.len())
                } else {
                    let mut j = vs;
                    while j < s.len() && is_value_char(s[j]) {
                        j += 1;
                    }
                    j
                };
                value = Some(&s[vs..ve]);
                i = lex::skip_lws(s, ve);
            }
            Some((&s[ns..ne], value))
        })
    }

    /// The parameter `name` (case-insensitive): `Some(None)` when present without value.
    pub fn get(&self, name: &str) -> Option<Option<&'a [u8]>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// The inside of a quoted-string (quoted-pairs left escaped); other values unchanged.
pub fn unquote(v: &[u8]) -> &[u8] {
    if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
        &v[1..v.len() - 1]
    } else {
        v
    }
}
