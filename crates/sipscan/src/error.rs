//! Typed errors, each naming the protocol rule that was broken.

use crate::name::HeaderName;

/// The message cannot be framed or indexed; the edge answers `400 Bad Request`
/// (or `505` for [`ScanError::Version`]) to a request and drops a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// Nothing but CRLF keep-alives (RFC 5626 §3.5.1) or no bytes at all.
    #[error("empty message: no start line (RFC 3261 §7)")]
    Empty,
    /// The message is larger than 4 GiB; spans are 32-bit.
    #[error("message too large to index")]
    TooLarge,
    /// A line ends in a bare LF (RFC 3261 §7: lines end in CRLF).
    #[error("line terminated by bare LF instead of CRLF (RFC 3261 §7)")]
    BareLf,
    /// The start line has no CRLF.
    #[error("start line not terminated by CRLF (RFC 3261 §7.1)")]
    UnterminatedStartLine,
    /// `Request-Line = Method SP Request-URI SP SIP-Version CRLF` does not match.
    #[error("malformed Request-Line: Method SP Request-URI SP SIP-Version CRLF (RFC 3261 §7.1)")]
    RequestLine,
    /// The method is not a `token`.
    #[error("Method is not a token (RFC 3261 §25.1)")]
    Method,
    /// The Request-URI is not an absolute URI (`scheme ":" ...`), e.g. enclosed in `<>`.
    #[error("Request-URI is not an absolute URI (RFC 3261 §25.1, RFC 4475 §3.1.2.7)")]
    RequestUri,
    /// `Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF` does not match.
    #[error("malformed Status-Line (RFC 3261 §7.2)")]
    StatusLine,
    /// The Status-Code is not three digits in 100..=699.
    #[error("Status-Code is not 3DIGIT in 100-699 (RFC 3261 §7.2)")]
    StatusCode,
    /// A SIP-Version other than `SIP/2.0` (answer `505 Version Not Supported`).
    #[error("SIP-Version not supported (RFC 3261 §8.2.2.1: 505)")]
    Version,
    /// A header line that is not `field-name HCOLON field-value`.
    #[error("header line has no HCOLON after the field-name (RFC 3261 §7.3.1)")]
    HeaderColon,
    /// A field-name with characters outside `token`.
    #[error("header field-name is not a token (RFC 3261 §25.1)")]
    HeaderName,
    /// A continuation line (leading SP/HT) with no header before it.
    #[error("line folding before the first header (RFC 3261 §7.3.1)")]
    LeadingFold,
    /// No empty line ends the header section.
    #[error("header section not terminated by an empty line (RFC 3261 §7)")]
    UnterminatedHeaders,
    /// Content-Length is not `1*DIGIT` (e.g. negative, RFC 4475 §3.1.2.3).
    #[error("Content-Length is not 1*DIGIT (RFC 3261 §20.14)")]
    ContentLength,
    /// Two Content-Length header fields disagree.
    #[error("conflicting Content-Length header fields (RFC 3261 §20.14)")]
    ContentLengthConflict,
    /// Content-Length is larger than the bytes that follow the header section.
    #[error("Content-Length larger than the message body (RFC 3261 §18.3, RFC 4475 §3.1.2.2)")]
    ContentLengthExceedsBody,
    /// A control character (NUL or another byte below 0x20 but HTAB, a CR outside CRLF, or DEL) in
    /// the start line or a header field: neither `TEXT-UTF8` nor `LWS` allows one.
    #[error(
        "control character in the start line or a header field (RFC 3261 §25.1: TEXT-UTF8, LWS)"
    )]
    ControlCharacter,
}

