//! Standalone mode (no core): the embedded registrar and routing between browsers, on JsSIP / SIP.js traces.

mod common;

use common::*;
use edge::time::Timestamp;
use edge::{Action, Mode};
use sipscan::{HeaderName, Message};

const JSSIP: &str = "jssip-kamailio-session.txt";
const SIPJS: &str = "sipjs-kamailio-session.txt";
const NOW: Timestamp = Timestamp(1_000_000);

fn to_flow(a: Action) -> (u32, Vec<u8>, Option<Box<Action>>) {
    match a {
        Action::ToFlow {
            flow,
            bytes,
            if_gone,
        } => (flow.slot, bytes, if_gone),
        other => panic!("expected ToFlow, got {other:?}"),
    }
}

/// Register alice (slot 1) and bob (slot 2) from a trace; returns the edge.
fn registered(trace_name: &str) -> edge::Edge {
    let mut e = edge(Mode::Standalone);
    for (tag, slot) in [("alice", 1), ("bob", 2)] {
        let mut out = Vec::new();
        e.from_client(
            &flow(slot),
            &sent(trace_name, tag, "REGISTER"),
            NOW,
            &mut out,
        );
        let (to, bytes, _) = to_flow(one(out));
        assert_eq!(to, slot);
        assert_eq!(status(&bytes), 200, "{}", text(&bytes));
    }
    e
}

#[test]
fn jssip_register_200_lists_the_binding_with_expires_and_outbound() {
    let mut e = edge(Mode::Standalone);
    let mut out = Vec::new();
    let reg = sent(JSSIP, "alice", "REGISTER");
    e.from_client(&flow(1), &reg, NOW, &mut out);
    let (_, bytes, _) = to_flow(one(out));
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.status(), Some(200));
    let contact = m.get(HeaderName::Contact).unwrap();
    assert_eq!(
        text(contact.value()),
        "<sip:c9gacc7v@4k3il3d38qec.invalid;transport=ws>;expires=300;\
+sip.instance=\"<urn:uuid:56ff4a26-a166-4d3d-8d9b-f4f7563edcc2>\";reg-id=1"
    );
    assert_eq!(
        text(m.get(HeaderName::Require).unwrap().value()),
        "outbound"
    );
    // The Via comes back untouched, the To gets a tag, Call-ID/CSeq echo.
    let req = Message::parse(&reg).unwrap();
    assert_eq!(
        m.get(HeaderName::Via).unwrap().value(),
        req.get(HeaderName::Via).unwrap().value()
    );
    assert!(m.to().unwrap().unwrap().params.get("tag").is_some());
    assert_eq!(m.call_id(), req.call_id());
    assert_eq!(e.registrar().binding_count(), 1);
}

#[test]
fn sipjs_register_without_reg_id_is_not_outbound() {
    let mut e = edge(Mode::Standalone);
    let mut out = Vec::new();
    e.from_client(&flow(1), &sent(SIPJS, "alice", "REGISTER"), NOW, &mut out);
    let (_, bytes, _) = to_flow(one(out));
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.status(), Some(200));
    assert!(m.get(HeaderName::Require).is_none(), "{}", text(&bytes));
}

