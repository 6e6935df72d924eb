//! A session moved to another process as bytes: it goes on exactly as the original would have (the same
//! commands for the same bytes and time), whatever it held; damaged or foreign bytes are refused and never
//! panic or count an address.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;
use wsproto::deflate::{Compressor, DeflateConfig};

use super::*;
use crate::session::{NotMovable, SESSION_STATE_VERSION, StateError};

/// What the session under test holds besides its WebSocket.
#[derive(Debug, Clone, Copy)]
struct Holds {
    identity: bool,
    window: bool,
    rate: bool,
    ip_limit: bool,
}

/// The policy for `holds`, its clock's zero at `epoch` (a process started at another time has another).
fn policy_for(holds: Holds, epoch: Instant) -> Policy {
    let mut p = policy();
    p.epoch = epoch;
    if holds.identity {
        p.auth = bearer_auth();
    }
    if holds.window {
        p.deflate = Some(DeflateConfig {
            client_no_context_takeover: false,
            client_max_window_bits: 11,
            ..DeflateConfig::default()
        });
    }
    if holds.rate {
        p.request_rate = rate(2, 3, OverRate::Reject);
    }
    if holds.ip_limit {
        p.ip_limits = std::sync::Arc::new(IpLimits::new(1, 0, 0));
    }
    p
}

/// The upgrade request for `holds` (a token expiring in 90 s, a permessage-deflate offer).
fn request_for(holds: Holds) -> Vec<u8> {
    let mut extra = String::from("Sec-WebSocket-Protocol: sip\r\nOrigin: https://app.example\r\n");
    if holds.identity {
        let exp = crate::auth::unix_now() + 90;
        let t = token(json!({"sip_aor": "sip:alice@example.com", "aud": "sipedge", "exp": exp}));
        extra += &format!("Authorization: Bearer {t}\r\n");
    }
    if holds.window {
        extra += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    }
    upgrade("/", &extra)
}

impl Harness {
    /// The session exported at this harness's time, as a new process with policy `p` imports it.
    fn hand_over(&self, p: Policy) -> Result<Harness, StateError> {
        let mut state = Vec::new();
        self.session
            .export_state(&self.policy, self.now, &mut state)
            .expect("an open session moves");
        let session = Session::import_state(&p, self.now, &state)?;
        Ok(Harness {
            policy: p,
            session,
            now: self.now,
            log: Vec::new(),
            buf: Vec::new(),
            codecs: wsproto::deflate::SharedCodecs::new(6),
        })
    }

    /// Let `gap` pass, then feed `bytes`: every command both led to.
    fn step(&mut self, gap: Duration, bytes: &[u8]) -> Vec<Rec> {
        let mut got = self.advance(gap);
        got.extend(self.feed(bytes));
        got
    }
}

/// What a browser sends: MESSAGEs (compressed against its window when it keeps one), pings, a close.
#[derive(Debug, Clone)]
enum Send {
    Message(u8),
    Ping,
    Close,
}

fn sends() -> impl Strategy<Value = Vec<Send>> {
    let one = prop_oneof![
        6 => any::<u8>().prop_map(Send::Message),
        1 => Just(Send::Ping),
        1 => Just(Send::Close),
    ];
    proptest::collection::vec(one, 1..12)
}

/// The bytes of `sends`, as a browser writes them.
fn wire(holds: Holds, sends: &[Send]) -> Vec<u8> {
    let mut browser = Compressor::new(11, 6, true);
    let mut out = Vec::new();
    for s in sends {
        match s {
            Send::Message(n) => {
                let body =
                    String::from_utf8_lossy(MESSAGE).replace("CSeq: 1", &format!("CSeq: {n}"));
                if holds.window {
                    let mut packed = Vec::new();
                    browser.compress(body.as_bytes(), &mut packed);
                    wsproto::writer::write_compressed_frame(
                        &mut out,
                        wsproto::OpCode::Text,
                        &packed,
                        Some(MASK),
                    );
                } else {
                    out.extend(text(body.as_bytes()));
                }
            }
            Send::Ping => out.extend(frame(wsproto::OpCode::Ping, b"hi")),
            Send::Close => out.extend(frame(wsproto::OpCode::Close, &[0x03, 0xe8])),
        }
    }
    out
}

/// `bytes` cut at `cuts` (offsets, any order), each piece after a gap of `gaps[i]` milliseconds.
fn pieces<'a>(bytes: &'a [u8], cuts: &[usize], gaps: &[u32]) -> Vec<(Duration, &'a [u8])> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.extend([0, bytes.len()]);
    at.sort_unstable();
    at.dedup();
    at.windows(2)
        .enumerate()
        .map(|(i, w)| {
            let gap = gaps.get(i).copied().unwrap_or(0);
            (Duration::from_millis(gap.into()), &bytes[w[0]..w[1]])
        })
        .collect()
}