/// A header value that does not match its grammar (found lazily by the typed views).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The value (or one comma-separated element) is empty.
    #[error("empty header value")]
    Empty,
    /// A `quoted-string` has no closing DQUOTE.
    #[error("unterminated quoted-string (RFC 3261 §25.1)")]
    UnterminatedQuote,
    /// `LAQUOT addr-spec RAQUOT` has no `>`.
    #[error("missing RAQUOT '>' (RFC 3261 §25.1)")]
    UnterminatedAngle,
    /// Whitespace inside `<addr-spec>`.
    #[error("LWS inside addr-spec (RFC 3261 §25.1, RFC 4475 §3.1.2.14)")]
    LwsInUri,
    /// A display-name that is neither a quoted-string nor `*(token LWS)`.
    #[error("display-name is not *(token LWS) / quoted-string (RFC 3261 §25.1)")]
    DisplayName,
    /// A URI without a `scheme ":"` prefix.
    #[error("URI has no scheme (RFC 3261 §19.1.1)")]
    Scheme,
    /// The host of a SIP URI or Via sent-by is empty or malformed.
    #[error("malformed host (RFC 3261 §25.1)")]
    Host,
    /// A port that is not 1*DIGIT within 0..=65535.
    #[error("malformed port (RFC 3261 §25.1)")]
    Port,
    /// A `;` with no parameter name, or a malformed parameter.
    #[error("empty or malformed parameter (RFC 3261 §25.1 generic-param)")]
    Param,
    /// A URI with `?headers` or `;params` used as a bare addr-spec.
    #[error("URI with headers or parameters must be in name-addr form (RFC 3261 §20)")]
    NeedsNameAddr,
    /// `sent-protocol = protocol-name SLASH protocol-version SLASH transport` does not match.
    #[error("malformed Via sent-protocol (RFC 3261 §20.42)")]
    SentProtocol,
    /// A number field that is not 1*DIGIT.
    #[error("not 1*DIGIT")]
    Number,
    /// A number beyond its field's range (CSeq < 2^31, Max-Forwards <= 255, delta-seconds < 2^32).
    #[error("number out of range for this field (RFC 3261 §8.1.1.5, §20.22, §25.1)")]
    OutOfRange,
    /// The CSeq method is not a token.
    #[error("CSeq method is not a token (RFC 3261 §20.16)")]
    Method,
    /// Bytes after the end of a complete element.
    #[error("unexpected characters after the value")]
    Trailing,
}

/// A request (or response) the edge must not forward, found by [`crate::Message::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A mandatory header field is absent (RFC 3261 §8.1.1).
    #[error("missing {0:?} header field (RFC 3261 §8.1.1)")]
    Missing(HeaderName),
    /// A header field the edge reads is malformed.
    #[error("malformed {0:?} header field: {1}")]
    Invalid(HeaderName, ViewError),
    /// The Request-URI is malformed or carries `?headers`.
    #[error("malformed Request-URI: {0}")]
    RequestUri(ViewError),
    /// A SIP/SIPS Request-URI with escaped headers (RFC 3261 §19.1.1 table, RFC 4475 §3.1.2.11).
    #[error("Request-URI carries headers (RFC 3261 §19.1.1)")]
    RequestUriHeaders,
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    #[error("CSeq method does not match the request method (RFC 3261 §8.1.1.5)")]
    CSeqMethodMismatch,
}

impl Violation {
    /// A reason phrase for the `400` answer (RFC 3261 §21.4.1 lets it name the problem).
    pub fn reason_phrase(&self) -> &'static str {
        match self {
            Violation::Missing(HeaderName::Via) => "Missing Via",
            Violation::Missing(HeaderName::From) => "Missing From",
            Violation::Missing(HeaderName::To) => "Missing To",
            Violation::Missing(HeaderName::CallId) => "Missing Call-ID",
            Violation::Missing(HeaderName::CSeq) => "Missing CSeq",
            Violation::Missing(_) => "Missing Header",
            Violation::Invalid(HeaderName::Via, _) => "Bad Via",
            Violation::Invalid(HeaderName::From, _) => "Bad From",
            Violation::Invalid(HeaderName::To, _) => "Bad To",
            Violation::Invalid(HeaderName::CSeq, _) => "Bad CSeq",
            Violation::Invalid(HeaderName::MaxForwards, _) => "Bad Max-Forwards",
            Violation::Invalid(HeaderName::Contact, _) => "Bad Contact",
            Violation::Invalid(HeaderName::Route, _) => "Bad Route",
            Violation::Invalid(HeaderName::RecordRoute, _) => "Bad Record-Route",
            Violation::Invalid(HeaderName::Path, _) => "Bad Path",
            Violation::Invalid(HeaderName::Expires, _) => "Bad Expires",
            Violation::Invalid(_, _) => "Bad Header",
            Violation::RequestUri(_) | Violation::RequestUriHeaders => "Bad Request-URI",
            Violation::CSeqMethodMismatch => "CSeq Method Mismatch",
        }
    }
}

impl ScanError {
    /// A reason phrase for the `400`/`505` answer.
    pub fn reason_phrase(&self) -> &'static str {
        match self {
            ScanError::Version => "Version Not Supported",
            ScanError::ContentLength
            | ScanError::ContentLengthConflict
            | ScanError::ContentLengthExceedsBody => "Bad Content-Length",
            ScanError::RequestLine | ScanError::Method | ScanError::RequestUri => {
                "Bad Request-Line"
            }
            ScanError::ControlCharacter => "Control Character In Header",
            _ => "Malformed Message",
        }
    }

    /// The status code the edge answers a request with (RFC 3261 §8.2.2.1 / §21.4.1).
    pub fn status_code(&self) -> u16 {
        match self {
            ScanError::Version => 505,
            _ => 400,
        }
    }
}
