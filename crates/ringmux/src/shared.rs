//! What workers share: one mailbox per worker, and the shutdown request.
//!
//! A message is pushed onto the target's mailbox under a short lock; the target is woken only when its
//! mailbox goes from empty to non-empty. How it is woken depends on the backend: an io_uring worker is woken
//! from another worker by MSG_RING (a CQE posted straight into its ring, no syscall on the target side) and
//! from any other thread by an eventfd the ring polls; an epoll worker by a `mio::Waker` (an eventfd).

use std::fs::File;
use std::io::Write;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// How to wake one worker.
#[derive(Debug)]
pub(crate) enum Waker {
    /// An io_uring worker: its ring (for MSG_RING) and an eventfd its ring polls.
    Ring { ring_fd: RawFd, event: File },
    /// An epoll worker.
    Mio(mio::Waker),
}

struct Inbox<M> {
    queue: Vec<M>,
    notified: bool,
    waker: Option<Waker>,
}

/// One worker's mailbox.
pub(crate) struct Mailbox<M> {
    inner: Mutex<Inbox<M>>,
}

/// What a poster must do after pushing.
pub(crate) enum Wake {
    /// The target is already notified (or not running yet: it drains at start).
    Nothing,
    /// Send MSG_RING to this ring from the poster's own ring.
    MsgRing(RawFd),
}

impl<M> Mailbox<M> {
    fn lock(&self) -> MutexGuard<'_, Inbox<M>> {
        // A worker that panicked while holding the lock left a Vec in a valid state: keep going.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Pushes `msg`. `from_ring` says the poster is an io_uring worker that can send MSG_RING itself.
    pub(crate) fn post(&self, msg: M, from_ring: bool) -> Wake {
        let mut inbox = self.lock();
        inbox.queue.push(msg);
        if inbox.notified {
            return Wake::Nothing;
        }
        inbox.notified = true;
        match &inbox.waker {
            None => Wake::Nothing,
            Some(Waker::Ring { ring_fd, .. }) if from_ring => Wake::MsgRing(*ring_fd),
            Some(w) => {
                wake(w);
                Wake::Nothing
            }
        }
    }

    /// Wakes the worker without a message (shutdown).
    pub(crate) fn nudge(&self) {
        let inbox = self.lock();
        if let Some(w) = &inbox.waker {
            wake(w);
        }
    }

    /// Installs the worker's waker (at start) or removes it (at exit).
    pub(crate) fn set_waker(&self, waker: Option<Waker>) {
        self.lock().waker = waker;
    }

    /// Takes every queued message into `out`; the next post wakes the worker again.
    pub(crate) fn drain_into(&self, out: &mut Vec<M>) {
        let mut inbox = self.lock();
        inbox.notified = false;
        out.append(&mut inbox.queue);
    }
}

fn wake(w: &Waker) {
    match w {
        Waker::Ring { event, .. } => {
            // An eventfd write only fails when the counter would overflow, which still leaves it readable.
            let _ = (&*event).write(&1u64.to_ne_bytes());
        }
        Waker::Mio(waker) => {
            let _ = waker.wake();
        }
    }
}

/// State shared by all workers of one server.
pub(crate) struct Shared<M> {
    pub(crate) mailboxes: Vec<Mailbox<M>>,
    shutdown: AtomicBool,
    deadline: Mutex<Option<Instant>>,
}

impl<M> Shared<M> {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            mailboxes: (0..workers)
                .map(|_| Mailbox {
                    inner: Mutex::new(Inbox {
                        queue: Vec::new(),
                        notified: false,
                        waker: None,
                    }),
                })
                .collect(),
            shutdown: AtomicBool::new(false),
            deadline: Mutex::new(None),
        }
    }

    /// Asks every worker to shut down gracefully by `deadline`.
    pub(crate) fn request_shutdown(&self, deadline: Instant) {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = Some(deadline);
        self.shutdown.store(true, Ordering::Release);
        for mb in &self.mailboxes {
            mb.nudge();
        }
    }

    /// The shutdown deadline, once shutdown was requested.
    pub(crate) fn shutdown_deadline(&self) -> Option<Instant> {
        if !self.shutdown.load(Ordering::Acquire) {
            return None;
        }
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<M> std::fmt::Debug for Shared<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("workers", &self.mailboxes.len())
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}
