//! wss:// listeners: building ringmux's TLS acceptor from a `[[listen]] tls = { ... }` table, and reloading
//! its certificates on SIGHUP and when the files change. A reload that fails (unreadable file, bad PEM, a key
//! that is not the certificate's) is logged and the certificates in use stay; connections are never dropped.

use std::time::{Duration, Instant, SystemTime};

use ringmux::{PemFiles, TlsAcceptor, TlsError, TlsFiles};

use crate::config::ListenerTls;

/// The files a TLS table names; `Err` when `cert` and `key` are not given together or nothing is named.
pub fn files(tls: &ListenerTls) -> Result<TlsFiles, String> {
    let default = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => Some(PemFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None) => None,
        _ => return Err("give cert and key together".into()),
    };
    if default.is_none() && tls.sni.is_empty() {
        return Err("no certificate: give cert and key, or sni entries".into());
    }
    Ok(TlsFiles {
        default,
        sni: tls
            .sni
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    PemFiles {
                        cert: s.cert.clone(),
                        key: s.key.clone(),
                    },
                )
            })
            .collect(),
    })
}

/// Reads the certificates and builds the acceptor the workers share.
#[cfg(test)]
fn acceptor(tls: &ListenerTls) -> Result<TlsAcceptor, String> {
    let files = files(tls)?;
    TlsAcceptor::from_files(&files).map_err(|e| e.to_string())
}

/// Watches one listener's certificate files and swaps them into its acceptor.
#[derive(Debug)]
pub struct Reloader {
    acceptor: TlsAcceptor,
    files: TlsFiles,
    seen: Vec<Option<SystemTime>>,
    poll: Duration,
    polled: Instant,
}

impl Reloader {
    /// Watches `files`, served by `acceptor`, checking their modification times every `poll`.
    pub fn new(acceptor: TlsAcceptor, files: TlsFiles, poll: Duration) -> Self {
        let seen = files.modified();
        Self {
            acceptor,
            files,
            seen,
            poll: poll.max(Duration::from_millis(100)),
            polled: Instant::now(),
        }
    }

    /// Reloads now (SIGHUP); logs the outcome.
    pub fn reload(&mut self, why: &str) -> Result<(), TlsError> {
        self.seen = self.files.modified();
        match self.acceptor.reload_files(&self.files) {
            Ok(()) => {
                tracing::info!(why, "TLS certificates reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::error!(why, error = %e, "TLS certificate reload refused; the certificates in use stay");
                Err(e)
            }
        }
    }

    /// Reloads if a file changed since the last look (at most once per poll interval).
    pub fn poll(&mut self) {
        if self.polled.elapsed() < self.poll {
            return;
        }
        self.polled = Instant::now();
        if self.files.modified() != self.seen {
            let _ = self.reload("certificate files changed");
        }
    }
}

/// Watches `[core.tls]`'s files (CA bundle, client certificate and key) and swaps a new client configuration
/// into the connector the workers and probes share: the next connections use it, established ones go on.
#[derive(Debug)]
pub struct CoreReloader {
    connector: ringmux::TlsConnector,
    table: crate::config::CoreTls,
    seen: Vec<Option<SystemTime>>,
    polled: Instant,
}

/// How often `[core.tls]`'s files are looked at.
const CORE_POLL: Duration = Duration::from_secs(5);

impl CoreReloader {
    /// Watches the files `table` names, for `connector`.
    pub fn new(connector: ringmux::TlsConnector, table: crate::config::CoreTls) -> Self {
        let seen = core_modified(&table);
        Self {
            connector,
            table,
            seen,
            polled: Instant::now(),
        }
    }

    /// Reloads now (SIGHUP); a configuration that cannot be built is logged and the one in use stays.
    pub fn reload(&mut self, why: &str) {
        self.seen = core_modified(&self.table);
        match crate::config::client_config(Some(&self.table)) {
            Ok(config) => {
                self.connector.reload(config);
                tracing::info!(why, "TLS settings toward the core reloaded");
            }
            Err(e) => {
                tracing::error!(why, error = %e, "TLS reload toward the core refused; the settings in use stay")
            }
        }
    }

