//! The header values the edge writes into messages it forwards: its Via, the Path of a REGISTER and the two
//! Record-Route entries of a dialog (RFC 7118 §5, RFC 3327, RFC 5626 §5), and the stateless branch (RFC 3261 §16.11).

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

/// A transport as it appears in a Via (`SIP/2.0/<T>`) or in a URI's `transport` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP toward the core.
    Udp,
    /// TCP toward the core.
    Tcp,
    /// TLS toward the core.
    Tls,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket (RFC 7118).
    Wss,
}

impl Transport {
    /// The Via protocol token (`UDP`, `TCP`, `TLS`, `WS`, `WSS`).
    pub fn via_token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Ws => "WS",
            Self::Wss => "WSS",
        }
    }

    /// The URI `transport` parameter value (RFC 7118 §5.1 uses `ws` for both WS and WSS; `sips:` marks WSS).
    pub fn uri_param(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp | Self::Tls => "tcp",
            Self::Ws | Self::Wss => "ws",
        }
    }

    /// Whether URIs naming this hop use the `sips:` scheme.
    pub fn is_secure(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }
}

/// Where a hop of the edge can be reached: the address written into URIs and Vias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Host (name or IP literal, IPv6 in brackets) and port, as written in URIs.
    pub host_port: String,
    /// Transport of this hop.
    pub transport: Transport,
}

impl Hop {
    /// A hop at a socket address.
    pub fn at(addr: SocketAddr, transport: Transport) -> Self {
        Self {
            host_port: addr.to_string(),
            transport,
        }
    }

    fn uri(&self, user: Option<&str>, ob: bool) -> String {
        let scheme = if self.transport.is_secure() {
            "sips"
        } else {
            "sip"
        };
        let mut s = String::with_capacity(96);
        let _ = write!(s, "<{scheme}:");
        if let Some(u) = user {
            let _ = write!(s, "{u}@");
        }
        let _ = write!(
            s,
            "{};transport={};lr",
            self.host_port,
            self.transport.uri_param()
        );
        if ob {
            s.push_str(";ob");
        }
        s.push('>');
        s
    }

    /// A Record-Route (or Path) entry for this hop; `flow_token` in the user part names the flow behind it.
    pub fn route_entry(&self, flow_token: Option<&str>, ob: bool) -> String {
        self.uri(flow_token, ob)
    }

    /// Our Via value for a request leaving through this hop.
    pub fn via(&self, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {};branch={branch}",
            self.transport.via_token(),
            self.host_port
        )
    }
}

/// The Via parameter that carries the flow token of the flow a request came from, so that its responses find
/// the way back (they arrive from the core or from another flow and carry our Via unchanged).
pub const VIA_FLOW_PARAM: &str = "sipedge-ft";

/// The stateless branch of RFC 3261 §16.11: the same for a request and for its CANCEL and its ACK to a non-2xx
/// (they share the incoming top Via's branch and sent-by), different for every other transaction.
///
/// `salt` keeps branches of different edge nodes (and of a restarted node) apart.
pub fn stateless_branch(salt: u64, incoming_branch: &str, sent_by: &str, hop_tag: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    salt.hash(&mut h);
    incoming_branch.hash(&mut h);
    sent_by.hash(&mut h);
    hop_tag.hash(&mut h);
    let a = h.finish();
    incoming_branch.len().hash(&mut h);
    let b = h.finish();
    format!("z9hG4bK-se{a:016x}{:08x}", b as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7118_style_double_record_route_entries() {
        let core_side = Hop {
            host_port: "10.0.0.5:5062".into(),
            transport: Transport::Udp,
        };
        let ws_side = Hop {
            host_port: "edge.example.com:443".into(),
            transport: Transport::Wss,
        };
        assert_eq!(
            core_side.route_entry(None, false),
            "<sip:10.0.0.5:5062;transport=udp;lr>"
        );
        assert_eq!(
            ws_side.route_entry(Some("h7kjh12s"), true),
            "<sips:h7kjh12s@edge.example.com:443;transport=ws;lr;ob>"
        );
    }

    #[test]
    fn via_names_the_hop_transport() {
        let h = Hop::at("127.0.0.1:5070".parse().unwrap(), Transport::Udp);
        assert_eq!(
            h.via("z9hG4bKx"),
            "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx"
        );
        let w = Hop {
            host_port: "127.0.0.1:8080".into(),
            transport: Transport::Ws,
        };
        assert_eq!(
            w.via("z9hG4bKy"),
            "SIP/2.0/WS 127.0.0.1:8080;branch=z9hG4bKy"
        );
    }

    #[test]
    fn branch_is_stable_per_transaction_and_distinct_across() {
        let a = stateless_branch(1, "z9hG4bK9877813", "x.invalid", "core");
        assert_eq!(
            a,
            stateless_branch(1, "z9hG4bK9877813", "x.invalid", "core"),
            "CANCEL/ACK match INVITE"
        );
        assert!(a.starts_with("z9hG4bK"), "RFC 3261 magic cookie");
        assert_ne!(
            a,
            stateless_branch(1, "z9hG4bK9877814", "x.invalid", "core")
        );
        assert_ne!(
            a,
            stateless_branch(2, "z9hG4bK9877813", "x.invalid", "core"),
            "salted per node/start"
        );
        assert_ne!(
            a,
            stateless_branch(1, "z9hG4bK9877813", "y.invalid", "core")
        );
    }
}
