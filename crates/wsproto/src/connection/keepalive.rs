//! Keepalive pings and the missing-pong report; the caller passes the time in.

use std::time::Instant;

use super::{Connection, State};
use crate::error::SendError;

/// What [`Connection::on_timeout`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// No keepalive deadline has passed.
    NotDue,
    /// A keepalive ping was appended to the output.
    PingSent,
    /// The last keepalive ping went unanswered: the peer is gone, close TCP.
    PongMissing,
}

impl Connection {
    /// Start the keepalive clock at `now` (after the handshake). No effect without
    /// [`Config::keepalive`](crate::Config::keepalive).
    pub fn start_keepalive(&mut self, now: Instant) {
        if self.config.keepalive.is_some() {
            self.keepalive_since = Some(now);
            self.awaiting_pong = false;
        }
    }

    /// When [`on_timeout`](Self::on_timeout) should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let keepalive = self.config.keepalive?;
        let since = self.keepalive_since?;
        if self.state != State::Open {
            return None;
        }
        Some(if self.awaiting_pong {
            since + keepalive.pong_timeout
        } else {
            since + keepalive.interval
        })
    }

    /// Act on the keepalive clock at `now`: send a ping when one is due, or report a missing pong.
    pub fn on_timeout(
        &mut self,
        now: Instant,
        out: &mut Vec<u8>,
        mask: Option<[u8; 4]>,
    ) -> Result<Timeout, SendError> {
        let Some(deadline) = self.poll_timeout() else {
            return Ok(Timeout::NotDue);
        };
        if now < deadline {
            return Ok(Timeout::NotDue);
        }
        if self.awaiting_pong {
            self.keepalive_since = None;
            self.pong = None;
            self.state = State::Closed;
            return Ok(Timeout::PongMissing);
        }
        self.send_ping(b"", out, mask)?;
        self.awaiting_pong = true;
        self.keepalive_since = Some(now);
        Ok(Timeout::PingSent)
    }
}
