//! The worker loop both backends run: one pass fires due timers, lets the backend arm and flush what the
//! handler asked for, then waits for I/O; shutdown (stop accepting, let the handler say goodbye, abort at the
//! deadline) is the same on both.
//!
//! A backend supplies the few operations that differ ([`IoBackend`]); the loop is generic over it, so each
//! backend gets its own monomorphised copy with no dynamic dispatch, and everything that runs per event stays
//! inside the backend's [`wait`](IoBackend::wait).

use std::time::{Duration, Instant};

use crate::conn::CloseReason;
use crate::engine::{Engine, Teardown};
use crate::{Error, Handler, Stats};

/// How long past the shutdown deadline a worker waits for the operations of aborted connections to complete
/// before it exits anyway. A backend whose teardown frees slots at once (epoll) never waits.
const LINGER: Duration = Duration::from_secs(2);

/// What one I/O backend does in a loop pass. Teardown (called while the engine settles closes) is part of it.
pub(crate) trait IoBackend<H: Handler>: Teardown<H::Message> {
    /// Shutdown began: stop accepting connections.
    fn stop_accepting(&mut self);

    /// Starts watching what is new since the last pass: outbound connects, UDP sockets, and whatever else the
    /// backend keeps armed.
    fn prepare(&mut self, engine: &mut Engine<H>);

    /// Starts writing the bytes queued since the last pass.
    fn flush(&mut self, engine: &mut Engine<H>);

    /// Registers `fd`, a connection handed over by another process, for `conn` (already in the slab) and starts
    /// reading it.
    fn adopt_fd(
        &mut self,
        core: &mut crate::ctx::Core<H::Message>,
        conn: crate::Conn,
        fd: std::os::fd::OwnedFd,
    ) -> std::io::Result<()>;

    /// A hand-out began: stop accepting, keeping the listening sockets.
    fn freeze(&mut self, core: &mut crate::ctx::Core<H::Message>);

    /// A hand-out began: stop reading `conn` (its queued bytes are still written).
    fn freeze_conn(&mut self, core: &mut crate::ctx::Core<H::Message>, conn: crate::Conn);

    /// Whether nothing is in flight on `conn`: it may be handed out.
    fn quiescent(&self, core: &crate::ctx::Core<H::Message>, conn: crate::Conn) -> bool;

    /// Starts making an ordinary descriptor of `conn`'s socket; it comes back from
    /// [`take_installed`](Self::take_installed).
    fn install(&mut self, core: &mut crate::ctx::Core<H::Message>, conn: crate::Conn);

    /// The descriptors installed since the last call.
    fn take_installed(&mut self) -> Vec<(crate::Conn, std::io::Result<std::os::fd::OwnedFd>)>;

    /// Ordinary descriptors of the listening sockets, in listener order.
    fn listener_fds(&self) -> std::io::Result<Vec<std::os::fd::OwnedFd>>;

    /// `conn` reads again.
    fn thaw_conn(&mut self, core: &mut crate::ctx::Core<H::Message>, conn: crate::Conn);

    /// The listeners accept again.
    fn resume_accepting(&mut self);

    /// Waits for I/O, at the latest until `wake_at` (`None`: no deadline), and hands what happened to
    /// `engine`, settling closes after each event.
    fn wait(&mut self, engine: &mut Engine<H>, wake: Wake) -> Result<(), Error>;
}

/// What a backend is set up with for one worker.
pub(crate) struct WorkerSetup<'a, M> {
    /// The server's settings.
    pub(crate) cfg: &'a crate::Config,
    /// What the workers share (mailboxes, wakers).
    pub(crate) shared: &'a crate::shared::Shared<M>,
    /// This worker's index.
    pub(crate) worker: usize,
    /// Its listening sockets (`listeners[i]` is listener `i`).
    pub(crate) listeners: Vec<std::net::TcpListener>,
}

/// When a backend's wait starts and by when it must return.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wake {
    /// The loop's time when the wait starts.
    pub(crate) now: Instant,
    /// The next timer's deadline (`None`: wait for I/O only).
    pub(crate) at: Option<Instant>,
}

