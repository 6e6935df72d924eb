//! The target manager: a thread of its own running a current-thread tokio runtime (the resolver is
//! asynchronous), never a worker. It resolves the core's URIs (RFC 3263) again when their records' TTLs run out
//! (or on SIGHUP), probes every target with OPTIONS at an interval, takes what workers report (a transaction never
//! answered, a connection refused), and publishes a new [`CoreView`] whenever a target comes, goes, or changes state.

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::health::{Health, Outcome, Thresholds};
use super::prober::Prober;
use super::{CoreTarget, CoreView, Feedback, Registry, TargetStats, Transport};
use crate::config::{CoreTransport, CoreUri};
use crate::resolve::{ResolveError, Resolver};

/// The shortest wait before resolving again, whatever the TTL (a TTL of 0 would resolve without pause).
const MIN_REFRESH: Duration = Duration::from_secs(1);
/// The longest wait before resolving again (an IP literal's "TTL" is forever).
const MAX_REFRESH: Duration = Duration::from_secs(3600);
/// After a failed resolution, the wait before the next (the previous targets stay).
const RETRY_RESOLVE: Duration = Duration::from_secs(5);
/// How often worker feedback is read.
const FEEDBACK_TICK: Duration = Duration::from_millis(100);
/// Worker feedback that may wait; beyond it is dropped (probes decide alone).
const FEEDBACK_QUEUE: usize = 1024;
/// Targets kept at most (the best ones): each is probed, and each worker may keep a connection to each, so a zone
/// that lists thousands of records must not turn into thousands of probes and connections.
pub const MAX_TARGETS: usize = 32;

/// How targets are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probing {
    /// Time between probe rounds.
    pub interval: Duration,
    /// A probe unanswered this long failed.
    pub timeout: Duration,
    /// When a target changes state.
    pub thresholds: Thresholds,
}

/// What the manager needs.
#[derive(Debug)]
pub struct Settings {
    /// The configured URIs, most preferred first (each may resolve to several targets).
    pub uris: Vec<CoreUri>,
    /// Name servers; empty: the system's.
    pub name_servers: Vec<SocketAddr>,
    /// Probes; `None`: every target counts as up.
    pub probing: Option<Probing>,
    /// Where probes are sent from, and the host their Via names.
    pub local_ip: IpAddr,
    /// The host written in probes.
    pub advertise_host: String,
    /// T1, for UDP probes' retransmissions.
    pub t1: Duration,
    /// TLS toward the core: the connector (shared with the workers) and the configured server name.
    pub tls: TlsClient,
}

/// What main keeps of the running manager.
#[derive(Debug)]
pub struct Handle {
    /// New views, to post to every worker.
    pub views: Receiver<Arc<CoreView>>,
    /// Where workers report (give each worker a clone).
    pub feedback: SyncSender<Feedback>,
    /// Every target's counters, for the metrics endpoint.
    pub registry: Registry,
    resolve_now: Arc<Notify>,
    /// The URIs resolved (a reload may change them).
    uris: Arc<Mutex<Vec<CoreUri>>>,
}

impl Handle {
    /// Resolve again now (SIGHUP).
    pub fn resolve_now(&self) {
        self.resolve_now.notify_one();
    }

    /// Resolve these URIs from now on (a reload), starting now. Targets they resolve to over another transport
    /// than the one in use are refused (logged), and the current targets stay.
    pub fn set_uris(&self, uris: Vec<CoreUri>) {
        *self.uris.lock().unwrap_or_else(|p| p.into_inner()) = uris;
        self.resolve_now();
    }
}

#[derive(Debug)]
struct Entry {
    addr: SocketAddr,
    priority: u32,
    weight: u16,
    name: Option<String>,
    health: Health,
    stats: Arc<TargetStats>,
}

struct State {
    settings: Settings,
    resolver: Resolver,
    prober: Arc<Prober>,
    transport: Transport,
    entries: Vec<Entry>,
    views: Sender<Arc<CoreView>>,
    feedback: Receiver<Feedback>,
    registry: Registry,
}