fn holds() -> impl Strategy<Value = Holds> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(identity, window, rate, ip_limit)| Holds {
            identity,
            window,
            rate,
            ip_limit,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Handed over between any two reads (a frame cut in two, a compressed message's window, a half-spent rate
    /// bucket, keepalive and credential clocks running), the session goes on with the same commands as the one
    /// that stayed, in a process whose clock started later (250 ms before the hand-over).
    #[test]
    fn a_handed_over_session_goes_on_as_the_original(
        holds in holds(),
        sends in sends(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        gaps in proptest::collection::vec(0u32..70_000, 0..9),
        at in any::<usize>(),
    ) {
        let epoch = Instant::now();
        let mut old = Harness::new(policy_for(holds, epoch));
        let got = old.feed(&request_for(holds));
        prop_assert!(old.session.is_websocket(), "{got:?}");
        let bytes = wire(holds, &sends);
        let pieces = pieces(&bytes, &cuts, &gaps);
        let at = at % (pieces.len() + 1);
        for (gap, piece) in &pieces[..at] {
            old.step(*gap, piece);
        }
        if old.session.is_closed() {
            return Ok(());
        }
        let mut new = old
            .hand_over(policy_for(holds, old.now - Duration::from_millis(250)))
            .unwrap();
        for (gap, piece) in &pieces[at..] {
            prop_assert_eq!(old.step(*gap, piece), new.step(*gap, piece));
        }
        for _ in 0..4 {
            prop_assert_eq!(old.advance(Duration::from_secs(31)), new.advance(Duration::from_secs(31)));
        }
    }

    /// Bytes that are not a session state are refused (or are one), never a panic, and a refused state counts no
    /// address against the per-IP limit.
    #[test]
    fn arbitrary_bytes_are_refused_or_a_session(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let p = policy_for(Holds { identity: false, window: false, rate: false, ip_limit: true }, Instant::now());
        let now = p.epoch;
        if Session::import_state(&p, now, &bytes).is_err() {
            prop_assert!(p.ip_limits.admit("192.0.2.7".parse().unwrap(), now).is_ok());
        }
    }
}

/// Every session state cut short, or with a byte more, is refused.
#[test]
fn a_state_cut_short_or_with_bytes_after_it_is_refused() {
    let holds = Holds {
        identity: true,
        window: true,
        rate: true,
        ip_limit: true,
    };
    let mut h = Harness::new(policy_for(holds, Instant::now()));
    h.feed(&request_for(holds));
    h.feed(&wire(holds, &[Send::Message(1), Send::Message(2)]));
    let mut state = Vec::new();
    h.session
        .export_state(&h.policy, h.now, &mut state)
        .unwrap();
    let p = policy_for(holds, h.policy.epoch);
    for n in 0..state.len() {
        assert!(
            Session::import_state(&p, h.now, &state[..n]).is_err(),
            "cut to {n} of {}",
            state.len()
        );
    }
    let mut longer = state.clone();
    longer.push(0);
    assert_eq!(
        Session::import_state(&p, h.now, &longer).err(),
        Some(StateError::Trailing(1))
    );
    let mut later = state.clone();
    later[0] = SESSION_STATE_VERSION + 1;
    assert_eq!(
        Session::import_state(&p, h.now, &later).err(),
        Some(StateError::Version(SESSION_STATE_VERSION + 1))
    );
    // Nothing refused above counted the browser's address; the one import that succeeds does.
    let ip = "192.0.2.7".parse().unwrap();
    assert!(p.ip_limits.admit(ip, h.now).is_ok());
    p.ip_limits.release(ip);
    Session::import_state(&p, h.now, &state).unwrap();
    assert!(
        p.ip_limits.admit(ip, h.now).is_err(),
        "counted once imported"
    );
}

/// A state written by format version 1 (a WebSocket with an identity, its address counted, a rate bucket in
/// use and a message cut after its first frame) is read by this build.
#[test]
fn a_version_1_state_is_read() {
    let p = policy_for(
        Holds {
            identity: true,
            window: false,
            rate: true,
            ip_limit: true,
        },
        Instant::now(),
    );
    let now = p.epoch + Duration::from_secs(10);
    let state = hex(VERSION_1);
    let mut h = Harness {
        session: Session::import_state(&p, now, &state).unwrap(),
        policy: p,
        now,
        log: Vec::new(),
        buf: Vec::new(),
        codecs: wsproto::deflate::SharedCodecs::new(6),
    };
    assert!(
        h.policy
            .ip_limits
            .admit("192.0.2.7".parse().unwrap(), now)
            .is_err(),
        "the address is counted"
    );
    let (identity, age, idle) = h.session.open_info(10_000).unwrap();
    assert_eq!(identity.map(|i| i.user.as_str()), Some("alice"));
    assert_eq!((age, idle), (5_000, 1_000));
    // The message's last frame ("world") completes the first one's ("hello ").
    let mut last = Vec::new();
    wsproto::writer::write_frame(
        &mut last,
        true,
        wsproto::OpCode::Continuation,
        b"world",
        Some(MASK),
    );
    let got = h.feed(&last);
    assert!(
        got.contains(&Rec::ToEdge {
            message: b"hello world".to_vec(),
            client: Some("192.0.2.7".parse().unwrap()),
            user: Some("alice".into()),
        }),
        "{got:?}"
    );
    // The credential had 20 s left.
    h.now += Duration::from_secs(21);
    let got = h.feed(&text(MESSAGE));
    assert!(
        got.contains(&Rec::Failed(RoutingFailure::CredentialExpired)),
        "{got:?}"
    );
    // Written again, it is the same bytes (at the time it was read).
    let mut again = Vec::new();
    let back = Session::import_state(&h.policy, now, &state).unwrap();
    back.export_state(&h.policy, now, &mut again).unwrap();
    assert_eq!(again, state);
}

/// Version 1 of a WebSocket session: flags (admitted, identity, bucket), 192.0.2.7 twice, opened 5 s and last
/// read 1 s ago, the bucket 250 ms after a take with 1,500 milli-tokens, no window, "alice" of example.com with
/// 20 s left, then the length and wsproto's version-1 state of a server with "hello " received in a first text
/// frame, its keepalive clock 1 s on.
const VERSION_1: &str = "01 00 0b 04c0000207 04c0000207 00001388 000003e8 000000fa 000005dc 00 \
     0005616c696365 0001 000b6578616d706c652e636f6d 01 0000000000004e20 \
     0000002a 01 00 00 00 00 01 00 00000000000006 000000000000000668656c6c6f20 00000000 01 00000000000003e8 00";

fn hex(s: &str) -> Vec<u8> {
    let digits: String = s.split_whitespace().collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_handshake_or_a_closing_session_does_not_move() {
    let mut h = Harness::new(policy());
    let mut state = Vec::new();
    assert_eq!(
        h.session.export_state(&h.policy, h.now, &mut state),
        Err(NotMovable::Handshake)
    );
    h.feed(&sip_upgrade());
    h.shutdown();
    assert_eq!(
        h.session.export_state(&h.policy, h.now, &mut state),
        Err(NotMovable::Closing)
    );
    assert!(state.is_empty());
}

#[test]
fn an_identity_too_long_for_the_format_does_not_move() {
    let mut p = policy();
    p.auth = bearer_auth();
    let mut h = Harness::new(p);
    let t =
        token(json!({"sip_aor": "alice", "aud": "sipedge", "exp": crate::auth::unix_now() + 60}));
    h.feed(&upgrade(
        "/",
        &format!("Sec-WebSocket-Protocol: sip\r\nAuthorization: Bearer {t}\r\n"),
    ));
    let super::super::State::Open(o) = &mut h.session.state else {
        panic!("open");
    };
    let id = o.extras.as_mut().unwrap().identity.as_mut().unwrap();
    id.domains = vec!["example.com".into(); 70_000];
    let mut state = Vec::new();
    assert_eq!(
        h.session.export_state(&h.policy, h.now, &mut state),
        Err(NotMovable::Identity)
    );
}

/// A SIP stream with the core handed over in the middle of a message delivers it whole on the other side.
#[test]
fn a_sip_stream_cut_mid_message_goes_on() {
    let p = policy();
    let now = p.epoch + Duration::from_secs(1);
    let mut h = Harness {
        session: Session::core_stream(&p, now),
        policy: p,
        now,
        log: Vec::new(),
        buf: Vec::new(),
        codecs: wsproto::deflate::SharedCodecs::new(6),
    };
    let (first, rest) = MESSAGE.split_at(70);
    assert!(h.feed(first).is_empty());
    let mut new = h.hand_over(policy()).unwrap();
    assert_eq!(new.feed(rest), vec![Rec::FromCore(MESSAGE.to_vec())]);
    // It idles out when the original would have (`idle_timeout` after its last bytes).
    assert!(new.advance(Duration::from_secs(299)).is_empty());
    assert_eq!(
        new.advance(Duration::from_secs(1)),
        vec![Rec::Close(Close::Graceful(None))]
    );
}
