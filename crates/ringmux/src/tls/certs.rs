//! Server certificates: PEM loading, the choice by SNI (RFC 6066 §3 `server_name`), and the atomic swap a
//! reload makes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemFiles {
    /// The chain: end-entity certificate first, then intermediates.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Every certificate file a TLS listener serves: a default and any number chosen by SNI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Served when the client sends no SNI or one no entry names. `None`: such handshakes fail
    /// (`unrecognized_name`).
    pub default: Option<PemFiles>,
    /// Host names (`edge.example.com`, or `*.example.com` for one label) and their certificates.
    pub sni: Vec<(String, PemFiles)>,
}

impl TlsFiles {
    /// Every file named, in order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.default
            .iter()
            .chain(self.sni.iter().map(|(_, f)| f))
            .flat_map(|f| [f.cert.as_path(), f.key.as_path()])
    }

    /// The modification time of every file (`None` for one that cannot be read): what a watcher compares
    /// to notice a change.
    pub fn modified(&self) -> Vec<Option<SystemTime>> {
        self.paths()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }
}

/// A set of certificates, checked and ready to serve.
#[derive(Debug, Clone, Default)]
pub struct Certificates {
    default: Option<Arc<CertifiedKey>>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses a PEM chain and key and checks that the key belongs to the end-entity certificate.
fn certified_key(cert_pem: &[u8], key_pem: &[u8], what: &str) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            what: format!("{what} certificate"),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(what.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey(what.to_owned()),
        source => TlsError::Pem {
            what: format!("{what} key"),
            source,
        },
    })?;
    // `from_der` loads the key and refuses a key that is not the certificate's.
    CertifiedKey::from_der(chain, key, &provider()).map_err(|source| TlsError::Rejected {
        what: what.to_owned(),
        source,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// An SNI name as the client sends it: ASCII, lowercase, no trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Certificates {
    /// A set with one default certificate (PEM chain and key).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        Ok(Self {
            default: Some(Arc::new(certified_key(cert_pem, key_pem, "default")?)),
            by_name: HashMap::new(),
        })
    }

    /// Adds a certificate served to clients asking for `name` (`*.example.com` matches one label).
    pub fn with_sni(
        mut self,
        name: &str,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, TlsError> {
        let name = normalize(name);
        let label = name.strip_prefix("*.").unwrap_or(&name);
        if label.is_empty() || rustls_pki_types::DnsName::try_from(label).is_err() {
            return Err(TlsError::BadServerName(name));
        }
        let key = certified_key(cert_pem, key_pem, &name)?;
        self.by_name.insert(name, Arc::new(key));
        Ok(self)
    }

    /// Reads and checks every file of `files`.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let mut set = match &files.default {
            Some(f) => Self::from_pem(&read(&f.cert)?, &read(&f.key)?)?,
            None => Self::default(),
        };
        for (name, f) in &files.sni {
            set = set.with_sni(name, &read(&f.cert)?, &read(&f.key)?)?;
        }
        if set.default.is_none() && set.by_name.is_empty() {
            return Err(TlsError::NoCertificate("listener".into()));
        }
        Ok(set)
    }

    /// The certificate for a client that asked for `sni`: the exact name, else the wildcard one label up,
    /// else the default.
    pub(crate) fn choose(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = sni {
            let name = normalize(name);
            if let Some(k) = self.by_name.get(&name) {
                return Some(k.clone());
            }
            if let Some((_, parent)) = name.split_once('.')
                && let Some(k) = self.by_name.get(&format!("*.{parent}"))
            {
                return Some(k.clone());
            }
        }
        self.default.clone()
    }
}

/// The resolver rustls asks at each handshake; a reload swaps the set it reads.
#[derive(Debug)]
pub(crate) struct CertStore {
    current: RwLock<Arc<Certificates>>,
}

impl CertStore {
    pub(crate) fn new(certs: Certificates) -> Self {
        Self {
            current: RwLock::new(Arc::new(certs)),
        }
    }

    /// Serves `certs` from the next handshake on; handshakes in progress keep what they chose.
    pub(crate) fn replace(&self, certs: Certificates) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(certs);
    }

    fn current(&self) -> Arc<Certificates> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current().choose(hello.server_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(names: &[&str]) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(
            names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn sni_picks_exact_then_wildcard_then_default() {
        let (dc, dk) = pem(&["default.test"]);
        let (ac, ak) = pem(&["a.test"]);
        let (wc, wk) = pem(&["x.b.test"]);
        let set = Certificates::from_pem(dc.as_bytes(), dk.as_bytes())
            .unwrap()
            .with_sni("A.test.", ac.as_bytes(), ak.as_bytes())
            .unwrap()
            .with_sni("*.b.test", wc.as_bytes(), wk.as_bytes())
            .unwrap();
        let der = |k: Option<Arc<CertifiedKey>>| k.unwrap().cert[0].clone();
        let default = der(set.choose(None));
        assert_eq!(
            der(set.choose(Some("a.test"))),
            der(set.choose(Some("A.TEST")))
        );
        assert_ne!(der(set.choose(Some("a.test"))), default);
        assert_ne!(der(set.choose(Some("x.b.test"))), default);
        assert_ne!(
            der(set.choose(Some("x.b.test"))),
            der(set.choose(Some("a.test")))
        );
        assert_eq!(
            der(set.choose(Some("y.x.b.test"))),
            default,
            "a wildcard covers one label"
        );
        assert_eq!(der(set.choose(Some("other.test"))), default);
    }

    #[test]
    fn bad_material_is_refused_naming_the_rule() {
        let (c1, k1) = pem(&["one.test"]);
        let (_, k2) = pem(&["two.test"]);
        assert!(matches!(
            Certificates::from_pem(c1.as_bytes(), k2.as_bytes()),
            Err(TlsError::Rejected { .. })
        ));
        assert!(matches!(
            Certificates::from_pem(b"", k1.as_bytes()),
            Err(TlsError::NoCertificate(_))
        ));
        assert!(matches!(
            Certificates::from_pem(c1.as_bytes(), c1.as_bytes()),
            Err(TlsError::NoPrivateKey(_))
        ));
        assert!(matches!(
            Certificates::default().with_sni("bad name!", c1.as_bytes(), k1.as_bytes()),
            Err(TlsError::BadServerName(_))
        ));
        let missing = TlsFiles {
            default: Some(PemFiles {
                cert: "/nonexistent/cert.pem".into(),
                key: "/nonexistent/key.pem".into(),
            }),
            sni: Vec::new(),
        };
        assert!(matches!(
            Certificates::load(&missing),
            Err(TlsError::Read { .. })
        ));
        assert_eq!(missing.modified(), vec![None, None]);
    }

    #[test]
    fn replace_swaps_what_the_next_handshake_gets() {
        let (c1, k1) = pem(&["one.test"]);
        let (c2, k2) = pem(&["one.test"]);
        let store = CertStore::new(Certificates::from_pem(c1.as_bytes(), k1.as_bytes()).unwrap());
        let before = store.current().choose(None).unwrap().cert[0].clone();
        store.replace(Certificates::from_pem(c2.as_bytes(), k2.as_bytes()).unwrap());
        assert_ne!(store.current().choose(None).unwrap().cert[0], before);
    }
}
