//! How a worker reaches the target: the URL, TLS for `wss://` (one client configuration per process,
//! so its session cache is shared by every connection), and the credential each connection presents
//! at the upgrade (a bearer token in a header or the query, a cookie).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use wsproto::deflate::DeflateConfig;

use crate::cli::EngineArgs;
use crate::error::RunError;
use crate::target::Target;
use crate::tls::{self, Trust};
use crate::wire::WireTotals;

/// What each connection presents at the upgrade.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Bearer tokens; connection `i` uses `tokens[i % len]`. Empty: none.
    tokens: Vec<String>,
    /// Put the token in `?access_token=` instead of `Authorization: Bearer`.
    query: bool,
    /// `NAME=VALUE` sent as a `Cookie` header.
    cookie: Option<String>,
}

/// Reads a token file: one token per line; blank lines and `#` comments are skipped.
pub fn read_tokens(path: &Path) -> Result<Vec<String>, RunError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RunError::BadFlag(format!("--token-file {}: {e}", path.display())))?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(RunError::BadFlag(format!(
            "--token-file {}: no token in it",
            path.display()
        )));
    }
    if let Some(bad) = tokens.iter().find(|t| !is_token_text(t)) {
        return Err(RunError::BadFlag(format!(
            "--token-file {}: {:.20}... is not a token (letters, digits, -._~+/= only)",
            path.display(),
            bad
        )));
    }
    Ok(tokens)
}

/// A JWT (or any bearer token, RFC 6750 §2.1 b64token) that can go into a header or a query as is.
fn is_token_text(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
}

impl Credentials {
    /// From the flags.
    pub fn from_args(args: &EngineArgs) -> Result<Self, RunError> {
        let tokens = match (&args.token, &args.token_file) {
            (Some(t), None) => {
                if !is_token_text(t) {
                    return Err(RunError::BadFlag(
                        "--token: not a token (letters, digits, -._~+/= only)".into(),
                    ));
                }
                vec![t.clone()]
            }
            (None, Some(path)) => read_tokens(path)?,
            (None, None) => Vec::new(),
            (Some(_), Some(_)) => {
                return Err(RunError::BadFlag(
                    "give --token or --token-file, not both".into(),
                ));
            }
        };
        if args.token_query && tokens.is_empty() {
            return Err(RunError::BadFlag(
                "--token-query needs --token or --token-file".into(),
            ));
        }
        if let Some(c) = &args.cookie {
            let ok = c.split_once('=').is_some_and(|(n, v)| {
                !n.trim().is_empty() && !c.contains(['\r', '\n']) && !v.is_empty()
            });
            if !ok {
                return Err(RunError::BadFlag(format!(
                    "--cookie {c:?}: expected NAME=VALUE"
                )));
            }
        }
        Ok(Self {
            tokens,
            query: args.token_query,
            cookie: args.cookie.clone(),
        })
    }

    fn token(&self, index: u64) -> Option<&str> {
        let n = self.tokens.len() as u64;
        if n == 0 {
            return None;
        }
        self.tokens
            .get(usize::try_from(index % n).unwrap_or(0))
            .map(String::as_str)
    }
}

/// The target, its TLS client, the credentials and the permessage-deflate offer, shared by a worker's
/// connections, with the totals of the bytes they moved.
#[derive(Clone)]
pub struct Connector {
    target: Target,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    credentials: Credentials,
    deflate: Option<DeflateConfig>,
    totals: Arc<WireTotals>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("target", &self.target.url)
            .field("tls", &self.tls.is_some())
            .field("deflate", &self.deflate)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// From the flags: reads `--ca` and the token file; every problem is a [`RunError`], never a panic.
    pub fn from_args(args: &EngineArgs) -> Result<Self, RunError> {
        let target = args.target.clone();
        let tls = if target.tls {
            let trust = match (&args.ca, args.insecure) {
                (Some(path), _) => Trust::CaFile(path.clone()),
                (None, true) => Trust::Insecure,
                (None, false) => Trust::System,
            };
            let config = tls::client_config(&trust, !args.no_resume)
                .map_err(|e| RunError::BadFlag(e.to_string()))?;
            let name = tls::server_name(&target.hostname).map_err(RunError::BadFlag)?;
            Some((TlsConnector::from(config), name))
        } else {
            if args.ca.is_some() || args.insecure || args.no_resume {
                return Err(RunError::BadFlag(
                    "--ca, --insecure and --no-resume are for wss:// targets".into(),
                ));
            }
            None
        };
        Ok(Self {
            target,
            tls,
            credentials: Credentials::from_args(args)?,
            deflate: args.deflate.config(),
            totals: Arc::default(),
        })
    }

