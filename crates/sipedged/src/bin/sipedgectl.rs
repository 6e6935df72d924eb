//! sipedgectl: the admin API of a running sipedged from the command line (one HTTP/1.1 request through hyper,
//! the JSON answer printed). Exit status 0 when the node answered 2xx, 1 when it refused, 2 when it could not
//! be reached.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// Operate a running sipedged through its admin API.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The admin endpoint ([admin] listen).
    #[arg(long, default_value = "127.0.0.1:9090", value_name = "HOST:PORT")]
    admin: String,
    /// The API's token ([admin] token); also read from SIPEDGE_ADMIN_TOKEN.
    #[arg(long, env = "SIPEDGE_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List open WebSockets (peer, worker, identity, AoRs, age, bytes, flow token).
    Connections {
        /// Only this user's (sip:alice@example.com or alice@example.com).
        #[arg(long)]
        aor: Option<String>,
        /// At most this many (1 to 100000; default 1000).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Close one WebSocket, named by the flow token a listing shows.
    Close {
        /// The flow token.
        flow: String,
        /// The WebSocket close code (1000-1003, 1007-1014, 3000-4999).
        #[arg(long, default_value_t = 1000)]
        code: u16,
        /// The close frame's reason text.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Stop accepting, and close every WebSocket with 1001 spread over the period (browsers reconnect to other
    /// nodes a few at a time).
    Drain {
        /// e.g. 60s, 5m.
        #[arg(long, default_value = "60s")]
        period: String,
    },
    /// Read the configuration file again and apply what can change live.
    Reload,
    /// The standalone registrar's bindings.
    Bindings {
        /// Only this AoR's.
        #[arg(long)]
        aor: Option<String>,
    },
    /// The node's figures (/status.json).
    Status,
}

/// `key=value` pairs of a query, percent-encoded.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

/// The request a command makes: method, path and JSON body.
fn request_of(cmd: Cmd) -> (Method, String, String) {
    match cmd {
        Cmd::Connections { aor, limit } => (
            Method::GET,
            format!(
                "/admin/connections{}",
                query(&[("aor", aor), ("limit", limit.map(|l| l.to_string()))])
            ),
            String::new(),
        ),
        Cmd::Close { flow, code, reason } => (
            Method::POST,
            "/admin/close".into(),
            serde_json::json!({ "flow": flow, "code": code, "reason": reason }).to_string(),
        ),
        Cmd::Drain { period } => (
            Method::POST,
            "/admin/drain".into(),
            serde_json::json!({ "period": period }).to_string(),
        ),
        Cmd::Reload => (Method::POST, "/admin/reload".into(), "{}".into()),
        Cmd::Bindings { aor } => (
            Method::GET,
            format!("/admin/bindings{}", query(&[("aor", aor)])),
            String::new(),
        ),
        Cmd::Status => (Method::GET, "/status.json".into(), String::new()),
    }
}

async fn call(args: Args) -> Result<(u16, String), String> {
    let admin = args.admin;
    let (method, path, body) = request_of(args.command);
    let stream = tokio::net::TcpStream::connect(&admin)
        .await
        .map_err(|e| format!("cannot reach the admin endpoint {admin}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, &admin);
    if let Some(token) = &args.token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if !body.is_empty() {
        request = request.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sipedgectl: {e}");
            return ExitCode::from(2);
        }
    };
    let answer = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), call(args))
            .await
            .unwrap_or_else(|_| Err("no answer within 60 s".into()))
    });
    match answer {
        Ok((status, body)) => {
            // Pretty JSON when it is JSON, else as it came.
            match serde_json::from_str::<serde_json::Value>(&body) {
                Ok(v) => println!("{}", serde_json::to_string_pretty(&v).unwrap_or(body)),
                Err(_) => print!("{body}"),
            }
            if (200..300).contains(&status) {
                ExitCode::SUCCESS
            } else {
                eprintln!("sipedgectl: the node answered {status}");
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("sipedgectl: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_become_requests() {
        let (m, p, b) = request_of(Cmd::Connections {
            aor: Some("sip:alice@example.com".into()),
            limit: Some(5),
        });
        assert_eq!(m, Method::GET);
        assert_eq!(
            p,
            "/admin/connections?aor=sip%3Aalice%40example.com&limit=5"
        );
        assert!(b.is_empty());
        let (m, p, b) = request_of(Cmd::Close {
            flow: "abc".into(),
            code: 4000,
            reason: "bye".into(),
        });
        assert_eq!((m, p.as_str()), (Method::POST, "/admin/close"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&b).unwrap(),
            serde_json::json!({"flow": "abc", "code": 4000, "reason": "bye"})
        );
        assert_eq!(request_of(Cmd::Bindings { aor: None }).1, "/admin/bindings");
    }
}