/// Why the core side cannot start (the manager's runtime or resolver, TLS toward the core), or why one resolution
/// failed (the node then keeps its current targets, or starts with none).
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// The manager's thread or runtime.
    #[error("cannot start the core's target manager: {0}")]
    Runtime(#[source] std::io::Error),
    /// No URI resolves.
    #[error("core uri: {0}")]
    Resolve(#[from] ResolveError),
    /// The URIs resolve to no target.
    #[error("core uri: no target")]
    NoTargets,
    /// The core resolved to TLS, and TLS toward it cannot be set up.
    #[error("the core is reached over TLS: {0}")]
    Tls(String),
}

/// The TLS connector and configured server name, when the core is reached over TLS.
pub type TlsClient = Option<(ringmux::TlsConnector, Option<String>)>;

/// Resolve the URIs once, then run the manager on its own thread. When no URI resolves yet (the core's name is
/// not in DNS yet, as while a cluster comes up) the node starts with no target, every request answered 503, and
/// the manager keeps resolving every [`RETRY_RESOLVE`]; the transport is then the one [`assumed_transport`] says.
/// Also returns the TLS client configuration in use (the defaults' when the core resolved to TLS without one).
pub fn start(mut settings: Settings) -> Result<(Arc<CoreView>, Handle, TlsClient), TargetsError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(TargetsError::Runtime)?;
    let resolver = Resolver::new(&settings.name_servers)?;
    let (targets, transport, first_wait) = first_resolution(&runtime, &resolver, &settings.uris);
    if transport == Transport::Tls && settings.tls.is_none() {
        let config = crate::config::client_config(None).map_err(TargetsError::Tls)?;
        settings.tls = Some((ringmux::TlsConnector::new(config), None));
    }
    let tls = if transport == Transport::Tls {
        settings.tls.clone()
    } else {
        None
    };
    let (views_tx, views) = mpsc::channel();
    let (feedback, feedback_rx) = mpsc::sync_channel(FEEDBACK_QUEUE);
    let prober = Arc::new(Prober {
        transport,
        local_ip: settings.local_ip,
        advertise_host: settings.advertise_host.clone(),
        timeout: settings
            .probing
            .map_or(Duration::from_secs(1), |p| p.timeout),
        t1: settings.t1,
        tls: settings.tls.clone(),
    });
    let mut state = State {
        settings,
        resolver,
        prober,
        transport,
        entries: Vec::new(),
        views: views_tx,
        feedback: feedback_rx,
        registry: Arc::new(Mutex::new(Vec::new())),
    };
    state.merge(targets);
    let first = state.view();
    state.publish_registry();
    let registry = state.registry.clone();
    let resolve_now = Arc::new(Notify::new());
    let notify = resolve_now.clone();
    let uris = Arc::new(Mutex::new(state.settings.uris.clone()));
    let shared_uris = uris.clone();
    std::thread::Builder::new()
        .name("sipedge-targets".into())
        .spawn(move || runtime.block_on(state.run(first_wait, notify, shared_uris)))
        .map_err(TargetsError::Runtime)?;
    let handle = Handle {
        views,
        feedback,
        registry,
        resolve_now,
        uris,
    };
    Ok((first, handle, tls))
}

/// The first resolution: the targets, their transport and the wait before resolving again; when nothing
/// resolves, no target, the assumed transport and [`RETRY_RESOLVE`] (logged).
fn first_resolution(
    runtime: &tokio::runtime::Runtime,
    resolver: &Resolver,
    uris: &[CoreUri],
) -> (Vec<Entry>, Transport, Duration) {
    match runtime.block_on(resolve_all(resolver, uris)) {
        Ok((targets, transport, ttl)) => (targets, transport, refresh_after(ttl)),
        Err(e) => {
            let transport = assumed_transport(uris);
            tracing::warn!(
                error = %e,
                transport = transport.token(),
                retry = ?RETRY_RESOLVE,
                "the core does not resolve yet: starting with no target (requests get 503), resolving again"
            );
            (Vec::new(), transport, RETRY_RESOLVE)
        }
    }
}