    /// Reloads if a file changed since the last look (at most every few seconds).
    pub fn poll(&mut self) {
        if self.polled.elapsed() < CORE_POLL {
            return;
        }
        self.polled = Instant::now();
        if core_modified(&self.table) != self.seen {
            self.reload("core TLS files changed");
        }
    }
}

fn core_modified(t: &crate::config::CoreTls) -> Vec<Option<SystemTime>> {
    [&t.ca, &t.cert, &t.key]
        .into_iter()
        .map(|p| {
            p.as_ref()
                .and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SniCert;

    fn table(cert: &str, key: &str, sni: Vec<SniCert>) -> ListenerTls {
        let path = |p: &str| (!p.is_empty()).then(|| p.into());
        ListenerTls {
            cert: path(cert),
            key: path(key),
            sni,
            reload_poll: Duration::from_secs(5),
        }
    }

    #[test]
    fn files_need_cert_and_key_together_and_something_to_serve() {
        assert!(files(&table("c.pem", "", vec![])).is_err());
        assert!(files(&table("", "k.pem", vec![])).is_err());
        assert!(files(&table("", "", vec![])).is_err());
        let sni_only = files(&table(
            "",
            "",
            vec![SniCert {
                name: "a.test".into(),
                cert: "a.pem".into(),
                key: "ak.pem".into(),
            }],
        ))
        .unwrap();
        assert_eq!(sni_only.default, None);
        assert_eq!(sni_only.sni[0].0, "a.test");
        let both = files(&table("c.pem", "k.pem", vec![])).unwrap();
        assert_eq!(
            both.default.unwrap().cert,
            std::path::PathBuf::from("c.pem")
        );
    }

    #[test]
    fn a_bad_reload_keeps_the_old_certificates_and_a_change_is_noticed() {
        let dir = std::env::temp_dir().join(format!("sipedged-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        let make = || {
            let c = self_signed();
            std::fs::write(&cert, c.0).unwrap();
            std::fs::write(&key, c.1).unwrap();
        };
        make();
        let t = table(cert.to_str().unwrap(), key.to_str().unwrap(), vec![]);
        let acc = acceptor(&t).unwrap();
        let mut r = Reloader::new(acc, files(&t).unwrap(), Duration::ZERO);
        assert!(r.reload("test").is_ok());
        std::fs::write(&key, "garbage").unwrap();
        assert!(matches!(r.reload("test"), Err(TlsError::NoPrivateKey(_))));
        // The change is noticed by the poll (mtimes differ from what was seen).
        std::thread::sleep(Duration::from_millis(20));
        make();
        assert_ne!(r.files.modified(), r.seen);
        std::thread::sleep(Duration::from_millis(110));
        r.poll();
        assert_eq!(r.files.modified(), r.seen);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A self-signed certificate (ECDSA P-256): (cert PEM, key PEM).
    fn self_signed() -> (Vec<u8>, Vec<u8>) {
        let c = rcgen::generate_simple_self_signed(vec!["edge.test".to_owned()]).unwrap();
        (
            c.cert.pem().into_bytes(),
            c.signing_key.serialize_pem().into_bytes(),
        )
    }

    #[test]
    fn a_core_ca_reload_swaps_the_connectors_configuration_and_a_bad_one_keeps_it() {
        let dir = std::env::temp_dir().join(format!("sipedged-core-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, self_signed().0).unwrap();
        let table = crate::config::CoreTls {
            ca: Some(ca.clone()),
            cert: None,
            key: None,
            server_name: None,
        };
        let first = crate::config::client_config(Some(&table)).unwrap();
        let connector = ringmux::TlsConnector::new(first);
        let mut r = CoreReloader::new(connector.clone(), table);
        let before = connector.config();
        std::fs::write(&ca, self_signed().0).unwrap();
        r.reload("test");
        let after = connector.config();
        assert!(
            !std::sync::Arc::ptr_eq(&before, &after),
            "a new configuration"
        );
        std::fs::write(&ca, "not a certificate").unwrap();
        r.reload("test");
        assert!(
            std::sync::Arc::ptr_eq(&after, &connector.config()),
            "a bad CA file keeps the settings in use"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
