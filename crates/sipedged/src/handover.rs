//! Upgrading a node without closing a browser: a running node (old) hands its listeners and WebSocket
//! connections to a new process (`sipedged --take-over`) over the Unix socket `[runtime] handover_socket`.
//!
//! The conversation, in records of a [`Channel`] (the peer must run as this process's user):
//! 1. new → old: a hello naming what the new process runs: the formats it reads, its workers, listeners and mode.
//! 2. old → new: a refusal with its reason (formats, workers, listeners or mode differ; edge mode), or the
//!    start's secrets: the flow-token key and epoch (every token already in the core's Path and in dialogs names
//!    the same connection), the Via branch salt, and the reading of the edge's clock.
//! 3. old: each worker stops accepting and reading, and hands out its listeners, its open WebSockets with their
//!    state, and its registrar shard ([`ringmux::hand_out`]); old → new: each worker's package.
//! 4. new: starts its workers on them; new → old: "holding".
//! 5. old: lets go of what it handed out, drains what it kept (handshakes, `wss://`) with 1001, and exits.
//!
//! Until step 4 the old node serves on if anything fails (the new process exits, a package cannot be made):
//! every connection reads again there, and nobody is dropped.

mod hello;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use ringmux::handover::{Channel, HandoverError, recv_package, send_package};
use ringmux::{Poster, WorkerInheritance};

pub use hello::{Hello, Secrets};

use crate::worker::Msg;
use crate::worker::handover::Handed;

/// How long the old node waits for its workers' packages, and for the new process to hold them.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest hello or answer record.
const MAX_HELLO: usize = 64 * 1024;
/// What the new process says once it holds everything.
const HOLDING: &[u8] = b"holding";

/// Why a hand-over did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TakeOverError {
    /// `--take-over` without `[runtime] handover_socket`.
    #[error("--take-over needs [runtime] handover_socket (where the running node waits)")]
    NoSocket,
    /// No node waits at the socket (none runs, or it runs without `handover_socket`).
    #[error("no running node waits at {0}")]
    NobodyWaits(String),
    /// The socket.
    #[error("hand-over socket {path}: {error}")]
    Socket {
        /// Its path.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The conversation.
    #[error("hand-over: {0}")]
    Channel(#[from] HandoverError),
    /// The running node refused.
    #[error("the running node refuses the hand-over: {0}")]
    Refused(String),
    /// A record is not what the conversation expects.
    #[error("hand-over: {0}")]
    Protocol(&'static str),
}

/// What the new process took over.
#[derive(Debug)]
pub struct Taken {
    /// The channel to the old node (to say "holding").
    channel: Channel,
    /// The start's secrets and clock.
    pub secrets: Secrets,
    /// Per worker: its listeners and connections, and its registrar shard's bindings.
    pub workers: Vec<(WorkerInheritance, Vec<u8>)>,
}

impl Taken {
    /// Tell the old node that this process holds everything: it lets go and exits.
    pub fn holding(mut self) -> Result<(), TakeOverError> {
        self.channel.send(HOLDING, &[])?;
        Ok(())
    }
}

/// The new process's side: take over from the node waiting at `path`, saying `hello`.
pub fn take_over(path: &Path, hello: &Hello) -> Result<Taken, TakeOverError> {
    let socket = |error| TakeOverError::Socket {
        path: path.display().to_string(),
        error,
    };
    let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            TakeOverError::NobodyWaits(path.display().to_string())
        }
        _ => socket(e),
    })?;
    stream
        .set_read_timeout(Some(STEP_TIMEOUT))
        .map_err(socket)?;
    let mut channel = Channel::new(stream);
    channel.check_peer()?;
    channel.send(&hello.encode(), &[])?;
    let (answer, _) = channel.recv(MAX_HELLO)?;
    let secrets = Secrets::decode(&answer).map_err(|e| match e {
        hello::Answer::Refused(why) => TakeOverError::Refused(why),
        hello::Answer::Malformed(what) => TakeOverError::Protocol(what),
    })?;
    let mut workers: Vec<Option<(WorkerInheritance, Vec<u8>)>> =
        (0..hello.workers).map(|_| None).collect();
    for _ in 0..hello.workers {
        let (w, package, registrar) = recv_package(&mut channel)?;
        let slot =
            workers
                .get_mut(w as usize)
                .filter(|s| s.is_none())
                .ok_or(TakeOverError::Protocol(
                    "a worker's package twice or out of range",
                ))?;
        *slot = Some((package, registrar));
    }
    Ok(Taken {
        channel,
        secrets,
        workers: workers.into_iter().flatten().collect(),
    })
}

