//! Edge mode: browsers in front of a SIP core (RFC 7118 + RFC 5626 flow tokens + RFC 3327 Path).

mod common;

use common::*;
use edge::time::Timestamp;
use edge::{Action, Mode};
use sipscan::{HeaderName, Message};

const JSSIP: &str = "jssip-kamailio-session.txt";
const SIPJS: &str = "sipjs-kamailio-session.txt";
const NOW: Timestamp = Timestamp(5_000);

fn to_core(a: Action) -> Vec<u8> {
    match a {
        Action::ToCore { bytes } => bytes,
        other => panic!("expected ToCore, got {other:?}"),
    }
}

#[test]
fn jssip_register_gets_via_path_with_ob_and_keeps_everything_else() {
    let mut e = edge(Mode::Edge);
    let reg = sent(JSSIP, "alice", "REGISTER");
    let mut out = Vec::new();
    e.from_client(&flow(1), &reg, NOW, &mut out);
    let fwd = to_core(one(out));
    let mut ob = flow(1).id;
    ob.outbound = true;
    let tok = e.token(&ob);
    let f = Message::parse(&fwd).unwrap();
    let branch = text(f.top_via().unwrap().unwrap().branch().unwrap());
    // Exact bytes: our three header lines on top, received on the browser's Via, Max-Forwards decremented,
    // every other byte as the browser sent it.
    let expected = text(&reg)
        .replacen(
            "REGISTER sip:example.test SIP/2.0\r\n",
            &format!(
                "REGISTER sip:example.test SIP/2.0\r\nPath: <sip:{tok}@127.0.0.1:5070;transport=udp;lr;ob>\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport;sipedge-ft={tok}\r\n"
            ),
            1,
        )
        .replace("branch=z9hG4bK9877813\r\n", "branch=z9hG4bK9877813;received=127.0.0.1\r\n")
        .replace("Max-Forwards: 69\r\n", "Max-Forwards: 68\r\n");
    assert_eq!(text(&fwd), expected);
}

#[test]
fn sipjs_register_path_has_no_ob() {
    let mut e = edge(Mode::Edge);
    let mut out = Vec::new();
    e.from_client(&flow(1), &sent(SIPJS, "alice", "REGISTER"), NOW, &mut out);
    let f = to_core(one(out));
    let m = Message::parse(&f).unwrap();
    let path = text(m.get(HeaderName::Path).unwrap().value());
    assert!(
        path.ends_with("@127.0.0.1:5070;transport=udp;lr>"),
        "{path}"
    );
}

