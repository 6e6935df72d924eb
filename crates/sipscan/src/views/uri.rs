//! SIP/SIPS URIs (RFC 3261 §19.1) and hosts, parsed from a span without copying.

use crate::ViewError;
use crate::lex;

/// A host: name, IPv4 address or IPv6 reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// A host name.
    Name(&'a [u8]),
    /// A dotted IPv4 address.
    Ipv4(&'a [u8]),
    /// An IPv6 reference, without the brackets.
    Ipv6(&'a [u8]),
}

impl<'a> Host<'a> {
    /// The host as written (IPv6 without brackets).
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Host::Name(b) | Host::Ipv4(b) | Host::Ipv6(b) => b,
        }
    }
}

/// `sip:` or `sips:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// sip
    Sip,
    /// sips
    Sips,
}

/// A SIP or SIPS URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// sip / sips
    pub scheme: Scheme,
    /// The user part (escapes kept), if any.
    pub user: Option<&'a [u8]>,
    /// The password, if any.
    pub password: Option<&'a [u8]>,
    /// The host.
    pub host: Host<'a>,
    /// The port, if given.
    pub port: Option<u16>,
    /// `uri-parameters` as written, starting at `;` (empty when none).
    pub params: &'a [u8],
    /// `headers` after `?`, if any.
    pub headers: Option<&'a [u8]>,
}

/// Any URI: SIP/SIPS parsed, others kept whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri<'a> {
    /// sip: / sips:
    Sip(SipUri<'a>),
    /// tel:, urn:, ... (`scheme` without the colon, `rest` after it).
    Other {
        /// The scheme.
        scheme: &'a [u8],
        /// Everything after the colon.
        rest: &'a [u8],
    },
}

impl<'a> Uri<'a> {
    /// The SIP URI, if it is one.
    pub fn sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other { .. } => None,
        }
    }
}

impl<'a> SipUri<'a> {
    /// `uri-parameters` as `(name, value)` pairs.
    pub fn param_iter(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + use<'a> {
        self.params
            .split(|&b| b == b';')
            .skip(1)
            .map(|p| match p.iter().position(|&b| b == b'=') {
                Some(eq) => (&p[..eq], Some(&p[eq + 1..])),
                None => (p, None),
            })
    }
    /// The uri-parameter `name` (case-insensitive): `Some(None)` when valueless (`lr`, `ob`).
    pub fn param(&self, name: &str) -> Option<Option<&'a [u8]>> {
        // Walk the `;`s; only a parameter whose name has the right length is compared.
        let name = name.as_bytes();
        let mut rest = self.params.get(1..)?;
        loop {
            let end = lex::find_byte(rest, b';').unwrap_or(rest.len());
            let p = rest.get(..end)?;
            if p.get(..name.len())
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
            {
                match p.get(name.len()) {
                    None => return Some(None),
                    Some(b'=') => return Some(p.get(name.len() + 1..)),
                    Some(_) => {}
                }
            }
            rest = rest.get(end + 1..)?;
        }
    }
    /// `transport=` value.
    pub fn transport(&self) -> Option<&'a [u8]> {
        self.param("transport").flatten()
    }
    /// Whether `;lr` (loose routing) is present.
    pub fn lr(&self) -> bool {
        self.param("lr").is_some()
    }
    /// Whether `;ob` (RFC 5626 outbound) is present.
    pub fn ob(&self) -> bool {
        self.param("ob").is_some()
    }
}

/// Parse `host [ ":" port ]` at `s[i..]`; returns (host, port, end).
pub(crate) fn hostport(s: &[u8], i: usize) -> Result<(Host<'_>, Option<u16>, usize), ViewError> {
    let (host, mut j) = if s.get(i) == Some(&b'[') {
        let close = s[i..]
            .iter()
            .position(|&b| b == b']')
            .ok_or(ViewError::Host)?
            + i;
        let inner = &s[i + 1..close];
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(ViewError::Host);
        }
        (Host::Ipv6(inner), close + 1)
    } else {
        let j = lex::host_end(s, i);
        let h = &s[i..j];
        if h.is_empty() {
            return Err(ViewError::Host);
        }
        let v4 = h.iter().all(|&b| b.is_ascii_digit() || b == b'.')
            && h.iter().filter(|&&b| b == b'.').count() == 3;
        (if v4 { Host::Ipv4(h) } else { Host::Name(h) }, j)
    };
    let mut port = None;
    if s.get(j) == Some(&b':') {
        let ps = j + 1;
        let mut pe = ps;
        while pe < s.len() && s[pe].is_ascii_digit() {
            pe += 1;
        }
        let p = lex::digits_u64(&s[ps..pe]).ok_or(ViewError::Port)?;
        port = Some(u16::try_from(p).map_err(|_| ViewError::Port)?);
        j = pe;
    }
    Ok((host, port, j))
}

