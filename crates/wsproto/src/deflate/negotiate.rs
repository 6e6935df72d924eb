//! Negotiation of permessage-deflate (RFC 7692 §5, §7.1): reading offers and responses, choosing, answering.

use std::fmt::Write as _;

use super::{DeflateConfig, DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS};

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const EXTENSION: &str = "permessage-deflate";

/// The parameters of one `permessage-deflate` element, as written (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Element {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// `server_max_window_bits=N` (a value is required).
    server_max_window_bits: Option<u8>,
    /// `client_max_window_bits` with no value (`Some(None)`) or with one.
    client_max_window_bits: Option<Option<u8>>,
}

/// Why an element is not a valid `permessage-deflate` element: an offer with it is declined (§7.1), a
/// response with it fails the connection (§7.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadParameter {
    /// A parameter RFC 7692 does not define.
    #[error("unknown permessage-deflate parameter {0:?} (RFC 7692 §7.1)")]
    Unknown(String),
    /// The same parameter twice.
    #[error("permessage-deflate parameter {0} given twice (RFC 7692 §7.1)")]
    Repeated(&'static str),
    /// A value where none is allowed, none where one is required, or one outside 8–15.
    #[error("invalid value for permessage-deflate parameter {0} (RFC 7692 §7.1.2)")]
    Value(&'static str),
}

/// One `;` parameter of an element: its name (lowercase) and value, if any.
pub(crate) type Param = (String, Option<String>);

/// Splits a `Sec-WebSocket-Extensions` value into elements, each a name and its `;` parameters (name,
/// optional value, quotes removed). Commas and semicolons inside a quoted string do not split. `None` for
/// a value that is not well formed (an unclosed quote).
pub(crate) fn elements(value: &str) -> Option<Vec<(String, Vec<Param>)>> {
    let mut out = Vec::new();
    for element in split_unquoted(value, ',')? {
        let mut parts = split_unquoted(&element, ';')?.into_iter();
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let params = parts
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(unquote(v.trim()))),
                None => (p.trim().to_ascii_lowercase(), None),
            })
            .collect();
        out.push((name, params));
    }
    Some(out)
}

/// Splits `s` at `sep` outside double quotes (a backslash escapes the next character inside them).
fn split_unquoted(s: &str, sep: char) -> Option<Vec<String>> {
    let (mut parts, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if quoted {
        return None;
    }
    parts.push(cur);
    Some(parts)
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace('\\', ""),
        None => v.to_owned(),
    }
}

fn bits(name: &'static str, value: Option<&str>) -> Result<u8, BadParameter> {
    let v = value.ok_or(BadParameter::Value(name))?;
    // §7.1.2.1: 1*DIGIT with no leading zero, 8 to 15.
    if v.is_empty() || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 2 {
        return Err(BadParameter::Value(name));
    }
    let n: u8 = v.parse().map_err(|_| BadParameter::Value(name))?;
    (MIN_WINDOW_BITS..=MAX_WINDOW_BITS)
        .contains(&n)
        .then_some(n)
        .ok_or(BadParameter::Value(name))
}

impl Element {
    /// Reads the parameters of one element (§7.1).
    pub(crate) fn parse(params: &[Param]) -> Result<Self, BadParameter> {
        let mut e = Self::default();
        for (name, value) in params {
            let value = value.as_deref();
            let flag = |set: &mut bool, name: &'static str| {
                if value.is_some() {
                    return Err(BadParameter::Value(name));
                }
                if std::mem::replace(set, true) {
                    return Err(BadParameter::Repeated(name));
                }
                Ok(())
            };
            match name.as_str() {
                "server_no_context_takeover" => {
                    flag(
                        &mut e.server_no_context_takeover,
                        "server_no_context_takeover",
                    )?;
                }
                "client_no_context_takeover" => {
                    flag(
                        &mut e.client_no_context_takeover,
                        "client_no_context_takeover",
                    )?;
                }
                "server_max_window_bits" => {
                    let n = bits("server_max_window_bits", value)?;
                    if e.server_max_window_bits.replace(n).is_some() {
                        return Err(BadParameter::Repeated("server_max_window_bits"));
                    }
                }
                "client_max_window_bits" => {
                    let n = value
                        .map(|v| bits("client_max_window_bits", Some(v)))
                        .transpose()?;
                    if e.client_max_window_bits.replace(n).is_some() {
                        return Err(BadParameter::Repeated("client_max_window_bits"));
                    }
                }
                other => return Err(BadParameter::Unknown(other.to_owned())),
            }
        }
        Ok(e)
    }

    /// The server's answer to this offer under `config` (§7.1.1, §7.1.2); every valid offer can be accepted.
    pub(crate) fn accept(&self, config: &DeflateConfig) -> DeflateParams {
        // The server's own window: what it allows itself, no more than the client asked for.
        let server_bits = self
            .server_max_window_bits
            .unwrap_or(MAX_WINDOW_BITS)
            .min(config.server_max_window_bits);
        // The client's window: named only when the client said it may be (§7.1.2.2).
        let client_bits = match self.client_max_window_bits {
            None => None,
            Some(offered) => {
                let bits = offered
                    .unwrap_or(MAX_WINDOW_BITS)
                    .min(config.client_max_window_bits);
                (bits < MAX_WINDOW_BITS || offered.is_some()).then_some(bits)
            }
        };
        // A client that did not offer client_max_window_bits may keep a 32 KiB window; a server that wants a
        // smaller one can only ask it to keep none (§7.1.1.2 lets the server answer client_no_context_takeover).
        let client_window_unbounded =
            client_bits.is_none() && config.client_max_window_bits < MAX_WINDOW_BITS;
        DeflateParams {
            server_no_context_takeover: self.server_no_context_takeover
                || config.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover
                || config.client_no_context_takeover
                || client_window_unbounded,
            server_max_window_bits: (self.server_max_window_bits.is_some()
                || server_bits < MAX_WINDOW_BITS)
                .then_some(server_bits),
            client_max_window_bits: client_bits,
        }
    }
}

