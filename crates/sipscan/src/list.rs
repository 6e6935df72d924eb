//! Splitting a header value into its comma-separated elements (RFC 3261 §7.3.1),
//! respecting quoted-strings and `<...>`.

use crate::lex;

/// Iterator over the elements of one comma-separated header value, as `(offset, bytes)`
/// pairs relative to the value; elements are trimmed of LWS, empty ones are yielded empty.
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    value: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Elements<'a> {
    /// Split `value`.
    pub fn new(value: &'a [u8]) -> Self {
        Elements {
            value,
            pos: 0,
            done: false,
        }
    }
}

/// End (exclusive) of the element starting at `start`: the next top-level comma or the end.
pub(crate) fn element_end(v: &[u8], start: usize) -> usize {
    let mut i = start;
    let mut angle = false;
    while i < v.len() {
        match v[i] {
            b'"' if !angle => match lex::quoted_end(v, i) {
                Some(e) => i = e,
                None => return v.len(),
            },
            b'<' => {
                angle = true;
                i += 1;
            }
            b'>' => {
                angle = false;
                i += 1;
            }
            b',' if !angle => return i,
            _ => i += 1,
        }
    }
    v.len()
}

impl<'a> Iterator for Elements<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let v = self.value;
        let end = element_end(v, self.pos);
        let start = lex::skip_lws(v, self.pos);
        let mut e = end;
        while e > start && lex::is_lws(v[e - 1]) {
            e -= 1;
        }
        let start = start.min(e);
        if end >= v.len() {
            self.done = true;
        } else {
            self.pos = end + 1;
        }
        Some((start, &v[start..e]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(v: &[u8]) -> Vec<&[u8]> {
        Elements::new(v).map(|(_, e)| e).collect()
    }

    #[test]
    fn commas_inside_quotes_and_angles_do_not_split() {
        assert_eq!(
            split(b"\"a, b\" <sip:x@y;p=1,2>;q=1 , <sip:z>"),
            vec![&b"\"a, b\" <sip:x@y;p=1,2>;q=1"[..], b"<sip:z>"]
        );
        assert_eq!(split(b"a,b,,c"), vec![&b"a"[..], b"b", b"", b"c"]);
        assert_eq!(split(b"\"open, quote"), vec![&b"\"open, quote"[..]]);
        assert_eq!(split(b""), vec![&b""[..]]);
    }
}
