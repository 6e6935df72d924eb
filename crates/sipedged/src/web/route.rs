//! Which file of the web phone a request-target names: `/phone/` and the files below it, with every path segment
//! percent-decoded (RFC 3986 section 2.1) and checked so that nothing outside the phone's directory is reachable.

use std::path::PathBuf;

/// The URL prefix the web phone is served under.
pub const PREFIX: &str = "/phone";

/// What a request-target asks of this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Not under `/phone`: the WebSocket handshake's business.
    NotOurs,
    /// `/phone` without its slash: redirect, so relative links in index.html resolve under `/phone/`.
    AddSlash,
    /// A file, relative to the phone's directory (only normal segments).
    File(PathBuf),
    /// A path that must not be served.
    Refused(PathError),
}

/// Why a path under `/phone/` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A `.` or `..` segment (RFC 3986 section 3.3 dot-segments), literal or percent-encoded.
    #[error("dot-segment (`.` or `..`) in the path")]
    DotSegment,
    /// `%` not followed by two hex digits (RFC 3986 section 2.1).
    #[error("malformed percent-encoding")]
    BadPercentEncoding,
    /// A segment that decodes to bytes that are not UTF-8.
    #[error("path segment is not UTF-8 once decoded")]
    NotUtf8,
    /// A decoded segment holding `/`, `\`, or NUL: a separator smuggled inside a segment.
    #[error("encoded separator or NUL in a path segment")]
    EncodedSeparator,
    /// An empty segment (`//`) or a hidden file (`.name`).
    #[error("empty segment or hidden file in the path")]
    Hidden,
}

/// The route of an origin-form request-target (the query is ignored).
pub fn route(target: &str) -> Route {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Route::NotOurs;
    };
    let rest = match rest.strip_prefix('/') {
        Some(rest) => rest,
        None if rest.is_empty() => return Route::AddSlash,
        None => return Route::NotOurs,
    };
    let mut file = PathBuf::new();
    let mut segments = rest.split('/').peekable();
    while let Some(raw) = segments.next() {
        if raw.is_empty() && segments.peek().is_none() {
            file.push("index.html");
            break;
        }
        match segment(raw) {
            Ok(s) => file.push(s),
            Err(e) => return Route::Refused(e),
        }
    }
    Route::File(file)
}

/// One percent-decoded path segment that names a plain file or directory.
fn segment(raw: &str) -> Result<String, PathError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut it = raw.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hi = it
                .next()
                .and_then(hex)
                .ok_or(PathError::BadPercentEncoding)?;
            let lo = it
                .next()
                .and_then(hex)
                .ok_or(PathError::BadPercentEncoding)?;
            bytes.push(hi << 4 | lo);
        } else {
            bytes.push(b);
        }
    }
    let s = String::from_utf8(bytes).map_err(|_| PathError::NotUtf8)?;
    if s == "." || s == ".." {
        return Err(PathError::DotSegment);
    }
    if s.contains(['/', '\\', '\0']) {
        return Err(PathError::EncodedSeparator);
    }
    if s.is_empty() || s.starts_with('.') {
        return Err(PathError::Hidden);
    }
    Ok(s)
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &str) -> Route {
        Route::File(PathBuf::from(p))
    }

    #[test]
    fn phone_files() {
        assert_eq!(route("/phone/"), file("index.html"));
        assert_eq!(route("/phone/?server=ws://x/"), file("index.html"));
        assert_eq!(route("/phone/app.js"), file("app.js"));
        assert_eq!(route("/phone/img/logo%20big.png"), file("img/logo big.png"));
        assert_eq!(route("/phone/sub/"), file("sub/index.html"));
        assert_eq!(route("/phone/caf%C3%A9.css"), file("café.css"));
    }

    #[test]
    fn other_paths_are_not_ours() {
        assert_eq!(route("/"), Route::NotOurs);
        assert_eq!(route("/phones"), Route::NotOurs);
        assert_eq!(route("/ws"), Route::NotOurs);
        assert_eq!(route("/phone"), Route::AddSlash);
        assert_eq!(route("/phone?x=1"), Route::AddSlash);
    }

    #[test]
    fn traversal_is_refused_literal_and_encoded() {
        for t in [
            "/phone/../Cargo.toml",
            "/phone/a/../../etc/passwd",
            "/phone/%2e%2e/Cargo.toml",
            "/phone/%2E%2e/x",
            "/phone/.%2e/x",
            "/phone/./index.html",
            "/phone/%2e/index.html",
        ] {
            assert_eq!(route(t), Route::Refused(PathError::DotSegment), "{t}");
        }
        for t in [
            "/phone/..%2fCargo.toml",
            "/phone/..%2FCargo.toml",
            "/phone/..%5cCargo.toml",
            "/phone/index.html%00.js",
        ] {
            assert_eq!(route(t), Route::Refused(PathError::EncodedSeparator), "{t}");
        }
    }

    #[test]
    fn malformed_and_hidden_are_refused() {
        assert_eq!(
            route("/phone/%2"),
            Route::Refused(PathError::BadPercentEncoding)
        );
        assert_eq!(
            route("/phone/%zz"),
            Route::Refused(PathError::BadPercentEncoding)
        );
        assert_eq!(route("/phone/%ff"), Route::Refused(PathError::NotUtf8));
        assert_eq!(route("/phone/.env"), Route::Refused(PathError::Hidden));
        assert_eq!(
            route("/phone//etc/passwd"),
            Route::Refused(PathError::Hidden)
        );
    }

    #[test]
    fn double_encoding_stays_a_literal_name() {
        // `%252e%252e` decodes once to the file name `%2e%2e`, which is not a dot-segment.
        assert_eq!(route("/phone/%252e%252e/x"), file("%2e%2e/x"));
    }
}
