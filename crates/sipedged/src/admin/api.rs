//! The admin API (JSON), past the guard of [`super::routes`]:
//!
//! | request | what it does |
//! |---|---|
//! | `GET /admin/connections[?aor=&limit=]` | open WebSockets (all, or one user's): peer, worker, identity, AoRs, age, bytes, flow token |
//! | `POST /admin/close` `{"flow", "code", "reason"}` | close one with a close frame (code 1000 unless given) |
//! | `POST /admin/drain` `{"period": "60s"}` | stop accepting; close every WebSocket with 1001, spread over the period |
//! | `POST /admin/reload` | read the configuration file again and apply what can change live |
//! | `GET /admin/bindings[?aor=&limit=]` | the standalone registrar's bindings |
//!
//! Every worker answers from its own thread ([`crate::worker::operate`]); a worker that does not answer within
//! [`WORKER_DEADLINE`] is left out (and counted in `workers_answered`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use edge::flow_token::FlowId;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::oneshot;

use super::App;
use super::routes::{error, json};
use crate::worker::Msg;
use crate::worker::operate::{Ask, BindingInfo, Filter, Listing};

/// How long the API waits for a worker's answer.
const WORKER_DEADLINE: Duration = Duration::from_secs(5);
/// Entries a listing holds unless `limit` says otherwise, and the most it may ask for.
const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 100_000;
/// The longest drain.
const MAX_DRAIN: Duration = Duration::from_secs(24 * 3600);
/// How long the API waits for a reload.
const RELOAD_DEADLINE: Duration = Duration::from_secs(30);

type Answer = Response<Full<Bytes>>;

/// Serve `/admin/<action>`.
pub async fn serve(action: &str, head: &Parts, body: &[u8], app: &App) -> Answer {
    let query = head.uri.query().unwrap_or("");
    match (&head.method, action) {
        (&Method::GET, "connections") => match Query::parse(query) {
            Ok(q) => connections(app, q).await,
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
        },
        (&Method::GET, "bindings") => match Query::parse(query) {
            Ok(q) => bindings(app, q).await,
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
        },
        (&Method::POST, "close") => match serde_json::from_slice::<CloseOrder>(body) {
            Ok(order) => close(app, order).await,
            Err(e) => error(StatusCode::BAD_REQUEST, &format!("close: {e}")),
        },
        (&Method::POST, "drain") => match serde_json::from_slice::<DrainOrder>(body) {
            Ok(order) => drain(app, &order),
            Err(e) => error(StatusCode::BAD_REQUEST, &format!("drain: {e}")),
        },
        (&Method::POST, "reload") => reload(app).await,
        (_, "connections" | "bindings" | "close" | "drain" | "reload") => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET connections and bindings; POST close, drain and reload",
        ),
        _ => error(StatusCode::NOT_FOUND, "no such admin API request"),
    }
}

/// `?aor=&limit=`.
#[derive(Debug, Default, PartialEq)]
struct Query {
    /// Normalized (`user@host`, host lowercased).
    aor: Option<String>,
    limit: usize,
}

impl Query {
    fn parse(query: &str) -> Result<Self, String> {
        let mut q = Self {
            aor: None,
            limit: DEFAULT_LIMIT,
        };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "aor" => {
                    q.aor = Some(normalize(&v).ok_or("aor: expected sip:user@host or user@host")?)
                }
                "limit" => {
                    q.limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or(format!("limit: a number from 1 to {MAX_LIMIT}"))?
                }
                other => return Err(format!("unknown parameter {other:?} (aor, limit)")),
            }
        }
        Ok(q)
    }
}

/// `sip:alice@Example.com;x`, `alice@example.com` → `alice@example.com` (as the registrar keys it).
fn normalize(aor: &str) -> Option<String> {
    let aor = aor.trim();
    let aor = aor
        .strip_prefix("sip:")
        .or_else(|| aor.strip_prefix("sips:"))
        .unwrap_or(aor);
    let aor = aor.split([';', '?', '>']).next()?;
    let (user, host) = aor.split_once('@')?;
    let host = host.split(':').next()?;
    (!user.is_empty() && !host.is_empty()).then(|| edge::registrar::normalize_aor(user, host))
}

/// Ask every worker; the answers that came within the deadline.
async fn ask_all<T>(app: &App, make: impl Fn(oneshot::Sender<T>) -> Ask) -> Vec<T> {
    let op = &app.operator;
    let mut waiting = Vec::with_capacity(op.poster.workers());
    for w in 0..op.poster.workers() {
        let (tx, rx) = oneshot::channel();
        if op.poster.post(w, Msg::Admin(make(tx))).is_ok() {
            waiting.push(rx);
        }
    }
    let mut out = Vec::with_capacity(waiting.len());
    for rx in waiting {
        if let Ok(Ok(answer)) = tokio::time::timeout(WORKER_DEADLINE, rx).await {
            out.push(answer);
        }
    }
    out
}

async fn all_bindings(app: &App, aor: Option<String>, limit: usize) -> (Vec<BindingInfo>, usize) {
    let answers = ask_all(app, |reply| Ask::Bindings {
        aor: aor.clone(),
        limit,
        reply,
    })
    .await;
    let answered = answers.len();
    (
        answers.into_iter().flatten().take(limit).collect(),
        answered,
    )
}

