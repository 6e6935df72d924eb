//! RFC 3263 resolution of the core's URI: NAPTR, then SRV, then A/AAAA for a name, the address itself for an
//! IP literal. The lookups go through hickory-resolver (the system configuration, or configured name servers);
//! the order of the steps and the choice among records are the pure rules of [`rfc3263`]. A resolution carries
//! every target of the one transport it chose, in the order to contact them, and the smallest TTL of the records
//! it used, so that the caller knows when to resolve again.

mod rfc3263;

#[cfg(all(test, feature = "interop"))]
mod interop;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig,
};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{IntoName, Name, RData, Record, RecordType};

use crate::config::{CoreTransport, CoreUri};
use rfc3263::Step;

/// One address to send to, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The address and port.
    pub addr: SocketAddr,
    /// The transport (the same for every target of a [`Resolution`]).
    pub transport: CoreTransport,
    /// SRV priority (lower first); 0 without SRV.
    pub priority: u16,
    /// SRV weight among targets of one priority; 0 without SRV.
    pub weight: u16,
    /// The host name the address came from (the SRV target, else the URI's host); `None` for an IP literal.
    pub name: Option<String>,
}

/// The targets of a URI, best first, and how long they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Lower SRV priority first, then larger weight; never empty.
    pub targets: Vec<Target>,
    /// The smallest TTL of the records used; `Duration::MAX` for an IP literal.
    pub ttl: Duration,
}

/// Why a URI did not resolve.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The system resolver configuration cannot be read.
    #[error("DNS: cannot read the system resolver configuration (/etc/resolv.conf): {0}")]
    SystemConfig(#[source] NetError),
    /// The resolver cannot be built from its configuration.
    #[error("DNS: cannot build the resolver: {0}")]
    Build(#[source] NetError),
    /// A name that is not a DNS name.
    #[error("DNS: {name:?} is not a valid name: {source}")]
    Name {
        /// The name.
        name: String,
        /// What is wrong with it.
        source: NetError,
    },
    /// A lookup failed for another reason than the records not existing (time-out, server failure).
    #[error("DNS: {record} lookup of {name} failed: {source}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// The record type.
        record: RecordType,
        /// What failed.
        source: NetError,
    },
    /// Every step ran and none gave an address.
    #[error("DNS: core host {name} resolves to no address (looked up: {tried})")]
    NotFound {
        /// The URI's host.
        name: String,
        /// The lookups made, in order (`NAPTR x`, `SRV _sip._udp.x`, `A/AAAA x`...).
        tried: String,
    },
}

/// An RFC 3263 resolver for the core's URI.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

/// The records found on the way, for the TTL and the error message.
struct Trail {
    ttl: Duration,
    tried: Vec<String>,
}

impl Trail {
    fn used(&mut self, records: &[Record]) {
        if let Some(min) = records.iter().map(|r| r.ttl).min() {
            self.ttl = self.ttl.min(Duration::from_secs(min.into()));
        }
    }
}

