//! Live reload (SIGHUP, or `POST /admin/reload`): the configuration file is read and checked again, and what can
//! change without dropping anyone does; what cannot is reported as needing a restart, and keeps its running
//! value. A file that does not read or check changes nothing and says why.
//!
//! Live: `[limits]` (for new connections and handshakes; the per-IP and node counts carry over), the allowed
//! Origins and listener paths, `[auth]` (a changed key keeps the previous one valid for `key_overlap`),
//! `[registrar]` bounds, `[log] level`, `[sip] received`, `[web]`, the core's URIs, and certificates (their
//! files are read again on every reload). Needing a restart: listener addresses and TLS files, worker count and
//! the rest of `[runtime]`, the node's flow-token identity, `[admin]`, `[deflate]`, `[capture]`, the core's
//! transport settings, the kernel-side limits (`max_connections`, `close_timeout`, `tcp_user_timeout`) and the
//! IPv6 grouping of the per-IP limits.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::session::Policy;

/// A reload asked by the admin API: where its report goes.
pub type ReloadAsk = oneshot::Sender<ReloadReport>;

/// What a reload did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// The settings that changed and took effect.
    pub applied: Vec<String>,
    /// The settings that changed in the file but take effect only after a restart (the running values stay).
    pub needs_restart: Vec<String>,
    /// Why nothing changed: the file does not read or check.
    pub error: Option<String>,
}

/// What every worker takes on a reload.
#[derive(Debug)]
pub struct Live {
    /// Each session's policy from now on.
    pub policy: Arc<Policy>,
    /// The standalone registrar's bounds.
    pub registrar: edge::registrar::RegistrarConfig,
    /// The largest SIP message.
    pub max_message_size: usize,
}

/// The settings that differ between `before` and `after`, as `section.key` names: those that can change live,
/// and those that need a restart.
pub fn differences(before: &Config, after: &Config) -> (Vec<String>, Vec<String>) {
    let mut live = Vec::new();
    let mut restart = Vec::new();
    let mut note = |is_live: bool, name: &str, differs: bool| {
        if differs {
            if is_live { &mut live } else { &mut restart }.push(name.to_owned());
        }
    };
    listeners(before, after, &mut note);
    match (&before.core, &after.core) {
        (Some(b), Some(a)) => {
            note(true, "core.uri", b.uri != a.uri);
            let (mut b, mut a) = (b.clone(), a.clone());
            b.uri = a.uri.clone();
            a.uri = b.uri.clone();
            note(false, "core (other than uri)", b != a);
        }
        (b, a) => note(false, "core", b != a),
    }
    let (b, a) = (&before.sip, &after.sip);
    note(true, "sip.received", b.received != a.received);
    note(false, "sip.domains", b.domains != a.domains);
    note(false, "sip.node_id", b.node_id != a.node_id);
    note(
        false,
        "sip.flow_token_secret",
        b.flow_token_secret != a.flow_token_secret,
    );
    note(false, "runtime", before.runtime != after.runtime);
    limits(before, after, &mut note);
    note(true, "registrar", before.registrar != after.registrar);
    note(false, "admin", before.admin != after.admin);
    note(true, "web", before.web != after.web);
    note(true, "auth", before.auth != after.auth);
    note(false, "deflate", before.deflate != after.deflate);
    note(true, "log.level", before.log.level != after.log.level);
    note(false, "log.format", before.log.format != after.log.format);
    note(
        false,
        "log.connections",
        before.log.connections != after.log.connections,
    );
    note(false, "capture", before.capture != after.capture);
    (live, restart)
}

fn listeners(before: &Config, after: &Config, note: &mut impl FnMut(bool, &str, bool)) {
    if before.listen.len() != after.listen.len() {
        note(false, "listen (the listeners)", true);
        return;
    }
    for (i, (b, a)) in before.listen.iter().zip(&after.listen).enumerate() {
        note(true, &format!("listen[{i}].path"), b.path != a.path);
        note(true, &format!("listen[{i}].auth"), b.auth != a.auth);
        note(
            false,
            &format!("listen[{i}].address"),
            b.address != a.address,
        );
        note(
            false,
            &format!("listen[{i}].advertise"),
            b.advertise != a.advertise,
        );
        note(false, &format!("listen[{i}].tls"), b.tls != a.tls);
        note(
            false,
            &format!("listen[{i}].proxy_protocol"),
            b.proxy_protocol != a.proxy_protocol,
        );
    }
}

