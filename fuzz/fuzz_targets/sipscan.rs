#![no_main]
//! Scan + every typed view + an edge edit round trip; the edited output must re-scan
//! with the expected header count.
use libfuzzer_sys::fuzz_target;
use sipscan::{Contact, Editor, HeaderName, Message};

fuzz_target!(|data: &[u8]| {
    // Every kernel frames and indexes the same way.
    let reference = Message::parse_with(data, *sipscan::arch::available().last().unwrap());
    for k in sipscan::arch::available() {
        match (Message::parse_with(data, k), &reference) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.header_count(), b.header_count(), "{}", k.name);
                for (x, y) in a.headers().zip(b.headers()) {
                    assert_eq!(
                        (x.name(), x.line_span(), x.value_span()),
                        (y.name(), y.line_span(), y.value_span())
                    );
                }
                assert_eq!(a.body_span(), b.body_span());
            }
            (Err(a), Err(b)) => assert_eq!(a, *b, "{}", k.name),
            (a, b) => panic!(
                "kernel {} disagrees: {:?} vs {:?}",
                k.name,
                a.is_ok(),
                b.is_ok()
            ),
        }
    }
    let Ok(m) = Message::parse(data) else { return };
    let _ = m.check();
    for h in m.headers() {
        let _ = (h.raw_name(), h.value(), h.name());
        for e in h.elements() {
            assert!(e.span.end as usize <= data.len());
        }
    }
    for v in m.vias().flatten() {
        let _ = (v.branch(), v.received(), v.rport(), v.params.len());
    }
    for c in m.contacts().flatten() {
        if let Contact::Addr(a) = c {
            let _ = (a.expires(), a.sip_instance(), a.reg_id(), a.tag());
            if let Some(u) = a.uri.sip() {
                let _ = (u.transport(), u.lr(), u.ob(), u.param_iter().count());
                for name in ["transport", "lr", "ob", "l"] {
                    let by_iter = u
                        .param_iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                        .map(|(_, v)| v);
                    assert_eq!(u.param(name), by_iter);
                }
            }
        }
    }
    let _ = (
        m.routes().count(),
        m.record_routes().count(),
        m.paths().count(),
    );
    let _ = (
        m.to(),
        m.from(),
        m.cseq(),
        m.max_forwards(),
        m.expires(),
        m.call_id(),
    );
    let _ = (m.request_uri_view(), m.body(), m.trailing());

    let mut ed = Editor::new(&m);
    ed.insert_first(HeaderName::Via, b"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKfuzz");
    ed.insert_first(HeaderName::RecordRoute, b"<sip:192.0.2.1;lr>");
    let mut expected = m.header_count() as isize + 2;
    let route = m.get(HeaderName::Route);
    let single = route.is_some_and(|r| r.elements().count() == 1);
    if ed.pop_first(HeaderName::Route).is_some() && single {
        expected -= 1;
    }
    match ed.decrement_max_forwards() {
        Ok(_) if m.get(HeaderName::MaxForwards).is_none() => expected += 1,
        Ok(_) => {}
        Err(_) => {}
    }
    let mut out = Vec::new();
    if ed.write_into(&mut out).is_err() {
        return;
    }
    let again = Message::parse(&out).expect("editor output re-scans");
    assert_eq!(again.header_count() as isize, expected);
    assert_eq!(again.body(), m.body());
    assert_eq!(again.top_via().map(|v| v.is_ok()), Some(true));
});
