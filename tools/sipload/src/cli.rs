//! Command line: one subcommand per scenario, the engine's flags shared by all.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use wsproto::deflate::{DeflateConfig, MAX_WINDOW_BITS};

use crate::target::{ChildSpec, Rate, SourceRange, Target};

/// sipedge's load generator: many WebSocket connections from several processes and source addresses,
/// a scenario on each, merged statistics (connections, msgs/s, latency percentiles) and, with
/// --watch-pid, the server's CPU time and memory.
#[derive(Debug, Parser)]
#[command(name = "sipload", version, about, long_about = None)]
pub struct Cli {
    /// The scenario to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Scenarios.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// WebSocket echo: every connection sends messages of --size bytes and checks each echo.
    Echo(EchoCmd),
    /// SIP: every connection REGISTERs (JsSIP-like), stays registered through the hold (re-REGISTER
    /// before expiry, keepalives, pongs) and, in the traffic phase, keeps idle; with --duration 0 each
    /// one refreshes its registration once.
    Register(RegisterCmd),
    /// SIP: registered pairs of clients (sl0 and sl1, sl2 and sl3, ...) exchange MESSAGE; each
    /// receiver answers 200. Paced by --rate or --flat-out with --window.
    Message(MessageCmd),
    /// SIP: registered pairs call each other: INVITE with a WebRTC SDP, 180, 200, ACK, optionally a
    /// hold re-INVITE, BYE after --call-secs. Paced by --rate (calls/s) or --flat-out with --window.
    Call(CallCmd),
    /// SIP: a blend of MESSAGE and calls among registered pairs (--blend), paced by --rate (actions/s)
    /// or --flat-out with --window.
    Mix(MixCmd),
    /// Connections only: open WebSockets at --ramp (offering the `sip` subprotocol), keep them open
    /// through the hold and --duration answering pings, then close. Refusals are counted by reason
    /// (e.g. `handshake: server answered 503`): a connection flood against the server's per-IP limits.
    Connect(ConnectCmd),
    /// Print HS256 JWTs for sipedged's `[auth]` (one per line, for --token-file): token N names the
    /// SIP identity PREFIX<N>@DOMAIN, the user the Nth sipload connection registers (sl<N> by default).
    MintToken(MintArgs),
}

/// `sipload connect`.
#[derive(Debug, Args)]
pub struct ConnectCmd {
    /// Engine flags.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Offer no WebSocket subprotocol (default: offer `sip`, as SIP clients do).
    #[arg(long)]
    pub no_subprotocol: bool,
}

/// `sipload mint-token`.
#[derive(Debug, Clone, Args)]
pub struct MintArgs {
    /// The HS256 secret (sipedged's auth.secret).
    #[arg(long)]
    pub secret: String,
    /// The `aud` claim (sipedged's auth.audience); none when not given.
    #[arg(long, value_name = "A")]
    pub aud: Option<String>,
    /// User part before the index: token N names PREFIX<N>. sipload's SIP clients are sl0, sl1, ...
    #[arg(long, default_value = "sl", value_name = "PREFIX")]
    pub user_prefix: String,
    /// SIP domain of the identities (sipload's --domain).
    #[arg(long, default_value = "example.test", value_name = "D")]
    pub domain: String,
    /// Tokens to print (identities PREFIX<FIRST> .. PREFIX<FIRST+COUNT-1>).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub count: u64,
    /// Index of the first identity.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub first: u64,
    /// Lifetime in seconds (`exp` = now + TTL).
    #[arg(long, default_value_t = 3600, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub ttl: u64,
    /// The claim naming the identity (sipedged's auth.identity_claim); its value is sip:USER@DOMAIN.
    #[arg(long, default_value = "sip_aor", value_name = "NAME")]
    pub identity_claim: String,
}

/// `sipload register`.
#[derive(Debug, Args)]
pub struct RegisterCmd {
    /// Engine flags.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// SIP client flags.
    #[command(flatten)]
    pub sip: SipArgs,
}

/// `sipload message`.
#[derive(Debug, Args)]
pub struct MessageCmd {
    /// Engine flags.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// SIP client flags.
    #[command(flatten)]
    pub sip: SipArgs,
    /// Pacing.
    #[command(flatten)]
    pub pace: PaceArgs,
    /// MESSAGE flags.
    #[command(flatten)]
    pub message: MessageArgs,
}

