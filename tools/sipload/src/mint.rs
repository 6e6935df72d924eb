//! `sipload mint-token`: HS256 JWTs for sipedged's bearer or cookie authentication, one per line. Token
//! N names the SIP identity `sip:PREFIX<N>@DOMAIN` in the identity claim (sipedged binds it to the
//! flow: REGISTER's To and every From must then be that user), so with the default prefix `sl` the
//! Nth token fits the Nth sipload connection (`--token-file` gives connection i line i mod n).

use std::io::Write;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

use crate::cli::MintArgs;
use crate::error::RunError;

/// The claims of token `n`, issued at `now` (seconds since the Unix epoch).
pub fn claims(args: &MintArgs, n: u64, now: u64) -> Value {
    let mut c = Map::new();
    c.insert(
        args.identity_claim.clone(),
        Value::String(format!("sip:{}{n}@{}", args.user_prefix, args.domain)),
    );
    c.insert("iat".into(), now.into());
    c.insert("exp".into(), now.saturating_add(args.ttl).into());
    if let Some(aud) = &args.aud {
        c.insert("aud".into(), Value::String(aud.clone()));
    }
    Value::Object(c)
}

/// Token `n`.
pub fn mint(args: &MintArgs, key: &EncodingKey, n: u64, now: u64) -> Result<String, RunError> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(args, n, now), key)
        .map_err(|e| RunError::BadFlag(format!("cannot sign a token: {e}")))
}

/// Prints `--count` tokens on stdout.
pub fn run(args: &MintArgs) -> Result<(), RunError> {
    if args.secret.is_empty() {
        return Err(RunError::BadFlag("--secret must not be empty".into()));
    }
    if args.domain.is_empty() || args.domain.contains(['@', ' ']) {
        return Err(RunError::BadFlag(format!(
            "--domain {:?}: expected a SIP domain",
            args.domain
        )));
    }
    let key = EncodingKey::from_secret(args.secret.as_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let last = args.first.saturating_add(args.count);
    for n in args.first..last {
        let token = mint(args, &key, n, now)?;
        writeln!(out, "{token}").map_err(|e| RunError::BadFlag(format!("stdout: {e}")))?;
    }
    out.flush()
        .map_err(|e| RunError::BadFlag(format!("stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn tokens_name_the_indexed_user_and_verify() {
        let args = MintArgs {
            secret: "s3cret".into(),
            aud: Some("sipedge".into()),
            user_prefix: "sl".into(),
            domain: "example.test".into(),
            count: 2,
            first: 0,
            ttl: 600,
            identity_claim: "sip_aor".into(),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let t = mint(&args, &EncodingKey::from_secret(b"s3cret"), 7, now).unwrap();
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&["sipedge"]);
        let got = jsonwebtoken::decode::<Value>(&t, &DecodingKey::from_secret(b"s3cret"), &v)
            .unwrap()
            .claims;
        assert_eq!(got["sip_aor"], "sip:sl7@example.test");
        assert_eq!(got["exp"].as_u64(), Some(now + 600));
        assert!(
            jsonwebtoken::decode::<Value>(&t, &DecodingKey::from_secret(b"other"), &v).is_err()
        );
        let no_aud = MintArgs { aud: None, ..args };
        assert!(claims(&no_aud, 0, now).get("aud").is_none());
    }
}
