//! SIP over WebSocket for the load scenarios: a reader for received messages, the messages a
//! JsSIP-like client writes, and a sans-io user agent.

pub mod build;
pub mod message;
pub mod ua;