#[test]
fn message_is_routed_to_the_callee_flow_and_the_answer_back() {
    for trace_name in [JSSIP, SIPJS] {
        let mut e = registered(trace_name);
        let msg = sent(trace_name, "alice", "MESSAGE");
        let mut out = Vec::new();
        e.from_client(&flow(1), &msg, NOW, &mut out);
        let (to, fwd, if_gone) = to_flow(one(out));
        assert_eq!(to, 2, "MESSAGE goes to bob's flow");
        // JsSIP registers with reg-id (outbound: 430 Flow Failed when gone), SIP.js by default does not (480).
        let gone = if trace_name == JSSIP { 430 } else { 480 };
        assert_eq!(status(&if_gone.map(|a| to_flow(*a).1).unwrap()), gone);
        let f = Message::parse(&fwd).unwrap();
        let vias: Vec<_> = f.vias().map(Result::unwrap).collect();
        assert_eq!(vias.len(), 2);
        assert_eq!(text(vias[0].host.as_bytes()), "127.0.0.1");
        assert_eq!(vias[0].port, Some(8080));
        assert!(text(vias[0].branch().unwrap()).starts_with(edge::BRANCH_PREFIX));
        assert!(vias[0].params.get("sipedge-ft").is_some());
        assert_eq!(
            vias[1].received(),
            Some(&b"127.0.0.1"[..]),
            "RFC 3261 §18.2.1 received on the browser's Via"
        );
        // Retargeted to bob's registered contact; body untouched; Max-Forwards decremented.
        let orig = Message::parse(&msg).unwrap();
        assert!(
            text(f.request_uri().unwrap()).contains(".invalid;transport=ws"),
            "{}",
            text(&fwd)
        );
        assert_eq!(f.body(), orig.body());
        assert_eq!(
            f.max_forwards().unwrap().unwrap() + 1,
            orig.max_forwards().unwrap().unwrap()
        );
        assert!(
            f.get(HeaderName::RecordRoute).is_none(),
            "MESSAGE is not record-routed"
        );

        // Bob answers 200: our Via is popped and the answer goes to alice's flow.
        let answer = sipscan_response(&fwd, 200, "OK");
        let mut out = Vec::new();
        e.from_client(&flow(2), &answer, NOW, &mut out);
        let (to, back, _) = to_flow(one(out));
        assert_eq!(to, 1);
        let b = Message::parse(&back).unwrap();
        assert_eq!(b.vias().count(), 1);
        assert_eq!(
            b.top_via().unwrap().unwrap().branch(),
            orig.top_via().unwrap().unwrap().branch()
        );
    }
}

/// A response to `req` as a UA would build it (copy Via, From, To+tag, Call-ID, CSeq).
fn sipscan_response(req: &[u8], code: u16, reason: &str) -> Vec<u8> {
    let m = Message::parse(req).unwrap();
    edge::response::build(&m, code, reason, &[])
}

#[test]
fn invite_is_double_record_routed_and_in_dialog_requests_follow_the_tokens() {
    let mut e = registered(JSSIP);
    let invite = sent(JSSIP, "alice", "INVITE");
    let mut out = Vec::new();
    e.from_client(&flow(1), &invite, NOW, &mut out);
    let (to, fwd, _) = to_flow(one(out));
    assert_eq!(to, 2);
    let f = Message::parse(&fwd).unwrap();
    let rr: Vec<String> = f
        .record_routes()
        .map(|r| text(r.unwrap().uri_bytes))
        .collect();
    let mut bob_ob = flow(2).id;
    bob_ob.outbound = true; // JsSIP registered with reg-id
    let tok_bob = e.token(&bob_ob);
    let mut alice_ob = flow(1).id;
    alice_ob.outbound = true; // JsSIP's INVITE Contact has ;ob
    let tok_alice = e.token(&alice_ob);
    assert_eq!(
        rr,
        vec![
            format!("sip:{tok_bob}@127.0.0.1:8080;transport=ws;lr;ob"),
            format!("sip:{tok_alice}@127.0.0.1:8080;transport=ws;lr;ob"),
        ]
    );

    // Alice's ACK/BYE carry the route set reversed: both entries are ours and lead to bob.
    let bye = String::from_utf8(sent(JSSIP, "alice", "BYE")).unwrap().replace(
        "Route: <sip:127.0.0.1:8090;transport=ws;lr;ftag=rjteli52mb>",
        &format!("Route: <sip:{tok_alice}@127.0.0.1:8080;transport=ws;lr;ob>, <sip:{tok_bob}@127.0.0.1:8080;transport=ws;lr;ob>"),
    );
    let mut out = Vec::new();
    e.from_client(&flow(1), bye.as_bytes(), NOW, &mut out);
    let (to, fwd, _) = to_flow(one(out));
    assert_eq!(to, 2);
    assert!(
        Message::parse(&fwd)
            .unwrap()
            .get(HeaderName::Route)
            .is_none(),
        "our routes popped"
    );

    // Bob's BYE the other way round reaches alice.
    let bye_from_bob = bye.replace(
        &format!("Route: <sip:{tok_alice}@127.0.0.1:8080;transport=ws;lr;ob>, <sip:{tok_bob}@127.0.0.1:8080;transport=ws;lr;ob>"),
        &format!("Route: <sip:{tok_bob}@127.0.0.1:8080;transport=ws;lr;ob>, <sip:{tok_alice}@127.0.0.1:8080;transport=ws;lr;ob>"),
    );
    let mut out = Vec::new();
    e.from_client(&flow(2), bye_from_bob.as_bytes(), NOW, &mut out);
    let (to, _, if_gone) = to_flow(one(out));
    assert_eq!(to, 1);
    assert_eq!(
        status(&to_flow(*if_gone.unwrap()).1),
        430,
        "alice is an outbound client: 430 Flow Failed"
    );
}

