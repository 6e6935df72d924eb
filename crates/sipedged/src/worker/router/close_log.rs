//! One structured line per closed WebSocket (`[log] connections`): the browser's address, the worker, who the
//! handshake authenticated, how long the connection lived, its close code and reason, and the messages and bytes
//! each way. The share to log is taken at the upgrade, evenly (a credit of the share per upgrade; a connection is
//! logged each time it reaches one); only the connections taken keep a record (boxed, in a table by slot), so with
//! the log off an open connection costs nothing more.

use std::net::SocketAddr;
use std::time::Instant;

use ringmux::{CloseReason, Conn, Ctx};
use wsproto::close_code::{ABNORMAL_CLOSURE, GOING_AWAY};

use super::Router;
use crate::worker::Msg;

/// The tracing target of the lines (`RUST_LOG`-style filters can keep or drop them alone).
pub const TARGET: &str = "sipedge::connection";

/// What the line of one logged connection says, kept from its upgrade to its close.
#[derive(Debug)]
pub(super) struct ConnectionLog {
    peer: Option<SocketAddr>,
    opened: Instant,
    /// The authenticated user, from the first message that carried one.
    identity: Option<String>,
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
    /// The close code and reason the session named, when it did.
    closing: Option<(u16, &'static str)>,
}

/// The close code and reason of a connection ringmux reports closed for `reason`, when its session named none.
pub(super) fn close_of(reason: CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::Local(code) => (code, "closed by the edge"),
        CloseReason::Shutdown => (GOING_AWAY, "the node shuts down"),
        CloseReason::PeerClosed => (ABNORMAL_CLOSURE, "TCP closed without a WebSocket close"),
        CloseReason::Io(_) => (ABNORMAL_CLOSURE, "socket error"),
        CloseReason::SlowConsumer => (
            ABNORMAL_CLOSURE,
            "the browser does not read (send queue full)",
        ),
        CloseReason::ShutdownDeadline => {
            (ABNORMAL_CLOSURE, "still open when the shutdown grace ended")
        }
        CloseReason::Tls => (ABNORMAL_CLOSURE, "TLS failure"),
        CloseReason::ConnectFailed(_) => (ABNORMAL_CLOSURE, "connect failed"),
        CloseReason::HandedOver => (GOING_AWAY, "handed over to a new process"),
    }
}

impl Router {
    fn close_log(&mut self, conn: Conn) -> Option<&mut ConnectionLog> {
        self.close_logs.get_mut(conn.slot as usize)?.as_deref_mut()
    }

    /// A WebSocket opened on `conn`: taken for the log or not.
    pub(super) fn log_opened(&mut self, ctx: &Ctx<'_, Msg>, conn: Conn) {
        let slot = conn.slot as usize;
        self.log_credit += self.shared.log_connections;
        if self.log_credit < 1.0 {
            if let Some(old) = self.close_logs.get_mut(slot) {
                *old = None;
            }
            return;
        }
        self.log_credit -= 1.0;
        if self.close_logs.len() <= slot {
            self.close_logs.resize_with(slot + 1, || None);
        }
        self.close_logs[slot] = Some(Box::new(ConnectionLog {
            peer: ctx.peer_addr(conn),
            opened: ctx.now(),
            identity: None,
            messages_in: 0,
            bytes_in: 0,
            messages_out: 0,
            bytes_out: 0,
            closing: None,
        }));
    }

    /// A message of `len` bytes from the browser on `conn`.
    pub(super) fn log_inbound(&mut self, conn: Conn, len: usize) {
        if let Some(l) = self.close_log(conn) {
            l.messages_in += 1;
            l.bytes_in += len as u64;
        }
    }

    /// The handshake of `conn` authenticated `user` (seen with its first message).
    pub(super) fn log_identity(&mut self, conn: Conn, user: &str) {
        if let Some(l) = self.close_log(conn).filter(|l| l.identity.is_none()) {
            l.identity = Some(user.to_owned());
        }
    }

    /// A message of `len` bytes sent to the browser on `conn`.
    pub(super) fn log_outbound(&mut self, conn: Conn, len: usize) {
        if let Some(l) = self.close_log(conn) {
            l.messages_out += 1;
            l.bytes_out += len as u64;
        }
    }

    /// The session named why `conn` closes (its first word counts: the browser's close, then our answer).
    pub(super) fn log_closing(&mut self, conn: Conn, code: u16, reason: &'static str) {
        if let Some(l) = self.close_log(conn) {
            l.closing.get_or_insert((code, reason));
        }
    }

    /// `conn` is gone: its line, if it was drawn.
    pub fn log_closed(&mut self, ctx: &Ctx<'_, Msg>, conn: Conn, reason: CloseReason) {
        let Some(l) = self
            .close_logs
            .get_mut(conn.slot as usize)
            .and_then(Option::take)
        else {
            return;
        };
        let (code, why) = l.closing.unwrap_or_else(|| close_of(reason));
        let peer = l.peer.map(|p| p.to_string());
        tracing::info!(
            target: TARGET,
            peer = peer.as_deref().unwrap_or("-"),
            worker = self.index,
            identity = l.identity.as_deref().unwrap_or("-"),
            duration_ms = ctx.now().saturating_duration_since(l.opened).as_millis() as u64,
            code,
            reason = why,
            messages_in = l.messages_in,
            bytes_in = l.bytes_in,
            messages_out = l.messages_out,
            bytes_out = l.bytes_out,
            "connection closed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_no_session_named_gets_a_code_from_its_reason() {
        assert_eq!(
            close_of(CloseReason::Local(1009)),
            (1009, "closed by the edge")
        );
        assert_eq!(close_of(CloseReason::PeerClosed).0, ABNORMAL_CLOSURE);
        assert_eq!(close_of(CloseReason::Shutdown).0, GOING_AWAY);
        assert!(
            close_of(CloseReason::SlowConsumer)
                .1
                .contains("send queue full")
        );
    }
}