#[test]
fn core_response_pops_our_via_and_reaches_the_flow() {
    let mut e = edge(Mode::Edge);
    let reg = sent(JSSIP, "alice", "REGISTER");
    let mut out = Vec::new();
    e.from_client(&flow(1), &reg, NOW, &mut out);
    let fwd = to_core(one(out));
    let ok = edge::response::build(&Message::parse(&fwd).unwrap(), 200, "OK", &[]);
    let mut out = Vec::new();
    e.from_core(&ok, &mut out);
    match one(out) {
        Action::ToFlow { flow: f, bytes, .. } => {
            assert!(f.same_connection(&flow(1).id));
            let m = Message::parse(&bytes).unwrap();
            assert_eq!(m.vias().count(), 1);
            assert_eq!(
                m.top_via().unwrap().unwrap().received(),
                Some(&b"127.0.0.1"[..])
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invite_to_core_is_double_record_routed_core_side_first() {
    let mut e = edge(Mode::Edge);
    let mut out = Vec::new();
    e.from_client(&flow(1), &sent(JSSIP, "alice", "INVITE"), NOW, &mut out);
    let f = to_core(one(out));
    let m = Message::parse(&f).unwrap();
    let mut ob = flow(1).id;
    ob.outbound = true;
    let rr: Vec<String> = m
        .record_routes()
        .map(|r| text(r.unwrap().uri_bytes))
        .collect();
    assert_eq!(
        rr,
        vec![
            "sip:127.0.0.1:5070;transport=udp;lr".to_string(),
            format!("sip:{}@127.0.0.1:8080;transport=ws;lr;ob", e.token(&ob))
        ]
    );
}

#[test]
fn browser_requests_go_to_the_core_whatever_the_request_uri() {
    let mut e = edge(Mode::Edge);
    let msg = String::from_utf8(sent(JSSIP, "alice", "MESSAGE"))
        .unwrap()
        .replace("sip:bob@example.test SIP", "sip:bob@elsewhere.example SIP");
    let mut out = Vec::new();
    e.from_client(&flow(1), msg.as_bytes(), NOW, &mut out);
    assert!(text(&to_core(one(out))).starts_with("MESSAGE sip:bob@elsewhere.example SIP/2.0\r\n"));
}

fn incoming_invite(route: &str) -> Vec<u8> {
    format!(
        "INVITE sip:c9gacc7v@4k3il3d38qec.invalid;transport=ws SIP/2.0\r\n\
Record-Route: <sip:127.0.0.1:5060;lr;ftag=f1>\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKcore1\r\n\
Via: SIP/2.0/UDP 127.0.0.1:7000;branch=z9hG4bKcaller;rport=7000\r\n\
Route: {route}\r\nMax-Forwards: 69\r\nTo: <sip:alice@example.test>\r\n\
From: <sip:carol@example.test>;tag=f1\r\nCall-ID: inc1\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:carol@127.0.0.1:7000>\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn core_request_follows_the_path_token_to_the_flow() {
    let mut e = edge(Mode::Edge);
    let mut ob = flow(1).id;
    ob.outbound = true;
    let tok = e.token(&ob);
    let mut out = Vec::new();
    e.from_core(
        &incoming_invite(&format!("<sip:{tok}@127.0.0.1:5070;transport=udp;lr;ob>")),
        &mut out,
    );
    match one(out) {
        Action::ToFlow {
            flow: f,
            bytes,
            if_gone,
        } => {
            assert!(f.same_connection(&flow(1).id));
            let m = Message::parse(&bytes).unwrap();
            assert!(m.get(HeaderName::Route).is_none(), "our Route popped");
            assert_eq!(m.vias().count(), 3);
            let top = m.top_via().unwrap().unwrap();
            assert_eq!(text(top.transport), "WS");
            let rr: Vec<String> = m
                .record_routes()
                .map(|r| text(r.unwrap().uri_bytes))
                .collect();
            assert_eq!(
                rr,
                vec![
                    format!("sip:{tok}@127.0.0.1:8080;transport=ws;lr;ob"),
                    "sip:127.0.0.1:5070;transport=udp;lr".to_string(),
                    "sip:127.0.0.1:5060;lr;ftag=f1".to_string(),
                ]
            );
            // The flow is gone: RFC 5626 §5.3 430 Flow Failed to the core.
            match *if_gone.unwrap() {
                Action::ToCore { bytes } => assert_eq!(status(&bytes), 430),
                other => panic!("{other:?}"),
            }
            // The browser's 180 goes back to the core with our Via popped.
            let ringing = edge::response::build(&m, 180, "Ringing", &[]);
            let mut out = Vec::new();
            e.from_client(&flow(1), &ringing, NOW, &mut out);
            let r = to_core(one(out));
            let rm = Message::parse(&r).unwrap();
            assert_eq!(rm.status(), Some(180));
            assert_eq!(
                rm.top_via().unwrap().unwrap().branch(),
                Some(&b"z9hG4bKcore1"[..])
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn forged_token_is_403_and_counted() {
    let mut e = edge(Mode::Edge);
    // A well-formed token for flow 1 with its last MAC character changed.
    let real = e.token(&flow(1).id);
    let forged = format!(
        "{}{}",
        &real[..real.len() - 1],
        if real.ends_with('A') { 'B' } else { 'A' }
    );
    let mut out = Vec::new();
    e.from_core(
        &incoming_invite(&format!("<sip:{forged}@127.0.0.1:5070;lr>")),
        &mut out,
    );
    assert_eq!(out.len(), 2);
    match &out[0] {
        Action::ToCore { bytes } => assert_eq!(status(bytes), 403),
        other => panic!("{other:?}"),
    }
    assert_eq!(out[1], Action::Drop(edge::DropReason::BadFlowToken));
}

#[test]
fn core_request_without_a_token_is_404() {
    let mut e = edge(Mode::Edge);
    let mut out = Vec::new();
    e.from_core(&incoming_invite("<sip:127.0.0.1:5070;lr>"), &mut out);
    match one(out) {
        Action::ToCore { bytes } => assert_eq!(status(&bytes), 404),
        other => panic!("{other:?}"),
    }
}

#[test]
fn response_with_a_foreign_via_is_dropped() {
    let mut e = edge(Mode::Edge);
    let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKother\r\nTo: <sip:a@x>;tag=1\r\n\
From: <sip:b@x>;tag=2\r\nCall-ID: z\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let mut out = Vec::new();
    e.from_core(resp, &mut out);
    assert_eq!(one(out), Action::Drop(edge::DropReason::NotOurVia));
}

#[test]
fn wss_listener_beside_ws_is_advertised_to_secure_flows_only() {
    let mut cfg = common::config(Mode::Edge);
    cfg.wss_host_port = Some("edge.example.test:8443".into());
    cfg.own_addresses.push("edge.example.test:8443".into());
    let mut e = edge::Edge::new(cfg, common::key());
    for (secure, want) in [(false, "sip:"), (true, "sips:")] {
        let mut src = flow(1);
        src.id.secure = secure;
        let mut out = Vec::new();
        e.from_client(&src, &sent(JSSIP, "alice", "INVITE"), NOW, &mut out);
        let m = text(&to_core(one(out)));
        let mut id = src.id;
        id.outbound = true;
        let host = if secure {
            "edge.example.test:8443"
        } else {
            "127.0.0.1:8080"
        };
        assert!(
            m.contains(&format!("{want}{}@{host};transport=ws;lr;ob", e.token(&id))),
            "secure={secure}: {m}"
        );
    }
}

#[test]
fn secure_flow_gets_wss_via_and_sips_record_route() {
    let mut e = edge(Mode::Edge);
    let mut src = flow(1);
    src.id.secure = true;
    let mut out = Vec::new();
    e.from_client(&src, &sent(JSSIP, "alice", "INVITE"), NOW, &mut out);
    let f = to_core(one(out));
    let m = Message::parse(&f).unwrap();
    let rr: Vec<String> = m
        .record_routes()
        .map(|r| text(r.unwrap().uri_bytes))
        .collect();
    let mut id = src.id;
    id.outbound = true;
    assert_eq!(
        rr[1],
        format!("sips:{}@127.0.0.1:8080;transport=ws;lr;ob", e.token(&id))
    );

    // The core's INVITE to the secure flow: our Via says WSS.
    let tok = e.token(&id);
    let mut out = Vec::new();
    e.from_core(
        &incoming_invite(&format!("<sip:{tok}@127.0.0.1:5070;transport=udp;lr;ob>")),
        &mut out,
    );
    match one(out) {
        Action::ToFlow { bytes, .. } => {
            let m = Message::parse(&bytes).unwrap();
            assert_eq!(text(m.top_via().unwrap().unwrap().transport), "WSS");
            let rr: Vec<String> = m
                .record_routes()
                .map(|r| text(r.unwrap().uri_bytes))
                .collect();
            assert!(rr[0].starts_with("sips:"), "{rr:?}");
        }
        other => panic!("{other:?}"),
    }
}
