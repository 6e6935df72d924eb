//! Starting workers, choosing the backend, posting to workers, shutting down.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{Backend, Config, IoChoice};
use crate::ctx::Core;
use crate::engine::Engine;
use crate::inherit::Adoption;
use crate::shared::Shared;
use crate::worker::{IoBackend, Worker, WorkerSetup};
use crate::{Error, Handler, Stats, WorkerInheritance};

/// Environment variable that picks the backend when the configuration says [`IoChoice::Auto`].
pub const IO_ENV: &str = "RINGMUX_IO";

/// Decides which backend runs: the configuration, else `RINGMUX_IO`, else io_uring if the probe succeeds.
pub fn select_backend(choice: IoChoice) -> Result<Backend, Error> {
    let choice = match choice {
        IoChoice::Auto => match std::env::var(IO_ENV) {
            Ok(v) if !v.is_empty() => v.parse()?,
            _ => IoChoice::Auto,
        },
        other => other,
    };
    match choice {
        IoChoice::Epoll => Ok(Backend::Epoll),
        IoChoice::Uring => probe_elsewhere()
            .map(|()| Backend::Uring)
            .map_err(Error::UringUnavailable),
        IoChoice::Auto => match probe_elsewhere() {
            Ok(()) => Ok(Backend::Uring),
            Err(e) => {
                tracing::warn!(error = %e, "io_uring unavailable, falling back to epoll");
                Ok(Backend::Epoll)
            }
        },
    }
}

/// Runs the io_uring probe on a thread of its own. The probe's ring is torn down by the kernel after it is
/// closed, and that teardown interrupts the thread that created the ring once: a blocking call there (the
/// caller's own socket read, say) would fail with EINTR.
fn probe_elsewhere() -> std::io::Result<()> {
    std::thread::scope(|s| s.spawn(crate::uring::probe).join())
        .unwrap_or_else(|_| Err(std::io::Error::other("io_uring probe panicked")))
}

fn listener(addr: SocketAddr, cfg: &Config) -> Result<TcpListener, Error> {
    let wrap = |source| Error::Socket {
        what: "listener",
        source,
    };
    let s =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(wrap)?;
    s.set_reuse_address(true).map_err(wrap)?;
    s.set_reuse_port(true).map_err(wrap)?;
    s.set_nonblocking(true).map_err(wrap)?;
    s.set_tcp_nodelay(true).map_err(wrap)?;
    if !cfg.tcp_user_timeout.is_zero() {
        // Accepted sockets inherit it (they are cloned from the listener), io_uring's direct descriptors too.
        s.set_tcp_user_timeout(Some(cfg.tcp_user_timeout))
            .map_err(wrap)?;
    }
    s.bind(&addr.into()).map_err(wrap)?;
    s.listen(cfg.backlog).map_err(wrap)?;
    Ok(s.into())
}

/// What one worker starts with: its listening sockets, and the connections it takes over with the old worker's
/// slab generations.
type Start = (Vec<TcpListener>, Option<Adoption>);

/// Runs worker `worker` on this thread with `backend` until it shuts down.
fn run_worker<H: Handler>(
    backend: Backend,
    cfg: &Config,
    shared: &Arc<Shared<H::Message>>,
    worker: usize,
    handler: H,
    start: Start,
) -> Result<Stats, Error> {
    let (listeners, inherit) = start;
    let engine = |is_ring| Engine::new(handler, Core::new(worker, cfg, shared.clone(), is_ring));
    let setup = WorkerSetup {
        cfg,
        shared,
        worker,
        listeners,
    };
    match backend {
        Backend::Uring => {
            let ring = crate::uring::Ring::new(setup)?;
            run(Worker::new(ring, engine(true)), inherit)
        }
        Backend::Epoll => {
            let poller = crate::epoll::Poller::new(setup)?;
            run(Worker::new(poller, engine(false)), inherit)
        }
    }
}

/// Runs `worker`, taking over `inherit` at start.
fn run<H: Handler, B: IoBackend<H>>(
    worker: Worker<H, B>,
    inherit: Option<Adoption>,
) -> Result<Stats, Error> {
    match inherit {
        Some(adoption) => worker.inheriting(adoption).run(),
        None => worker.run(),
    }
}