async fn connections(app: &App, q: Query) -> Answer {
    let standalone = app.operator.standalone;
    // Standalone: the bindings say which connections registered which AoRs.
    let (bindings, _) = if standalone {
        all_bindings(app, q.aor.clone(), MAX_LIMIT).await
    } else {
        (Vec::new(), 0)
    };
    let filter = Filter {
        flows: if q.aor.is_some() {
            bindings.iter().map(|b| b.flow_id).collect()
        } else {
            Vec::new()
        },
        aor: q.aor,
        limit: q.limit,
    };
    let answers: Vec<Listing> = ask_all(app, |reply| Ask::Connections {
        filter: filter.clone(),
        reply,
    })
    .await;
    let answered = answers.len();
    let mut aors: HashMap<(u16, u32, u32), Vec<String>> = HashMap::new();
    for b in &bindings {
        let f = b.flow_id;
        aors.entry((f.worker, f.slot, f.generation))
            .or_default()
            .push(b.aor.clone());
    }
    let mut truncated = false;
    let mut list = Vec::new();
    for mut l in answers {
        truncated |= l.truncated;
        for c in &mut l.connections {
            let f = c.flow_id;
            if let Some(a) = aors.get(&(f.worker, f.slot, f.generation)) {
                c.aors.clone_from(a);
            }
        }
        list.extend(l.connections);
    }
    truncated |= list.len() > q.limit;
    list.truncate(q.limit);
    json(
        StatusCode::OK,
        &json!({
            "connections": list,
            "truncated": truncated,
            "workers_answered": answered,
            "workers": app.operator.poster.workers(),
        }),
    )
}

async fn bindings(app: &App, q: Query) -> Answer {
    if !app.operator.standalone {
        return error(
            StatusCode::NOT_FOUND,
            "in edge mode the core holds the bindings; GET /admin/connections?aor= finds a user's connection",
        );
    }
    let (list, answered) = all_bindings(app, q.aor, q.limit).await;
    json(
        StatusCode::OK,
        &json!({ "bindings": list, "workers_answered": answered }),
    )
}

/// `POST /admin/close`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseOrder {
    /// The connection's flow token (from a listing).
    flow: String,
    /// The WebSocket close code.
    #[serde(default = "normal_closure")]
    code: u16,
    /// The close frame's reason text.
    #[serde(default)]
    reason: String,
}

fn normal_closure() -> u16 {
    wsproto::close_code::NORMAL
}

/// Whether a server may send `code` in a close frame (RFC 6455 §7.4: not 1004–1006 nor 1015, which are
/// reserved or never sent; the registered codes up to 1014, and 3000–4999 for libraries and applications).
fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

async fn close(app: &App, order: CloseOrder) -> Answer {
    if !sendable(order.code) {
        return error(
            StatusCode::BAD_REQUEST,
            "code: a close code a server may send (1000-1003, 1007-1014, 3000-4999)",
        );
    }
    if order.reason.len() > 123 {
        return error(
            StatusCode::BAD_REQUEST,
            "reason: at most 123 bytes (a close frame's payload is 125)",
        );
    }
    let flow: FlowId = match app.operator.key.open(&order.flow) {
        Ok(f) if f.node == app.operator.node => f,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "flow: not a flow token of this node and start",
            );
        }
    };
    let (tx, rx) = oneshot::channel();
    let ask = Ask::Close {
        flow,
        code: order.code,
        text: order.reason,
        reply: tx,
    };
    if app
        .operator
        .poster
        .post(usize::from(flow.worker), Msg::Admin(ask))
        .is_err()
    {
        return error(StatusCode::NOT_FOUND, "no such worker");
    }
    match tokio::time::timeout(WORKER_DEADLINE, rx).await {
        Ok(Ok(true)) => json(StatusCode::OK, &json!({ "closed": true })),
        Ok(Ok(false)) => error(StatusCode::NOT_FOUND, "no such open connection"),
        _ => error(StatusCode::SERVICE_UNAVAILABLE, "the worker did not answer"),
    }
}

/// `POST /admin/drain`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrainOrder {
    /// Time over which the WebSockets are closed (`"60s"`, `"5m"`).
    #[serde(with = "humantime_serde")]
    period: Duration,
}

fn drain(app: &App, order: &DrainOrder) -> Answer {
    if order.period > MAX_DRAIN {
        return error(StatusCode::BAD_REQUEST, "period: at most 24h");
    }
    let first = !app.draining.swap(true, Ordering::Relaxed);
    if first {
        tracing::warn!(period = ?order.period, "admin API: draining the node");
        let op = &app.operator;
        for w in 0..op.poster.workers() {
            let _ = op.poster.post(
                w,
                Msg::Admin(Ask::Drain {
                    period: order.period,
                }),
            );
        }
    }
    json(
        StatusCode::ACCEPTED,
        &json!({ "draining": true, "already": !first, "period_seconds": order.period.as_secs_f64() }),
    )
}

async fn reload(app: &App) -> Answer {
    let (tx, rx) = oneshot::channel();
    if app.operator.reload.send(tx).is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the node is stopping");
    }
    match tokio::time::timeout(RELOAD_DEADLINE, rx).await {
        Ok(Ok(report)) => {
            let status = if report.error.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            json(status, &json!(report))
        }
        _ => error(StatusCode::SERVICE_UNAVAILABLE, "the reload did not finish"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_name_a_user_as_the_registrar_keys_it() {
        assert_eq!(
            Query::parse("aor=sip%3Aalice%40Example.COM%3Btransport%3Dws&limit=5"),
            Ok(Query {
                aor: Some("alice@example.com".into()),
                limit: 5
            })
        );
        assert_eq!(Query::parse("").unwrap().limit, DEFAULT_LIMIT);
        assert!(Query::parse("aor=nobody").is_err());
        assert!(Query::parse("limit=0").is_err());
        assert!(Query::parse("limit=100001").is_err());
        assert!(Query::parse("x=1").is_err());
    }

    #[test]
    fn only_codes_a_server_may_send_are_taken() {
        for ok in [1000, 1001, 1008, 1011, 1012, 3000, 4999] {
            assert!(sendable(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 2000, 5000] {
            assert!(!sendable(bad), "{bad}");
        }
    }
}
