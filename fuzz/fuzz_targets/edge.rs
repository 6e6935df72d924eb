//! Edge fuzzing (`edge::Edge`): a run of arbitrary SIP messages from browsers (`from_client`, on four
//! flows, one of them authenticated) and from the core (`from_core`), in standalone or edge mode, with the
//! core reflecting what the edge sent it and flows closing and expiring in between. Oracles: no panic; a
//! shard hand-over only in standalone mode, and only to a worker that exists; nothing addressed to the core
//! in standalone mode; and the trust boundary (issue 19 item 2): in edge mode, what a browser sends never
//! reaches a flow — the only thing `from_client` puts on a flow is the edge's own answer (a response, or
//! the CRLF keepalive pong) on the browser's own flow.
//!
//! The input: a control byte (bit 0: edge mode), then segments separated by `\n#\n`, each opened by a
//! selector byte: `C` from the core (edge mode; in standalone mode, where there is no core, a message
//! from flow 0 like any other), `0`-`3` from that browser flow, `X` closes flow 0, `E` expires
//! registrations; anything else is a message from flow 0.
#![no_main]
use std::net::{IpAddr, Ipv4Addr};

use edge::flow_token::{Epoch, FlowId, FlowTokenKey};
use edge::registrar::RegistrarConfig;
use edge::stamp::{Hop, Transport};
use edge::time::Timestamp;
use edge::{Action, ClientFlow, Edge, EdgeConfig, Identity, Mode};
use libfuzzer_sys::fuzz_target;

const WORKERS: u16 = 2;

fn config(mode: Mode) -> EdgeConfig {
    EdgeConfig {
        mode,
        node: 1,
        worker: 0,
        workers: WORKERS,
        ws_hop: Hop {
            host_port: "127.0.0.1:8080".into(),
            transport: Transport::Ws,
        },
        wss_host_port: None,
        core_hop: Hop {
            host_port: "127.0.0.1:5070".into(),
            transport: Transport::Udp,
        },
        own_addresses: vec!["127.0.0.1:8080".into(), "127.0.0.1:5070".into()],
        domains: Vec::new(),
        max_message_size: 16384,
        branch_salt: 42,
        registrar: RegistrarConfig::default(),
    }
}

fn flow_id(slot: u32) -> FlowId {
    FlowId {
        node: 1,
        worker: 0,
        slot,
        generation: 1,
        outbound: slot.is_multiple_of(2),
        secure: false,
    }
}

/// In edge mode, `from_client` on `src` may only answer `src` itself, with a response or a keepalive pong.
fn check_boundary(src: FlowId, actions: &[Action]) {
    for a in actions {
        if let Action::ToFlow {
            flow,
            bytes,
            if_gone,
        } = a
        {
            assert_eq!(
                *flow, src,
                "a browser's message reached another flow: {a:?}"
            );
            assert!(
                bytes.as_slice() == b"\r\n" || bytes.starts_with(b"SIP/2.0 "),
                "a browser's request was delivered to a flow: {a:?}"
            );
            assert!(if_gone.is_none());
        }
    }
}

/// Checks what the edge asked for; returns what it sent to the core.
fn check(mode: Mode, actions: &[Action]) -> Vec<Vec<u8>> {
    let mut to_core = Vec::new();
    for a in actions {
        match a {
            Action::ToShard { worker, .. } => {
                assert_eq!(mode, Mode::Standalone, "shard hand-over in edge mode");
                assert!(*worker < WORKERS);
            }
            Action::ToCore { bytes } => {
                assert_eq!(mode, Mode::Edge, "sent to a core in standalone mode: {a:?}");
                to_core.push(bytes.clone());
            }
            Action::ToFlow { if_gone, .. } => {
                if let Some(g) = if_gone {
                    check(mode, std::slice::from_ref(&**g));
                }
            }
            Action::Drop(reason) => {
                let _ = reason.label();
            }
        }
    }
    to_core
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let mode = if control & 1 == 0 {
        Mode::Standalone
    } else {
        Mode::Edge
    };
    let mut edge = Edge::new(config(mode), FlowTokenKey::new(b"fuzz secret", Epoch(7)));
    let alice = Identity {
        user: "alice".into(),
        domains: Vec::new(),
        expires_at: Some(Timestamp(60_000)),
    };
    let peer = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let mut now = Timestamp(1_000);
    let mut out = Vec::new();
    let mut pieces = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(3).position(|w| w == b"\n#\n") {
        pieces.push(&rest[..at]);
        rest = &rest[at + 3..];
    }
    pieces.push(rest);
    for piece in pieces {
        now = Timestamp(now.0 + 250);
        out.clear();
        match piece.split_first() {
            Some((b'C', msg)) if mode == Mode::Edge => edge.from_core(msg, &mut out),
            Some((b'X', _)) => {
                edge.flow_closed(&flow_id(0));
            }
            Some((b'E', _)) => {
                edge.expire(Timestamp(now.0 + 3_600_000));
            }
            Some((&s @ b'0'..=b'3', msg)) => {
                let slot = u32::from(s - b'0');
                let src = ClientFlow {
                    id: flow_id(slot),
                    peer,
                    identity: (slot == 3).then_some(&alice),
                };
                edge.from_client(&src, msg, now, &mut out);
                if mode == Mode::Edge {
                    check_boundary(src.id, &out);
                }
            }
            _ => {
                edge.from_client(
                    &ClientFlow::anonymous(flow_id(0), peer),
                    piece,
                    now,
                    &mut out,
                );
                if mode == Mode::Edge {
                    check_boundary(flow_id(0), &out);
                }
            }
        }
        // A core that routes back whatever it is sent (along Path / Record-Route, or answers with it).
        for bytes in check(mode, &out) {
            let mut back = Vec::new();
            edge.from_core(&bytes, &mut back);
            check(mode, &back);
        }
    }
});
