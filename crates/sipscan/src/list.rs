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
/// Inside `<...>` nothing but `>` matters; a quoted-string is skipped (to the end when
/// unterminated).
pub(crate) fn element_end(v: &[u8], start: usize) -> usize {
    let mut i = start;
    loop {
        let Some(p) = v
            .get(i..)
            .and_then(|r| lex::find_any(r, [b',', b'"', b'<']))
        else {
            return v.len();
        };
        i += p;
        match v.get(i) {
            Some(b'"') => match lex::quoted_end(v, i) {
                Some(e) => i = e,
                None => return v.len(),
            },
            Some(b'<') => match v.get(i..).and_then(|r| lex::find_byte(r, b'>')) {
                Some(gt) => i += gt + 1,
                None => return v.len(),
            },
            _ => return i,
        }
    }
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
        assert_eq!(split(b"<a,<b>,c"), vec![&b"<a,<b>"[..], b"c"]);
        assert_eq!(
            split(b"a>,\"x,\\\",y\",<"),
            vec![&b"a>"[..], b"\"x,\\\",y\"", b"<"]
        );
    }

    /// The byte-at-a-time definition the fast search must agree with.
    fn element_end_reference(v: &[u8], start: usize) -> usize {
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

    proptest::proptest! {
        #[test]
        fn element_end_matches_reference(
            v in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b','), proptest::strategy::Just(b'"'),
                proptest::strategy::Just(b'<'), proptest::strategy::Just(b'>'),
                proptest::strategy::Just(b'\\'), proptest::strategy::Just(b'a'),
            ], 0..40),
            start in 0usize..40,
        ) {
            let start = start.min(v.len());
            proptest::prop_assert_eq!(element_end(&v, start), element_end_reference(&v, start));
        }
    }
}