/// `sipload call`.
#[derive(Debug, Args)]
pub struct CallCmd {
    /// Engine flags.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// SIP client flags.
    #[command(flatten)]
    pub sip: SipArgs,
    /// Pacing.
    #[command(flatten)]
    pub pace: PaceArgs,
    /// Call flags.
    #[command(flatten)]
    pub call: CallArgs,
}

/// `sipload mix`.
#[derive(Debug, Args)]
pub struct MixCmd {
    /// Engine flags.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// SIP client flags.
    #[command(flatten)]
    pub sip: SipArgs,
    /// Pacing.
    #[command(flatten)]
    pub pace: PaceArgs,
    /// MESSAGE flags.
    #[command(flatten)]
    pub message: MessageArgs,
    /// Call flags.
    #[command(flatten)]
    pub call: CallArgs,
    /// Share of MESSAGE and calls among the actions, MESSAGE:CALL.
    #[arg(long, default_value = "80:20", value_name = "M:C")]
    pub blend: Blend,
}

/// `--user-prefix`: 1-32 letters, digits, `-`, `_` or `.` (unreserved in a SIP user part).
fn user_prefix(s: &str) -> Result<String, String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if (1..=32).contains(&s.len()) && s.chars().all(ok) {
        Ok(s.to_owned())
    } else {
        Err("1-32 letters, digits, '-', '_' or '.'".to_owned())
    }
}

/// Flags of every SIP scenario.
#[derive(Debug, Clone, Args)]
pub struct SipArgs {
    /// SIP domain of the clients' addresses of record (sip:slN@DOMAIN).
    #[arg(long, default_value = "example.test")]
    pub domain: String,
    /// User part of the clients' addresses of record before their index (sip:PREFIXN@DOMAIN): runs
    /// with different prefixes against one registrar do not share addresses of record. Letters, digits
    /// and `-_.` only.
    #[arg(long, default_value = "sl", value_parser = user_prefix)]
    pub user_prefix: String,
    /// Registration expiry asked, seconds; each client re-REGISTERs at 50-75 % of what is granted.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub expires: u32,
    /// CRLFCRLF keepalive interval, seconds (RFC 5626 §4.4.1; the server answers CRLF). 0: none.
    /// Server WebSocket pings are always answered with pongs, and server CRLFCRLF with CRLF.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    pub keepalive: u64,
    /// Seconds a transaction may wait for its final response before it counts as timed out.
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=120))]
    pub tx_timeout: u64,
    /// Seconds a connection stays after its own traffic settled, answering what its partner still sends (a
    /// call's length is added when there are calls). Raise it when requests may take seconds to arrive (a lossy
    /// path, retransmissions).
    #[arg(long, default_value_t = 1, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=60))]
    pub linger: u64,
}

/// How the traffic phase is paced.
#[derive(Debug, Clone, Args)]
pub struct PaceArgs {
    /// Transactions (MESSAGE; calls for `call`; actions for `mix`) per second for the whole run,
    /// spread evenly over the connections, sent on time whether or not earlier ones were answered.
    #[arg(long, conflicts_with = "flat_out")]
    pub rate: Option<Rate>,
    /// Every connection keeps --window transactions (calls for `call`) outstanding: the next one
    /// leaves as soon as one finishes.
    #[arg(long)]
    pub flat_out: bool,
    /// Outstanding transactions per connection with --flat-out.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub window: u32,
}

/// MESSAGE flags.
#[derive(Debug, Clone, Args)]
pub struct MessageArgs {
    /// MESSAGE body size in bytes (text/plain).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=60000))]
    pub message_size: u32,
}

/// Call flags.
#[derive(Debug, Clone, Args)]
pub struct CallArgs {
    /// Seconds from the call's 200 to its BYE.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub call_secs: f64,
    /// Put every call on hold halfway (re-INVITE with a=sendonly, 200, ACK).
    #[arg(long)]
    pub hold_call: bool,
}

/// The MESSAGE:CALL shares of `mix`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blend {
    /// Share of MESSAGE, 0..=1.
    pub message: f64,
    /// Share of calls, 0..=1.
    pub call: f64,
}