/// Parse a URI (no surrounding LWS).
pub fn parse_uri(s: &[u8]) -> Result<Uri<'_>, ViewError> {
    if lex::has_lws(s) {
        return Err(ViewError::LwsInUri);
    }
    if !crate::scan::has_scheme(s) {
        return Err(ViewError::Scheme);
    }
    let colon = lex::find_byte(s, b':').ok_or(ViewError::Scheme)?;
    let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
    let scheme = if scheme.eq_ignore_ascii_case(b"sip") {
        Scheme::Sip
    } else if scheme.eq_ignore_ascii_case(b"sips") {
        Scheme::Sips
    } else {
        return Ok(Uri::Other { scheme, rest });
    };
    let (user, password, hp) = match lex::find_byte(rest, b'@') {
        Some(at) => {
            let ui = &rest[..at];
            match lex::find_byte(ui, b':') {
                Some(c) => (Some(&ui[..c]), Some(&ui[c + 1..]), at + 1),
                None => (Some(ui), None, at + 1),
            }
        }
        None => (None, None, 0),
    };
    let (host, port, mut j) = hostport(rest, hp)?;
    let ps = j;
    j += lex::find_byte(&rest[j..], b'?').unwrap_or(rest.len() - j);
    let params = &rest[ps..j];
    if !params.is_empty() {
        if params[0] != b';' {
            return Err(ViewError::Host);
        }
        // Every `;` starts a non-empty parameter that does not begin with `=`.
        let mut at = 0;
        while let Some(p) = params.get(at..).and_then(|r| lex::find_byte(r, b';')) {
            at += p + 1;
            if matches!(params.get(at), None | Some(b';' | b'=')) {
                return Err(ViewError::Param);
            }
        }
    }
    let headers = (j < rest.len()).then(|| &rest[j + 1..]);
    Ok(Uri::Sip(SipUri {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn param_agrees_with_param_iter(
            params in "(;[a-zA-Z=]{0,4}){0,5}",
            name in "[a-zA-Z]{1,3}",
        ) {
            let uri = format!("sip:h{params}");
            let Ok(Uri::Sip(s)) = parse_uri(uri.as_bytes()) else { return Ok(()) };
            let by_iter = s
                .param_iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| v);
            proptest::prop_assert_eq!(s.param(&name), by_iter);
        }
    }

    #[test]
    fn sip_uri_parts() {
        let u = parse_uri(b"sips:alice:pw@[2001:db8::1]:5061;transport=ws;lr?subject=x").unwrap();
        let s = u.sip().unwrap();
        assert_eq!(s.scheme, Scheme::Sips);
        assert_eq!(s.user, Some(&b"alice"[..]));
        assert_eq!(s.password, Some(&b"pw"[..]));
        assert_eq!(s.host, Host::Ipv6(b"2001:db8::1"));
        assert_eq!(s.port, Some(5061));
        assert_eq!(s.transport(), Some(&b"ws"[..]));
        assert!(s.lr());
        assert!(!s.ob());
        assert_eq!(s.headers, Some(&b"subject=x"[..]));
        for (name, want) in [
            ("transport", Some(Some(&b"ws"[..]))),
            ("TRANSPORT", Some(Some(&b"ws"[..]))),
            ("lr", Some(None)),
            ("l", None),
            ("trans", None),
            ("ob", None),
        ] {
            assert_eq!(s.param(name), want, "{name}");
            let by_iter = s
                .param_iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| v);
            assert_eq!(by_iter, want, "{name}");
        }
        assert_eq!(parse_uri(b"sip:h:99999"), Err(ViewError::Port));
        assert_eq!(parse_uri(b"sip:"), Err(ViewError::Host));
        assert_eq!(parse_uri(b"sip:a@h;;lr"), Err(ViewError::Param));
        assert_eq!(parse_uri(b"<sip:a@h>"), Err(ViewError::Scheme));
        assert!(matches!(parse_uri(b"tel:+1234"), Ok(Uri::Other { .. })));
    }
}
