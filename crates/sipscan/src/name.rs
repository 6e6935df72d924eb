//! The header fields the edge reads, recognized case-insensitively in full and compact form.

/// A header field name the index knows; everything else is [`HeaderName::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HeaderName {
    /// `Via` / `v`
    Via,
    /// `Route`
    Route,
    /// `Record-Route`
    RecordRoute,
    /// `Path` (RFC 3327)
    Path,
    /// `Contact` / `m`
    Contact,
    /// `From` / `f`
    From,
    /// `To` / `t`
    To,
    /// `Call-ID` / `i`
    CallId,
    /// `CSeq`
    CSeq,
    /// `Max-Forwards`
    MaxForwards,
    /// `Content-Length` / `l`
    ContentLength,
    /// `Content-Type` / `c`
    ContentType,
    /// `Supported` / `k`
    Supported,
    /// `Require`
    Require,
    /// `Proxy-Require`
    ProxyRequire,
    /// `Expires`
    Expires,
    /// `Authorization`
    Authorization,
    /// `Proxy-Authorization`
    ProxyAuthorization,
    /// `WWW-Authenticate`
    WwwAuthenticate,
    /// `Flow-Timer` (RFC 5626)
    FlowTimer,
    /// `User-Agent`
    UserAgent,
    /// `Allow`
    Allow,
    /// Any other field name (kept as a span).
    Other,
}

/// Number of [`HeaderName`] variants.
pub(crate) const COUNT: usize = HeaderName::Other as usize + 1;

impl HeaderName {
    /// Recognize a field-name (ASCII case-insensitive; compact forms of RFC 3261 §7.3.3).
    #[inline]
    pub fn parse(name: &[u8]) -> HeaderName {
        use HeaderName::*;
        // Field-names are tokens; OR-ing 0x20 lower-cases letters and leaves the other
        // token characters of the known names ('-', digits) unchanged, so comparing
        // 16-byte words is exact for them ('_' becomes DEL, which no known name has).
        let folded = fold16(name);
        let eq = |s: &str| {
            if s.len() <= 16 {
                folded == Some(fold16(s.as_bytes()).unwrap_or(0))
            } else {
                name.eq_ignore_ascii_case(s.as_bytes())
            }
        };
        let Some(&first) = name.first() else {
            return Other;
        };
        match (name.len(), first | 0x20) {
            (1, b'v') => Via,
            (1, b'm') => Contact,
            (1, b'f') => From,
            (1, b't') => To,
            (1, b'i') => CallId,
            (1, b'l') => ContentLength,
            (1, b'c') => ContentType,
            (1, b'k') => Supported,
            (2, b't') if eq("to") => To,
            (3, b'v') if eq("via") => Via,
            (4, b'f') if eq("from") => From,
            (4, b'p') if eq("path") => Path,
            (4, b'c') if eq("cseq") => CSeq,
            (5, b'r') if eq("route") => Route,
            (5, b'a') if eq("allow") => Allow,
            (7, b'c') if eq("contact") => Contact,
            (7, b'c') if eq("call-id") => CallId,
            (7, b'r') if eq("require") => Require,
            (7, b'e') if eq("expires") => Expires,
            (9, b's') if eq("supported") => Supported,
            (10, b'f') if eq("flow-timer") => FlowTimer,
            (10, b'u') if eq("user-agent") => UserAgent,
            (12, b'r') if eq("record-route") => RecordRoute,
            (12, b'm') if eq("max-forwards") => MaxForwards,
            (12, b'c') if eq("content-type") => ContentType,
            (13, b'a') if eq("authorization") => Authorization,
            (13, b'p') if eq("proxy-require") => ProxyRequire,
            (14, b'c') if eq("content-length") => ContentLength,
            (16, b'w') if eq("www-authenticate") => WwwAuthenticate,
            (19, b'p') if eq("proxy-authorization") => ProxyAuthorization,
            _ => Other,
        }
    }

    /// The canonical (long) spelling, used when the editor inserts a field.
    pub fn as_str(self) -> &'static str {
        use HeaderName::*;
        match self {
            Via => "Via",
            Route => "Route",
            RecordRoute => "Record-Route",
            Path => "Path",
            Contact => "Contact",
            From => "From",
            To => "To",
            CallId => "Call-ID",
            CSeq => "CSeq",
            MaxForwards => "Max-Forwards",
            ContentLength => "Content-Length",
            ContentType => "Content-Type",
            Supported => "Supported",
            Require => "Require",
            ProxyRequire => "Proxy-Require",
            Expires => "Expires",
            Authorization => "Authorization",
            ProxyAuthorization => "Proxy-Authorization",
            WwwAuthenticate => "WWW-Authenticate",
            FlowTimer => "Flow-Timer",
            UserAgent => "User-Agent",
            Allow => "Allow",
            Other => "",
        }
    }

    /// Whether the field's grammar is a comma-separated list (`#element`), so that
    /// [`crate::Message::all`] splits its values. Authorization-type fields are not split
    /// (their commas separate auth-params of one credential).
    pub fn is_list(self) -> bool {
        use HeaderName::*;
        matches!(
            self,
            Via | Route | RecordRoute | Path | Contact | Supported | Require | ProxyRequire | Allow
        )
    }
}

/// `name` (at most 16 bytes) zero-padded into a little-endian word with 0x20 OR-ed into
/// every byte that is present.
#[inline(always)]
fn fold16(name: &[u8]) -> Option<u128> {
    let mut w = [0u8; 16];
    w.get_mut(..name.len())?.copy_from_slice(name);
    let mask = if name.len() == 16 {
        u128::MAX
    } else {
        (1u128 << (name.len() * 8)) - 1
    };
    Some(u128::from_le_bytes(w) | (0x2020_2020_2020_2020_2020_2020_2020_2020 & mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_compact_and_case() {
        assert_eq!(HeaderName::parse(b"VIA"), HeaderName::Via);
        assert_eq!(HeaderName::parse(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::parse(b"V"), HeaderName::Via);
        assert_eq!(HeaderName::parse(b"MaX-fOrWaRdS"), HeaderName::MaxForwards);
        assert_eq!(HeaderName::parse(b"i"), HeaderName::CallId);
        assert_eq!(HeaderName::parse(b"s"), HeaderName::Other);
        assert_eq!(HeaderName::parse(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::parse(b"Record-Route"), HeaderName::RecordRoute);
        assert_eq!(HeaderName::parse(b"Record-Routes"), HeaderName::Other);
        assert_eq!(HeaderName::parse(b"Record_Route"), HeaderName::Other);
        assert_eq!(
            HeaderName::parse(b"PROXY-AUTHORIZATION"),
            HeaderName::ProxyAuthorization
        );
        assert_eq!(
            HeaderName::parse(b"WWW-authenticate"),
            HeaderName::WwwAuthenticate
        );
        for h in [
            HeaderName::Via,
            HeaderName::Path,
            HeaderName::ProxyAuthorization,
            HeaderName::WwwAuthenticate,
            HeaderName::FlowTimer,
            HeaderName::Allow,
        ] {
            assert_eq!(HeaderName::parse(h.as_str().as_bytes()), h);
        }
    }
}
