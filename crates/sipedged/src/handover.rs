//! Upgrading a node without closing a browser: a running node (old) hands its listeners and WebSocket
//! connections to a new process (`sipedged --take-over`) over the Unix socket `[runtime] handover_socket`.
//!
//! The conversation, in records of a [`Channel`] (the peer must run as this process's user):
//! 1. new → old: a hello naming what the new process runs: the formats it reads, its workers, listeners and mode.
//! 2. old → new: a refusal with its reason (formats, workers, listeners or mode differ; edge mode over TCP or
//!    TLS), or the
//!    start's secrets: the flow-token key and epoch (every token already in the core's Path and in dialogs names
//!    the same connection), the Via branch salt, and the reading of the edge's clock.
//! 3. old: each worker stops accepting and reading, and hands out its listeners, its UDP socket toward the core
//!    (edge mode), its open WebSockets with their state, and its registrar shard or client transactions toward the core ([`ringmux::hand_out`]);
//!    old → new: each worker's package.
//! 4. new: starts its workers on them, which take the connections on and wait; new → old: "holding".
//! 5. old → new: "released" (the commit); old: lets go of what it handed out, drains what it kept (handshakes)
//!    with 1001, and exits; new: the workers start reading and writing.
//!
//! Until step 5 the old node serves on if anything fails (the new process exits, a package cannot be made):
//! every connection reads again there, and nobody is dropped.

mod hello;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use ringmux::handover::{
    Channel, HandoverError, Record, recv_record, send_conns, send_end, send_start,
};
use ringmux::{HandOutPart, InheritedConn, Poster, WorkerInheritance};

pub use hello::{Hello, Mode, Secrets};

use crate::worker::Msg;
use crate::worker::handover::Handed;

/// How long the old node waits for its workers' packages, and for the new process to hold them.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest hello or answer record.
const MAX_HELLO: usize = 64 * 1024;
/// What the new process says once it holds everything.
const HOLDING: &[u8] = b"holding";
/// The old node's last word: it let go of everything; the new process's workers may start reading.
const RELEASED: &[u8] = b"released";

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

/// A worker's start as the new process received it.
#[derive(Debug)]
struct Start {
    listeners: Vec<std::os::fd::OwnedFd>,
    udp: Vec<std::os::fd::OwnedFd>,
    generations: Vec<u32>,
    worker_state: Vec<u8>,
}

/// What the new process has taken over once every worker's start arrived; the connections follow.
#[derive(Debug)]
pub struct Taken {
    /// The channel to the old node.
    channel: Channel,
    /// The start's secrets and clock.
    pub secrets: Secrets,
    /// Per worker, its start.
    starts: Vec<Start>,
    /// Connections that came before every start did, per worker.
    early: Vec<Vec<InheritedConn>>,
    /// Per worker, whether its end came already.
    ended: Vec<bool>,
}

/// What the new process's workers start with, and where the rest of their connections go.
pub struct Inheritance {
    /// Per worker: listeners, generations, the connections so far, and the channel for the others.
    pub workers: Vec<WorkerInheritance>,
    /// Per worker: its registrar shard's bindings, or its client transactions toward the core.
    pub worker_states: Vec<Vec<u8>>,
    /// Per worker: where its next connections go. Each is dropped only once the old node released
    /// everything: until then a worker waits, its connections taken on and none read or written, so that a
    /// hand-over failing before its end leaves the old node the only one to touch them.
    senders: Vec<std::sync::mpsc::SyncSender<Vec<InheritedConn>>>,
    /// Per worker: whether its end came.
    ended: Vec<bool>,
}

impl Taken {
    /// Splits what arrived so far into the workers' inheritance; the rest comes with [`Taken::stream`].
    pub fn inheritance(&mut self) -> Inheritance {
        let mut workers = Vec::new();
        let mut worker_states = Vec::new();
        let mut senders = Vec::new();
        let early = std::mem::take(&mut self.early);
        for (start, conns) in std::mem::take(&mut self.starts).into_iter().zip(early) {
            // A worker's batches wait in a short queue: the process holds the descriptors of a few at a time.
            let (tx, rx) = sync_channel(2);
            workers.push(WorkerInheritance {
                listeners: start.listeners,
                udp: start.udp,
                generations: start.generations,
                conns,
                more: Some(rx),
            });
            worker_states.push(start.worker_state);
            senders.push(tx);
        }
        Inheritance {
            workers,
            worker_states,
            senders,
            ended: self.ended.clone(),
        }
    }

