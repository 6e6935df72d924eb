//! SIP capture to a HEP v3 collector (Homer, sngrep): every SIP message the edge receives or sends, on the client
//! side and the core side, mirrored as a HEP datagram over UDP.
//!
//! Workers never wait on it: a worker that keeps a message ([`Tap::record`]) copies it into a bounded queue with
//! `try_send`, and a full queue drops the copy and counts it. One capture thread ([`spawn`]) encodes
//! ([`hep::encode`]) and sends. Sampling is by Call-ID, so a dialog is kept or dropped whole, on every worker and
//! in both directions alike; an optional list of methods keeps only those requests and their responses (by the
//! CSeq method).

pub mod hep;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::{Duration, SystemTime};

pub use hep::Transport;

/// Messages the queue to the capture thread holds at most.
pub const QUEUE: usize = 8192;

/// `[capture]`, checked: where HEP goes and what is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturePlan {
    /// The collector.
    pub collector: SocketAddr,
    /// The capture agent id written in every packet.
    pub agent_id: u32,
    /// The collector's password (HEP authentication key chunk).
    pub password: Option<String>,
    /// The share of Call-IDs kept, 0.0 to 1.0.
    pub sample: f64,
    /// Methods kept (upper case); empty: all.
    pub methods: Vec<String>,
}

/// What the capture did: rendered in `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// HEP datagrams sent to the collector.
    pub sent: AtomicU64,
    /// Messages kept but not sent: the queue was full, the packet too long, or the send failed.
    pub dropped: AtomicU64,
}

impl Stats {
    /// The two counters in the Prometheus text format.
    pub fn render(&self, s: &mut String) {
        use std::fmt::Write as _;
        for (name, help, n) in [
            (
                "sipedge_capture_sent_total",
                "SIP messages sent to the HEP collector",
                &self.sent,
            ),
            (
                "sipedge_capture_dropped_total",
                "SIP messages selected for capture but not sent (queue full, too long, send failed)",
                &self.dropped,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(s, "{name} {}", n.load(Ordering::Relaxed));
        }
    }
}

/// One copied message on its way to the capture thread.
#[derive(Debug)]
pub struct Record {
    /// Who sent it.
    pub src: SocketAddr,
    /// Who it went to.
    pub dst: SocketAddr,
    /// The transport it crossed.
    pub transport: Transport,
    /// When it crossed the edge.
    pub time: SystemTime,
    /// The SIP message.
    pub payload: Vec<u8>,
}

/// Which messages are kept: by Call-ID sample and by method.
#[derive(Debug, Clone)]
pub struct Selector {
    /// A Call-ID is kept when its hash is below this (`u64::MAX`: all, with [`Selector::all`]).
    below: u64,
    /// Every Call-ID is kept.
    all: bool,
    /// Methods kept; empty: all.
    methods: Arc<[Box<[u8]>]>,
}

impl Selector {
    /// Keep `sample` (0.0 to 1.0) of the Call-IDs, and of their messages only `methods` (empty: all).
    pub fn new(sample: f64, methods: &[String]) -> Self {
        let sample = sample.clamp(0.0, 1.0);
        Self {
            below: (sample * u64::MAX as f64) as u64,
            all: sample >= 1.0,
            methods: methods
                .iter()
                .map(|m| m.as_bytes().to_ascii_uppercase().into_boxed_slice())
                .collect(),
        }
    }

    /// Whether every message is kept (no need to look into it).
    pub fn keeps_everything(&self) -> bool {
        self.all && self.methods.is_empty()
    }

    /// Whether `message` is kept: its Call-ID is in the sample and its method (a response's CSeq method) is listed.
    pub fn keeps(&self, message: &[u8]) -> bool {
        if self.keeps_everything() {
            return true;
        }
        if self.methods.is_empty() {
            // Sampling alone needs only the Call-ID: a scan of the header lines, not a parse of the message.
            return call_id_of(message).is_some_and(|c| call_id_hash(c) < self.below);
        }
        let Ok(msg) = sipscan::Message::parse(message) else {
            return false;
        };
        let call_id = msg.get(sipscan::HeaderName::CallId).map(|h| h.value());
        // A message without a Call-ID belongs to no dialog: kept only when every dialog is.
        let sampled = self.all || call_id.is_some_and(|c| call_id_hash(c) < self.below);
        if !sampled {
            return false;
        }
        if self.methods.is_empty() {
            return true;
        }
        let method = match msg.method() {
            Some(m) => Some(m.as_bytes()),
            None => msg
                .get(sipscan::HeaderName::CSeq)
                .and_then(|h| h.value().split(|b| b.is_ascii_whitespace()).nth(1)),
        };
        method.is_some_and(|m| self.methods.iter().any(|k| k.eq_ignore_ascii_case(m)))
    }
}

/// The value of the Call-ID header (or its compact form `i`, any case) in the header lines of `message`, trimmed;
/// `None` without one. What the full parse would find for a well-formed message, for far less work on the
/// messages sampling skips.
pub fn call_id_of(message: &[u8]) -> Option<&[u8]> {
    // The header lines end at the first empty line; a Call-ID in the body is none.
    let head =
        &message[..memchr::memmem::find(message, b"\r\n\r\n").map_or(message.len(), |end| end + 2)];
    // The usual spelling first, with a vector search; any other (case, compact form, spaces) by the line scan.
    if let Some(at) = memchr::memmem::find(head, b"\nCall-ID:") {
        let value = &head[at + 9..];
        let end = memchr::memchr(b'\n', value).unwrap_or(value.len());
        return Some(value[..end].trim_ascii());
    }
    // The start line is not a header: begin after its line break.
    let mut rest = &head[memchr::memchr(b'\n', head)? + 1..];
    loop {
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
        if line.is_empty() {
            return None;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = line[..colon].trim_ascii();
            if name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i") {
                return Some(line[colon + 1..].trim_ascii());
            }
        }
        if end == rest.len() {
            return None;
        }
        rest = &rest[end + 1..];
    }
}

