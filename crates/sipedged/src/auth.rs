//! Handshake authentication (RFC 7118 §7): the web application gives the browser a signed token (JWT) — in a
//! cookie, an `Authorization: Bearer` header, or an `access_token` query parameter (browser WebSocket APIs cannot
//! set headers) — and sipedge checks it once, at the upgrade, and binds the identity it names to the flow.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

mod keys;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keys::Keys;
use serde_json::Value;

use crate::config::{Auth, AuthMode};

/// Why a handshake was refused, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token where the listener looks for one.
    #[error("no credential (expected {0})")]
    Missing(&'static str),
    /// The token is not valid: not a JWT for our key and algorithm, from another issuer, or with a malformed
    /// `exp`.
    #[error("invalid token: {0}")]
    Invalid(InvalidToken),
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
}

/// Why a token is not valid (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    /// Not a JWT, or not signed with our key and algorithm (forged, corrupt, wrong key).
    #[error("{0}")]
    Jwt(String),
    /// `[auth] issuer` is set and the token's `iss` is missing or names another issuer.
    #[error("the iss claim does not name the configured issuer")]
    Issuer,
    /// `exp` is missing or not a non-negative integer (a NumericDate in whole seconds): a fraction, a string or a
    /// negative number would otherwise leave the flow without an expiry.
    #[error("the exp claim is missing or not a non-negative integer")]
    Expiry,
}

/// An authenticated identity, before it is put on the edge's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// User part of the AoR.
    pub user: String,
    /// Allowed domains (empty: any).
    pub domains: Vec<String>,
    /// How long the credential stays valid from now (its `exp` less the current time); always set, since a token
    /// without an integer `exp` is refused.
    pub expires_in: Option<std::time::Duration>,
}

/// Checks tokens for one listener.
#[derive(Clone)]
pub struct Authenticator {
    mode: AuthMode,
    cookie: String,
    keys: Option<Keys>,
    validation: Validation,
    identity_claim: String,
    domains_claim: String,
    /// After a reload that changed the key: the checker it replaced, and until when it still counts.
    previous: Option<(Box<Authenticator>, Instant)>,
    /// Tells keys apart (a hash of the algorithm and the secret or the public key file's bytes), so that a
    /// reload knows whether the key changed.
    key_id: u64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Build from the `[auth]` section, reading its key file now; the error names what is wrong with it.
    pub fn new(cfg: &Auth) -> Result<Self, AuthConfigError> {
        let algorithm = match cfg.algorithm {
            crate::config::Algorithm::HS256 => Algorithm::HS256,
            crate::config::Algorithm::RS256 => Algorithm::RS256,
            crate::config::Algorithm::ES256 => Algorithm::ES256,
        };
        let keys = match (cfg.mode, &cfg.jwks) {
            (AuthMode::None, _) => None,
            (_, Some(path)) => Some(Keys::from_jwks(path, algorithm)?),
            _ => Some(Keys::One(decoding_key(cfg, algorithm)?)),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = cfg.leeway.as_secs();
        validation.validate_nbf = true;
        match &cfg.audience {
            Some(audience) => validation.set_audience(&[audience.as_str()]),
            None => validation.validate_aud = false,
        }
        validation.required_spec_claims = ["exp".to_string()].into_iter().collect();
        if let Some(issuer) = &cfg.issuer {
            validation.set_issuer(&[issuer.as_str()]);
            validation.required_spec_claims.insert("iss".to_string());
        }
        Ok(Self {
            mode: cfg.mode,
            cookie: cfg.cookie.clone(),
            keys,
            validation,
            identity_claim: cfg.identity_claim.clone(),
            domains_claim: cfg.domains_claim.clone(),
            previous: None,
            key_id: key_id(cfg),
        })
    }

    /// After a reload that changed the key: tokens `old` accepts (signed with the key it had) are still accepted
    /// until `until` (`[auth] key_overlap`). Only the one checker before this one is kept.
    pub fn overlapping(mut self, old: &Authenticator, until: Instant) -> Self {
        let mut old = old.clone();
        old.previous = None;
        self.previous = Some((Box::new(old), until));
        self
    }

    /// This checker replacing `old` on a reload: when the key changed, `old` still counts until `until`;
    /// when it did not, an overlap `old` was in keeps running.
    pub fn replacing(mut self, old: &Authenticator, until: Instant) -> Self {
        if old.mode == AuthMode::None || old.key_id == self.key_id {
            self.previous.clone_from(&old.previous);
            return self;
        }
        self.overlapping(old, until)
    }

    /// Where credentials are looked for.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// Whether handshakes need a credential.
    pub fn required(&self) -> bool {
        self.mode != AuthMode::None
    }

    /// Check the credential of an upgrade request; `Ok(None)` when authentication is off. A token this key
    /// refuses as not signed with it is tried with the previous key, during the overlap after a reload.
    pub fn authenticate(&self, req: &wsproto::Request) -> Result<Option<Authenticated>, AuthError> {
        match self.check(req) {
            Err(AuthError::Invalid(InvalidToken::Jwt(e))) => match &self.previous {
                Some((old, until)) if Instant::now() < *until => old.check(req),
                _ => Err(AuthError::Invalid(InvalidToken::Jwt(e))),
            },
            other => other,
        }
    }

    fn check(&self, req: &wsproto::Request) -> Result<Option<Authenticated>, AuthError> {
        let Some(keys) = &self.keys else {
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
        let key = keys.for_token(token)?;
        let claims = jsonwebtoken::decode::<Value>(token, key, &self.validation)
            .map_err(decode_error)?
            .claims;
        // `exp` is required and checked by the decoder, which also takes a fraction; only whole seconds are
        // accepted here, so that every flow gets its expiry.
        let exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or(AuthError::Invalid(InvalidToken::Expiry))?;
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
            expires_in: Some(std::time::Duration::from_secs(
                exp.saturating_sub(unix_now()),
            )),
        }))
    }
}

