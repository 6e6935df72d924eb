//! Handshake authentication (RFC 7118 §7): the web application gives the browser a signed token (JWT) — in a
//! cookie, an `Authorization: Bearer` header, or an `access_token` query parameter (browser WebSocket APIs cannot
//! set headers) — and sipedge checks it once, at the upgrade, and binds the identity it names to the flow.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::config::{Auth, AuthMode};

/// Why a handshake was refused, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token where the listener looks for one.
    #[error("no credential (expected {0})")]
    Missing(&'static str),
    /// The token is not a valid JWT for our key and algorithms (forged, corrupt, wrong key).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// `exp` has passed (or `nbf` not yet come).
    #[error("token expired or not yet valid")]
    Expired,
    /// `aud` does not name this service.
    #[error("token audience does not match")]
    Audience,
    /// The token names no SIP identity.
    #[error("token has no `{0}` claim naming the SIP identity")]
    NoIdentity(String),
}

impl AuthError {
    /// 401 when the client should (re)authenticate, 403 when the credential is valid but not for this.
    pub fn status(&self) -> u16 {
        match self {
            Self::Missing(_) | Self::Invalid(_) | Self::Expired => 401,
            Self::Audience | Self::NoIdentity(_) => 403,
        }
    }

    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Missing(_) => "auth_missing",
            Self::Invalid(_) => "auth_invalid",
            Self::Expired => "auth_expired",
            Self::Audience => "auth_audience",
            Self::NoIdentity(_) => "auth_identity",
        }
    }
}

/// An authenticated identity, before it is put on the edge's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// User part of the AoR.
    pub user: String,
    /// Allowed domains (empty: any).
    pub domains: Vec<String>,
    /// `exp`, in seconds since the Unix epoch.
    pub exp: Option<u64>,
}

/// Checks tokens for one listener.
pub struct Authenticator {
    mode: AuthMode,
    cookie: String,
    key: Option<DecodingKey>,
    validation: Validation,
    identity_claim: String,
    domains_claim: String,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Build from the `[auth]` section; the error names what is wrong with it.
    pub fn new(cfg: &Auth) -> Result<Self, String> {
        let algorithm = match cfg.algorithm.as_str() {
            "HS256" => Algorithm::HS256,
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            other => {
                return Err(format!(
                    "auth.algorithm {other:?}: use HS256, RS256 or ES256"
                ));
            }
        };
        let key = match cfg.mode {
            AuthMode::None => None,
            _ => Some(match algorithm {
                Algorithm::HS256 if cfg.secret.is_empty() => {
                    return Err("auth.secret is needed for HS256".into());
                }
                Algorithm::HS256 => DecodingKey::from_secret(cfg.secret.as_bytes()),
                Algorithm::RS256 => {
                    DecodingKey::from_rsa_pem(read_pem(&cfg.public_key)?.as_bytes())
                        .map_err(|e| format!("auth.public_key: {e}"))?
                }
                _ => DecodingKey::from_ec_pem(read_pem(&cfg.public_key)?.as_bytes())
                    .map_err(|e| format!("auth.public_key: {e}"))?,
            }),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = cfg.leeway.as_secs();
        validation.validate_nbf = true;
        if cfg.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&[cfg.audience.as_str()]);
        }
        validation.required_spec_claims = ["exp".to_string()].into_iter().collect();
        Ok(Self {
            mode: cfg.mode,
            cookie: cfg.cookie.clone(),
            key,
            validation,
            identity_claim: cfg.identity_claim.clone(),
            domains_claim: cfg.domains_claim.clone(),
        })
    }

    /// Whether handshakes need a credential.
    pub fn required(&self) -> bool {
        self.mode != AuthMode::None
    }

    /// Check the credential of an upgrade request; `Ok(None)` when authentication is off.
    pub fn authenticate(&self, req: &wsproto::Request) -> Result<Option<Authenticated>, AuthError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let token = match self.mode {
            AuthMode::None => return Ok(None),
            AuthMode::Cookie => req
                .cookie
                .as_deref()
                .and_then(|c| cookie_value(c, &self.cookie))
                .ok_or(AuthError::Missing("a session cookie"))?,
            AuthMode::Bearer => req
                .authorization
                .as_deref()
                .and_then(|a| {
                    a.strip_prefix("Bearer ")
                        .or_else(|| a.strip_prefix("bearer "))
                })
                .map(str::trim)
                .or_else(|| query_param(&req.path, "access_token"))
                .ok_or(AuthError::Missing(
                    "Authorization: Bearer or ?access_token=",
                ))?,
        };
        let data = jsonwebtoken::decode::<Value>(token, key, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => AuthError::Expired,
                ErrorKind::InvalidAudience => AuthError::Audience,
                _ => AuthError::Invalid(e.to_string()),
            }
        })?;
        let claims = data.claims;
        let identity = claims
            .get(&self.identity_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| AuthError::NoIdentity(self.identity_claim.clone()))?;
        let aor = identity
            .strip_prefix("sips:")
            .or_else(|| identity.strip_prefix("sip:"))
            .unwrap_or(identity);
        let (user, domain) = match aor.split_once('@') {
            Some((u, d)) => (u, Some(d)),
            None => (aor, None),
        };
        if user.is_empty() {
            return Err(AuthError::NoIdentity(self.identity_claim.clone()));
        }
        let mut domains: Vec<String> = match claims.get(&self.domains_claim) {
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(d)) => vec![d.clone()],
            _ => Vec::new(),
        };
        if let Some(d) = domain
            && !domains.iter().any(|x| x.eq_ignore_ascii_case(d))
        {
            domains.push(d.to_owned());
        }
        Ok(Some(Authenticated {
            user: user.to_owned(),
            domains,
            exp: claims.get("exp").and_then(Value::as_u64),
        }))
    }
}

/// Seconds since the Unix epoch now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn read_pem(path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Err("auth.public_key (a PEM file) is needed for RS256/ES256".into());
    }
    std::fs::read_to_string(path).map_err(|e| format!("auth.public_key {path}: {e}"))
}

/// The value of cookie `name` in a Cookie header (RFC 6265 §5.4: `name=value; name2=value2`).
fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// The value of query parameter `name` in a request-target (no percent-decoding: JWTs are URL-safe).
fn query_param<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = target.split_once('?')?;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests;
