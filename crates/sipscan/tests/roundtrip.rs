//! Property tests: scan(serialize(random message)) gives back what was serialized, and
//! editor output re-scans to the expected headers.

use proptest::prelude::*;
use sipscan::{Editor, HeaderName, Kind, Message, Method, arch};

#[derive(Debug, Clone)]
struct Hdr {
    name: String,
    value: String,
    fold: bool,
}

fn header() -> impl Strategy<Value = Hdr> {
    let name = prop_oneof![
        Just("Via".to_string()),
        Just("v".to_string()),
        Just("Route".to_string()),
        Just("Record-Route".to_string()),
        Just("Path".to_string()),
        Just("m".to_string()),
        Just("CSeq".to_string()),
        Just("X-Custom-Header".to_string()),
        "[A-Za-z][A-Za-z0-9.!%*_+`'~-]{0,20}",
    ]
    .prop_filter("Content-Length is framing, added separately", |n| {
        HeaderName::parse(n.as_bytes()) != HeaderName::ContentLength
    });
    let value = "[ -~]{0,40}".prop_map(|s| s.trim().to_string());
    (name, value, any::<bool>()).prop_map(|(name, value, fold)| Hdr { name, value, fold })
}

fn serialize(method: &str, headers: &[Hdr], body: &[u8], with_cl: bool) -> Vec<u8> {
    let mut out = format!("{method} sip:bob@example.test SIP/2.0\r\n").into_bytes();
    for h in headers {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        match (h.fold, h.value.split_once(' ')) {
            (true, Some((a, b)))
                if !a.is_empty() && !b.trim().is_empty() && !b.starts_with(' ') =>
            {
                out.extend_from_slice(a.as_bytes());
                out.extend_from_slice(b"\r\n ");
                out.extend_from_slice(b.as_bytes());
            }
            _ => out.extend_from_slice(h.value.as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }
    if with_cl {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn unfold(v: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(v).replace("\r\n ", " ");
    s.into_bytes()
}

proptest! {
    #[test]
    fn scan_serialize_round_trips(
        method in "[A-Z]{3,9}",
        headers in proptest::collection::vec(header(), 0..45),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        with_cl in any::<bool>(),
        keepalives in 0usize..3,
    ) {
        let mut bytes = b"\r\n".repeat(keepalives);
        bytes.extend(serialize(&method, &headers, &body, with_cl));
        for k in arch::available() {
            let m = Message::parse_with(&bytes, k).unwrap();
            let Kind::Request { method: got, uri } = m.kind() else { panic!() };
            prop_assert_eq!(got, Method::parse(method.as_bytes()));
            prop_assert_eq!(uri, b"sip:bob@example.test");
            prop_assert_eq!(m.header_count(), headers.len() + usize::from(with_cl));
            for (h, got) in headers.iter().zip(m.headers()) {
                prop_assert_eq!(got.raw_name(), h.name.as_bytes());
                prop_assert_eq!(got.name(), HeaderName::parse(h.name.as_bytes()));
                prop_assert_eq!(unfold(got.value()), h.value.as_bytes());
            }
            prop_assert_eq!(m.body(), &body[..]);
            prop_assert_eq!(m.content_length(), with_cl.then_some(body.len() as u32));
        }
    }

    #[test]
    fn editor_output_rescans_to_expected_headers(
        routes in proptest::collection::vec("[a-z]{1,8}", 0..4),
        same_line in any::<bool>(),
        mf in proptest::option::of(0u8..=255),
        extra in proptest::collection::vec(header(), 0..5),
    ) {
        let mut headers = vec![Hdr { name: "Via".into(), value: "SIP/2.0/WS a.invalid;branch=z9hG4bK1".into(), fold: false }];
        if same_line && !routes.is_empty() {
            let v: Vec<String> = routes.iter().map(|r| format!("<sip:{r}.example;lr>")).collect();
            headers.push(Hdr { name: "Route".into(), value: v.join(", "), fold: false });
        } else {
            for r in &routes {
                headers.push(Hdr { name: "Route".into(), value: format!("<sip:{r}.example;lr>"), fold: false });
            }
        }
        if let Some(mf) = mf {
            headers.push(Hdr { name: "Max-Forwards".into(), value: mf.to_string(), fold: false });
        }
        headers.extend(extra.into_iter().filter(|h| !matches!(HeaderName::parse(h.name.as_bytes()), HeaderName::Route | HeaderName::MaxForwards | HeaderName::Via | HeaderName::CallId)));
        let bytes = serialize("INVITE", &headers, b"v=0\r\n", true);
        let m = Message::parse(&bytes).unwrap();
        let mut ed = Editor::new(&m);
        ed.insert_first(HeaderName::Via, b"SIP/2.0/UDP edge;branch=z9hG4bKx");
        ed.insert_first(HeaderName::RecordRoute, b"<sip:edge;lr>");
        let popped = ed.pop_first(HeaderName::Route).is_some();
        let dec = ed.decrement_max_forwards();
        let mut out = Vec::new();
        ed.write_into(&mut out).unwrap();
        let e = Message::parse(&out).unwrap();

        let want_routes: Vec<String> = routes.iter().skip(usize::from(popped)).map(|r| format!("<sip:{r}.example;lr>")).collect();
        let got_routes: Vec<String> = e.all(HeaderName::Route).map(|x| String::from_utf8_lossy(x.bytes).into_owned()).collect();
        prop_assert_eq!(got_routes, want_routes);
        prop_assert_eq!(e.vias().count(), 2);
        prop_assert_eq!(e.top_via().unwrap().unwrap().host.as_bytes(), b"edge");
        // Inserts at one position are written in the order they were recorded.
        prop_assert_eq!(e.headers().next().unwrap().name(), HeaderName::Via);
        prop_assert_eq!(e.header(1).unwrap().name(), HeaderName::RecordRoute);
        match (mf, dec) {
            (Some(0), Err(sipscan::EditError::TooManyHops)) => prop_assert_eq!(e.max_forwards(), Some(Ok(0))),
            (Some(n), Ok(d)) => { prop_assert_eq!(d, n - 1); prop_assert_eq!(e.max_forwards(), Some(Ok(n - 1))); }
            (None, Ok(70)) => prop_assert_eq!(e.max_forwards(), Some(Ok(70))),
            other => prop_assert!(false, "unexpected {:?}", other),
        }
        prop_assert_eq!(e.body(), b"v=0\r\n");
        prop_assert_eq!(e.get(HeaderName::CallId).is_none(), true);
    }
}

#[test]
fn editor_params_and_content_length() {
    let bytes = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1;rport\r\nContact: <sip:a@b;ob>;expires=300\r\nContent-Length: 4\r\n\r\nabcd";
    let m = Message::parse(bytes).unwrap();
    let mut ed = Editor::new(&m);
    ed.set_param(0, "received", Some(b"192.0.2.7")).unwrap();
    ed.set_param(0, "rport", Some(b"34092")).unwrap();
    ed.set_param(1, "expires", Some(b"60")).unwrap();
    ed.set_content_length(4);
    let mut out = Vec::new();
    ed.write_into(&mut out).unwrap();
    let e = Message::parse(&out).unwrap();
    let v = e.top_via().unwrap().unwrap();
    assert_eq!(v.received(), Some(&b"192.0.2.7"[..]));
    assert_eq!(v.rport(), Some(Some(&b"34092"[..])));
    let Some(Ok(sipscan::Contact::Addr(c))) = e.contacts().next() else {
        panic!()
    };
    assert_eq!(c.expires(), Some(Ok(60)));
    assert_eq!(e.body(), b"abcd");
    assert_eq!(
        out,
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1;rport=34092;received=192.0.2.7\r\nContact: <sip:a@b;ob>;expires=60\r\nContent-Length: 4\r\n\r\nabcd"
    );
}