/// One worker: its backend, its engine and where shutdown stands.
pub(crate) struct Worker<H: Handler, B> {
    /// Declared first so it drops first: an io_uring ring lets go of send buffers before the slots holding them
    /// are freed.
    backend: B,
    engine: Engine<H>,
    /// The shutdown deadline, once shutdown began.
    deadline: Option<Instant>,
    /// The deadline passed and every connection was aborted.
    aborted: bool,
    /// Connections handed over by another process, with the old worker's slab generations: taken on at start.
    inherit: Option<crate::inherit::Adoption>,
    /// The handler stopped accepting ([`Ctx::stop_accepting`](crate::Ctx::stop_accepting)) and the listeners
    /// are closed.
    listeners_closed: bool,
}

impl<H: Handler, B: IoBackend<H>> Worker<H, B> {
    pub(crate) fn new(backend: B, engine: Engine<H>) -> Self {
        Self {
            backend,
            engine,
            deadline: None,
            aborted: false,
            listeners_closed: false,
            inherit: None,
        }
    }

    /// The worker takes `adoption` on at start (see [`crate::WorkerInheritance`]).
    pub(crate) fn inheriting(mut self, adoption: crate::inherit::Adoption) -> Self {
        self.inherit = Some(adoption);
        self
    }

    /// Runs until shutdown has closed every connection; returns what the worker did.
    pub(crate) fn run(mut self) -> Result<Stats, Error> {
        if let Some(adoption) = self.inherit.as_mut() {
            // Taken by the handler's binds at start (`Ctx::bind_udp`).
            self.engine.core.udp_inherited = std::mem::take(&mut adoption.udp);
        }
        self.engine.start();
        // Sockets the handler did not bind again close here.
        self.engine.core.udp_inherited.clear();
        if let Some(adoption) = self.inherit.take() {
            crate::inherit::adopt(&mut self.engine, &mut self.backend, adoption);
        }
        self.engine.drain_mail();
        let outcome = self.run_passes();
        let core = &self.engine.core;
        if let Some(mailbox) = core.shared.mailboxes.get(core.worker) {
            mailbox.set_waker(None);
        }
        outcome.map(|()| core.stats)
    }

    fn run_passes(&mut self) -> Result<(), Error> {
        loop {
            let now = Instant::now();
            if self.shutdown_step(now) {
                return Ok(());
            }
            if self.engine.core.accept_stopped && !self.listeners_closed {
                self.listeners_closed = true;
                self.backend.stop_accepting();
            }
            let (engine, backend) = (&mut self.engine, &mut self.backend);
            engine.fire_timers(now);
            engine.settle(backend);
            crate::hand_out::step(engine, backend, now);
            engine.settle(backend);
            backend.prepare(engine);
            engine.settle(backend);
            backend.flush(engine);
            engine.settle(backend);
            let wake_at = self.wake_at();
            let wake = Wake { now, at: wake_at };
            self.backend.wait(&mut self.engine, wake)?;
        }
    }

    /// When the loop must run again without I/O: the next timer, the shutdown deadline, and once the deadline
    /// passed, the end of the linger.
    fn wake_at(&self) -> Option<Instant> {
        let timer = match (
            self.engine.next_timer(),
            self.engine.core.hand_out.wake_at(),
        ) {
            (Some(t), Some(h)) => Some(t.min(h)),
            (t, h) => t.or(h),
        };
        let Some(deadline) = self.deadline else {
            return timer;
        };
        let deadline = if self.aborted {
            deadline + LINGER
        } else {
            deadline
        };
        Some(timer.map_or(deadline, |t| t.min(deadline)))
    }

    /// Handles shutdown; `true` when the worker is done.
    fn shutdown_step(&mut self, now: Instant) -> bool {
        let deadline = match self.deadline {
            Some(d) => d,
            None => {
                let Some(d) = self.engine.core.shared.shutdown_deadline() else {
                    return false;
                };
                self.deadline = Some(d);
                self.backend.stop_accepting();
                self.engine.begin_shutdown();
                d
            }
        };
        if now >= deadline && !self.aborted {
            self.aborted = true;
            self.engine.abort_all(CloseReason::ShutdownDeadline);
            self.engine.settle(&mut self.backend);
        }
        if self.engine.core.conns.is_empty() {
            return true;
        }
        if now >= deadline + LINGER {
            // Operations still name slots: keep their memory alive for the kernel rather than free it.
            tracing::warn!(
                left = self.engine.core.conns.len(),
                "worker exits with I/O in flight"
            );
            std::mem::forget(std::mem::take(&mut self.engine.core.conns));
            return true;
        }
        false
    }
}
