//! Scenarios plugged into the engine.

pub mod echo;
pub mod sip;