impl Resolver {
    /// A resolver asking `name_servers` (UDP, then TCP for a truncated answer); with none, the system
    /// configuration (`/etc/resolv.conf`). It runs its lookups on the Tokio runtime of the caller of
    /// [`Resolver::resolve`].
    pub fn new(name_servers: &[SocketAddr]) -> Result<Self, ResolveError> {
        let mut builder = if name_servers.is_empty() {
            TokioResolver::builder_tokio().map_err(ResolveError::SystemConfig)?
        } else {
            let servers = name_servers
                .iter()
                .map(|a| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = a.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = a.port();
                    NameServerConfig::new(a.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        let inner = builder.build().map_err(ResolveError::Build)?;
        Ok(Self { inner })
    }

    /// The targets of `uri` by RFC 3263 §4: an IP literal as it is; a name with a port by A/AAAA; a name with a
    /// transport by that transport's SRV records, else A/AAAA; a name with neither by NAPTR, else SRV of
    /// `_sips._tcp`, `_sip._tcp`, `_sip._udp` (only `_sips._tcp` for `sips:`), else A/AAAA.
    pub async fn resolve(&self, uri: &CoreUri) -> Result<Resolution, ResolveError> {
        let mut trail = Trail {
            ttl: Duration::MAX,
            tried: Vec::new(),
        };
        let (name, targets) = match rfc3263::first_step(uri) {
            Step::Literal(addr, transport) => {
                let targets = vec![direct(addr, transport, None)];
                return Ok(Resolution {
                    targets,
                    ttl: Duration::MAX,
                });
            }
            Step::Address {
                name,
                port,
                transport,
            } => {
                let found = self
                    .addresses(name.as_str(), port, transport, &mut trail)
                    .await?;
                (name, found)
            }
            Step::Srv { name, transport } => {
                let srv = rfc3263::srv_name(transport, &name);
                let mut found = self.srv(srv.as_str(), transport, &mut trail).await?;
                if found.is_empty() {
                    let port = transport.default_port();
                    found = self
                        .addresses(name.as_str(), port, transport, &mut trail)
                        .await?;
                }
                (name, found)
            }
            Step::Naptr { name } => {
                let found = self.by_naptr(uri, &name, &mut trail).await?;
                (name, found)
            }
        };
        if targets.is_empty() {
            return Err(ResolveError::NotFound {
                name,
                tried: trail.tried.join(", "),
            });
        }
        Ok(Resolution {
            targets,
            ttl: trail.ttl,
        })
    }

    /// NAPTR, else the SRV fallbacks, else A/AAAA with the default port. A NAPTR set none of whose usable
    /// records leads to an address counts as absent.
    async fn by_naptr(
        &self,
        uri: &CoreUri,
        name: &str,
        trail: &mut Trail,
    ) -> Result<Vec<Target>, ResolveError> {
        if let Some(lookup) = self.lookup(name, RecordType::NAPTR, trail).await? {
            let naptrs = lookup.answers().iter().filter_map(|r| match &r.data {
                RData::NAPTR(n) => Some(n),
                _ => None,
            });
            let candidates = rfc3263::naptr_candidates(naptrs, uri.secure);
            if !candidates.is_empty() {
                trail.used(lookup.answers());
            }
            for (transport, srv) in candidates {
                let found = self.srv(srv, transport, trail).await?;
                if !found.is_empty() {
                    return Ok(found);
                }
            }
        }
        for &transport in rfc3263::srv_fallbacks(uri.secure) {
            let srv = rfc3263::srv_name(transport, name);
            let found = self.srv(srv.as_str(), transport, trail).await?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        let transport = uri.transport_or_default();
        self.addresses(name, transport.default_port(), transport, trail)
            .await
    }

    /// The targets of one SRV name (empty when it has none that resolve).
    async fn srv(
        &self,
        name: impl IntoName + Clone,
        transport: CoreTransport,
        trail: &mut Trail,
    ) -> Result<Vec<Target>, ResolveError> {
        let Some(lookup) = self.lookup(name, RecordType::SRV, trail).await? else {
            return Ok(Vec::new());
        };
        let records = lookup.answers().iter().filter_map(|r| match &r.data {
            RData::SRV(s) => Some(s),
            _ => None,
        });
        let mut targets: Vec<Target> = Vec::new();
        for srv in rfc3263::srv_order(records) {
            let host = rfc3263::name_text(&srv.target);
            let found = self
                .addresses(srv.target.clone(), srv.port, transport, trail)
                .await?;
            for mut t in found {
                (t.priority, t.weight, t.name) = (srv.priority, srv.weight, Some(host.clone()));
                if targets.iter().all(|known| known.addr != t.addr) {
                    targets.push(t);
                }
            }
        }
        if !targets.is_empty() {
            trail.used(lookup.answers());
        }
        Ok(targets)
    }

    /// The A/AAAA records of a name at one port (empty when it has none).
    async fn addresses(
        &self,
        name: impl IntoName + Clone,
        port: u16,
        transport: CoreTransport,
        trail: &mut Trail,
    ) -> Result<Vec<Target>, ResolveError> {
        let text = name_of(&name);
        trail.tried.push(format!("A/AAAA {text}"));
        let lookup = match self.inner.lookup_ip(name).await {
            Ok(found) => found,
            Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
            Err(source) => {
                return Err(ResolveError::Lookup {
                    name: text,
                    record: RecordType::A,
                    source,
                });
            }
        };
        trail.used(lookup.as_lookup().answers());
        Ok(lookup
            .iter()
            .map(|ip: IpAddr| direct(SocketAddr::new(ip, port), transport, Some(text.clone())))
            .collect())
    }

    /// One lookup; `None` when the name or the record type does not exist.
    async fn lookup(
        &self,
        name: impl IntoName + Clone,
        record: RecordType,
        trail: &mut Trail,
    ) -> Result<Option<Lookup>, ResolveError> {
        let text = name_of(&name);
        trail.tried.push(format!("{record} {text}"));
        let name: Name = name.into_name().map_err(|source| ResolveError::Name {
            name: text.clone(),
            source: source.into(),
        })?;
        match self.inner.lookup(name, record).await {
            Ok(found) if found.answers().is_empty() => Ok(None),
            Ok(found) => Ok(Some(found)),
            Err(e) if e.is_no_records_found() => Ok(None),
            Err(source) => Err(ResolveError::Lookup {
                name: text,
                record,
                source,
            }),
        }
    }
}

/// A target without SRV: priority and weight 0.
fn direct(addr: SocketAddr, transport: CoreTransport, name: Option<String>) -> Target {
    Target {
        addr,
        transport,
        priority: 0,
        weight: 0,
        name,
    }
}

/// A name for messages, whatever form it came in.
fn name_of(name: &(impl IntoName + Clone)) -> String {
    name.clone()
        .into_name()
        .map_or_else(|_| String::from("?"), |n| rfc3263::name_text(&n))
}
