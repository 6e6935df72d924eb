//! What the edge asks the runtime to do with a message.

use std::net::IpAddr;

use crate::flow_token::FlowId;

/// One thing for the runtime to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `bytes` as one WebSocket text message on `flow` (on whichever worker owns it). If the flow is gone
    /// (closed, or its slot reused), carry out `if_gone` instead (the 430/480 answer to the sender).
    ToFlow {
        /// The flow.
        flow: FlowId,
        /// One SIP message.
        bytes: Vec<u8>,
        /// What to do when the flow no longer exists.
        if_gone: Option<Box<Action>>,
    },
    /// Send `bytes` to the SIP core from this worker's socket.
    ToCore {
        /// One SIP message.
        bytes: Vec<u8>,
    },
    /// Standalone mode: the message needs the registrar shard that lives on `worker`; hand it over as it came.
    ToShard {
        /// The worker that owns the shard.
        worker: u16,
        /// The flow the message came from.
        from: FlowId,
        /// The browser's IP address, if known.
        peer: Option<IpAddr>,
        /// The message, untouched.
        bytes: Vec<u8>,
    },
    /// The message is not forwarded (it may have been answered, by an action before this one); the runtime
    /// counts the reason (and logs it at debug level).
    Drop(DropReason),
}

/// Why a message was not forwarded (a metrics label each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Could not be scanned, and there is nobody to answer (a response, or no Via).
    Malformed,
    /// A response whose top Via is not ours.
    NotOurVia,
    /// A flow token that does not verify (forged or foreign).
    BadFlowToken,
    /// An ACK (never answered) that has nowhere to go.
    UnroutableAck,
    /// A response with nowhere to go (standalone, no flow in our Via).
    UnroutableResponse,
    /// A REGISTER refused (403) because its connection holds the registrar's cap of bindings per flow.
    ConnectionBindingCap,
    /// A REGISTER refused (503) because the registrar shard holds its cap of bindings: the node is full.
    RegistrarFull,
}

impl DropReason {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::NotOurVia => "not_our_via",
            Self::BadFlowToken => "bad_flow_token",
            Self::UnroutableAck => "unroutable_ack",
            Self::UnroutableResponse => "unroutable_response",
            Self::ConnectionBindingCap => "registrar_connection_cap",
            Self::RegistrarFull => "registrar_full",
        }
    }
}
