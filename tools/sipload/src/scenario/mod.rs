//! Scenarios plugged into the engine.

pub mod connect;
pub mod echo;
pub mod sip;
