//! The head of a plain HTTP/1.x request (RFC 9112 section 2-3), read just far enough to decide whether this module
//! answers it: method, request-target, and whether it asks for a WebSocket upgrade.

/// The request methods served (RFC 9110 section 9.3.1-9.3.2); anything else goes to the WebSocket handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET: the representation.
    Get,
    /// HEAD: the same header fields, no content.
    Head,
}

/// A complete request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// GET or HEAD.
    pub method: Method,
    /// The origin-form request-target (`/phone/app.js?v=1`), as sent.
    pub target: &'a str,
    /// An `Upgrade` header field names `websocket` (RFC 6455 section 4.1).
    pub websocket_upgrade: bool,
}

/// The request in `head` when it is a complete GET or HEAD request head (ending in an empty line) in origin form;
/// `None` when it is incomplete, another method, or not HTTP/1.x at all.
pub fn parse(head: &[u8]) -> Option<Request<'_>> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(head.get(..end)?).ok()?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = match request_line.next()? {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => return None,
    };
    let target = request_line.next()?;
    let version = request_line.next()?;
    if request_line.next().is_some() || !target.starts_with('/') || !version.starts_with("HTTP/1.")
    {
        return None;
    }
    let mut websocket_upgrade = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("upgrade")
            && value.split(',').any(|p| {
                p.trim()
                    .split('/')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("websocket"))
            })
        {
            websocket_upgrade = true;
        }
    }
    Some(Request {
        method,
        target,
        websocket_upgrade,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_get() {
        let r = parse(b"GET /phone/ HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n");
        assert_eq!(
            r,
            Some(Request {
                method: Method::Get,
                target: "/phone/",
                websocket_upgrade: false
            })
        );
    }

    #[test]
    fn head_method() {
        let r = parse(b"HEAD /phone/app.js HTTP/1.0\r\n\r\n").map(|r| r.method);
        assert_eq!(r, Some(Method::Head));
    }

    #[test]
    fn incomplete_head_is_not_answered() {
        assert_eq!(parse(b"GET /phone/ HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(parse(b"GET /pho"), None);
    }

    #[test]
    fn other_methods_and_forms_are_not_answered() {
        assert_eq!(parse(b"POST /phone/ HTTP/1.1\r\n\r\n"), None);
        assert_eq!(parse(b"GET http://h/phone/ HTTP/1.1\r\n\r\n"), None);
        assert_eq!(parse(b"GET /phone/ SIP/2.0\r\n\r\n"), None);
        assert_eq!(parse(b"GET /a b HTTP/1.1\r\n\r\n"), None);
        assert_eq!(parse(b"GET /phone/ HTTP/1.1\r\nno colon\r\n\r\n"), None);
    }

    #[test]
    fn websocket_upgrade_is_seen_in_any_case_and_list() {
        for h in [
            "Upgrade: websocket",
            "upgrade: WebSocket",
            "UPGRADE:  h2c, websocket ",
            "Upgrade: websocket/13",
        ] {
            let head = format!("GET /phone/ HTTP/1.1\r\nConnection: Upgrade\r\n{h}\r\n\r\n");
            let r = parse(head.as_bytes());
            assert_eq!(r.map(|r| r.websocket_upgrade), Some(true), "{h}");
        }
        let r = parse(b"GET /phone/ HTTP/1.1\r\nUpgrade: h2c\r\n\r\n");
        assert_eq!(r.map(|r| r.websocket_upgrade), Some(false));
    }
}
