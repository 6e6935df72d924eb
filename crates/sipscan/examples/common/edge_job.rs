//! The edge's whole job on one message, shared by the `scanloop` example and the `sipscan_edge` bench: scan,
//! read the top Route, push our Via, add Record-Route (Path for REGISTER), pop our Route, decrement
//! Max-Forwards, write the new message into a reused buffer.

use sipscan::{Editor, HeaderName, Message, Method};

pub const OUR_VIA: &[u8] = b"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK.w3.f17g3.a8d2e1";
pub const OUR_RR: &[u8] = b"<sip:tok.MTcuMw.h1f2@192.0.2.10:5060;transport=udp;lr>";
pub const OUR_PATH: &[u8] = b"<sip:tok.MTcuMw.h1f2@192.0.2.10:5060;transport=udp;lr;ob>";

/// Run the job on `bytes` into `out`; the written length.
pub fn edge(bytes: &[u8], out: &mut Vec<u8>) -> usize {
    let m = Message::parse(bytes).expect("scan");
    // As the edge pops its own Route (edge::routes): walk the Route values once, parse
    // the first, and delete its line (or, when the line goes on, the value and its comma).
    let mut routes = m.all(HeaderName::Route);
    let top = routes.next();
    let ours = top.is_some_and(|r| {
        sipscan::views::addr::parse_name_addr(r.bytes)
            .is_ok_and(|na| na.uri.sip().is_some_and(|u| u.lr()))
    });
    let mut ed = Editor::new(&m);
    ed.insert_first(HeaderName::Via, OUR_VIA);
    if m.method() == Some(Method::Register) {
        ed.insert_first(HeaderName::Path, OUR_PATH);
    } else {
        ed.insert_first(HeaderName::RecordRoute, OUR_RR);
    }
    if let (true, Some(top)) = (ours, top) {
        match routes.next() {
            Some(next) if next.header == top.header => ed.remove_span(sipscan::Span {
                start: top.span.start,
                end: next.span.start,
            }),
            _ => ed.remove(top.header).expect("route line"),
        }
    }
    ed.decrement_max_forwards().expect("max-forwards");
    out.clear();
    ed.write_into(out).expect("write")
}