impl std::str::FromStr for Blend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: expected MESSAGE:CALL shares such as 80:20");
        let (m, c) = s.split_once(':').ok_or_else(bad)?;
        let m: f64 = m.trim().parse().map_err(|_| bad())?;
        let c: f64 = c.trim().parse().map_err(|_| bad())?;
        if !(m.is_finite() && c.is_finite() && m >= 0.0 && c >= 0.0 && m + c > 0.0) {
            return Err(bad());
        }
        Ok(Self {
            message: m / (m + c),
            call: c / (m + c),
        })
    }
}

/// `sipload echo`.
#[derive(Debug, Args)]
pub struct EchoCmd {
    /// Engine flags.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Echo flags.
    #[command(flatten)]
    pub echo: EchoArgs,
}

/// Flags of the shared engine.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// WebSocket URL of the server: ws://HOST:PORT[/PATH] or wss://HOST:PORT[/PATH] (TLS 1.3/1.2,
    /// SNI from HOST, the certificate checked against the system CAs or --ca; one session cache per
    /// worker process, so reconnects resume).
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    pub target: Target,
    /// wss://: trust the CA certificate(s) in this PEM file instead of the system's.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// wss://: DO NOT VERIFY the server's certificate or name (INSECURE: anyone in the path can read
    /// and change the traffic). Only for self-signed test certificates on loopback.
    #[arg(long)]
    pub insecure: bool,
    /// wss://: no TLS session resumption: every connection makes a full handshake (to measure the
    /// server's full-handshake cost; by default reconnects resume from a per-process session cache).
    #[arg(long)]
    pub no_resume: bool,
    /// A JWT every connection presents as `Authorization: Bearer TOKEN` (sipedged [auth] mode
    /// "bearer"); with --token-query, as ?access_token=TOKEN on the URL instead.
    #[arg(long, value_name = "JWT", conflicts_with = "token_file")]
    pub token: Option<String>,
    /// A file of tokens, one per line: connection i presents line i mod n (distinct identities; see
    /// `sipload mint-token`).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Send the token as the `access_token` query parameter (as browsers must) instead of a header.
    #[arg(long)]
    pub token_query: bool,
    /// Send `Cookie: NAME=VALUE` with every upgrade (sipedged [auth] mode "cookie").
    #[arg(long, value_name = "NAME=VALUE")]
    pub cookie: Option<String>,
    /// Connections to open in total.
    #[arg(long, default_value_t = 100)]
    pub connections: u64,
    /// Worker processes sharing the connections (each one is limited by its own fd limit, ~19,900 here).
    #[arg(long, default_value_t = 1)]
    pub procs: usize,
    /// Source addresses to connect from, A.B.C.D-E.F.G.H (split between the processes; each address
    /// has its own ephemeral port range). Default: the kernel's choice.
    #[arg(long)]
    pub sources: Option<SourceRange>,
    /// Connection opening rate for the whole run, N/s.
    #[arg(long, default_value = "2000/s")]
    pub ramp: Rate,
    /// Seconds to hold every connection open (idle) once all are up, before the traffic phase.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    pub hold: u64,
    /// Seconds of traffic. 0: every connection does exactly one exchange (the SIP scenarios spread them
    /// over the ramp's length, by connection index).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub duration: u64,
    /// Tokio threads per worker process.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Server process to watch: CPU seconds (utime+stime) and Rss/Pss before, held and after, summed
    /// over it and its descendants (Kamailio's worker processes).
    #[arg(long, value_name = "PID")]
    pub watch_pid: Option<u32>,
    /// permessage-deflate flags.
    #[command(flatten)]
    pub deflate: DeflateArgs,
    /// Write the merged report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write an SVG plot of throughput and latency percentiles per second to FILE.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Hard time bound for the whole run in seconds (default: 2 x ramp time + hold + duration + 60).
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<u64>,
    /// Reconnect a session that breaks after it opened (the server closed it, the socket failed),
    /// during the hold or the traffic phase, with up to N attempts over the run: a new WebSocket from
    /// the same source address and the scenario's setup again (a SIP client registers again, with the
    /// same instance and Contact). Each counts as a `reconnect` transaction whose latency runs from the
    /// close to the end of the setup; the close itself is then no failure. Failed attempts are 100 ms
    /// apart, doubling up to 1.6 s. 0: a broken session counts as failed.
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub reconnect: u32,
    /// Internal: run as worker process INDEX/COUNT (set by the parent when it re-executes itself).
    #[arg(long, hide = true)]
    pub child: Option<ChildSpec>,
}