/// The transport toward a core that has not resolved yet: the first one a URI names (`transport=`, or TLS for
/// `sips:`), else UDP. A later resolution to another transport is refused (the workers' side is set up for
/// this one).
pub fn assumed_transport(uris: &[CoreUri]) -> Transport {
    uris.iter()
        .find_map(|u| u.transport.or(u.secure.then_some(CoreTransport::Tls)))
        .map_or(Transport::Udp, transport_of)
}

/// Resolve `uris` once (`--check`): each target as `transport:address (priority P, weight W)`.
pub fn resolve_once(
    uris: &[CoreUri],
    name_servers: &[SocketAddr],
) -> Result<Vec<String>, TargetsError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(TargetsError::Runtime)?;
    let resolver = Resolver::new(name_servers)?;
    let (entries, transport, _) = runtime.block_on(resolve_all(&resolver, uris))?;
    Ok(entries
        .iter()
        .map(|e| {
            format!(
                "{}:{} (priority {}, weight {})",
                transport.token(),
                e.addr,
                e.priority,
                e.weight
            )
        })
        .collect())
}

/// Every URI's targets (the first URI's transport; later URIs' priorities after the earlier ones'), and the
/// smallest TTL. A URI that fails is logged and skipped while another resolves.
async fn resolve_all(
    resolver: &Resolver,
    uris: &[CoreUri],
) -> Result<(Vec<Entry>, Transport, Duration), TargetsError> {
    let mut entries = Vec::new();
    let mut transport = None;
    let mut ttl = Duration::MAX;
    let mut last_error = None;
    for (i, uri) in uris.iter().enumerate() {
        let resolution = match resolver.resolve(uri).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(uri = i, error = %e, "core uri does not resolve");
                last_error = Some(e);
                continue;
            }
        };
        ttl = ttl.min(resolution.ttl);
        for t in resolution.targets {
            let kind = transport_of(t.transport);
            if *transport.get_or_insert(kind) != kind {
                tracing::warn!(target = %t.addr, "core target skipped: its transport differs from the first target's");
                continue;
            }
            entries.push(Entry {
                addr: t.addr,
                priority: ((i as u32) << 16) | u32::from(t.priority),
                weight: t.weight,
                // RFC 5922 §4.1: a certificate is checked against the URI's domain, not the SRV target's name.
                name: uri.host_name().map(str::to_owned),
                health: Health::default(),
                stats: Arc::default(),
            });
        }
    }
    if entries.len() > MAX_TARGETS {
        tracing::warn!(
            found = entries.len(),
            kept = MAX_TARGETS,
            "core uri resolves to more targets than are kept; the best are used"
        );
        entries.sort_by_key(|e| e.priority);
        entries.truncate(MAX_TARGETS);
    }
    match (transport, last_error) {
        (Some(t), _) => Ok((entries, t, ttl)),
        (None, Some(e)) => Err(e.into()),
        (None, None) => Err(TargetsError::NoTargets),
    }
}

/// The targets' transport.
pub fn transport_of(t: CoreTransport) -> Transport {
    match t {
        CoreTransport::Udp => Transport::Udp,
        CoreTransport::Tcp => Transport::Tcp,
        CoreTransport::Tls => Transport::Tls,
    }
}

fn refresh_after(ttl: Duration) -> Duration {
    ttl.clamp(MIN_REFRESH, MAX_REFRESH)
}

type Resolved = Result<(Vec<Entry>, Transport, Duration), TargetsError>;

