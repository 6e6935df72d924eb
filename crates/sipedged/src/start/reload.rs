//! Applying a reload to the running node (see [`crate::reload`] for what is live): the file is read and checked
//! again; the settings that need a restart are put back to their running values; a new policy (carrying the
//! counts, the clock and the previous JWT key of the one in use) goes to every worker with the registrar's
//! bounds; the log filter and the core's URIs change in place.

use std::sync::Arc;

use crate::config::{Config, ConfigError, Plan};
use crate::reload::{Live, ReloadReport, differences, keep_restart_settings};
use crate::session::Policy;
use crate::targets::Transport;
use crate::targets::manager::Handle;
use crate::worker::Msg;

/// Sets the log filter (`[log] level`); an error says why it was not taken.
pub type SetLogLevel = Box<dyn Fn(&str) -> Result<(), String>>;

/// What a reload needs from main: the configuration read again (with the command line's overrides), and the
/// log filter's setter.
pub struct Reloading {
    /// Reads and checks the configuration again.
    pub load: Box<dyn Fn() -> Result<Plan, ConfigError>>,
    /// Sets the log filter.
    pub set_log_level: SetLogLevel,
}

impl std::fmt::Debug for Reloading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reloading")
    }
}

/// The configuration the node started with and the one it runs now.
#[derive(Debug)]
pub struct Running {
    started: Config,
    running: Config,
    policy: Arc<Policy>,
    transport: Option<Transport>,
    reloading: Reloading,
    /// `[auth] jwks`, and its modification time when last read.
    jwks: Option<(std::path::PathBuf, Option<std::time::SystemTime>)>,
}

/// A file's modification time (`None` when it cannot be read).
fn modified(path: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Running {
    /// The node as started from `plan`, its sessions under `policy`.
    pub fn new(
        plan: &Plan,
        policy: Arc<Policy>,
        transport: Option<Transport>,
        reloading: Reloading,
    ) -> Self {
        Self {
            started: plan.source.clone(),
            running: plan.source.clone(),
            policy,
            transport,
            reloading,
            jwks: jwks_of(&plan.source),
        }
    }

    /// `[auth] jwks` changed on disk: read it again (the previous keys count for `key_overlap`). A file that
    /// does not read changes nothing (logged); the next change is tried again.
    pub fn poll_jwks(&mut self, server: &ringmux::Server<Msg>) {
        let Some((path, seen)) = &mut self.jwks else {
            return;
        };
        let now = modified(path);
        if now == *seen {
            return;
        }
        *seen = now;
        let plan = match Plan::new(self.running.clone()) {
            Ok(plan) => plan,
            Err(e) => {
                tracing::warn!(error = %e, "the JWKS file changed but does not read; the keys in use stay");
                return;
            }
        };
        let changed = vec!["auth.jwks".to_owned()];
        if let Err(e) = self.apply(server, None, &plan, &changed) {
            tracing::warn!(error = %e, "the JWKS file changed but was not applied");
            return;
        }
        tracing::info!("JWKS reloaded: new handshakes are checked with its keys");
    }

    /// Read the configuration again and apply what changed and can change live.
    pub fn reload(
        &mut self,
        server: &ringmux::Server<Msg>,
        core: Option<&Handle>,
        why: &str,
    ) -> ReloadReport {
        let refused = |e: &dyn std::fmt::Display| {
            tracing::warn!(why, error = %e, "configuration not reloaded: nothing changed");
            ReloadReport {
                error: Some(e.to_string()),
                ..ReloadReport::default()
            }
        };
        let next = match (self.reloading.load)() {
            Ok(plan) => plan,
            Err(e) => return refused(&e),
        };
        let (_, needs_restart) = differences(&self.started, &next.source);
        let applied = match Plan::new(keep_restart_settings(&self.started, &next.source)) {
            Ok(plan) => plan,
            Err(e) => return refused(&e),
        };
        let (changed, _) = differences(&self.running, &applied.source);
        if let Err(e) = self.apply(server, core, &applied, &changed) {
            return ReloadReport {
                error: Some(e),
                ..ReloadReport::default()
            };
        }
        self.running = applied.source;
        self.jwks = jwks_of(&self.running);
        tracing::info!(why, applied = ?changed, needs_restart = ?needs_restart, "configuration reloaded");
        ReloadReport {
            applied: changed,
            needs_restart,
            error: None,
        }
    }

    fn apply(
        &mut self,
        server: &ringmux::Server<Msg>,
        core: Option<&Handle>,
        plan: &Plan,
        changed: &[String],
    ) -> Result<(), String> {
        if changed.iter().any(|c| c == "log.level") && std::env::var_os("RUST_LOG").is_none() {
            (self.reloading.set_log_level)(&plan.log.level)?;
        }
        if changed.iter().any(|c| c == "core.uri")
            && let (Some(handle), Some(c)) = (core, &plan.core)
        {
            handle.set_uris(c.uris.clone());
        }
        let policy = Arc::new(super::policy(plan, self.transport, Some(&self.policy)));
        let live = Arc::new(Live {
            policy: policy.clone(),
            registrar: super::edge_config(plan, 0, self.transport).registrar,
            max_message_size: plan.limits.max_message_size,
        });
        for w in 0..server.workers() {
            let _ = server.post(w, Msg::Reconfigure(live.clone()));
        }
        self.policy = policy;
        Ok(())
    }
}

/// `[auth] jwks` of `cfg`, with its modification time now.
fn jwks_of(cfg: &Config) -> Option<(std::path::PathBuf, Option<std::time::SystemTime>)> {
    let path = cfg.auth.jwks.clone()?;
    let seen = modified(&path);
    Some((path, seen))
}
