//! Shared test helpers: the JsSIP / SIP.js traces (copied from shared/data/traces) split into messages, and
//! an edge configured as in the tests.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use edge::flow_token::{Epoch, FlowId, FlowTokenKey};
use edge::registrar::RegistrarConfig;
use edge::stamp::{Hop, Transport};
use edge::{Action, ClientFlow, Edge, EdgeConfig, Mode};

/// One WebSocket message of a trace.
#[derive(Debug, Clone)]
pub struct TraceMessage {
    /// The connection's tag (`alice` / `bob`).
    pub tag: String,
    /// `true` for what the browser sent.
    pub sent: bool,
    /// The SIP message.
    pub bytes: Vec<u8>,
}

/// Split a trace file into its messages.
pub fn trace(name: &str) -> Vec<TraceMessage> {
    let path = format!("{}/tests/data/traces/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    let mut tag = String::new();
    let mut current: Option<TraceMessage> = None;
    for line in text.split_inclusive(|&b| b == b'\n') {
        let is_marker = line.starts_with(b"--- ") || line.starts_with(b"=== ");
        if is_marker {
            if let Some(mut m) = current.take() {
                if m.bytes.ends_with(b"\n") && !m.bytes.ends_with(b"\r\n") {
                    m.bytes.pop();
                }
                out.push(m);
            }
            let l = String::from_utf8_lossy(line);
            if let Some(rest) = l.strip_prefix("=== ws tag=") {
                tag = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            } else if l.starts_with("--- >>> send") || l.starts_with("--- <<< recv") {
                current = Some(TraceMessage {
                    tag: tag.clone(),
                    sent: l.starts_with("--- >>>"),
                    bytes: Vec::new(),
                });
            }
        } else if let Some(m) = current.as_mut() {
            m.bytes.extend_from_slice(line);
        }
    }
    if let Some(m) = current {
        out.push(m);
    }
    out
}

/// The first message `tag` sent whose start line begins with `start`.
pub fn sent(name: &str, tag: &str, start: &str) -> Vec<u8> {
    trace(name)
        .into_iter()
        .find(|m| m.sent && m.tag == tag && m.bytes.starts_with(start.as_bytes()))
        .unwrap_or_else(|| panic!("no {start} sent by {tag} in {name}"))
        .bytes
}

pub const SECRET: &[u8] = b"test secret";

/// The epoch of the tests' edge start.
pub const EPOCH: Epoch = Epoch(0x5eed_0001);

pub fn key() -> FlowTokenKey {
    FlowTokenKey::new(SECRET, EPOCH)
}

pub fn config(mode: Mode) -> EdgeConfig {
    EdgeConfig {
        mode,
        node: 1,
        worker: 0,
        workers: 1,
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

pub fn edge(mode: Mode) -> Edge {
    Edge::new(config(mode), key())
}

pub fn flow(slot: u32) -> ClientFlow<'static> {
    ClientFlow {
        id: FlowId {
            node: 1,
            worker: 0,
            slot,
            generation: 1,
            outbound: false,
            secure: false,
        },
        peer: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
        identity: None,
    }
}

/// The single action of a call, or a panic naming what came instead.
pub fn one(actions: Vec<Action>) -> Action {
    assert_eq!(actions.len(), 1, "expected one action, got {actions:#?}");
    actions.into_iter().next().unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The status code of a response.
pub fn status(b: &[u8]) -> u16 {
    sipscan::Message::parse(b)
        .ok()
        .and_then(|m| m.status())
        .unwrap_or_else(|| panic!("not a response: {}", text(b)))
}
