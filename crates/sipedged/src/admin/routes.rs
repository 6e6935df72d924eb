//! Which request gets which answer: the read-only pages (`/metrics`, `/status.json`, the operator page) for
//! anyone who can reach the listener, and the API under `/admin/` for the operator only.
//!
//! The API's guard ([`authorize`]):
//! - with `[admin] token`, `Authorization: Bearer <token>` (compared in constant time), else `401`;
//! - without one, only on a loopback listener, and only to requests whose `Host` is a loopback name: a page
//!   of another site that a browser on the operator's machine runs can neither send it the request by DNS
//!   rebinding (its Host is the attacker's name) nor read the answer (no CORS headers are ever sent);
//! - an `Origin` header, when present, must be this endpoint's own (`http://<Host>`);
//! - a request that changes something is a `POST` with `Content-Type: application/json`, which a page of
//!   another origin cannot send without a CORS preflight that is never granted.

use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use subtle::ConstantTimeEq;

use super::{App, OPERATOR_PAGE, api, status};
use crate::metrics::render;

/// A response with a body and its Content-Type.
fn body(status: StatusCode, ctype: &'static str, text: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

/// A plain-text response.
pub fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    body(status, "text/plain; charset=utf-8", text)
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    body(status, "application/json", format!("{value}\n"))
}

/// A JSON error: `{"error": text}`.
pub fn error(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": text }))
}

/// The answer to one request.
pub async fn route(
    head: &Parts,
    body: &[u8],
    peer: SocketAddr,
    app: &App,
) -> Response<Full<Bytes>> {
    let path = head.uri.path();
    if let Some(action) = path.strip_prefix("/admin/") {
        if let Err(refusal) = authorize(head, app) {
            tracing::debug!(%peer, path, "admin API request refused");
            return *refusal;
        }
        return api::serve(action, head, body, app).await;
    }
    let mut answer = page(path, app);
    if head.method != Method::GET && head.method != Method::HEAD {
        answer = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD here\n".into(),
        );
        answer
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    if head.method == Method::HEAD {
        *answer.body_mut() = Full::new(Bytes::new());
    }
    answer
}

/// The read-only pages.
fn page(path: &str, app: &App) -> Response<Full<Bytes>> {
    let s = &app.sources;
    match path {
        "/metrics" => {
            let mut text = render(&s.workers);
            if let Some(r) = &s.targets {
                crate::metrics::targets::render(&mut text, r);
            }
            if let Some(c) = &s.capture {
                c.render(&mut text);
            }
            body(StatusCode::OK, "text/plain; version=0.0.4", text)
        }
        "/status.json" => body(
            StatusCode::OK,
            "application/json",
            status::json(
                env!("CARGO_PKG_VERSION"),
                s.workers.len(),
                &render(&s.workers),
                app.draining.load(std::sync::atomic::Ordering::Relaxed),
            ),
        ),
        "/" | "/index.html" => body(
            StatusCode::OK,
            "text/html; charset=utf-8",
            OPERATOR_PAGE.to_string(),
        ),
        _ => plain(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// The API's guard (see the module's doc).
fn authorize(head: &Parts, app: &App) -> Result<(), Box<Response<Full<Bytes>>>> {
    let h = &head.headers;
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(origin) = h.get(header::ORIGIN)
        && origin.to_str().ok() != Some(&format!("http://{host}"))
    {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "cross-origin request to the admin API",
        )));
    }
    if head.method == Method::POST {
        let json = h
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.trim_start().starts_with("application/json"));
        if !json {
            return Err(Box::new(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a POST to the admin API has Content-Type: application/json",
            )));
        }
    }
    match &app.token {
        Some(token) => {
            let given = h
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
                Ok(())
            } else {
                let mut r = error(
                    StatusCode::UNAUTHORIZED,
                    "the admin API needs Authorization: Bearer <[admin] token>",
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Err(Box::new(r))
            }
        }
        None if !app.loopback => Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "the admin API is off on a non-loopback address without [admin] token",
        ))),
        None if !is_loopback_host(host) => Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "without [admin] token the admin API answers only requests to a loopback host",
        ))),
        None => Ok(()),
    }
}

/// Whether a Host header names this machine: `localhost`, a 127/8 address or `[::1]`, with any port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_told_apart_from_names_that_resolve_to_them() {
        for h in [
            "localhost",
            "localhost:9090",
            "127.0.0.1:9090",
            "127.8.0.1",
            "[::1]:9090",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "",
            "evil.example:9090",
            "10.0.0.1:9090",
            "[::2]",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
