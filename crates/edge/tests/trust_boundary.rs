//! The trust boundary (issue 19 items 2 and 3): in edge mode browsers reach each other only through the core, a
//! response reaches a flow only through our own Via bound to that flow and transaction, and a flow token of an
//! earlier start never names a connection of this one.

mod common;

use common::*;
use edge::flow_token::{Epoch, FlowTokenKey};
use edge::time::Timestamp;
use edge::{Action, DropReason, Edge, Mode};
use sipscan::{HeaderName, Message};

const JSSIP: &str = "jssip-kamailio-session.txt";
const NOW: Timestamp = Timestamp(5_000);

/// An INVITE from the core to the flow named by `route`.
fn core_invite(route: &str) -> Vec<u8> {
    format!(
        "INVITE sip:c9gacc7v@4k3il3d38qec.invalid;transport=ws SIP/2.0\r\n\
Record-Route: <sip:127.0.0.1:5060;lr;ftag=f1>\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKcore1\r\n\
Route: {route}\r\nMax-Forwards: 69\r\nTo: <sip:bob@example.test>\r\n\
From: <sip:alice@example.test>;tag=f1\r\nCall-ID: inc1\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:alice@127.0.0.1:7000>\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Bob's flow token as the other party of a dialog learns it: from the Record-Route the edge writes on the
/// core's INVITE to bob (it travels back to the caller in the 200 OK).
fn bobs_token_from_record_route(e: &mut Edge) -> String {
    let mut bob = flow(2).id;
    bob.outbound = true;
    let path = e.token(&bob);
    let mut out = Vec::new();
    e.from_core(
        &core_invite(&format!("<sip:{path}@127.0.0.1:5070;transport=udp;lr;ob>")),
        &mut out,
    );
    let Action::ToFlow { bytes, .. } = one(out) else {
        panic!("the core's INVITE reaches bob")
    };
    let m = Message::parse(&bytes).unwrap();
    let rr = m.record_routes().next().unwrap().unwrap();
    let user = rr.uri.sip().unwrap().user.unwrap();
    text(user)
}

#[test]
fn a_browser_replaying_a_victims_flow_token_in_route_goes_to_the_core_not_to_the_victim() {
    let mut e = edge(Mode::Edge);
    let stolen = bobs_token_from_record_route(&mut e);
    // Alice (flow 1) sends a MESSAGE whose top Route carries bob's token, as if in bob's dialog.
    let msg = String::from_utf8(sent(JSSIP, "alice", "MESSAGE"))
        .unwrap()
        .replacen(
            "Via: ",
            &format!("Route: <sip:{stolen}@127.0.0.1:8080;transport=ws;lr;ob>\r\nVia: "),
            1,
        );
    let mut out = Vec::new();
    e.from_client(&flow(1), msg.as_bytes(), NOW, &mut out);
    match one(out) {
        Action::ToCore { bytes } => {
            let m = Message::parse(&bytes).unwrap();
            assert!(
                m.get(HeaderName::Route).is_none(),
                "our Route entry is popped: {}",
                text(&bytes)
            );
            assert!(!text(&bytes).contains(&stolen), "{}", text(&bytes));
        }
        other => panic!("a browser's request must go to the core, got {other:?}"),
    }
    // The same with a forged token: still the core (tokens in a browser's Route are not followed).
    let forged = msg.replace(&stolen, &"A".repeat(stolen.len()));
    let mut out = Vec::new();
    e.from_client(&flow(1), forged.as_bytes(), NOW, &mut out);
    assert!(matches!(one(out), Action::ToCore { .. }));
}

#[test]
fn a_browser_answering_with_a_copy_of_a_victims_via_cannot_reach_the_victim() {
    let mut e = edge(Mode::Edge);
    // Bob sends a request through the edge (a MESSAGE to alice would do; his REGISTER is in the trace); the core
    // forwards such a request to alice with every Via, ours included (carrying bob's token in `sipedge-ft`).
    let mut out = Vec::new();
    e.from_client(&flow(2), &sent(JSSIP, "bob", "REGISTER"), NOW, &mut out);
    let Action::ToCore { bytes: to_core } = one(out) else {
        panic!("bob's request goes to the core")
    };
    assert!(text(&to_core).contains("sipedge-ft="));
    // Alice answers it herself, with our Via on top, on her own flow.
    let forged = edge::response::build(&Message::parse(&to_core).unwrap(), 200, "OK", &[]);
    let mut out = Vec::new();
    e.from_client(&flow(1), &forged, NOW, &mut out);
    assert_eq!(one(out), Action::Drop(DropReason::NotOurVia));
    // The core's own answer still reaches bob.
    let mut out = Vec::new();
    e.from_core(&forged, &mut out);
    assert!(matches!(one(out), Action::ToFlow { flow, .. } if flow.slot == 2));
}

#[test]
fn a_response_with_a_copied_flow_token_and_a_made_up_branch_is_dropped_in_standalone_mode() {
    let mut e = edge(Mode::Standalone);
    let alice = e.token(&flow(1).id);
    let forged = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/WS 127.0.0.1:8080;branch=z9hG4bK-se0123456789abcdef01234567;\
sipedge-ft={alice}\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\nTo: <sip:b@x>;tag=2\r\n\
From: <sip:a@x>;tag=1\r\nCall-ID: z\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
    );
    let mut out = Vec::new();
    e.from_client(&flow(3), forged.as_bytes(), NOW, &mut out);
    assert_eq!(one(out), Action::Drop(DropReason::NotOurVia));
}

#[test]
fn a_stale_path_token_after_a_restart_gets_430_not_the_new_holder_of_the_slot() {
    // Before the restart: bob registered on slot 2, generation 1, and the core stored this Path.
    let mut bob = flow(2).id;
    bob.outbound = true;
    let before = FlowTokenKey::new(SECRET, Epoch(0x0bad_0001));
    let stale = before.seal(&bob);
    // After the restart, with the same fixed flow_token_secret, slot 2 generation 1 belongs to someone else.
    let mut e = edge(Mode::Edge);
    let mut out = Vec::new();
    e.from_core(
        &core_invite(&format!("<sip:{stale}@127.0.0.1:5070;transport=udp;lr;ob>")),
        &mut out,
    );
    match one(out) {
        Action::ToCore { bytes } => assert_eq!(status(&bytes), 430, "{}", text(&bytes)),
        other => panic!("a stale token must not reach a flow, got {other:?}"),
    }
}

#[test]
fn a_stale_route_token_in_standalone_mode_gets_430() {
    let mut e = edge(Mode::Standalone);
    let stale = FlowTokenKey::new(SECRET, Epoch(0x0bad_0002)).seal(&flow(2).id);
    let bye = format!(
        "BYE sip:b@y.invalid;transport=ws SIP/2.0\r\nRoute: <sip:{stale}@127.0.0.1:8080;transport=ws;lr>\r\n\
Via: SIP/2.0/WS a.invalid;branch=z9hG4bK7\r\nMax-Forwards: 70\r\nTo: <sip:b@x>;tag=2\r\n\
From: <sip:a@x>;tag=1\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    let mut out = Vec::new();
    e.from_client(&flow(1), bye.as_bytes(), NOW, &mut out);
    match one(out) {
        Action::ToFlow { flow, bytes, .. } => {
            assert_eq!(flow.slot, 1, "answered to the sender");
            assert_eq!(status(&bytes), 430);
        }
        other => panic!("{other:?}"),
    }
}
