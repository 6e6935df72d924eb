//! Scenarios plugged into the engine.

pub mod echo;
