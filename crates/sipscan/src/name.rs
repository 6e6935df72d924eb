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
        let eq = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
        match name.len() {
            1 => match name[0] | 0x20 {
                b'v' => Via,
                b'm' => Contact,
                b'f' => From,
                b't' => To,
                b'i' => CallId,
                b'l' => ContentLength,
                b'c' => ContentType,
                b'k' => Supported,
                _ => Other,
            },
            2 if eq("to") => To,
            3 if eq("via") => Via,
            4 if eq("from") => From,
            4 if eq("path") => Path,
            4 if eq("cseq") => CSeq,
            5 if eq("route") => Route,
            5 if eq("allow") => Allow,
            7 if eq("contact") => Contact,
            7 if eq("call-id") => CallId,
            7 if eq("require") => Require,
            7 if eq("expires") => Expires,
            9 if eq("supported") => Supported,
            10 if eq("flow-timer") => FlowTimer,
            10 if eq("user-agent") => UserAgent,
            12 if eq("record-route") => RecordRoute,
            12 if eq("max-forwards") => MaxForwards,
            12 if eq("content-type") => ContentType,
            13 if eq("authorization") => Authorization,
            13 if eq("proxy-require") => ProxyRequire,
            14 if eq("content-length") => ContentLength,
            16 if eq("www-authenticate") => WwwAuthenticate,
            19 if eq("proxy-authorization") => ProxyAuthorization,
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
