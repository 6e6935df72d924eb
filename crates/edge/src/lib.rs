//! Sans-io edge-proxy logic for SIP over WebSocket (RFC 7118), with RFC 5626 flow tokens and RFC 3327 Path.
//!
//! This crate decides what happens to each SIP message that crosses the edge; it owns no socket and reads no
//! clock (time is passed in). The daemon (`sipedged`) feeds it messages from WebSocket flows and from the SIP
//! core and carries out what it returns.
//!
//! ```
//! use edge::flow_token::{FlowId, FlowTokenKey};
//!
//! let key = FlowTokenKey::from_secret(b"a secret shared by the edge nodes");
//! let flow = FlowId { node: 1, worker: 0, slot: 17, generation: 3, outbound: true };
//! let token = key.seal(&flow);
//! assert_eq!(key.open(&token), Ok(flow));
//! ```
#![forbid(unsafe_code)]

pub mod flow_token;
pub mod registrar;
pub mod stamp;
pub mod time;
