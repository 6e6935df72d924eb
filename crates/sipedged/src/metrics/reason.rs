//! The labelled reasons counted in `/metrics`: each an enum, so a misspelt reason does not compile and every
//! reason appears in the output from the start (at 0).

/// An enum of reasons, each with its metrics label, and the list of all of them in label order.
macro_rules! reasons {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $label:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every reason, in the order they are rendered.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The metrics label.
            pub fn label(self) -> &'static str {
                match self {
                    $(Self::$variant => $label,)+
                }
            }

            /// The index of this reason in [`Self::ALL`].
            pub fn index(self) -> usize {
                self as usize
            }
        }
    };
}

reasons! {
    /// Why a WebSocket handshake (or a connection before it) was refused.
    HandshakeRejection {
        /// Not a valid HTTP upgrade request (400).
        BadRequest => "bad_request",
        /// No WebSocket endpoint at the requested path (404).
        WrongPath => "wrong_path",
        /// The Origin is not in `[limits] allowed_origins` (403).
        Origin => "origin",
        /// The request does not offer the `sip` subprotocol (400, RFC 7118 §4.1).
        NoSipSubprotocol => "no_sip_subprotocol",
        /// The request did not complete within `[limits] handshake_timeout` (408).
        Timeout => "timeout",
        /// The request head is larger than the handshake accepts (431).
        TooLarge => "too_large",
        /// The source address holds `max_connections_per_ip` already (503).
        IpConnectionCap => "ip_connection_cap",
        /// The source address opens connections faster than `handshakes_per_ip_per_second` (503).
        IpHandshakeRate => "ip_handshake_rate",
        /// The node takes more WebSocket upgrades per second than `handshakes_per_second` (503).
        NodeHandshakeRate => "node_handshake_rate",
        /// No credential where the listener looks for one (401).
        AuthMissing => "auth_missing",
        /// A credential that does not verify (401).
        AuthInvalid => "auth_invalid",
        /// An expired or not yet valid credential (401).
        AuthExpired => "auth_expired",
        /// A credential for another audience (403).
        AuthAudience => "auth_audience",
        /// A credential naming no SIP identity (403).
        AuthIdentity => "auth_identity",
    }
}

reasons! {
    /// Why a SIP message was not forwarded.
    RoutingFailure {
        /// Could not be scanned, and there is nobody to answer.
        Malformed => "malformed",
        /// A response whose top Via is not ours.
        NotOurVia => "not_our_via",
        /// A flow token that does not verify.
        BadFlowToken => "bad_flow_token",
        /// An ACK with nowhere to go.
        UnroutableAck => "unroutable_ack",
        /// A response with nowhere to go.
        UnroutableResponse => "unroutable_response",
        /// The flow it was for is closed.
        FlowGone => "flow_gone",
        /// It could not be sent to the core.
        CoreSendFailed => "core_send_failed",
        /// A UDP core never answered it, though sent again on RFC 3261's timers (the browser got 408).
        CoreTransactionTimeout => "core_transaction_timeout",
        /// The connection is over its SIP request rate.
        RateLimited => "rate_limited",
        /// The connection's credential has expired.
        CredentialExpired => "credential_expired",
        /// SIP from an address that is not the core's, on a socket where only the core may speak.
        NotFromCore => "not_from_core",
        /// A REGISTER refused (403): its connection holds `[registrar] max_bindings_per_connection` bindings.
        RegistrarConnectionCap => "registrar_connection_cap",
        /// A REGISTER refused (503): the registrar shard holds its share of `[registrar] max_bindings`.
        RegistrarFull => "registrar_full",
    }
}

reasons! {
    /// Why a connection from a trusted proxy was closed before its PROXY protocol v2 header was read.
    ProxyRejection {
        /// The 12-byte signature is wrong.
        Signature => "signature",
        /// A version 1 (text) header.
        Version1 => "version_1",
        /// A version other than 2.
        Version => "version",
        /// A command other than LOCAL or PROXY.
        Command => "command",
        /// An address family or protocol that is not TCP over IPv4/IPv6.
        UnsupportedFamily => "unsupported_family",
        /// Longer than a header may be.
        TooLong => "too_long",
        /// The address block is shorter than its family needs.
        ShortAddresses => "short_addresses",
        /// The header did not arrive in time.
        Timeout => "timeout",
        /// The peer went away first.
        Closed => "closed",
    }
}

impl From<edge::DropReason> for RoutingFailure {
    fn from(r: edge::DropReason) -> Self {
        match r {
            edge::DropReason::Malformed => Self::Malformed,
            edge::DropReason::NotOurVia => Self::NotOurVia,
            edge::DropReason::BadFlowToken => Self::BadFlowToken,
            edge::DropReason::UnroutableAck => Self::UnroutableAck,
            edge::DropReason::UnroutableResponse => Self::UnroutableResponse,
            edge::DropReason::ConnectionBindingCap => Self::RegistrarConnectionCap,
            edge::DropReason::RegistrarFull => Self::RegistrarFull,
        }
    }
}

impl ProxyRejection {
    /// The reason ringmux reports, by its label (ringmux names the same reasons).
    pub fn of(why: &ringmux::ProxyRejection) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.label() == why.label())
    }
}

impl From<crate::limits::Refusal> for HandshakeRejection {
    fn from(r: crate::limits::Refusal) -> Self {
        match r {
            crate::limits::Refusal::ConnectionCap => Self::IpConnectionCap,
            crate::limits::Refusal::HandshakeRate => Self::IpHandshakeRate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_indexed_in_order() {
        fn check<T: Copy + std::fmt::Debug>(
            all: &[T],
            label: fn(T) -> &'static str,
            index: fn(T) -> usize,
        ) {
            for (i, r) in all.iter().enumerate() {
                assert_eq!(index(*r), i, "{r:?}");
                assert_eq!(
                    all.iter().filter(|o| label(**o) == label(*r)).count(),
                    1,
                    "{r:?}"
                );
            }
        }
        check(
            HandshakeRejection::ALL,
            HandshakeRejection::label,
            HandshakeRejection::index,
        );
        check(
            RoutingFailure::ALL,
            RoutingFailure::label,
            RoutingFailure::index,
        );
        check(
            ProxyRejection::ALL,
            ProxyRejection::label,
            ProxyRejection::index,
        );
    }

    #[test]
    fn edge_drop_reasons_keep_their_labels() {
        use edge::DropReason as D;
        for d in [
            D::Malformed,
            D::NotOurVia,
            D::BadFlowToken,
            D::UnroutableAck,
            D::UnroutableResponse,
            D::ConnectionBindingCap,
            D::RegistrarFull,
        ] {
            assert_eq!(RoutingFailure::from(d).label(), d.label());
        }
    }
}
