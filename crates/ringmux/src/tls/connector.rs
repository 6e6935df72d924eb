//! [`TlsConnector`]: the client side of TLS for outbound connections ([`Ctx::connect_tls`](crate::Ctx::connect_tls)).
//!
//! The caller builds the `rustls::ClientConfig` (trusted roots, a client certificate for mutual TLS, versions,
//! ALPN); ringmux only runs sessions with it. One connector is shared by every worker; its config's session
//! store (rustls's in-memory store by default) lets a later connection to the same server resume.

use std::sync::{Arc, PoisonError, RwLock};

use rustls::ClientConfig;
use rustls_pki_types::ServerName;

use super::session::TlsConn;

/// The TLS client settings outbound connections use. Cloning is cheap and shares the settings: a
/// [`reload`](Self::reload) through any clone is seen by all, from the next connection on.
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<RwLock<Arc<ClientConfig>>>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let config = self.config();
        f.debug_struct("TlsConnector")
            .field("alpn", &config.alpn_protocols)
            .field("client_auth", &config.client_auth_cert_resolver.has_certs())
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// A connector running sessions with `config`.
    pub fn new(config: impl Into<Arc<ClientConfig>>) -> Self {
        Self {
            config: Arc::new(RwLock::new(config.into())),
        }
    }

    /// Uses `config` from the next connection on (new roots or client certificate); established connections go
    /// on with the settings they started with. Sessions stored by the old config resume only if the new one
    /// shares its session store (`ClientConfig::resumption`).
    pub fn reload(&self, config: impl Into<Arc<ClientConfig>>) {
        let config = config.into();
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = config;
    }

    /// The settings new connections get.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn session(&self, name: ServerName<'static>) -> Result<TlsConn, rustls::Error> {
        TlsConn::client(self.config(), name)
    }
}

/// Why an outbound TLS connection failed before it opened: the error inside the `io::Error` that
/// [`Handler::connect_failed`](crate::Handler::connect_failed) receives (`error.get_ref()` downcasts to it).
/// Socket errors (refused, reset) come as plain OS errors instead.
#[derive(Debug, thiserror::Error)]
pub enum TlsConnectError {
    /// rustls refused the handshake (RFC 8446 §6 alerts): a certificate not valid for the name, signed by an
    /// unknown CA, expired; an alert from the server; a protocol violation.
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] rustls::Error),
    /// The handshake did not complete within [`Config::tls_handshake_timeout`](crate::Config::tls_handshake_timeout)
    /// of the connect (a server that accepts TCP but never answers the ClientHello).
    #[error("TLS handshake not complete within {0:?}")]
    Timeout(std::time::Duration),
    /// The server closed the connection before the handshake completed, with no alert.
    #[error("peer closed the connection during the TLS handshake")]
    PeerClosed,
}

impl TlsConnectError {
    /// The `io::Error` handed to the handler, of a kind that fits the cause.
    pub(crate) fn into_io(self) -> std::io::Error {
        let kind = match &self {
            Self::Handshake(_) => std::io::ErrorKind::InvalidData,
            Self::Timeout(_) => std::io::ErrorKind::TimedOut,
            Self::PeerClosed => std::io::ErrorKind::UnexpectedEof,
        };
        std::io::Error::new(kind, self)
    }
}
