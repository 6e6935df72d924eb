//! TLS termination (rustls, `ring` provider) inside the workers, so that a handler sees plaintext on every
//! connection and may send to any of them without knowing which are TLS.
//!
//! A listener with [`Listener::tls`](crate::Listener::tls) set runs a server session on every accepted connection:
//! TLS 1.3 and 1.2, ALPN `http/1.1`, certificates chosen by SNI, resumption through stateless tickets (TLS
//! 1.3 and 1.2) and a session cache (TLS 1.2 session ids). Certificates are replaced with
//! [`TlsAcceptor::reload`]: the next handshake gets the new ones, established sessions go on untouched.
//!
//! Outbound connections run TLS as clients through a [`TlsConnector`] ([`Ctx::connect_tls`](crate::Ctx::connect_tls)):
//! the handler hears of the connection once the handshake completed, or of its failure as a
//! [`TlsConnectError`] in [`Handler::connect_failed`](crate::Handler::connect_failed).
//!
//! An idle session holds no I/O buffer (rustls's unbuffered API) and keeps its record keys as bytes, not as
//! expanded AEAD keys (`compact`). Once a server session's handshake is done, its record layer leaves rustls
//! (`records`): what an established session holds is its keys, sequence numbers and TLS 1.3 traffic secrets
//! (measured by `tests/tls_memory.rs`), and that is what a hand-over carries to another process
//! ([`TlsState`]).

mod certs;
mod compact;
mod connector;
mod keylog;
mod records;
pub(crate) mod session;
#[cfg(test)]
mod session_tests;
mod state;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::{ServerConfig, ServerSessionMemoryCache};

pub use certs::{Certificates, PemFiles, TlsFiles};
pub use connector::{TlsConnectError, TlsConnector};
pub use state::{TLS_STATE_VERSION, TlsState, TlsStateError};

/// TLS 1.2 sessions remembered by id (clients that do not take tickets), shared by all workers.
const SESSION_CACHE: usize = 16 * 1024;

/// Why certificates could not be loaded or the TLS configuration built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A PEM section is malformed (RFC 7468 textual encoding).
    #[error("{what}: malformed PEM: {source}")]
    Pem {
        /// Which file's content.
        what: String,
        /// The parser's complaint.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// No `CERTIFICATE` section where a certificate chain is expected.
    #[error("{0}: no CERTIFICATE in the certificate PEM")]
    NoCertificate(String),
    /// No private key section (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`).
    #[error("{0}: no private key in the key PEM")]
    NoPrivateKey(String),
    /// rustls refused the pair: an unsupported key type, or a key that is not the certificate's.
    #[error("{what}: certificate and key refused: {source}")]
    Rejected {
        /// Which entry.
        what: String,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
    /// An SNI entry names no valid DNS host name (RFC 6066 §3: `HostName` is a DNS name, no IP literal).
    #[error("SNI name {0:?} is not a DNS host name")]
    BadServerName(String),
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Config(#[source] rustls::Error),
}

/// The TLS side of a listener: the rustls configuration all workers share and the certificates it serves.
/// Cloning shares both (a reload through any clone is seen by all).
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    store: Arc<certs::CertStore>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Bytes of the session object each TLS connection has on the heap. Its parts add to it: keys, the
    /// state after the handshake, rustls's small buffers (about 2.3 KiB in all for an idle session; see
    /// `tests/tls_memory.rs`).
    pub const SESSION_BYTES: usize = std::mem::size_of::<session::TlsConn>();

    /// A TLS 1.3 + 1.2 server configuration serving `certs`.
    pub fn new(certs: Certificates) -> Result<Self, TlsError> {
        // `ring`'s suites in `ring`'s order; sessions keep their traffic keys as bytes (see `compact`).
        let provider = Arc::new(compact::provider());
        let store = Arc::new(certs::CertStore::new(certs));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(store.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Config)?;
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
        // Once a handshake is done, the session's record layer goes on without rustls (`records`): it needs
        // the traffic keys out of rustls, and for a TLS 1.3 KeyUpdate the traffic secrets as they are logged.
        config.enable_secret_extraction = true;
        config.key_log = Arc::new(keylog::CatchTrafficSecrets);
        Ok(Self {
            config: Arc::new(config),
            store,
        })
    }

    /// Reads the PEM files and builds the acceptor.
    pub fn from_files(files: &TlsFiles) -> Result<Self, TlsError> {
        Self::new(Certificates::load(files)?)
    }

    /// Serves `certs` from the next handshake on. Established sessions are not touched.
    pub fn reload(&self, certs: Certificates) {
        self.store.replace(certs);
    }

    /// Reads and checks `files`, then serves them; on any error the certificates in use stay.
    pub fn reload_files(&self, files: &TlsFiles) -> Result<(), TlsError> {
        let certs = Certificates::load(files)?;
        self.reload(certs);
        Ok(())
    }

    pub(crate) fn session(&self) -> Result<session::TlsConn, rustls::Error> {
        session::TlsConn::new(&self.config)
    }
}

/// Fuzzing entry (`fuzz/fuzz_targets/tls_state.rs`): `data` is a u16 length, a [`TlsState`] of that length and
/// records the session it gives receives (in pieces), then sends and closes. Panics when a state read is not
/// written back the same.
#[doc(hidden)]
pub fn fuzz_tls_state(data: &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let Some((state, records)) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))
    else {
        return;
    };
    let state = TlsState::from_bytes(state.to_vec());
    let Ok(mut conn) = session::TlsConn::import(&state) else {
        return;
    };
    assert_eq!(
        conn.export().as_ref(),
        Some(&state),
        "a state read is written back the same"
    );
    let (mut plain, mut out) = (Vec::new(), Vec::new());
    for piece in records.chunks(97) {
        let _ = conn.receive(&mut piece.to_vec(), &mut plain, &mut out);
    }
    let _ = conn.send(&[b'x'; 20_000], &mut out);
    conn.close_notify(&mut out);
}
