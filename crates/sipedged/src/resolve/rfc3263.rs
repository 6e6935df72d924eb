//! The pure rules of RFC 3263 §4 (no lookups here): which query comes first for a URI, which NAPTR records a
//! SIP client may follow and in what order, which SRV names to try without NAPTR, and the order of SRV records.

use std::net::SocketAddr;

use hickory_resolver::proto::rr::Name;
use hickory_resolver::proto::rr::rdata::{NAPTR, SRV};

use crate::config::{CoreTransport, CoreUri, Host};

/// The first step of resolving a URI (RFC 3263 §4.1 and §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// An IP literal: that address, no lookup.
    Literal(SocketAddr, CoreTransport),
    /// A name with an explicit port: its A/AAAA records only.
    Address {
        /// The host name.
        name: String,
        /// The URI's port.
        port: u16,
        /// The URI's transport, else the scheme's default.
        transport: CoreTransport,
    },
    /// A name with an explicit transport and no port: the SRV records of that transport's service, else the
    /// name's A/AAAA records with the transport's default port.
    Srv {
        /// The host name.
        name: String,
        /// The URI's transport.
        transport: CoreTransport,
    },
    /// A name with neither: NAPTR, else SRV of each supported service, else A/AAAA.
    Naptr {
        /// The host name.
        name: String,
    },
}

/// Where resolving `uri` starts.
pub(super) fn first_step(uri: &CoreUri) -> Step {
    let transport = uri.transport_or_default();
    match (&uri.host, uri.port, uri.transport) {
        (Host::Ip(ip), _, _) => {
            Step::Literal(SocketAddr::new(*ip, uri.port_or_default()), transport)
        }
        (Host::Name(name), Some(port), _) => Step::Address {
            name: name.clone(),
            port,
            transport,
        },
        (Host::Name(name), None, Some(transport)) => Step::Srv {
            name: name.clone(),
            transport,
        },
        (Host::Name(name), None, None) => Step::Naptr { name: name.clone() },
    }
}

/// The SRV service label of a transport (RFC 3263 §4.2: `_sips._tcp` for TLS).
pub(super) fn srv_prefix(transport: CoreTransport) -> &'static str {
    match transport {
        CoreTransport::Udp => "_sip._udp",
        CoreTransport::Tcp => "_sip._tcp",
        CoreTransport::Tls => "_sips._tcp",
    }
}

/// The SRV name of `transport`'s service at `host`.
pub(super) fn srv_name(transport: CoreTransport, host: &str) -> String {
    format!("{}.{host}", srv_prefix(transport))
}

/// The services to try, in this order, when a name has no usable NAPTR record (RFC 3263 §4.1): TLS first, then
/// TCP, then UDP for `sip:`; TLS only for `sips:`.
pub(super) fn srv_fallbacks(secure: bool) -> &'static [CoreTransport] {
    if secure {
        &[CoreTransport::Tls]
    } else {
        &[CoreTransport::Tls, CoreTransport::Tcp, CoreTransport::Udp]
    }
}

/// The transport a NAPTR service field names, if a client of this URI may use it: `SIP+D2U`, `SIP+D2T`,
/// `SIPS+D2T` (case-insensitive, RFC 3263 §4.1); `sips:` keeps only `SIPS+D2T`. SCTP (`D2S`) is not spoken.
pub(super) fn naptr_transport(services: &[u8], secure: bool) -> Option<CoreTransport> {
    let service = services.to_ascii_uppercase();
    match service.as_slice() {
        b"SIPS+D2T" => Some(CoreTransport::Tls),
        b"SIP+D2T" if !secure => Some(CoreTransport::Tcp),
        b"SIP+D2U" if !secure => Some(CoreTransport::Udp),
        _ => None,
    }
}

/// The NAPTR records a client of this URI may follow, best first: a usable service and the terminal `s` flag
/// (its replacement is an SRV name), sorted by order then preference. Each comes as (transport, SRV name).
pub(super) fn naptr_candidates<'a>(
    records: impl IntoIterator<Item = &'a NAPTR>,
    secure: bool,
) -> Vec<(CoreTransport, Name)> {
    let mut kept: Vec<(u16, u16, CoreTransport, Name)> = records
        .into_iter()
        .filter(|r| r.flags.eq_ignore_ascii_case(b"s") && !r.replacement.is_root())
        .filter_map(|r| {
            naptr_transport(&r.services, secure)
                .map(|t| (r.order, r.preference, t, r.replacement.clone()))
        })
        .collect();
    kept.sort_by_key(|&(order, preference, ..)| (order, preference));
    kept.into_iter().map(|(_, _, t, name)| (t, name)).collect()
}

/// SRV records in the order to contact them: a target of `.` (the service is decidedly not available, RFC 2782)
/// dropped, lower priority first, within a priority the larger weight first (the weighted pick among equals is
/// the caller's).
pub(super) fn srv_order<'a>(records: impl IntoIterator<Item = &'a SRV>) -> Vec<SRV> {
    let mut kept: Vec<SRV> = records
        .into_iter()
        .filter(|r| !r.target.is_root())
        .cloned()
        .collect();
    kept.sort_by_key(|r| (r.priority, std::cmp::Reverse(r.weight)));
    kept
}

/// A DNS name as text, without the trailing dot of a fully qualified name.
pub(super) fn name_text(name: &Name) -> String {
    let mut text = name.to_ascii();
    if text.len() > 1 && text.ends_with('.') {
        text.pop();
    }
    text
}
