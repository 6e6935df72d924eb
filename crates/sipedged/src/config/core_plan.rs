//! `[core]` checked and typed: the URIs parsed, the probe settings in range, the TLS client configuration built
//! (roots from `[core.tls] ca` or the system store, the client certificate for mutual TLS).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::plan::{Problem, sip_host};
use super::uri::{CoreTransport, CoreUri};
use super::{Core, CoreTls};
use crate::targets::health::Thresholds;
use crate::targets::manager::Probing;

/// The shortest and longest `probe_interval`.
const PROBE_INTERVAL: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(3600));

/// The smallest and largest `udp_receive_buffer`.
const UDP_RECEIVE_BUFFER: (u32, u32) = (64 << 10, 1 << 30);

/// The core, ready to reach.
#[derive(Debug, Clone)]
pub struct CorePlan {
    /// Its URIs, parsed, most preferred first.
    pub uris: Vec<CoreUri>,
    /// Worker 0's local address toward the core.
    pub local_address: SocketAddr,
    /// The host written in our Via / Path / Record-Route toward the core.
    pub advertise_host: String,
    /// T1 toward a UDP core.
    pub t1: Duration,
    /// The receive buffer each worker asks for on its UDP socket toward the core, bytes.
    pub udp_receive_buffer: usize,
    /// Name servers; empty: the system's.
    pub name_servers: Vec<SocketAddr>,
    /// Probes; `None`: off.
    pub probing: Option<Probing>,
    /// TLS toward the core, when `[core.tls]` is given or a URI asks for TLS.
    pub tls: Option<CoreTlsPlan>,
}

/// TLS toward the core.
#[derive(Clone)]
pub struct CoreTlsPlan {
    /// The client configuration (roots, client certificate, session store).
    pub config: Arc<rustls::ClientConfig>,
    /// `server_name`.
    pub server_name: Option<String>,
    /// The table as written (its files are watched for changes).
    pub table: CoreTls,
}

impl std::fmt::Debug for CoreTlsPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreTlsPlan")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// `[core]` checked; problems pushed to `problems`.
pub fn core(c: &Core, workers: usize, problems: &mut Vec<Problem>) -> Option<CorePlan> {
    let uris: Vec<CoreUri> = c
        .uri
        .as_slice()
        .iter()
        .filter_map(|u| {
            u.parse::<CoreUri>()
                .map_err(|e| problems.push(e.into()))
                .ok()
        })
        .collect();
    if c.uri.as_slice().is_empty() {
        problems.push(Problem::NoCoreUri);
    }
    let (min, max) = (Duration::from_millis(50), Duration::from_secs(10));
    if !(min..=max).contains(&c.t1) {
        problems.push(Problem::DurationRange {
            key: "core.t1",
            value: c.t1,
            min,
            max,
        });
    }
    let probing = probing(c, problems);
    if c.local_address.ip().is_unspecified() && c.advertise_host.is_none() {
        problems.push(Problem::UnspecifiedCoreHost(c.local_address));
    }
    let (min, max) = UDP_RECEIVE_BUFFER;
    if !(min..=max).contains(&c.udp_receive_buffer) {
        problems.push(Problem::ByteRange {
            key: "core.udp_receive_buffer",
            value: c.udp_receive_buffer.into(),
            min: min.into(),
            max: max.into(),
        });
    }
    let port = c.local_address.port();
    if usize::from(port) + workers - 1 > usize::from(u16::MAX) {
        problems.push(Problem::CorePorts { port, workers });
    }
    let mut plan = CorePlan {
        uris,
        local_address: c.local_address,
        advertise_host: sip_host(c.advertise_host.as_deref(), c.local_address.ip()),
        t1: c.t1,
        udp_receive_buffer: c.udp_receive_buffer as usize,
        name_servers: c.name_servers.clone(),
        probing,
        tls: None,
    };
    let explicit: Vec<_> = plan
        .uris
        .iter()
        .filter_map(|u| u.transport.or(u.secure.then_some(CoreTransport::Tls)))
        .collect();
    if explicit.windows(2).any(|w| w[0] != w[1]) {
        problems.push(Problem::CoreTransports);
    }
    let wants_tls = explicit.contains(&CoreTransport::Tls);
    if c.tls.is_some() && !explicit.is_empty() && !wants_tls {
        problems.push(Problem::CoreTls(
            "[core.tls] is set but the core uri names another transport (use sips: or transport=tls)".into(),
        ));
    }
    if c.tls.is_some() || wants_tls {
        match client_config(c.tls.as_ref()) {
            Ok(config) => {
                plan.tls = Some(CoreTlsPlan {
                    config: Arc::new(config),
                    server_name: c.tls.as_ref().and_then(|t| t.server_name.clone()),
                    table: c.tls.clone().unwrap_or(CoreTls {
                        ca: None,
                        cert: None,
                        key: None,
                        server_name: None,
                    }),
                })
            }
            Err(e) => problems.push(Problem::CoreTls(e)),
        }
    }
    Some(plan)
}

fn probing(c: &Core, problems: &mut Vec<Problem>) -> Option<Probing> {
    let (min, max) = PROBE_INTERVAL;
    if !(min..=max).contains(&c.probe_interval) {
        problems.push(Problem::DurationRange {
            key: "core.probe_interval",
            value: c.probe_interval,
            min,
            max,
        });
    }
    if c.probe_timeout.is_zero() || c.probe_timeout >= c.probe_interval {
        problems.push(Problem::ProbeTimeout {
            timeout: c.probe_timeout,
            interval: c.probe_interval,
        });
    }
    for (key, n) in [("down_after", c.down_after), ("up_after", c.up_after)] {
        if n == 0 {
            problems.push(Problem::ZeroProbes(key));
        }
    }
    c.probes.then_some(Probing {
        interval: c.probe_interval,
        timeout: c.probe_timeout,
        thresholds: Thresholds {
            down_after: c.down_after,
            up_after: c.up_after,
        },
    })
}

/// The TLS client configuration `[core.tls]` describes (all defaults without it).
pub fn client_config(t: Option<&CoreTls>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match t.and_then(|t| t.ca.as_deref()) {
        Some(path) => {
            for cert in certificates(path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("ca {}: {e}", path.display()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                return Err("no CA certificates in the system store; give [core.tls] ca".into());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let (cert, key) = (
        t.and_then(|t| t.cert.as_deref()),
        t.and_then(|t| t.key.as_deref()),
    );
    match (cert, key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain = certificates(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("key {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate {}: {e}", cert.display()))
        }
        _ => Err("give cert and key together (the client certificate for mutual TLS)".into()),
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no CERTIFICATE in the PEM", path.display()));
    }
    Ok(certs)
}
