use super::*;
use crate::config::{Auth, AuthMode};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

const SECRET: &str = "unit-test-secret-of-32-bytes-abc";

fn cfg(mode: AuthMode) -> Auth {
    Auth {
        mode,
        secret: Some(SECRET.into()),
        audience: Some("sipedge".into()),
        ..Auth::default()
    }
}

fn hs256(claims: serde_json::Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn request(path: &str, cookie: Option<&str>, authorization: Option<&str>) -> wsproto::Request {
    wsproto::Request {
        path: path.into(),
        host: "edge".into(),
        origin: None,
        cookie: cookie.map(Into::into),
        authorization: authorization.map(Into::into),
        x_forwarded_for: None,
        offered_subprotocols: vec!["sip".into()],
        subprotocol: Some("sip".into()),
        deflate: None,
        accept: String::new(),
        leftover: Vec::new(),
    }
}

fn valid_claims() -> serde_json::Value {
    json!({"sip_aor": "sip:alice@example.com", "aud": "sipedge", "exp": unix_now() + 600})
}

#[test]
fn bearer_header_and_query_parameter() {
    let a = Authenticator::new(&cfg(AuthMode::Bearer)).unwrap();
    let t = hs256(valid_claims());
    let id = a
        .authenticate(&request("/", None, Some(&format!("Bearer {t}"))))
        .unwrap()
        .unwrap();
    assert_eq!(id.user, "alice");
    assert_eq!(id.domains, vec!["example.com".to_string()]);
    let id = a
        .authenticate(&request(&format!("/?x=1&access_token={t}"), None, None))
        .unwrap()
        .unwrap();
    assert_eq!(id.user, "alice");
    // A cookie does not count in bearer mode.
    let err = a
        .authenticate(&request("/", Some(&format!("sipedge_token={t}")), None))
        .unwrap_err();
    assert_eq!(err.status(), 401);
}

#[test]
fn cookie_mode_reads_the_named_cookie_only() {
    let a = Authenticator::new(&cfg(AuthMode::Cookie)).unwrap();
    let t = hs256(valid_claims());
    let ok = a.authenticate(&request(
        "/",
        Some(&format!("theme=dark; sipedge_token={t}; x=y")),
        None,
    ));
    assert_eq!(ok.unwrap().unwrap().user, "alice");
    let err = a
        .authenticate(&request("/", None, Some(&format!("Bearer {t}"))))
        .unwrap_err();
    assert_eq!(err, AuthError::Missing("a session cookie"));
}

#[test]
fn expired_wrong_audience_forged_and_missing_identity() {
    let a = Authenticator::new(&cfg(AuthMode::Bearer)).unwrap();
    let bearer = |t: String| request("/", None, Some(&format!("Bearer {t}")));
    let expired = hs256(json!({"sip_aor": "alice", "aud": "sipedge", "exp": unix_now() - 3600}));
    assert_eq!(
        a.authenticate(&bearer(expired)).unwrap_err(),
        AuthError::Expired
    );
    let not_yet = hs256(
        json!({"sip_aor": "alice", "aud": "sipedge", "exp": unix_now() + 7200, "nbf": unix_now() + 3600}),
    );
    assert_eq!(
        a.authenticate(&bearer(not_yet)).unwrap_err(),
        AuthError::Expired
    );
    let other_aud =
        hs256(json!({"sip_aor": "alice", "aud": "someone-else", "exp": unix_now() + 600}));
    let e = a.authenticate(&bearer(other_aud)).unwrap_err();
    assert_eq!((e.clone(), e.status()), (AuthError::Audience, 403));
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &valid_claims(),
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    let e = a.authenticate(&bearer(forged)).unwrap_err();
    assert!(
        matches!(e, AuthError::Invalid(_)) && e.status() == 401,
        "{e:?}"
    );
    let no_id = hs256(json!({"aud": "sipedge", "exp": unix_now() + 600}));
    assert_eq!(a.authenticate(&bearer(no_id)).unwrap_err().status(), 403);
    let garbage = a.authenticate(&bearer("not.a.jwt".into())).unwrap_err();
    assert_eq!(garbage.status(), 401);
}

#[test]
fn user_only_identity_with_domains_claim() {
    let a = Authenticator::new(&cfg(AuthMode::Bearer)).unwrap();
    let t = hs256(
        json!({"sip_aor": "bob", "sip_domains": ["a.test", "b.test"], "aud": "sipedge", "exp": unix_now() + 60}),
    );
    let id = a
        .authenticate(&request("/", None, Some(&format!("Bearer {t}"))))
        .unwrap()
        .unwrap();
    assert_eq!((id.user.as_str(), id.domains.len()), ("bob", 2));
}

fn key_path(name: &str) -> String {
    format!("{}/src/auth/testkeys/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn es256_and_rs256_with_pem_keys() {
    for (alg, private, public) in [
        (Algorithm::ES256, "ec-private.pem", "ec-public.pem"),
        (Algorithm::RS256, "rsa-private.pem", "rsa-public.pem"),
    ] {
        let (name, algorithm) = if alg == Algorithm::ES256 {
            ("ES256", crate::config::Algorithm::ES256)
        } else {
            ("RS256", crate::config::Algorithm::RS256)
        };
        let c = Auth {
            algorithm,
            public_key: Some(key_path(public).into()),
            secret: None,
            ..cfg(AuthMode::Bearer)
        };
        let a = Authenticator::new(&c).unwrap();
        let pem = std::fs::read(key_path(private)).unwrap();
        let key = if alg == Algorithm::ES256 {
            EncodingKey::from_ec_pem(&pem)
        } else {
            EncodingKey::from_rsa_pem(&pem)
        }
        .unwrap();
        let t = encode(&Header::new(alg), &valid_claims(), &key).unwrap();
        let id = a
            .authenticate(&request("/", None, Some(&format!("Bearer {t}"))))
            .unwrap()
            .unwrap();
        assert_eq!(id.user, "alice", "{name}");
        // An HS256 token made with the public key as secret (algorithm confusion) is refused.
        let confused = encode(
            &Header::new(Algorithm::HS256),
            &valid_claims(),
            &EncodingKey::from_secret(&std::fs::read(key_path(public)).unwrap()),
        )
        .unwrap();
        assert!(
            a.authenticate(&request("/", None, Some(&format!("Bearer {confused}"))))
                .is_err(),
            "{name}"
        );
    }
}

#[test]
fn bad_configuration_is_explained() {
    assert_eq!(
        Authenticator::new(&Auth {
            secret: None,
            ..cfg(AuthMode::Bearer)
        })
        .unwrap_err(),
        AuthConfigError::NoSecret
    );
    assert!(
        Authenticator::new(&Auth {
            algorithm: crate::config::Algorithm::ES256,
            ..cfg(AuthMode::Bearer)
        })
        .unwrap_err()
        .to_string()
        .contains("public_key")
    );
    assert!(!Authenticator::new(&Auth::default()).unwrap().required());
}

#[test]
fn a_token_with_a_fractional_exp_is_refused_instead_of_never_expiring() {
    // The decoder takes a fraction (and rounds it); `as_u64` did not, and the flow then had no expiry at all.
    let a = Authenticator::new(&cfg(AuthMode::Bearer)).unwrap();
    let bearer = |t: String| request("/", None, Some(&format!("Bearer {t}")));
    let later = unix_now() + 600;
    for exp in [json!(later as f64 + 0.5), json!(later as f64), json!(1e12)] {
        let t = hs256(json!({"sip_aor": "alice", "aud": "sipedge", "exp": exp}));
        let e = a.authenticate(&bearer(t)).unwrap_err();
        assert_eq!(e, AuthError::Invalid(InvalidToken::Expiry), "exp {exp}");
        assert_eq!(e.status(), 401);
    }
    // A string, a negative number or no exp at all: refused the same way.
    for exp in [json!("never"), json!(-1), json!(null)] {
        let t = hs256(json!({"sip_aor": "alice", "aud": "sipedge", "exp": exp}));
        let e = a.authenticate(&bearer(t)).unwrap_err();
        assert_eq!(e, AuthError::Invalid(InvalidToken::Expiry), "exp {exp}");
    }
    // A whole number of seconds: the flow expires with the token.
    let id = a
        .authenticate(&bearer(hs256(valid_claims())))
        .unwrap()
        .unwrap();
    let left = id.expires_in.expect("an expiry").as_secs();
    assert!((590..=600).contains(&left), "{left}");
}

#[test]
fn a_token_from_another_issuer_is_refused() {
    let a = Authenticator::new(&Auth {
        issuer: Some("https://app.example".into()),
        ..cfg(AuthMode::Bearer)
    })
    .unwrap();
    let bearer = |t: String| request("/", None, Some(&format!("Bearer {t}")));
    let with_iss = |iss: &str| {
        hs256(json!({"sip_aor": "alice", "aud": "sipedge", "iss": iss, "exp": unix_now() + 600}))
    };
    let ok = a.authenticate(&bearer(with_iss("https://app.example")));
    assert_eq!(ok.unwrap().unwrap().user, "alice");
    let e = a
        .authenticate(&bearer(with_iss("https://other.example")))
        .unwrap_err();
    assert_eq!(
        (e.clone(), e.status()),
        (AuthError::Invalid(InvalidToken::Issuer), 401)
    );
    // No iss at all is refused too when an issuer is configured.
    let e = a.authenticate(&bearer(hs256(valid_claims()))).unwrap_err();
    assert_eq!(e, AuthError::Invalid(InvalidToken::Issuer));
    // Without `issuer`, iss is not checked.
    let any = Authenticator::new(&cfg(AuthMode::Bearer)).unwrap();
    assert!(
        any.authenticate(&bearer(with_iss("https://other.example")))
            .is_ok()
    );
}

#[test]
fn weak_secret_and_cookie_without_origins_are_configuration_problems() {
    let origins = ["https://app.example".to_string()];
    assert_eq!(
        config_problems(&cfg(AuthMode::Cookie), &[]),
        vec![AuthConfigError::CookieWithAnyOrigin]
    );
    assert!(config_problems(&cfg(AuthMode::Cookie), &origins).is_empty());
    assert!(config_problems(&cfg(AuthMode::Bearer), &[]).is_empty());
    let short = Auth {
        secret: Some("x".repeat(MIN_HS256_SECRET - 1)),
        ..cfg(AuthMode::Bearer)
    };
    assert_eq!(
        config_problems(&short, &[]),
        vec![AuthConfigError::ShortSecret(MIN_HS256_SECRET - 1)]
    );
    // Unused (mode = none) or not HS256: no rule on the secret.
    let unused = Auth {
        mode: AuthMode::None,
        ..short.clone()
    };
    assert!(config_problems(&unused, &[]).is_empty());
}

#[test]
fn after_a_key_change_the_previous_key_counts_until_the_overlap_ends() {
    let claims = json!({"sip_aor": "alice", "aud": "sipedge", "exp": unix_now() + 600});
    let old_token = hs256(claims.clone());
    let new_secret = "another-secret-of-at-least-32-bytes!";
    let new_token = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(new_secret.as_bytes()),
    )
    .unwrap();
    let bearer = |t: &str| request("/", None, Some(&format!("Bearer {t}")));
    let old = Authenticator::new(&cfg(AuthMode::Bearer)).unwrap();
    let rotated = Auth {
        secret: Some(new_secret.into()),
        ..cfg(AuthMode::Bearer)
    };
    // Without an overlap the old token is refused at once.
    let now_only = Authenticator::new(&rotated).unwrap();
    assert!(matches!(
        now_only.authenticate(&bearer(&old_token)),
        Err(AuthError::Invalid(InvalidToken::Jwt(_)))
    ));
    // During the overlap both keys' tokens pass; after it only the new key's.
    let during = Authenticator::new(&rotated)
        .unwrap()
        .overlapping(&old, Instant::now() + std::time::Duration::from_secs(60));
    assert_eq!(
        during
            .authenticate(&bearer(&old_token))
            .unwrap()
            .unwrap()
            .user,
        "alice"
    );
    assert_eq!(
        during
            .authenticate(&bearer(&new_token))
            .unwrap()
            .unwrap()
            .user,
        "alice"
    );
    let after = Authenticator::new(&rotated)
        .unwrap()
        .overlapping(&old, Instant::now());
    assert!(after.authenticate(&bearer(&old_token)).is_err());
    assert!(after.authenticate(&bearer(&new_token)).is_ok());
    // An expired token of the old key is refused as expired, not retried.
    let expired = hs256(json!({"sip_aor": "alice", "aud": "sipedge", "exp": unix_now() - 3600}));
    assert_eq!(
        during.authenticate(&bearer(&expired)),
        Err(AuthError::Expired)
    );
}

/// Base64url without padding (RFC 4648 §5), as a JWK's `k` is written.
fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn signed_with(secret: &str, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(Into::into);
    encode(
        &header,
        &json!({"sip_aor": "alice", "aud": "sipedge", "exp": unix_now() + 600}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[test]
fn a_jwks_picks_each_tokens_key_by_kid() {
    let (k1, k2) = (
        "jwks-key-one-of-at-least-32-bytes!!",
        "jwks-key-two-of-at-least-32-bytes!!",
    );
    let dir = std::env::temp_dir().join(format!("sipedge-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keys.json");
    let set = |keys: &[(&str, &str)]| {
        let keys: Vec<_> = keys
            .iter()
            .map(|(kid, k)| json!({"kty": "oct", "kid": kid, "alg": "HS256", "k": b64url(k.as_bytes())}))
            .collect();
        std::fs::write(&path, json!({ "keys": keys }).to_string()).unwrap();
    };
    let auth = |path: &std::path::Path| {
        Authenticator::new(&Auth {
            mode: AuthMode::Bearer,
            secret: None,
            jwks: Some(path.to_owned()),
            audience: Some("sipedge".into()),
            ..Auth::default()
        })
    };
    let bearer = |t: &str| request("/", None, Some(&format!("Bearer {t}")));
    set(&[("one", k1), ("two", k2)]);
    let a = auth(&path).unwrap();
    assert!(
        a.authenticate(&bearer(&signed_with(k1, Some("one"))))
            .is_ok()
    );
    assert!(
        a.authenticate(&bearer(&signed_with(k2, Some("two"))))
            .is_ok()
    );
    // A kid the set does not hold, a key signed under another kid, no kid among several keys: refused.
    for t in [
        signed_with(k1, Some("three")),
        signed_with(k1, Some("two")),
        signed_with(k1, None),
    ] {
        assert!(
            matches!(
                a.authenticate(&bearer(&t)),
                Err(AuthError::Invalid(InvalidToken::Jwt(_)))
            ),
            "{t}"
        );
    }
    // A set of one key takes a token without a kid.
    set(&[("two", k2)]);
    let one = auth(&path).unwrap();
    assert!(one.authenticate(&bearer(&signed_with(k2, None))).is_ok());
    // A file that is not a JWK set, or holds no key for the algorithm, is refused with its path.
    std::fs::write(&path, "{\"keys\": 3}").unwrap();
    assert!(matches!(
        auth(&path).unwrap_err(),
        AuthConfigError::Jwks { .. }
    ));
    std::fs::write(
        &path,
        r#"{"keys": [{"kty": "oct", "alg": "HS512", "k": "AAAA"}]}"#,
    )
    .unwrap();
    let e = auth(&path).unwrap_err().to_string();
    assert!(e.contains("no key for HS256"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
    // A JWKS beside a secret is a configuration problem.
    let both = Auth {
        jwks: Some("x.json".into()),
        ..cfg(AuthMode::Bearer)
    };
    assert!(config_problems(&both, &[]).contains(&AuthConfigError::JwksAndKey));
}