/// A hash of what makes the key: the algorithm, and the secret or the public key file's bytes (unreadable: 0,
/// and [`Authenticator::new`] refuses it anyway).
fn key_id(cfg: &Auth) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (cfg.mode, cfg.algorithm as u8).hash(&mut h);
    cfg.secret.hash(&mut h);
    for path in [&cfg.public_key, &cfg.jwks].into_iter().flatten() {
        std::fs::read(path).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

/// The handshake error for a token the decoder refused.
fn decode_error(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => AuthError::Expired,
        ErrorKind::InvalidAudience => AuthError::Audience,
        ErrorKind::InvalidIssuer => AuthError::Invalid(InvalidToken::Issuer),
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => {
            AuthError::Invalid(InvalidToken::Issuer)
        }
        ErrorKind::MissingRequiredClaim(c) | ErrorKind::InvalidClaimFormat(c) if c == "exp" => {
            AuthError::Invalid(InvalidToken::Expiry)
        }
        _ => AuthError::Invalid(InvalidToken::Jwt(e.to_string())),
    }
}

/// The shortest HS256 secret accepted: a key as long as the hash output (RFC 7518 §3.2).
pub const MIN_HS256_SECRET: usize = 32;

/// The rules of `[auth]` that [`Authenticator::new`] does not need to build a checker, but that a deployment
/// must keep; [`crate::config::Plan::new`] reports them with the configuration's other problems.
pub fn config_problems(cfg: &Auth, allowed_origins: &[String]) -> Vec<AuthConfigError> {
    let mut problems = Vec::new();
    if cfg.mode == AuthMode::Cookie && allowed_origins.is_empty() {
        problems.push(AuthConfigError::CookieWithAnyOrigin);
    }
    if cfg.mode != AuthMode::None
        && cfg.algorithm == crate::config::Algorithm::HS256
        && let Some(secret) = &cfg.secret
        && secret.len() < MIN_HS256_SECRET
    {
        problems.push(AuthConfigError::ShortSecret(secret.len()));
    }
    if cfg.jwks.is_some() && (cfg.secret.is_some() || cfg.public_key.is_some()) {
        problems.push(AuthConfigError::JwksAndKey);
    }
    problems
}

/// Seconds since the Unix epoch now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `[auth]` section cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    /// HS256 without `secret`.
    #[error("auth.secret is needed for HS256")]
    NoSecret,
    /// An HS256 secret shorter than the hash (RFC 7518 §3.2): guessable offline from one token.
    #[error(
        "auth.secret is {0} bytes; HS256 needs at least {MIN_HS256_SECRET} (RFC 7518 §3.2), e.g. the output of \
         `openssl rand -base64 32`"
    )]
    ShortSecret(usize),
    /// A cookie is sent by the browser whichever site opens the WebSocket (cross-site WebSocket hijacking): cookie
    /// authentication needs the Origin check.
    #[error(
        "auth.mode = \"cookie\" needs [limits] allowed_origins: browsers send the cookie to a WebSocket opened by \
         any web site, so without an Origin allow-list any site could act as the signed-in user"
    )]
    CookieWithAnyOrigin,
    /// RS256 / ES256 without `public_key`.
    #[error("auth.public_key (a PEM file) is needed for {0}")]
    NoPublicKey(crate::config::Algorithm),
    /// A JWKS beside a secret or a public key: which checks a token would be unclear.
    #[error("auth.jwks replaces auth.secret and auth.public_key: set only one of them")]
    JwksAndKey,
    /// The JWKS file cannot be read, is not a JWK set, or holds no key for the algorithm.
    #[error("auth.jwks {path}: {error}")]
    Jwks {
        /// The file.
        path: String,
        /// What is wrong with it.
        error: String,
    },
    /// The key file cannot be read or is not a key of the algorithm.
    #[error("auth.public_key {path}: {error}")]
    PublicKey {
        /// The file.
        path: String,
        /// What is wrong with it.
        error: String,
    },
}

/// The key that checks signatures, from the secret or the public key file.
fn decoding_key(cfg: &Auth, algorithm: Algorithm) -> Result<DecodingKey, AuthConfigError> {
    if algorithm == Algorithm::HS256 {
        let secret = cfg.secret.as_ref().ok_or(AuthConfigError::NoSecret)?;
        return Ok(DecodingKey::from_secret(secret.as_bytes()));
    }
    let path = cfg
        .public_key
        .as_ref()
        .ok_or(AuthConfigError::NoPublicKey(cfg.algorithm))?;
    let bad = |error: String| AuthConfigError::PublicKey {
        path: path.display().to_string(),
        error,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    match algorithm {
        Algorithm::RS256 => DecodingKey::from_rsa_pem(&pem),
        _ => DecodingKey::from_ec_pem(&pem),
    }
    .map_err(|e| bad(e.to_string()))
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
