//! Connection settings.

use std::time::Duration;

/// Which end of the connection this endpoint is (§5.1: decides who masks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts connections; receives masked frames, sends unmasked ones.
    Server,
    /// Opens connections; receives unmasked frames, sends masked ones.
    Client,
}

/// Keepalive: a ping after `interval` without one, and a deadline for its pong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Time from one keepalive ping to the next.
    pub interval: Duration,
    /// How long a keepalive ping may go unanswered before the peer is reported dead.
    pub pong_timeout: Duration,
}

/// Limits and timers of a [`Connection`](crate::Connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Largest message (sum of its frames' payloads) accepted; larger ones close with 1009.
    pub max_message_size: usize,
    /// Largest single frame payload accepted; larger ones close with 1009.
    pub max_frame_size: usize,
    /// Keepalive pings, if any.
    pub keepalive: Option<Keepalive>,
}

impl Config {
    /// 64 KiB, the message size limit Kamailio uses; SIP with video SDP reaches 10–20 KB.
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            keepalive: None,
        }
    }
}
