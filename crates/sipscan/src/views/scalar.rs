//! CSeq, Max-Forwards and delta-seconds fields.

use crate::ViewError;
use crate::lex;
use crate::method::Method;

/// `CSeq = 1*DIGIT LWS Method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Sequence number, < 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method<'a>,
}

/// Parse a CSeq value.
pub fn parse_cseq(s: &[u8]) -> Result<CSeq<'_>, ViewError> {
    let s = lex::trim(s);
    let mut e = 0;
    while e < s.len() && s[e].is_ascii_digit() {
        e += 1;
    }
    let seq = lex::number(&s[..e], (1 << 31) - 1)? as u32;
    let m = lex::skip_lws(s, e);
    if m == e {
        return Err(ViewError::Number);
    }
    let me = lex::token_end(s, m);
    if me == m || me != s.len() {
        return Err(ViewError::Method);
    }
    Ok(CSeq {
        seq,
        method: Method::parse(&s[m..me]),
    })
}

/// Parse Max-Forwards (0..=255, RFC 3261 §20.22).
pub fn parse_max_forwards(s: &[u8]) -> Result<u8, ViewError> {
    lex::number(lex::trim(s), 255).map(|n| n as u8)
}

/// Parse delta-seconds (Expires, Flow-Timer; < 2^32).
pub fn parse_delta_seconds(s: &[u8]) -> Result<u32, ViewError> {
    lex::number(lex::trim(s), u64::from(u32::MAX)).map(|n| n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_cseq(b"0009\r\n  INVITE").unwrap().seq, 9);
        assert_eq!(parse_cseq(b"2147483648 INVITE"), Err(ViewError::OutOfRange));
        assert_eq!(parse_cseq(b"1INVITE"), Err(ViewError::Number));
        assert_eq!(parse_cseq(b"1 INVITE x"), Err(ViewError::Method));
        assert_eq!(parse_max_forwards(b"0068"), Ok(68));
        assert_eq!(parse_max_forwards(b"256"), Err(ViewError::OutOfRange));
        assert_eq!(parse_max_forwards(b"-1"), Err(ViewError::Number));
        assert_eq!(parse_delta_seconds(b"4294967295"), Ok(u32::MAX));
        assert_eq!(
            parse_delta_seconds(b"4294967296"),
            Err(ViewError::OutOfRange)
        );
    }
}