    /// Passes the connections still coming to the workers (now started on the inheritance), until every
    /// worker's end, then tells the old node that this process holds everything and waits for it to let go;
    /// only then do the workers start reading and writing.
    pub fn stream(mut self, inheritance: &mut Inheritance) -> Result<usize, TakeOverError> {
        let mut count = 0;
        while inheritance.ended.iter().any(|e| !e) {
            match recv_record(&mut self.channel)? {
                Record::Conns { worker, conns } => {
                    count += conns.len();
                    let w = worker as usize;
                    let tx = inheritance
                        .senders
                        .get(w)
                        .filter(|_| inheritance.ended.get(w) == Some(&false))
                        .ok_or(TakeOverError::Protocol(
                            "connections of a worker that ended",
                        ))?;
                    tx.send(conns).map_err(|_| {
                        TakeOverError::Protocol("a worker stopped taking connections")
                    })?;
                }
                Record::End { worker } => {
                    let ended = inheritance
                        .ended
                        .get_mut(worker as usize)
                        .filter(|e| !**e)
                        .ok_or(TakeOverError::Protocol("an end twice"))?;
                    *ended = true;
                }
                Record::Start { .. } => return Err(TakeOverError::Protocol("a start twice")),
            }
        }
        self.channel.send(HOLDING, &[])?;
        let (said, _) = self.channel.recv(MAX_HELLO)?;
        if said != RELEASED {
            return Err(TakeOverError::Protocol("expected released"));
        }
        // The workers start.
        inheritance.senders.clear();
        Ok(count)
    }
}

/// The new process's side: connects to the node waiting at `path`, says `hello`, and receives the secrets and
/// every worker's start (the connections follow with [`Taken::stream`]).
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
    let workers = hello.workers as usize;
    let mut starts: Vec<Option<Start>> = (0..workers).map(|_| None).collect();
    let mut early: Vec<Vec<InheritedConn>> = (0..workers).map(|_| Vec::new()).collect();
    let mut ended = vec![false; workers];
    while starts.iter().any(Option::is_none) {
        match recv_record(&mut channel)? {
            Record::Start {
                worker,
                listeners,
                udp,
                generations,
                extra,
            } => {
                let slot = starts
                    .get_mut(worker as usize)
                    .filter(|s| s.is_none())
                    .ok_or(TakeOverError::Protocol(
                        "a worker's start twice or out of range",
                    ))?;
                *slot = Some(Start {
                    listeners,
                    udp,
                    generations,
                    worker_state: extra,
                });
            }
            Record::Conns { worker, conns } => early
                .get_mut(worker as usize)
                .ok_or(TakeOverError::Protocol("connections of no worker"))?
                .extend(conns),
            Record::End { worker } => {
                *ended
                    .get_mut(worker as usize)
                    .ok_or(TakeOverError::Protocol("an end of no worker"))? = true;
            }
        }
    }
    Ok(Taken {
        channel,
        secrets,
        starts: starts.into_iter().flatten().collect(),
        early,
        ended,
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
    // A queue per worker, of one part: a worker blocks while its last part waits, so that the descriptors
    // installed and not yet sent stay a chunk or two per worker.
    let rxs: Vec<Receiver<Handed>> = (0..workers)
        .map(|w| {
            let (tx, rx) = sync_channel(1);
            let _ = poster.post(w, Msg::HandOut(tx));
            rx
        })
        .collect();
    let outcome = send_packages(&mut channel, &rxs).and_then(|count| {
        let (said, _) = channel.recv(MAX_HELLO)?;
        if said != HOLDING {
            return Err(TakeOverError::Protocol("expected holding"));
        }
        // The commit: once the new process reads this, its workers start; until it is sent, it never does.
        channel.send(RELEASED, &[])?;
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
            // The queues go first: a worker blocked on a full one sees it gone and resumes by itself.
            drop(rxs);
            ask(|| Msg::Resume);
            Err(e)
        }
    }
}

/// Sends every worker's start, then their connections a part from each worker in turn, until every worker's
/// end (so that the new process has every worker's listeners before it takes connections, and holds few at a
/// time); returns how many connections went.
fn send_packages(channel: &mut Channel, rxs: &[Receiver<Handed>]) -> Result<usize, TakeOverError> {
    for rx in rxs {
        let (worker, part, worker_state) = next_part(rx)?;
        let HandOutPart::Start {
            listeners,
            udp,
            generations,
        } = part
        else {
            return Err(TakeOverError::Protocol("a worker's parts out of order"));
        };
        send_start(
            channel,
            worker,
            (&listeners, &udp),
            &generations,
            &worker_state,
        )?;
    }
    let mut count = 0;
    let mut open: Vec<&Receiver<Handed>> = rxs.iter().collect();
    while !open.is_empty() {
        let mut still = Vec::with_capacity(open.len());
        for rx in open {
            let (worker, part, _) = next_part(rx)?;
            match part {
                // Sent, the descriptors close here: the other process holds them now.
                HandOutPart::Conns(conns) => {
                    count += conns.len();
                    send_conns(channel, worker, &conns)?;
                    still.push(rx);
                }
                HandOutPart::End => send_end(channel, worker)?,
                HandOutPart::Start { .. } => {
                    return Err(TakeOverError::Protocol("a worker's parts out of order"));
                }
            }
        }
        open = still;
    }
    Ok(count)
}

/// A worker's next part: its index, the part, and the worker's own state that comes with a start.
fn next_part(rx: &Receiver<Handed>) -> Result<(u32, HandOutPart, Vec<u8>), TakeOverError> {
    let handed = rx
        .recv_timeout(STEP_TIMEOUT)
        .map_err(|_| TakeOverError::Protocol("a worker did not hand out in time"))?;
    let worker = u32::try_from(handed.worker).unwrap_or(u32::MAX);
    let part = handed.part.map_err(|e| TakeOverError::Socket {
        path: format!("worker {}'s listeners", handed.worker),
        error: e,
    })?;
    Ok((worker, part, handed.worker_state))
}
