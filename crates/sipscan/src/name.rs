//! The header fields the edge reads, recognized case-insensitively in full and compact form.

use crate::window::{Spelling, WIDTH, Window};

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
    pub fn parse(name: &[u8]) -> HeaderName {
        let mut line = [0u8; WIDTH];
        match line.get_mut(..=name.len()) {
            Some([spelled @ .., colon]) if !spelled.is_empty() => {
                spelled.copy_from_slice(name);
                *colon = b':';
            }
            _ => return HeaderName::Other,
        }
        lookup(&Window::from_array(&line), name.len()).unwrap_or(HeaderName::Other)
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

    /// The canonical spelling followed by `": "`, as the editor writes an inserted line
    /// (empty for [`HeaderName::Other`]).
    pub(crate) fn field_prefix(self) -> &'static [u8] {
        use HeaderName::*;
        match self {
            Via => b"Via: ",
            Route => b"Route: ",
            RecordRoute => b"Record-Route: ",
            Path => b"Path: ",
            Contact => b"Contact: ",
            From => b"From: ",
            To => b"To: ",
            CallId => b"Call-ID: ",
            CSeq => b"CSeq: ",
            MaxForwards => b"Max-Forwards: ",
            ContentLength => b"Content-Length: ",
            ContentType => b"Content-Type: ",
            Supported => b"Supported: ",
            Require => b"Require: ",
            ProxyRequire => b"Proxy-Require: ",
            Expires => b"Expires: ",
            Authorization => b"Authorization: ",
            ProxyAuthorization => b"Proxy-Authorization: ",
            WwwAuthenticate => b"WWW-Authenticate: ",
            FlowTimer => b"Flow-Timer: ",
            UserAgent => b"User-Agent: ",
            Allow => b"Allow: ",
            Other => b"",
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

/// Every spelling the index knows, lower-cased: long forms and the compact forms of
/// RFC 3261 §7.3.3 that map to a [`HeaderName`].
const SPELLINGS: [(&str, HeaderName); 30] = {
    use HeaderName::*;
    [
        ("v", Via),
        ("m", Contact),
        ("f", From),
        ("t", To),
        ("i", CallId),
        ("l", ContentLength),
        ("c", ContentType),
        ("k", Supported),
        ("to", To),
        ("via", Via),
        ("from", From),
        ("path", Path),
        ("cseq", CSeq),
        ("route", Route),
        ("allow", Allow),
        ("contact", Contact),
        ("call-id", CallId),
        ("require", Require),
        ("expires", Expires),
        ("supported", Supported),
        ("flow-timer", FlowTimer),
        ("user-agent", UserAgent),
        ("record-route", RecordRoute),
        ("max-forwards", MaxForwards),
        ("content-type", ContentType),
        ("authorization", Authorization),
        ("proxy-require", ProxyRequire),
        ("content-length", ContentLength),
        ("www-authenticate", WwwAuthenticate),
        ("proxy-authorization", ProxyAuthorization),
    ]
};

/// Perfect hash of a field-name on its length and first two bytes (the second is the
/// colon for one-letter names), OR-ed with 0x20: no two [`SPELLINGS`] share a slot
/// (checked when [`TABLE`] is built, at compile time).
#[inline(always)]
const fn slot(len: usize, first_two: u16) -> usize {
    let x = (first_two | 0x2020) as usize;
    (((x * 45) >> 4) + len * 13) & (SLOTS - 1)
}

const SLOTS: usize = 64;

/// One slot of the perfect hash table (128 bytes, so that a slot number becomes an
/// offset with a shift).
#[derive(Clone, Copy)]
#[repr(C, align(128))]
struct Entry {
    spelling: Spelling,
    len: u8,
    name: HeaderName,
}

const EMPTY: Entry = Entry {
    spelling: Spelling::EMPTY,
    len: 0,
    name: HeaderName::Other,
};

static TABLE: [Entry; SLOTS] = build_table();

const fn build_table() -> [Entry; SLOTS] {
    let mut t = [EMPTY; SLOTS];
    let mut k = 0;
    while k < SPELLINGS.len() {
        let (s, name) = SPELLINGS[k];
        let b = s.as_bytes();
        assert!(!b.is_empty() && b.len() < WIDTH);
        let second = if b.len() > 1 { b[1] } else { b':' };
        let h = slot(b.len(), u16::from_le_bytes([b[0], second]));
        assert!(t[h].len == 0, "field-name perfect hash collision");
        t[h] = Entry {
            spelling: Spelling::new(b),
            len: b.len() as u8,
            name,
        };
        k += 1;
    }
    t
}

/// The known field whose name is the first `len` bytes of `w` (1 ≤ `len` < [`WIDTH`]),
/// followed by its colon.
#[inline(always)]
pub(crate) fn lookup(w: &Window, len: usize) -> Option<HeaderName> {
    let e = TABLE.get(slot(len, w.first_two()))?;
    (usize::from(e.len) == len && w.matches(&e.spelling, len)).then_some(e.name)
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
        assert_eq!(HeaderName::parse(b"Record\rRoute"), HeaderName::Other);
        for &(_, h) in &SPELLINGS {
            assert_eq!(h.field_prefix(), format!("{}: ", h.as_str()).as_bytes());
        }
        assert_eq!(HeaderName::parse(b""), HeaderName::Other);
        assert_eq!(HeaderName::parse(&[b'v'; 40]), HeaderName::Other);
    }

    /// Linear search over the spellings with `eq_ignore_ascii_case`.
    fn reference(name: &[u8]) -> HeaderName {
        SPELLINGS
            .iter()
            .find(|(s, _)| s.as_bytes().eq_ignore_ascii_case(name))
            .map_or(HeaderName::Other, |&(_, n)| n)
    }

    #[test]
    fn every_spelling_in_every_case_and_every_one_byte_change() {
        for &(s, name) in &SPELLINGS {
            let lower = s.as_bytes().to_vec();
            let upper = s.to_ascii_uppercase().into_bytes();
            let mixed: Vec<u8> = lower
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    if i % 2 == 0 {
                        b.to_ascii_uppercase()
                    } else {
                        *b
                    }
                })
                .collect();
            for spelled in [&lower, &upper, &mixed] {
                assert_eq!(HeaderName::parse(spelled), name, "{s}");
            }
            for i in 0..lower.len() {
                for b in 0..=255u8 {
                    let mut v = mixed.clone();
                    v[i] = b;
                    assert_eq!(HeaderName::parse(&v), reference(&v), "{v:?}");
                }
            }
            for extra in [&b"x"[..], b"-", b"\r", b" "] {
                let mut longer = lower.clone();
                longer.extend_from_slice(extra);
                assert_eq!(HeaderName::parse(&longer), reference(&longer));
                assert_eq!(
                    HeaderName::parse(&lower[..lower.len() - 1]),
                    reference(&lower[..lower.len() - 1])
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn matches_linear_search(name in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24)) {
            proptest::prop_assert_eq!(HeaderName::parse(&name), reference(&name));
        }
    }
}