/// The old node's side: waits at `path` for a new process; the receiver hears once one took everything over.
/// `own` is this node's hello (what a new process must match), `secrets` what it is given.
pub fn serve(
    path: &Path,
    own: Hello,
    secrets: impl Fn() -> Secrets + Send + 'static,
    poster: Poster<Msg>,
) -> Result<Receiver<()>, TakeOverError> {
    let socket = |error| TakeOverError::Socket {
        path: path.display().to_string(),
        error,
    };
    // A file left by an earlier node (or the one this process took over from) is replaced.
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(socket)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(socket)?;
    let (done_tx, done_rx) = sync_channel(1);
    let path = path.display().to_string();
    std::thread::Builder::new()
        .name("handover".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                match hand_over(stream, &own, &secrets, &poster) {
                    Ok(()) => {
                        let _ = done_tx.send(());
                        return;
                    }
                    Err(e) => tracing::warn!(socket = %path, error = %e, "hand-over did not happen; serving on"),
                }
            }
        })
        .map_err(socket)?;
    Ok(done_rx)
}

/// One hand-over attempt from the old node's side; `Ok` once the new process holds everything.
fn hand_over(
    stream: UnixStream,
    own: &Hello,
    secrets: &dyn Fn() -> Secrets,
    poster: &Poster<Msg>,
) -> Result<(), TakeOverError> {
    let socket = |error| TakeOverError::Socket {
        path: "accepted".into(),
        error,
    };
    stream
        .set_read_timeout(Some(STEP_TIMEOUT))
        .map_err(socket)?;
    let mut channel = Channel::new(stream);
    let pid = channel.check_peer()?;
    let (bytes, _) = channel.recv(MAX_HELLO)?;
    let theirs = Hello::decode(&bytes).map_err(TakeOverError::Protocol)?;
    if let Some(why) = own.mismatch(&theirs) {
        let _ = channel.send(&hello::refusal(&why), &[]);
        return Err(TakeOverError::Refused(why));
    }
    tracing::info!(
        pid,
        "a new process takes over: handing the listeners and WebSockets over"
    );
    let started = Instant::now();
    channel.send(&secrets().encode(), &[])?;
    let workers = poster.workers();
    let (tx, rx) = sync_channel(workers);
    for w in 0..workers {
        let _ = poster.post(w, Msg::HandOut(tx.clone()));
    }
    let outcome = send_packages(&mut channel, &rx, workers).and_then(|count| {
        let (said, _) = channel.recv(MAX_HELLO)?;
        if said != HOLDING {
            return Err(TakeOverError::Protocol("expected holding"));
        }
        Ok(count)
    });
    let ask = |msg: fn() -> Msg| (0..workers).for_each(|w| drop(poster.post(w, msg())));
    match outcome {
        Ok(count) => {
            ask(|| Msg::Release);
            tracing::info!(pid, connections = count, pause = ?started.elapsed(), "handed over");
            Ok(())
        }
        Err(e) => {
            ask(|| Msg::Resume);
            Err(e)
        }
    }
}

/// Sends each worker's package as it comes; returns how many connections went.
fn send_packages(
    channel: &mut Channel,
    rx: &Receiver<Handed>,
    workers: usize,
) -> Result<usize, TakeOverError> {
    let mut count = 0;
    for _ in 0..workers {
        let handed = rx
            .recv_timeout(STEP_TIMEOUT)
            .map_err(|_| TakeOverError::Protocol("a worker did not hand out in time"))?;
        let package = handed.package.map_err(|e| TakeOverError::Socket {
            path: format!("worker {}'s listeners", handed.worker),
            error: e,
        })?;
        count += package.conns.len();
        let worker = u32::try_from(handed.worker).unwrap_or(u32::MAX);
        send_package(channel, worker, &package, &handed.registrar)?;
    }
    Ok(count)
}