/// Sends `msg` to worker `worker`'s mailbox (waking it), from outside the workers.
fn post<M: Send + 'static>(shared: &Shared<M>, worker: usize, msg: M) -> Result<(), Error> {
    shared
        .mailboxes
        .get(worker)
        .ok_or(Error::NoSuchWorker(worker))?
        .post(msg, false);
    Ok(())
}

/// Posts messages to a server's workers from any thread ([`Server::poster`]).
#[derive(Debug)]
pub struct Poster<M: Send + 'static> {
    shared: Arc<Shared<M>>,
}

impl<M: Send + 'static> Clone for Poster<M> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<M: Send + 'static> Poster<M> {
    /// Sends `msg` to worker `worker`.
    pub fn post(&self, worker: usize, msg: M) -> Result<(), Error> {
        post(&self.shared, worker, msg)
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.shared.mailboxes.len()
    }
}

/// A running server: its worker threads and the handle to post to them and stop them.
#[derive(Debug)]
pub struct Server<M: Send + 'static> {
    shared: Arc<Shared<M>>,
    threads: Vec<JoinHandle<Result<Stats, Error>>>,
    backend: Backend,
    local_addrs: Vec<SocketAddr>,
}

impl<M: Send + 'static> Server<M> {
    /// Starts `cfg.workers` workers, each running the handler `factory(worker_index)` makes on its own
    /// thread. Every worker gets its own SO_REUSEPORT socket on each of `cfg.listeners` (port 0: the first
    /// bind picks the port, the other workers share it).
    pub fn start<H, F>(cfg: Config, factory: F) -> Result<Self, Error>
    where
        H: Handler<Message = M>,
        F: Fn(usize) -> H + Send + Sync + 'static,
    {
        let workers = cfg.workers.max(1);
        let wanted = &cfg.listeners;
        if wanted.len() > crate::MAX_LISTENERS {
            return Err(Error::TooManyListeners(wanted.len()));
        }
        // Per worker, one socket per listener; a listener's first bind picks its port when it says 0.
        let mut listeners: Vec<Vec<TcpListener>> = (0..workers).map(|_| Vec::new()).collect();
        let mut local_addrs = Vec::with_capacity(wanted.len());
        for l in wanted {
            let mut addr = l.addr;
            for per_worker in &mut listeners {
                let s = listener(addr, &cfg)?;
                addr = s.local_addr().map_err(|source| Error::Socket {
                    what: "listener",
                    source,
                })?;
                per_worker.push(s);
            }
            local_addrs.push(addr);
        }
        let starts = listeners.into_iter().map(|l| (l, None)).collect();
        Self::spawn(cfg, factory, starts, local_addrs)
    }

    /// Starts like [`start`](Self::start), but on the listening sockets and with the connections another process
    /// handed over (see [`WorkerInheritance`]): one inheritance per worker, in worker order, each with one
    /// listener per [`Config::listeners`] entry. Each connection keeps its slot and generation, and the handler
    /// takes it on in [`Handler::adopt`]. Refused before any worker starts when the inheritance does not fit.
    pub fn start_inheriting<H, F>(
        cfg: Config,
        factory: F,
        inherited: Vec<WorkerInheritance>,
    ) -> Result<Self, Error>
    where
        H: Handler<Message = M>,
        F: Fn(usize) -> H + Send + Sync + 'static,
    {
        crate::inherit::check(&inherited, cfg.workers.max(1), cfg.listeners.len())?;
        let mut starts = Vec::with_capacity(inherited.len());
        let mut local_addrs = Vec::new();
        for (w, i) in inherited.into_iter().enumerate() {
            let wrap = |source| Error::Socket {
                what: "listener handed over",
                source,
            };
            let mut sockets = Vec::with_capacity(i.listeners.len());
            for fd in i.listeners {
                let s = TcpListener::from(fd);
                s.set_nonblocking(true).map_err(wrap)?;
                if w == 0 {
                    local_addrs.push(s.local_addr().map_err(wrap)?);
                }
                sockets.push(s);
            }
            let adoption = Adoption {
                conns: i.conns,
                udp: i.udp.into_iter().map(std::net::UdpSocket::from).collect(),
                more: i.more,
                generations: i.generations,
            };
            starts.push((sockets, Some(adoption)));
        }
        Self::spawn(cfg, factory, starts, local_addrs)
    }

    /// Starts one worker per entry of `starts` on its listeners and inheritance.
    fn spawn<H, F>(
        cfg: Config,
        factory: F,
        starts: Vec<Start>,
        local_addrs: Vec<SocketAddr>,
    ) -> Result<Self, Error>
    where
        H: Handler<Message = M>,
        F: Fn(usize) -> H + Send + Sync + 'static,
    {
        let backend = select_backend(cfg.io)?;
        let workers = starts.len();
        tracing::info!(?backend, workers, listeners = ?local_addrs, "ringmux starting");
        let shared = Arc::new(Shared::new(workers));
        let factory = Arc::new(factory);
        let cfg = Arc::new(cfg);
        let mut threads = Vec::with_capacity(workers);
        for (i, start) in starts.into_iter().enumerate() {
            let (shared, factory, cfg) = (shared.clone(), factory.clone(), cfg.clone());
            let t = std::thread::Builder::new()
                .name(format!("ringmux-{i}"))
                .spawn(move || -> Result<Stats, Error> {
                    let r = run_worker(backend, &cfg, &shared, i, factory(i), start);
                    if let Err(e) = &r {
                        tracing::error!(worker = i, error = %e, "worker stopped");
                        // Let the others stop too rather than run short-handed.
                        shared.request_shutdown(Instant::now() + Duration::from_secs(1));
                    }
                    r
                })
                .map_err(|e| Error::Thread(e.to_string()))?;
            threads.push(t);
        }
        Ok(Self {
            shared,
            threads,
            backend,
            local_addrs,
        })
    }

    /// The backend the workers run.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The first listener's bound address (`None` without listeners).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addrs.first().copied()
    }

    /// Every listener's bound address, in [`Ctx::listener`](crate::Ctx::listener) order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// Sends `msg` to worker `worker` from outside the workers.
    pub fn post(&self, worker: usize, msg: M) -> Result<(), Error> {
        post(&self.shared, worker, msg)
    }

    /// A handle that posts to the workers from another thread (an admin endpoint), for as long as they run.
    pub fn poster(&self) -> Poster<M> {
        Poster {
            shared: self.shared.clone(),
        }
    }

    /// Begins graceful shutdown: workers stop accepting, every handler's
    /// [`shutdown`](crate::Handler::shutdown) runs for each connection, and connections still open after
    /// `grace` are aborted with [`CloseReason::ShutdownDeadline`](crate::CloseReason::ShutdownDeadline).
    pub fn shutdown(&self, grace: Duration) {
        self.shared.request_shutdown(Instant::now() + grace);
    }

    /// Waits for every worker to finish and returns what each did.
    pub fn join(self) -> Result<Vec<Stats>, Error> {
        let mut out = Vec::with_capacity(self.threads.len());
        let mut first_err = None;
        for t in self.threads {
            match t.join() {
                Ok(Ok(s)) => out.push(s),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(Error::Thread("worker panicked".into()));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sockets_inherit_the_tcp_user_timeout() {
        let cfg = Config {
            tcp_user_timeout: Duration::from_secs(42),
            ..Config::default()
        };
        let l = listener("127.0.0.1:0".parse().unwrap(), &cfg).unwrap();
        l.set_nonblocking(false).unwrap();
        let _client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (accepted, _) = l.accept().unwrap();
        let accepted = Socket::from(accepted);
        assert_eq!(
            accepted.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(42)),
            "a zero-window peer must not hold an accepted socket for the kernel's 15 minutes"
        );
    }

    #[test]
    fn a_zero_tcp_user_timeout_keeps_the_kernel_default() {
        let cfg = Config {
            tcp_user_timeout: Duration::ZERO,
            ..Config::default()
        };
        let l = listener("127.0.0.1:0".parse().unwrap(), &cfg).unwrap();
        assert_eq!(Socket::from(l).tcp_user_timeout().unwrap(), None);
    }
}
