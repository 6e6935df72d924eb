//! RFC 7118 §7 identity binding: a flow authenticated as one user may not register or send as another.

mod common;

use common::*;
use edge::time::Timestamp;
use edge::{Action, ClientFlow, Identity, Mode};

const JSSIP: &str = "jssip-kamailio-session.txt";

fn answer_with(identity: &Identity, bytes: &[u8], now: Timestamp) -> Vec<Action> {
    let mut e = edge(Mode::Standalone);
    let src = ClientFlow {
        identity: Some(identity),
        ..flow(1)
    };
    let mut out = Vec::new();
    e.from_client(&src, bytes, now, &mut out);
    out
}

fn status_of(actions: Vec<Action>) -> (u16, String) {
    match one(actions) {
        Action::ToFlow { bytes, .. } => {
            let m = sipscan::Message::parse(&bytes).unwrap();
            let reason = match m.kind() {
                sipscan::Kind::Response { reason, .. } => text(reason),
                _ => panic!("not a response"),
            };
            (m.status().unwrap(), reason)
        }
        other => panic!("{other:?}"),
    }
}

fn alice(domains: &[&str], expires_at: Option<Timestamp>) -> Identity {
    Identity {
        user: "alice".into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        expires_at,
    }
}

#[test]
fn register_as_self_is_accepted() {
    let out = answer_with(
        &alice(&["example.test"], None),
        &sent(JSSIP, "alice", "REGISTER"),
        Timestamp(0),
    );
    assert_eq!(status_of(out).0, 200);
}

#[test]
fn register_as_another_user_is_403() {
    let reg = text(&sent(JSSIP, "bob", "REGISTER"));
    let (code, reason) = status_of(answer_with(&alice(&[], None), reg.as_bytes(), Timestamp(0)));
    assert_eq!((code, reason.as_str()), (403, "To Does Not Match Identity"));
}

#[test]
fn register_in_another_domain_is_403() {
    let out = answer_with(
        &alice(&["other.test"], None),
        &sent(JSSIP, "alice", "REGISTER"),
        Timestamp(0),
    );
    assert_eq!(status_of(out).0, 403);
}

#[test]
fn request_with_someone_elses_from_is_403() {
    let invite = text(&sent(JSSIP, "alice", "INVITE"));
    let forged = invite.replace(
        "From: \"alice\" <sip:alice@example.test>",
        "From: \"carol\" <sip:carol@example.test>",
    );
    let (code, reason) = status_of(answer_with(
        &alice(&[], None),
        forged.as_bytes(),
        Timestamp(0),
    ));
    assert_eq!(
        (code, reason.as_str()),
        (403, "From Does Not Match Identity")
    );
}

#[test]
fn expired_credential_refuses_register_only() {
    let id = alice(&[], Some(Timestamp(1_000)));
    let (code, reason) = status_of(answer_with(
        &id,
        &sent(JSSIP, "alice", "REGISTER"),
        Timestamp(1_000),
    ));
    assert_eq!((code, reason.as_str()), (403, "Credential Expired"));
    // A MESSAGE from alice still goes (to 404 here: nobody is registered), not 403.
    let (code, _) = status_of(answer_with(
        &id,
        &sent(JSSIP, "alice", "MESSAGE"),
        Timestamp(1_000),
    ));
    assert_eq!(code, 404);
}