    /// The permessage-deflate offer every connection makes (`None`: no offer).
    pub fn deflate(&self) -> Option<DeflateConfig> {
        self.deflate
    }

    /// What this worker's connections moved, and what became of their deflate offers.
    pub fn totals(&self) -> &Arc<WireTotals> {
        &self.totals
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `wss://`: the TLS connector and the name to ask for (SNI) and check the certificate against.
    pub fn tls(&self) -> Option<&(TlsConnector, ServerName<'static>)> {
        self.tls.as_ref()
    }

    /// The request-target of connection `index` (with `access_token=` for `--token-query`).
    pub fn path_for(&self, index: u64) -> Cow<'_, str> {
        let path = self.target.path.as_str();
        match self.credentials.token(index) {
            Some(t) if self.credentials.query => {
                let sep = if path.contains('?') { '&' } else { '?' };
                Cow::Owned(format!("{path}{sep}access_token={t}"))
            }
            _ => Cow::Borrowed(path),
        }
    }

    /// Adds connection `index`'s credential headers to an Upgrade request `out` that ends with its
    /// blank line.
    pub fn add_headers(&self, index: u64, out: &mut Vec<u8>) {
        let bearer = self
            .credentials
            .token(index)
            .filter(|_| !self.credentials.query);
        if bearer.is_none() && self.credentials.cookie.is_none() {
            return;
        }
        if out.ends_with(b"\r\n\r\n") {
            out.truncate(out.len() - 2);
        }
        let mut extra = String::new();
        if let Some(t) = bearer {
            let _ = write!(extra, "Authorization: Bearer {t}\r\n");
        }
        if let Some(c) = &self.credentials.cookie {
            let _ = write!(extra, "Cookie: {c}\r\n");
        }
        extra.push_str("\r\n");
        out.extend_from_slice(extra.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(target: &str, tokens: &[&str], query: bool, cookie: Option<&str>) -> Connector {
        Connector {
            target: target.parse().unwrap(),
            tls: None,
            credentials: Credentials {
                tokens: tokens.iter().map(|t| (*t).to_owned()).collect(),
                query,
                cookie: cookie.map(str::to_owned),
            },
            deflate: None,
            totals: Arc::default(),
        }
    }

    #[test]
    fn bearer_header_per_connection_index() {
        let c = connector(
            "ws://127.0.0.1:1/ws",
            &["aa.bb.cc", "dd.ee.ff"],
            false,
            None,
        );
        let mut out = b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        c.add_headers(3, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer dd.ee.ff\r\n\r\n"
        );
        assert_eq!(c.path_for(3), "/ws");
    }

    #[test]
    fn query_token_and_cookie() {
        let c = connector("ws://127.0.0.1:1/ws?a=1", &["t1"], true, Some("sid=xyz"));
        assert_eq!(c.path_for(0), "/ws?a=1&access_token=t1");
        let mut out = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        c.add_headers(0, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("Authorization"), "{text}");
        assert!(text.ends_with("Cookie: sid=xyz\r\n\r\n"), "{text}");
        let none = connector("ws://127.0.0.1:1/", &[], false, None);
        let mut out = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        none.add_headers(0, &mut out);
        assert_eq!(out, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(none.path_for(5), "/");
    }

    #[test]
    fn token_files() {
        let dir = std::env::temp_dir().join(format!("sipload-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t.txt");
        std::fs::write(&f, "# minted\na.b.c\n\n d.e.f \n").unwrap();
        assert_eq!(read_tokens(&f).unwrap(), vec!["a.b.c", "d.e.f"]);
        std::fs::write(&f, "\n# nothing\n").unwrap();
        assert!(
            read_tokens(&f)
                .unwrap_err()
                .to_string()
                .contains("no token")
        );
        std::fs::write(&f, "a b\n").unwrap();
        assert!(
            read_tokens(&f)
                .unwrap_err()
                .to_string()
                .contains("not a token")
        );
        assert!(read_tokens(&dir.join("none")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
