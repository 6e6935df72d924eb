//! name-addr / addr-spec values: From, To, Contact, Route, Record-Route, Path.

use super::params::{self, Params};
use super::uri::{Uri, parse_uri};
use crate::ViewError;
use crate::lex;

/// `[ display-name ] LAQUOT addr-spec RAQUOT *(SEMI param)` or `addr-spec *(SEMI param)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display-name: inside of the quoted-string (escapes kept) or the tokens.
    pub display_name: Option<&'a [u8]>,
    /// The URI bytes.
    pub uri_bytes: &'a [u8],
    /// The parsed URI.
    pub uri: Uri<'a>,
    /// Whether the URI was enclosed in `<>`.
    pub angle: bool,
    /// Header parameters after the address.
    pub params: Params<'a>,
}

/// A Contact value: `*` or an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (REGISTER removing all bindings).
    Star,
    /// One contact address.
    Addr(NameAddr<'a>),
}

/// Parse one (trimmed) element as a name-addr or addr-spec.
pub fn parse_name_addr(s: &[u8]) -> Result<NameAddr<'_>, ViewError> {
    if s.is_empty() {
        return Err(ViewError::Empty);
    }
    let (display_name, lt) = if s[0] == b'"' {
        let q = lex::quoted_end(s, 0).ok_or(ViewError::UnterminatedQuote)?;
        let i = lex::skip_lws(s, q);
        if s.get(i) != Some(&b'<') {
            return Err(ViewError::DisplayName);
        }
        (Some(&s[1..q - 1]), Some(i))
    } else {
        match lex::find_byte(s, b'<') {
            Some(p) => {
                let dn = lex::trim(&s[..p]);
                if !dn.iter().all(|&b| lex::is_token(b) || lex::is_lws(b)) {
                    return Err(ViewError::DisplayName);
                }
                ((!dn.is_empty()).then_some(dn), Some(p))
            }
            None => (None, None),
        }
    };
    let (uri_bytes, angle, mut i) = match lt {
        Some(lt) => {
            let gt = lex::find_byte(&s[lt..], b'>').ok_or(ViewError::UnterminatedAngle)? + lt;
            (&s[lt + 1..gt], true, gt + 1)
        }
        None => {
            let mut e = 0;
            while e < s.len() && s[e] != b';' && !lex::is_lws(s[e]) {
                e += 1;
            }
            let u = &s[..e];
            if u.contains(&b'?') {
                return Err(ViewError::NeedsNameAddr);
            }
            (u, false, e)
        }
    };
    let uri = parse_uri(uri_bytes)?;
    i = lex::skip_lws(s, i);
    let ps = i;
    let end = params::scan(s, i)?;
    if end != s.len() {
        return Err(ViewError::Trailing);
    }
    Ok(NameAddr {
        display_name,
        uri_bytes,
        uri,
        angle,
        params: Params::new(lex::trim(&s[ps..end])),
    })
}

/// Parse one Contact element.
pub fn parse_contact(s: &[u8]) -> Result<Contact<'_>, ViewError> {
    if s == b"*" {
        Ok(Contact::Star)
    } else {
        parse_name_addr(s).map(Contact::Addr)
    }
}

impl<'a> NameAddr<'a> {
    /// The `tag` parameter (From/To).
    pub fn tag(&self) -> Option<&'a [u8]> {
        self.params.get("tag").flatten()
    }
    /// The Contact `expires` parameter as delta-seconds.
    pub fn expires(&self) -> Option<Result<u32, ViewError>> {
        let v = self.params.get("expires")?;
        Some(
            v.ok_or(ViewError::Number)
                .and_then(|v| lex::number(v, u64::from(u32::MAX)).map(|n| n as u32)),
        )
    }
    /// The `+sip.instance` parameter without its quotes (RFC 5626 §4.1).
    pub fn sip_instance(&self) -> Option<&'a [u8]> {
        self.params
            .get("+sip.instance")
            .flatten()
            .map(params::unquote)
    }
    /// The `reg-id` parameter (RFC 5626 §4.2).
    pub fn reg_id(&self) -> Option<Result<u32, ViewError>> {
        let v = self.params.get("reg-id")?;
        Some(
            v.ok_or(ViewError::Number)
                .and_then(|v| lex::number(v, u64::from(u32::MAX)).map(|n| n as u32)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = parse_name_addr(b"\"A \\\"B\\\"\" <sip:a@b.c;ob>;tag=1;+sip.instance=\"<urn:x>\"")
            .unwrap();
        assert_eq!(a.display_name, Some(&b"A \\\"B\\\""[..]));
        assert_eq!(a.tag(), Some(&b"1"[..]));
        assert_eq!(a.sip_instance(), Some(&b"<urn:x>"[..]));
        assert!(a.uri.sip().unwrap().ob());
        let b = parse_name_addr(b"sip:a@b;tag=x").unwrap();
        assert!(!b.angle);
        assert_eq!(b.tag(), Some(&b"x"[..]));
        assert_eq!(
            parse_name_addr(b"sip:a@b?x=y"),
            Err(ViewError::NeedsNameAddr)
        );
        assert_eq!(
            parse_name_addr(b"\"open <sip:a@b>"),
            Err(ViewError::UnterminatedQuote)
        );
        assert_eq!(
            parse_name_addr(b"a, b <sip:a@b>"),
            Err(ViewError::DisplayName)
        );
        assert_eq!(parse_name_addr(b"< sip:a@b >"), Err(ViewError::LwsInUri));
        assert_eq!(parse_name_addr(b"<sip:a@b>;;"), Err(ViewError::Param));
        assert_eq!(
            parse_name_addr(b"<sip:a@b"),
            Err(ViewError::UnterminatedAngle)
        );
        assert_eq!(parse_contact(b"*"), Ok(Contact::Star));
    }
}