/// The server's choice among the offers in the `Sec-WebSocket-Extensions` values of a request: the first
/// valid `permessage-deflate` offer (§5.1). Offers of other extensions, and invalid ones, are declined by
/// leaving them out of the answer.
pub fn choose(values: &[&str], config: &DeflateConfig) -> Option<DeflateParams> {
    values
        .iter()
        .filter_map(|v| elements(v))
        .flatten()
        .filter(|(name, _)| name == EXTENSION)
        .find_map(|(_, params)| Element::parse(&params).ok())
        .map(|offer| offer.accept(config))
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value that states these parameters (a server's answer).
    pub fn header_value(&self) -> String {
        let mut s = String::from(EXTENSION);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if let Some(n) = self.server_max_window_bits {
            let _ = write!(s, "; server_max_window_bits={n}");
        }
        if let Some(n) = self.client_max_window_bits {
            let _ = write!(s, "; client_max_window_bits={n}");
        }
        s
    }
}

/// Why a server's `Sec-WebSocket-Extensions` answer fails a client's handshake (RFC 7692 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The answer is not well formed, or names an extension that was not offered.
    #[error("the server answered with an extension that was not offered (RFC 6455 §9.1)")]
    NotOffered,
    /// permessage-deflate named twice.
    #[error("the server answered permessage-deflate twice (RFC 7692 §5.1)")]
    Twice,
    /// A parameter that is unknown, repeated or out of range.
    #[error(transparent)]
    Parameter(#[from] BadParameter),
    /// A window the offer did not allow: `client_max_window_bits` not offered, or a server window larger
    /// than the offer asked for.
    #[error("the server answered a window size the offer did not allow (RFC 7692 §7.1.2)")]
    Window,
}

/// The client's reading of the server's answer to [`DeflateConfig::offer`]: `Ok(None)` when the server
/// declined the extension.
pub fn read_response(
    values: &[&str],
    offered: &DeflateConfig,
) -> Result<Option<DeflateParams>, ResponseError> {
    let mut found = None;
    for value in values {
        for (name, params) in elements(value).ok_or(ResponseError::NotOffered)? {
            if name != EXTENSION {
                return Err(ResponseError::NotOffered);
            }
            if found.is_some() {
                return Err(ResponseError::Twice);
            }
            let e = Element::parse(&params)?;
            if offered.server_max_window_bits < MAX_WINDOW_BITS
                && e.server_max_window_bits.is_none()
            {
                // §7.1.2.1: an accepted offer with server_max_window_bits is answered with it.
                return Err(ResponseError::Window);
            }
            if let Some(n) = e.server_max_window_bits
                && offered.server_max_window_bits < MAX_WINDOW_BITS
                && n > offered.server_max_window_bits
            {
                return Err(ResponseError::Window);
            }
            let client_bits = match e.client_max_window_bits {
                Some(None) => return Err(BadParameter::Value("client_max_window_bits").into()),
                Some(Some(n)) if n > offered.client_max_window_bits => {
                    return Err(ResponseError::Window);
                }
                other => other.flatten(),
            };
            found = Some(DeflateParams {
                server_no_context_takeover: e.server_no_context_takeover,
                client_no_context_takeover: e.client_no_context_takeover
                    || offered.client_no_context_takeover,
                server_max_window_bits: e.server_max_window_bits,
                client_max_window_bits: client_bits,
            });
        }
    }
    if let Some(p) = &found
        && offered.server_no_context_takeover
        && !p.server_no_context_takeover
    {
        return Err(ResponseError::Parameter(BadParameter::Value(
            "server_no_context_takeover",
        )));
    }
    Ok(found)
}

impl DeflateConfig {
    /// The `Sec-WebSocket-Extensions` value of a client's offer under this configuration (§7.1).
    pub fn offer(&self) -> String {
        let mut s = String::from(EXTENSION);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < MAX_WINDOW_BITS {
            let _ = write!(
                s,
                "; server_max_window_bits={}",
                self.server_max_window_bits
            );
        }
        if self.client_max_window_bits < MAX_WINDOW_BITS {
            let _ = write!(
                s,
                "; client_max_window_bits={}",
                self.client_max_window_bits
            );
        } else {
            s.push_str("; client_max_window_bits");
        }
        s
    }
}
