//! Our own Route entries (RFC 3261 §16.4): which leading Route values name this edge, the flow tokens they
//! carry, and the byte spans to delete when popping them.

use sipscan::{HeaderName, Message, Span, Uri, views::addr::parse_name_addr};

/// The leading Route values that name this edge.
#[derive(Debug, Default)]
pub struct OwnRoutes<'a> {
    /// Flow tokens found in their user parts, in order.
    pub tokens: Vec<&'a [u8]>,
    /// How many leading values are ours.
    pub count: usize,
    /// What to delete to pop them: whole header lines, or the leading part of a line.
    pub deletions: Vec<Deletion>,
    /// A Route value could not be parsed.
    pub malformed: bool,
}

/// One deletion that pops our Route values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The whole header line at this index.
    Line(usize),
    /// A byte span (leading elements of a line, up to the next element).
    Span(Span),
}

/// Whether `uri` names one of `own` (`host:port`, port written explicitly).
pub fn is_own(uri: &Uri<'_>, own: &[String]) -> bool {
    let Some(sip) = uri.sip() else { return false };
    let host = sip.host.as_bytes();
    let port = sip
        .port
        .unwrap_or(if matches!(sip.scheme, sipscan::Scheme::Sips) {
            5061
        } else {
            5060
        });
    own.iter().any(|a| {
        let (h, p) = match a.rsplit_once(':') {
            Some((h, p)) => (
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse::<u16>().ok(),
            ),
            None => (a.as_str(), None),
        };
        h.as_bytes().eq_ignore_ascii_case(host) && p.is_none_or(|p| p == port)
    })
}

/// Find the leading Route values that are ours.
pub fn leading_own<'a>(msg: &Message<'a>, own: &[String]) -> OwnRoutes<'a> {
    let mut r = OwnRoutes::default();
    let mut current_line: Option<(usize, usize, Option<Span>)> = None; // (header index, own count, first span)
    let mut stopped = false;
    for el in msg.all(HeaderName::Route) {
        if stopped {
            // The first element not ours ends the run; note where it starts to cut a partial line.
            break;
        }
        let parsed = match parse_name_addr(el.bytes) {
            Ok(na) => na,
            Err(_) => {
                r.malformed = true;
                break;
            }
        };
        if !is_own(&parsed.uri, own) {
            if let Some((line, n, Some(first))) = current_line.take() {
                if line == el.header && n > 0 {
                    r.deletions.push(Deletion::Span(Span {
                        start: first.start,
                        end: el.span.start,
                    }));
                } else {
                    r.deletions.push(Deletion::Line(line));
                }
            }
            stopped = true;
            break;
        }
        r.count += 1;
        if let Some(user) = parsed.uri.sip().and_then(|s| s.user) {
            r.tokens.push(user);
        }
        match &mut current_line {
            Some((line, n, _)) if *line == el.header => *n += 1,
            _ => {
                if let Some((line, _, _)) = current_line.take() {
                    r.deletions.push(Deletion::Line(line));
                }
                current_line = Some((el.header, 1, Some(el.span)));
            }
        }
    }
    if !stopped && let Some((line, _, _)) = current_line {
        r.deletions.push(Deletion::Line(line));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Vec<String> {
        vec!["127.0.0.1:8080".into(), "127.0.0.1:5070".into()]
    }

    fn msg(routes: &str) -> Vec<u8> {
        format!(
            "BYE sip:x@y.invalid;transport=ws SIP/2.0\r\n{routes}Via: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\n\
Max-Forwards: 70\r\nTo: <sip:b@x>;tag=2\r\nFrom: <sip:a@x>;tag=1\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn pops_whole_lines_and_partial_lines() {
        let b = msg(
            "Route: <sip:TOKA@127.0.0.1:8080;transport=ws;lr>, <sip:127.0.0.1:5070;lr>, <sip:core.example;lr>\r\n",
        );
        let m = Message::parse(&b).unwrap();
        let r = leading_own(&m, &own());
        assert_eq!(r.count, 2);
        assert_eq!(r.tokens, vec![&b"TOKA"[..]]);
        assert_eq!(r.deletions.len(), 1);
        let Deletion::Span(s) = r.deletions[0] else {
            panic!("{:?}", r.deletions)
        };
        assert_eq!(
            &b[s.range()],
            b"<sip:TOKA@127.0.0.1:8080;transport=ws;lr>, <sip:127.0.0.1:5070;lr>, "
        );

        let b = msg(
            "Route: <sip:TOKA@127.0.0.1:8080;transport=ws;lr>\r\nRoute: <sip:TOKB@127.0.0.1:5070;lr>\r\n",
        );
        let m = Message::parse(&b).unwrap();
        let r = leading_own(&m, &own());
        assert_eq!(r.count, 2);
        assert_eq!(r.tokens, vec![&b"TOKA"[..], &b"TOKB"[..]]);
        assert_eq!(r.deletions, vec![Deletion::Line(0), Deletion::Line(1)]);
    }

    #[test]
    fn foreign_first_route_is_not_popped() {
        let b = msg("Route: <sip:core.example;lr>, <sip:TOKA@127.0.0.1:8080;lr>\r\n");
        let m = Message::parse(&b).unwrap();
        let r = leading_own(&m, &own());
        assert_eq!(r.count, 0);
        assert!(r.deletions.is_empty());
    }

    #[test]
    fn default_port_and_case() {
        let b = msg("Route: <sip:EDGE.example;lr>\r\n");
        let m = Message::parse(&b).unwrap();
        assert_eq!(leading_own(&m, &["edge.example:5060".into()]).count, 1);
        assert_eq!(leading_own(&m, &["edge.example:5070".into()]).count, 0);
        assert_eq!(leading_own(&m, &["edge.example".into()]).count, 1);
    }
}
