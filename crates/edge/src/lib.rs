//! Sans-io edge-proxy logic for SIP over WebSocket (RFC 7118), with RFC 5626 flow tokens and RFC 3327 Path.
//!
//! This crate decides what happens to each SIP message that crosses the edge; it owns no socket and reads no
//! clock (time is passed in). The daemon (`sipedged`) feeds it messages from WebSocket flows
//! ([`Edge::from_client`]) and from the SIP core ([`Edge::from_core`]) and carries out the [`Action`]s it
//! returns: send on a flow, send to the core, hand over to the worker that owns a registrar shard, or drop.
//!
//! * Requests from a browser get our Via (whose `sipedge-ft` parameter names the flow, so responses find it),
//!   `received` on the browser's Via, a Path with the flow token on REGISTER (edge mode), and a double
//!   Record-Route on dialog-forming requests (one entry per side, RFC 7118 §5 / RFC 5626 §5.3).
//! * Requests from the core reach the flow named by the token in their top Route; a dead flow answers
//!   430 Flow Failed (outbound clients) or 480.
//! * Standalone mode (no core) answers REGISTER from an embedded registrar and routes between browsers.
//!
//! ```
//! use edge::flow_token::{FlowId, FlowTokenKey};
//!
//! let key = FlowTokenKey::from_secret(b"a secret shared by the edge nodes");
//! let flow = FlowId { node: 1, worker: 0, slot: 17, generation: 3, outbound: true, secure: false };
//! let token = key.seal(&flow);
//! assert_eq!(key.open(&token), Ok(flow));
//! ```
#![forbid(unsafe_code)]

pub mod action;
pub mod config;
pub mod flow_token;
pub mod framer;
pub mod identity;
mod proxy;
pub mod registrar;
pub mod response;
pub mod routes;
pub mod stamp;
pub mod time;

pub use action::{Action, DropReason};
pub use config::{EdgeConfig, Mode};
pub use identity::Identity;
pub use proxy::{BRANCH_PREFIX, ClientFlow, Edge};