#[test]
fn cancel_gets_the_same_branch_as_its_invite() {
    let mut e = registered(JSSIP);
    let invite = sent(JSSIP, "alice", "INVITE");
    let cancel = String::from_utf8(invite.clone())
        .unwrap()
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 6538 INVITE", "CSeq: 6538 CANCEL");
    let branch_of = |e: &mut edge::Edge, b: &[u8]| {
        let mut out = Vec::new();
        e.from_client(&flow(1), b, NOW, &mut out);
        let (_, fwd, _) = to_flow(one(out));
        let m = Message::parse(&fwd).unwrap();
        text(m.top_via().unwrap().unwrap().branch().unwrap())
    };
    assert_eq!(
        branch_of(&mut e, &invite),
        branch_of(&mut e, cancel.as_bytes())
    );
}

#[test]
fn unknown_user_is_404_and_options_to_the_edge_is_200() {
    let mut e = registered(JSSIP);
    let to_carol = String::from_utf8(sent(JSSIP, "alice", "MESSAGE"))
        .unwrap()
        .replace("MESSAGE sip:bob@", "MESSAGE sip:carol@");
    let mut out = Vec::new();
    e.from_client(&flow(1), to_carol.as_bytes(), NOW, &mut out);
    assert_eq!(status(&to_flow(one(out)).1), 404);

    let options = b"OPTIONS sip:127.0.0.1:8080;transport=ws SIP/2.0\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bKo\r\n\
Max-Forwards: 70\r\nTo: <sip:127.0.0.1>\r\nFrom: <sip:alice@example.test>;tag=1\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";
    let mut out = Vec::new();
    e.from_client(&flow(1), options, NOW, &mut out);
    let (_, r, _) = to_flow(one(out));
    assert_eq!(status(&r), 200);
    assert!(text(&r).contains("Allow: INVITE"));
}

#[test]
fn unregister_and_closed_flow_remove_bindings() {
    let mut e = registered(JSSIP);
    assert_eq!(e.registrar().binding_count(), 2);
    let unreg = String::from_utf8(sent(JSSIP, "alice", "REGISTER"))
        .unwrap()
        .replace("expires=300", "expires=0")
        .replace("CSeq: 1 REGISTER", "CSeq: 2 REGISTER");
    let mut out = Vec::new();
    e.from_client(&flow(1), unreg.as_bytes(), NOW, &mut out);
    let (_, r, _) = to_flow(one(out));
    assert_eq!(status(&r), 200);
    assert!(
        Message::parse(&r)
            .unwrap()
            .get(HeaderName::Contact)
            .is_none(),
        "no bindings left: {}",
        text(&r)
    );
    assert_eq!(e.registrar().binding_count(), 1);
    assert_eq!(e.flow_closed(&flow(2).id), 1);
    assert_eq!(e.registrar().binding_count(), 0);
}

#[test]
fn register_with_short_expiry_is_423_with_min_expires() {
    let mut e = edge(Mode::Standalone);
    let reg = String::from_utf8(sent(JSSIP, "alice", "REGISTER"))
        .unwrap()
        .replace("expires=300", "expires=5");
    let mut out = Vec::new();
    e.from_client(&flow(1), reg.as_bytes(), NOW, &mut out);
    let (_, r, _) = to_flow(one(out));
    assert_eq!(status(&r), 423);
    assert!(text(&r).contains("Min-Expires: 60\r\n"));
}

#[test]
fn registrations_on_another_shard_are_handed_over() {
    let mut cfg = config(Mode::Standalone);
    cfg.workers = 4;
    let mut e = edge::Edge::new(cfg, key());
    let reg = sent(JSSIP, "alice", "REGISTER");
    let shard = e.shard_of("alice@example.test");
    let mut out = Vec::new();
    e.from_client(&flow(1), &reg, NOW, &mut out);
    match one(out) {
        Action::ToShard {
            worker,
            bytes,
            from,
            ..
        } if shard != 0 => {
            assert_eq!(worker, shard);
            assert_eq!(bytes, reg);
            assert_eq!(from, flow(1).id);
        }
        Action::ToFlow { .. } if shard == 0 => {}
        other => panic!("shard {shard}: {other:?}"),
    }
}