fn limits(before: &Config, after: &Config, note: &mut impl FnMut(bool, &str, bool)) {
    let (b, a) = (&before.limits, &after.limits);
    let proxied = after.listen.iter().any(|l| l.proxy_protocol);
    for (name, is_live, differs) in [
        (
            "limits.max_message_size",
            true,
            b.max_message_size != a.max_message_size,
        ),
        (
            "limits.max_frame_size",
            true,
            b.max_frame_size != a.max_frame_size,
        ),
        (
            "limits.max_connections",
            false,
            b.max_connections != a.max_connections,
        ),
        (
            "limits.max_connections_per_ip",
            true,
            b.max_connections_per_ip != a.max_connections_per_ip,
        ),
        (
            "limits.handshake_timeout",
            true,
            b.handshake_timeout != a.handshake_timeout,
        ),
        (
            "limits.idle_timeout",
            true,
            b.idle_timeout != a.idle_timeout,
        ),
        (
            "limits.ping_interval",
            true,
            b.ping_interval != a.ping_interval,
        ),
        (
            "limits.close_timeout",
            false,
            b.close_timeout != a.close_timeout,
        ),
        (
            "limits.tcp_user_timeout",
            false,
            b.tcp_user_timeout != a.tcp_user_timeout,
        ),
        (
            "limits.allowed_origins",
            true,
            b.allowed_origins != a.allowed_origins,
        ),
        (
            "limits.handshakes_per_second",
            true,
            b.handshakes_per_second != a.handshakes_per_second,
        ),
        (
            "limits.handshakes_per_ip_per_second",
            true,
            b.handshakes_per_ip_per_second != a.handshakes_per_ip_per_second,
        ),
        (
            "limits.handshake_burst",
            true,
            b.handshake_burst != a.handshake_burst,
        ),
        (
            "limits.requests_per_second",
            true,
            b.requests_per_second != a.requests_per_second,
        ),
        (
            "limits.request_burst",
            true,
            b.request_burst != a.request_burst,
        ),
        (
            "limits.over_request_rate",
            true,
            b.over_request_rate != a.over_request_rate,
        ),
        // PROXY protocol listeners were given the trusted list at start.
        (
            "limits.trusted_proxies",
            !proxied,
            b.trusted_proxies != a.trusted_proxies,
        ),
        ("limits.ipv6_prefix", false, b.ipv6_prefix != a.ipv6_prefix),
    ] {
        note(is_live, name, differs);
    }
}

/// `next` with every setting that needs a restart put back to its value in `started` (what the node runs with
/// until then), so that the plan made from it is what the node actually applies.
pub fn keep_restart_settings(started: &Config, next: &Config) -> Config {
    let mut out = next.clone();
    if started.listen.len() != next.listen.len() {
        out.listen.clone_from(&started.listen);
    } else {
        for (o, s) in out.listen.iter_mut().zip(&started.listen) {
            o.address = s.address;
            o.advertise.clone_from(&s.advertise);
            o.tls.clone_from(&s.tls);
            o.proxy_protocol = s.proxy_protocol;
        }
    }
    match (&mut out.core, &started.core) {
        (Some(o), Some(s)) => {
            let uri = o.uri.clone();
            *o = s.clone();
            o.uri = uri;
        }
        (o, s) => o.clone_from(s),
    }
    out.sip.domains.clone_from(&started.sip.domains);
    out.sip.node_id = started.sip.node_id;
    out.sip
        .flow_token_secret
        .clone_from(&started.sip.flow_token_secret);
    out.runtime = started.runtime.clone();
    out.limits.max_connections = started.limits.max_connections;
    out.limits.close_timeout = started.limits.close_timeout;
    out.limits.tcp_user_timeout = started.limits.tcp_user_timeout;
    out.limits.ipv6_prefix = started.limits.ipv6_prefix;
    if started.listen.iter().any(|l| l.proxy_protocol) {
        out.limits
            .trusted_proxies
            .clone_from(&started.limits.trusted_proxies);
    }
    out.admin = started.admin.clone();
    out.deflate = started.deflate;
    out.log.format = started.log.format;
    out.log.connections = started.log.connections;
    out.capture = started.capture.clone();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(toml: &str) -> Config {
        Config::from_toml(toml, "test").unwrap()
    }

    #[test]
    fn live_settings_and_restart_settings_are_told_apart() {
        let before = cfg("[limits]\nallowed_origins = [\"https://a.example\"]");
        let after = cfg(
            "[[listen]]\naddress = \"127.0.0.1:9999\"\n[runtime]\nworkers = 3\n[limits]\n\
             allowed_origins = [\"https://b.example\"]\nmax_message_size = 9000\n[registrar]\nmax_expires = 1200\n\
             [log]\nlevel = \"debug\"",
        );
        let (live, restart) = differences(&before, &after);
        assert_eq!(
            live,
            [
                "limits.max_message_size",
                "limits.allowed_origins",
                "registrar",
                "log.level"
            ]
        );
        assert_eq!(restart, ["listen[0].address", "runtime"]);
        // What the node applies keeps the running listener and workers, and takes the rest.
        let applied = keep_restart_settings(&before, &after);
        assert_eq!(applied.listen, before.listen);
        assert_eq!(applied.runtime, before.runtime);
        assert_eq!(applied.limits.allowed_origins, ["https://b.example"]);
        let (_, restart) = differences(&before, &applied);
        assert!(restart.is_empty(), "{restart:?}");
        assert_eq!(differences(&after, &after), (vec![], vec![]));
    }
}