/// Resolve again after `next` (then when the TTL runs out, or [`RETRY_RESOLVE`] after a failure) or on demand,
/// on a task of its own, so that a slow or silent name server never holds up the probes; each result goes to the
/// manager.
async fn resolve_loop(
    resolver: Resolver,
    uris: Arc<Mutex<Vec<CoreUri>>>,
    mut next: Duration,
    resolve_now: Arc<Notify>,
    results: tokio::sync::mpsc::Sender<Resolved>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(next) => {}
            () = resolve_now.notified() => {}
        }
        let now = uris.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let result = resolve_all(&resolver, &now).await;
        next = match &result {
            Ok((_, _, ttl)) => refresh_after(*ttl),
            Err(_) => RETRY_RESOLVE,
        };
        if results.send(result).await.is_err() {
            return;
        }
    }
}

impl State {
    async fn run(
        mut self,
        first_wait: Duration,
        resolve_now: Arc<Notify>,
        uris: Arc<Mutex<Vec<CoreUri>>>,
    ) {
        let mut probe_tick =
            tokio::time::interval(self.settings.probing.map_or(MAX_REFRESH, |p| p.interval));
        probe_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut feedback_tick = tokio::time::interval(FEEDBACK_TICK);
        let (tx, mut resolved) = tokio::sync::mpsc::channel(1);
        tokio::spawn(resolve_loop(
            self.resolver.clone(),
            uris,
            first_wait,
            resolve_now,
            tx,
        ));
        loop {
            tokio::select! {
                _ = probe_tick.tick(), if self.settings.probing.is_some() => self.probe_round().await,
                _ = feedback_tick.tick() => self.take_feedback(),
                Some(result) = resolved.recv() => self.resolved(result),
            }
        }
    }

    /// A new resolution: its targets replace the current ones (a failure keeps them).
    fn resolved(&mut self, result: Resolved) {
        match result {
            Ok((entries, transport, _)) if transport == self.transport => {
                if self.merge(entries) {
                    self.publish();
                }
            }
            Ok((_, other, _)) => tracing::warn!(
                resolved = other.token(),
                in_use = self.transport.token(),
                "core targets now resolve to another transport than the one in use; refused, keeping the current \
                 targets (name the transport in [core] uri when the core may not resolve at start)"
            ),
            Err(e) if self.entries.is_empty() => {
                tracing::warn!(error = %e, "the core still does not resolve: no target, requests get 503")
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot resolve the core again; keeping the current targets")
            }
        }
    }

    /// Take `fresh` as the targets, keeping the state and counters of those already known; whether anything
    /// changed.
    fn merge(&mut self, mut fresh: Vec<Entry>) -> bool {
        for f in &mut fresh {
            if let Some(old) = self.entries.iter().find(|e| e.addr == f.addr) {
                f.health = old.health;
                f.stats = old.stats.clone();
            }
        }
        fresh.sort_by_key(|e| e.priority);
        let key = |v: &[Entry]| -> Vec<(SocketAddr, u32, u16)> {
            v.iter().map(|e| (e.addr, e.priority, e.weight)).collect()
        };
        let changed = key(&fresh) != key(&self.entries);
        if changed {
            for e in &fresh {
                tracing::info!(target = %self.label(e.addr), priority = e.priority, weight = e.weight, "core target");
            }
        }
        self.entries = fresh;
        changed
    }

    fn label(&self, addr: SocketAddr) -> String {
        format!("{}:{addr}", self.transport.token())
    }

    async fn probe_round(&mut self) {
        let mut probes = JoinSet::new();
        for (i, e) in self.entries.iter().enumerate() {
            let prober = self.prober.clone();
            let (addr, name) = (e.addr, e.name.clone());
            probes.spawn(async move { (i, prober.probe(addr, name.as_deref()).await) });
        }
        let mut changed = false;
        while let Some(Ok((i, (outcome, tls)))) = probes.join_next().await {
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            if let Some(refused) = tls {
                TargetStats::bump(&e.stats.tls_failures);
                tracing::warn!(target = %self.label(e.addr), reason = %refused.0, "TLS handshake with the core refused");
            }
            match outcome {
                Outcome::Answered { rtt, .. } => e
                    .stats
                    .probe_micros
                    .store(rtt.as_micros() as u64, std::sync::atomic::Ordering::Relaxed),
                _ => TargetStats::bump(&e.stats.probes_failed),
            }
            changed |= self.record(i, outcome);
        }
        if changed {
            self.publish();
        }
    }

