//! The keys that check token signatures: one (`[auth] secret` or `public_key`), or a set read from a local JWKS
//! file (`[auth] jwks`, RFC 7517), where a token names its key by the `kid` in its header. A set lets a web
//! application rotate keys without a reload: publish the new key beside the old, sign with it, drop the old one
//! later; the file is read again when it changes.

use std::path::Path;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};

use super::{AuthConfigError, AuthError, InvalidToken};

/// The keys of an authenticator.
#[derive(Clone)]
pub enum Keys {
    /// One key: every token is checked with it.
    One(DecodingKey),
    /// A JWKS: a token's `kid` picks its key (a token without one is taken only by a set of one key).
    Set(Vec<(Option<String>, DecodingKey)>),
}

impl Keys {
    /// Read a JWKS file: every key in it usable for `algorithm` (a key whose `alg` names another is left out).
    pub fn from_jwks(path: &Path, algorithm: Algorithm) -> Result<Self, AuthConfigError> {
        let bad = |error: String| AuthConfigError::Jwks {
            path: path.display().to_string(),
            error,
        };
        let text = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let set: JwkSet = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let mut keys = Vec::with_capacity(set.keys.len());
        for jwk in &set.keys {
            let alg = jwk.common.key_algorithm.map(|a| format!("{a:?}"));
            if alg.is_some_and(|a| a != format!("{algorithm:?}")) {
                continue;
            }
            let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                bad(format!(
                    "key {:?}: {e}",
                    jwk.common.key_id.as_deref().unwrap_or("")
                ))
            })?;
            keys.push((jwk.common.key_id.clone(), key));
        }
        if keys.is_empty() {
            return Err(bad(format!("no key for {algorithm:?}")));
        }
        Ok(Self::Set(keys))
    }

    /// The key that checks `token`.
    pub fn for_token(&self, token: &str) -> Result<&DecodingKey, AuthError> {
        let keys = match self {
            Self::One(k) => return Ok(k),
            Self::Set(keys) => keys,
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::Invalid(InvalidToken::Jwt(e.to_string())))?;
        let found = match (&header.kid, keys.as_slice()) {
            (Some(kid), _) => keys.iter().find(|(k, _)| k.as_deref() == Some(kid)),
            (None, [only]) => Some(only),
            (None, _) => None,
        };
        found.map(|(_, k)| k).ok_or_else(|| {
            AuthError::Invalid(InvalidToken::Jwt(match header.kid {
                Some(kid) => format!("no key {kid:?} in the JWKS"),
                None => "the token names no kid and the JWKS holds several keys".into(),
            }))
        })
    }
}
