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
//! * In edge mode every request from a browser goes to the core, whatever its Route says (our own Route entries
//!   are popped, the flow tokens in them are not followed); only the core's requests reach flows.
//! * Requests from the core reach the flow named by the token in their top Route; a dead flow answers
//!   430 Flow Failed (outbound clients) or 480, and so does a token of another start of the edge.
//! * A response reaches a flow (or the core) only through our own Via, whose branch is bound to the transaction
//!   and to the connections it joins: a Via or token copied by another party does not route.
//! * Standalone mode (no core) answers REGISTER from an embedded registrar and routes between browsers.
//!
//! ```
//! use edge::flow_token::{Epoch, FlowId, FlowTokenKey};
//!
//! // The epoch is random per process start: tokens of an earlier start are stale.
//! let key = FlowTokenKey::new(b"a secret shared by the edge nodes", Epoch(0x2f6a_91c3));
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