    fn take_feedback(&mut self) {
        let mut changed = false;
        while let Ok(f) = self.feedback.try_recv() {
            if let Some(i) = self.entries.iter().position(|e| e.addr == f.target) {
                changed |= self.record(i, f.outcome);
            }
        }
        if changed {
            self.publish();
        }
    }

    /// Count `outcome` for target `i`; whether its state changed.
    fn record(&mut self, i: usize, outcome: Outcome) -> bool {
        let Some(p) = self.settings.probing else {
            return false;
        };
        let label = self.label(self.entries[i].addr);
        let e = &mut self.entries[i];
        match e.health.record(outcome, p.thresholds) {
            Some(true) => tracing::info!(target = %label, "core target up"),
            Some(false) => tracing::warn!(target = %label, ?outcome, "core target down"),
            None => return false,
        }
        true
    }

    fn view(&self) -> Arc<CoreView> {
        Arc::new(CoreView {
            transport: self.transport,
            targets: self
                .entries
                .iter()
                .map(|e| {
                    e.stats
                        .up
                        .store(e.health.is_up(), std::sync::atomic::Ordering::Relaxed);
                    CoreTarget {
                        addr: e.addr,
                        priority: e.priority,
                        weight: e.weight,
                        up: e.health.is_up(),
                        name: e.name.clone(),
                        stats: e.stats.clone(),
                    }
                })
                .collect(),
        })
    }

    fn publish(&mut self) {
        let _ = self.views.send(self.view());
        self.publish_registry();
    }

    fn publish_registry(&self) {
        let all = self
            .entries
            .iter()
            .map(|e| (self.label(e.addr), e.stats.clone()))
            .collect();
        if let Ok(mut r) = self.registry.lock() {
            *r = all;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(all: &[&str]) -> Vec<CoreUri> {
        all.iter().map(|u| u.parse().unwrap()).collect()
    }

    #[test]
    fn a_core_with_too_many_targets_keeps_the_best_ones() {
        let all: Vec<CoreUri> = (0..MAX_TARGETS + 8)
            .map(|i| {
                format!("sip:10.0.{}.{}:5060", i / 250, i % 250 + 1)
                    .parse()
                    .unwrap()
            })
            .collect();
        // An unused name server: IP literals need no lookup.
        let kept = resolve_once(&all, &["127.0.0.1:9".parse().unwrap()]).unwrap();
        assert_eq!(kept.len(), MAX_TARGETS);
        assert!(
            kept[0].starts_with("udp:10.0.0.1:5060 (priority 0,"),
            "{}",
            kept[0]
        );
        assert!(
            kept.iter().all(|k| !k.contains("10.0.0.33:")),
            "the least preferred go"
        );
    }

    #[test]
    fn several_uris_keep_their_order_of_preference() {
        let all = uris(&["sip:10.0.0.2", "sip:10.0.0.1"]);
        let kept = resolve_once(&all, &["127.0.0.1:9".parse().unwrap()]).unwrap();
        assert!(
            kept[0].starts_with("udp:10.0.0.2:5060 (priority 0,"),
            "{kept:?}"
        );
        assert!(
            kept[1].starts_with("udp:10.0.0.1:5060 (priority 65536,"),
            "{kept:?}"
        );
    }

    #[test]
    fn a_core_not_resolved_yet_is_assumed_on_the_transport_a_uri_names_else_udp() {
        assert_eq!(assumed_transport(&uris(&["sip:core.test"])), Transport::Udp);
        assert_eq!(
            assumed_transport(&uris(&["sip:a.test", "sip:b.test;transport=tcp"])),
            Transport::Tcp
        );
        assert_eq!(
            assumed_transport(&uris(&["sips:core.test"])),
            Transport::Tls
        );
        assert_eq!(
            assumed_transport(&uris(&["sip:core.test;transport=tls"])),
            Transport::Tls
        );
    }
}
