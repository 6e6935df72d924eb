//! Small HTTP/1.1 helpers shared by both handshake roles.

/// Headers parsed at most; more is an error.
pub(crate) const MAX_HEADERS: usize = 48;

/// Default cap on the size of a handshake request or response head.
pub(crate) const DEFAULT_MAX_HEAD: usize = 8 * 1024;

/// Append `bytes` to `buf` and find the end of the head (`\r\n\r\n`), searching only new bytes.
pub(crate) fn append_find_end(buf: &mut Vec<u8>, bytes: &[u8]) -> Option<usize> {
    let from = buf.len().saturating_sub(3);
    buf.extend_from_slice(bytes);
    memchr_crlfcrlf(buf.get(from..).unwrap_or_default()).map(|i| from + i + 4)
}

fn memchr_crlfcrlf(hay: &[u8]) -> Option<usize> {
    hay.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Whether a comma-separated header value contains `token` (ASCII case-insensitive).
pub(crate) fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// The value of the only header called `name`; `Err(())` if it appears more than once.
pub(crate) fn single<'h>(
    headers: &[httparse::Header<'h>],
    name: &str,
) -> Result<Option<&'h [u8]>, ()> {
    let mut found = None;
    for h in headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)) {
        if found.is_some() {
            return Err(());
        }
        found = Some(h.value);
    }
    Ok(found)
}

/// All comma-separated tokens of every header called `name`, in order.
pub(crate) fn tokens(headers: &[httparse::Header<'_>], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| h.value.split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect()
}

/// Whether the header `name` contains `token` in any of its occurrences.
pub(crate) fn any_has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .any(|h| has_token(h.value, token))
}

/// A header value as an owned string (lossy for non-UTF-8 bytes).
pub(crate) fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_end_across_pieces() {
        let mut buf = Vec::new();
        assert_eq!(append_find_end(&mut buf, b"GET / HTTP/1.1\r\n\r"), None);
        assert_eq!(append_find_end(&mut buf, b"\nrest"), Some(18));
    }

    #[test]
    fn tokens_are_case_insensitive_and_trimmed() {
        assert!(has_token(b"keep-alive, Upgrade", "upgrade"));
        assert!(!has_token(b"keep-alive, upgraded", "upgrade"));
    }
}