impl EngineArgs {
    /// Seconds the ramp takes at the configured rate.
    pub fn ramp_secs(&self) -> f64 {
        self.connections as f64 / self.ramp.0
    }

    /// The run's hard time bound, seconds, for a scenario whose workers wait up to `drain` after the
    /// traffic phase.
    pub fn time_bound(&self, drain: std::time::Duration) -> u64 {
        self.time_limit.unwrap_or_else(|| {
            // The ramp, and once more for the exchanges of --duration 0 spread over it; the slack covers
            // the usual drain.
            2 * self.ramp_secs().ceil() as u64
                + self.hold
                + self.duration
                + super::engine::SLACK.as_secs()
                + drain.saturating_sub(super::engine::DRAIN_LIMIT).as_secs()
        })
    }
}

/// permessage-deflate (RFC 7692) on every connection.
#[derive(Debug, Clone, Args)]
pub struct DeflateArgs {
    /// Offer permessage-deflate on every WebSocket (by default as browsers do:
    /// `permessage-deflate; client_max_window_bits`). When the server agrees, every message sent is
    /// compressed under the agreed parameters (the client keeps its window from one message to the next
    /// unless the answer says client_no_context_takeover) and compressed messages received are inflated.
    /// The report counts the connections that agreed and the wire against the payload bytes each way.
    #[arg(long)]
    pub deflate: bool,
    /// Offer `client_no_context_takeover`: this client starts every message with an empty window.
    #[arg(long, requires = "deflate")]
    pub deflate_client_no_context_takeover: bool,
    /// Offer `server_no_context_takeover`: ask the server to start every message with an empty window.
    #[arg(long, requires = "deflate")]
    pub deflate_server_no_context_takeover: bool,
    /// Offer `client_max_window_bits=BITS` (8-15): this client compresses with at most that window.
    #[arg(long, requires = "deflate", value_name = "BITS", value_parser = clap::value_parser!(u8).range(8..=15))]
    pub deflate_client_max_window_bits: Option<u8>,
    /// Offer `server_max_window_bits=BITS` (8-15): ask the server to compress with at most that window.
    #[arg(long, requires = "deflate", value_name = "BITS", value_parser = clap::value_parser!(u8).range(8..=15))]
    pub deflate_server_max_window_bits: Option<u8>,
    /// Compression level of what this client sends, 0 (stored) to 9 (smallest).
    #[arg(long, requires = "deflate", default_value_t = 6, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=9))]
    pub deflate_level: u8,
}

impl DeflateArgs {
    /// The offer to make, `None` without --deflate.
    pub fn config(&self) -> Option<DeflateConfig> {
        self.deflate.then(|| DeflateConfig {
            server_max_window_bits: self
                .deflate_server_max_window_bits
                .unwrap_or(MAX_WINDOW_BITS),
            client_max_window_bits: self
                .deflate_client_max_window_bits
                .unwrap_or(MAX_WINDOW_BITS),
            server_no_context_takeover: self.deflate_server_no_context_takeover,
            client_no_context_takeover: self.deflate_client_no_context_takeover,
            level: self.deflate_level,
        })
    }
}

/// Flags of the echo scenario.
#[derive(Debug, Clone, Args)]
pub struct EchoArgs {
    /// Message size in bytes (text made of printable ASCII).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub size: u32,
    /// Send binary messages instead of text.
    #[arg(long)]
    pub binary: bool,
    /// Send a JsSIP-like INVITE with its WebRTC offer (about 2.4 KB of SIP text, the message a call
    /// setup's bytes go to) instead of --size bytes of printable ASCII: what deflate gets to compress.
    #[arg(long, conflicts_with = "size")]
    pub sip: bool,
    /// Messages per second for the whole run, spread evenly over the connections (one in flight each).
    #[arg(long, conflicts_with = "flat_out")]
    pub rate: Option<Rate>,
    /// Every connection keeps --window messages outstanding: the next one leaves as soon as an
    /// echo arrived.
    #[arg(long)]
    pub flat_out: bool,
    /// Outstanding messages per connection with --flat-out (1: send, wait for the echo, send).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub window: u32,
}