/// FNV-1a over the Call-ID, mixed (so that close Call-IDs spread over the whole range): the same on every worker
/// and every start, so a dialog's messages are all kept or all dropped.
pub fn call_id_hash(call_id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in call_id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finaliser.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A worker's end of the capture: which messages to keep, and the bounded queue to the capture thread.
#[derive(Debug, Clone)]
pub struct Tap {
    selector: Selector,
    queue: SyncSender<Record>,
    stats: Arc<Stats>,
}

impl Tap {
    /// Whether `message` is to be captured (check it before working out its addresses).
    #[inline]
    pub fn keeps(&self, message: &[u8]) -> bool {
        self.selector.keeps(message)
    }

    /// Copy `message`, which [`Tap::keeps`], to the capture thread; never waits (a full queue counts a drop).
    pub fn record(&self, message: &[u8], src: SocketAddr, dst: SocketAddr, transport: Transport) {
        let record = Record {
            src,
            dst,
            transport,
            time: SystemTime::now(),
            payload: message.to_vec(),
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.queue.try_send(record)
        {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A tap feeding a queue of `capacity` records, and the queue's other end (for the capture thread, or a test).
pub fn channel(selector: Selector, capacity: usize, stats: Arc<Stats>) -> (Tap, Receiver<Record>) {
    let (queue, rx) = sync_channel(capacity);
    (
        Tap {
            selector,
            queue,
            stats,
        },
        rx,
    )
}

/// Start the capture thread for `plan`: a UDP socket toward the collector, and the tap every worker clones.
pub fn spawn(plan: &CapturePlan, stats: Arc<Stats>) -> std::io::Result<Tap> {
    let local: SocketAddr = if plan.collector.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(plan.collector)?;
    let selector = Selector::new(plan.sample, &plan.methods);
    let (tap, rx) = channel(selector, QUEUE, stats.clone());
    let agent_id = plan.agent_id;
    let password = plan.password.clone();
    std::thread::Builder::new()
        .name("sipedge-capture".into())
        .spawn(move || send_loop(&rx, &socket, agent_id, password.as_deref(), &stats))?;
    Ok(tap)
}

/// How long the capture thread sleeps between two looks at the queue while messages come.
const POLL_BUSY: Duration = Duration::from_millis(10);
/// The longest it sleeps while none come (doubling from [`POLL_BUSY`]).
const POLL_IDLE: Duration = Duration::from_millis(80);

/// The capture thread's state: the socket toward the collector and what every packet carries.
struct Sender<'a> {
    socket: &'a UdpSocket,
    agent_id: u32,
    password: Option<&'a str>,
    stats: &'a Stats,
    buf: Vec<u8>,
    warned: bool,
}

/// Encode and send every record until every tap is gone. The thread sleeps between looks at the queue instead of
/// blocking on it, so that a worker's `try_send` never has a sleeping receiver to wake (a system call per
/// message), and sends what gathered in one go; with 8,192 places, 80 ms of sleep still holds 100,000 messages
/// a second, and 10 ms (while busy) 800,000.
fn send_loop(
    rx: &Receiver<Record>,
    socket: &UdpSocket,
    agent_id: u32,
    password: Option<&str>,
    stats: &Stats,
) {
    let mut sender = Sender {
        socket,
        agent_id,
        password,
        stats,
        buf: Vec::with_capacity(4096),
        warned: false,
    };
    let mut pause = POLL_BUSY;
    loop {
        let mut any = false;
        loop {
            match rx.try_recv() {
                Ok(record) => {
                    any = true;
                    sender.send(&record);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        pause = if any {
            POLL_BUSY
        } else {
            (pause * 2).min(POLL_IDLE)
        };
        std::thread::sleep(pause);
    }
}

impl Sender<'_> {
    /// Encode one record and send it; a failure is counted as a drop (and logged once).
    fn send(&mut self, r: &Record) {
        let packet = hep::Packet {
            src: r.src,
            dst: r.dst,
            transport: r.transport,
            time: r.time,
            agent_id: self.agent_id,
            auth_key: self.password.map(str::as_bytes),
            payload: &r.payload,
        };
        let sent = hep::encode(&packet, &mut self.buf)
            .map_err(|e| e.to_string())
            .and_then(|()| self.socket.send(&self.buf).map_err(|e| e.to_string()));
        match sent {
            Ok(_) => self.stats.sent.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                if !self.warned {
                    tracing::warn!(error = %e, "a captured message was not sent to the HEP collector");
                    self.warned = true;
                }
                self.stats.dropped.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

#[cfg(test)]
mod tests;
