//! What can go wrong: on one connection ([`LoadError`]) and for the run as a whole ([`RunError`]).

use std::io;

/// Why one connection or one message failed. The label names the rule or step that broke.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// TCP connect failed (refused, unreachable, out of ports).
    #[error("TCP connect failed: {0}")]
    Connect(io::Error),
    /// The TLS handshake failed (certificate not trusted, wrong name, no common protocol).
    #[error("TLS handshake failed: {0}")]
    Tls(io::Error),
    /// Binding the source address failed (no such local address, out of ports on it).
    #[error("cannot bind source address: {0}")]
    Bind(io::Error),
    /// The server's answer to the Upgrade request broke RFC 6455 §4.1.
    #[error("opening handshake failed: {0}")]
    Handshake(#[from] wsproto::ClientHandshakeError),
    /// A step did not finish in time.
    #[error("timed out while {0}")]
    Timeout(&'static str),
    /// Reading or writing the socket failed.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// The server closed TCP.
    #[error("server closed the TCP connection")]
    ServerClosedTcp,
    /// The server sent a Close frame.
    #[error("server sent Close ({0:?})")]
    ServerClose(Option<u16>),
    /// The server broke RFC 6455 framing.
    #[error("server broke the WebSocket protocol: {0}")]
    Protocol(wsproto::ProtocolError),
    /// Sending a frame was refused by the codec.
    #[error("cannot send: {0}")]
    Send(#[from] wsproto::SendError),
    /// The echo differs from what was sent.
    #[error("echo differs from the message sent")]
    EchoMismatch,
    /// A SIP transaction ended with a non-2xx final response (RFC 3261 §21).
    #[error("answered {0}")]
    SipStatus(u16),
    /// What the server sent is not a SIP message (RFC 3261 §7, RFC 7118 §5.2).
    #[error("server sent a broken SIP message: {0}")]
    BadSip(crate::sip::message::ParseError),
    /// The server did not accept the `sip` WebSocket subprotocol (RFC 7118 §4.1).
    #[error("server did not agree to the `sip` subprotocol")]
    NoSipSubprotocol,
}

impl LoadError {
    /// A short, stable label for counting failures by kind in reports.
    pub fn label(&self) -> String {
        match self {
            Self::Connect(e) => format!("connect: {}", io_label(e)),
            Self::Bind(e) => format!("bind: {}", io_label(e)),
            Self::Tls(e) => format!("tls: {e}"),
            Self::Handshake(e) => format!("handshake: {e}"),
            Self::Timeout(what) => format!("timeout: {what}"),
            Self::Io(e) => format!("io: {}", io_label(e)),
            Self::ServerClosedTcp => "server closed tcp".into(),
            Self::ServerClose(code) => format!("server close {code:?}"),
            Self::Protocol(e) => format!("protocol: {e}"),
            Self::Send(e) => format!("send: {e}"),
            Self::EchoMismatch => "echo mismatch".into(),
            Self::SipStatus(code) => format!("answered {code}"),
            Self::BadSip(e) => format!("bad SIP: {e}"),
            Self::NoSipSubprotocol => "no sip subprotocol".into(),
        }
    }
}

fn io_label(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => format!("{:?} (os error {code})", e.kind()),
        None => format!("{:?}", e.kind()),
    }
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A flag's value makes no sense.
    #[error("{0}")]
    BadFlag(String),
    /// The target does not answer TCP connects.
    #[error("cannot reach the target {target}: {source}")]
    Unreachable {
        /// The target as given.
        target: String,
        /// The connect error.
        source: io::Error,
    },
    /// A worker process could not be started or talked to.
    #[error("worker process {index}: {what}")]
    Worker {
        /// The worker's index.
        index: usize,
        /// What went wrong.
        what: String,
    },
    /// The run did not finish within its hard time bound.
    #[error("run exceeded its time bound of {0} s; worker processes were killed")]
    TimeBound(u64),
    /// Writing the JSON report failed.
    #[error("cannot write the JSON report to {path}: {source}")]
    Report {
        /// The file.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// Runtime setup failed.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(io::Error),
}
