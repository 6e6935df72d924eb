//! One SIP-over-WebSocket user agent, sans-io: it is fed the messages received and the time, and it
//! queues the messages to send and the transactions that finished. It speaks like JsSIP (RFC 7118
//! client: `.invalid` Via and Contact hosts, `transport=ws`, outbound `reg-id` / `+sip.instance`,
//! `Supported: path,gruu,outbound`), re-REGISTERs before expiry, sends CRLFCRLF keepalives and
//! answers the server's, answers MESSAGE, INVITE (180, 200), re-INVITE, BYE and OPTIONS, and runs
//! calls as the caller: INVITE, ACK, an optional hold re-INVITE, BYE.
//!
//! This module holds the state and the entry point for received messages; the requests the UA sends
//! and their answers are in `uac`, its answers to the server's requests in `uas`, and what runs on
//! its timers in `timer`.

mod timer;
mod uac;
mod uas;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::build::{self, Identity};
use super::message::{Message, StartLine};
use crate::error::LoadError;

/// A client transaction's kind; its name is the report's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxKind {
    /// REGISTER (initial and refresh).
    Register,
    /// MESSAGE, to its final response.
    Message,
    /// INVITE, to its 200.
    Invite,
    /// The hold re-INVITE, to its 200.
    Hold,
    /// BYE, to its 200.
    Bye,
    /// CRLFCRLF keepalive, to the server's CRLF (RFC 5626 §4.4.1).
    Keepalive,
}

impl TxKind {
    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Register => "REGISTER",
            Self::Message => "MESSAGE",
            Self::Invite => "INVITE",
            Self::Hold => "re-INVITE",
            Self::Bye => "BYE",
            Self::Keepalive => "keepalive",
        }
    }
}

/// What the UA asks of its driver.
#[derive(Debug)]
pub enum Action {
    /// Send this SIP message (one WebSocket text message).
    Send(String),
    /// A transaction finished.
    Done {
        /// Its kind.
        kind: TxKind,
        /// From the request to the final response (or the failure).
        latency: Duration,
        /// `Ok` on a 2xx.
        result: Result<(), LoadError>,
    },
}

/// How the UA behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Expiry asked in REGISTER, seconds.
    pub expires: u32,
    /// CRLFCRLF keepalive interval; `None` sends none.
    pub keepalive: Option<Duration>,
    /// How long a transaction may wait for its final response.
    pub tx_timeout: Duration,
    /// How long a call lasts from its 200 to the BYE.
    pub call_length: Duration,
    /// Put the call on hold (re-INVITE a=sendonly) halfway through.
    pub hold: bool,
    /// MESSAGE body size, bytes.
    pub message_size: usize,
}

#[derive(Debug)]
struct Pending {
    kind: TxKind,
    started: Instant,
    deadline: Instant,
    call_id: String,
    /// For an INVITE: its Request-URI and CSeq number (a non-2xx is ACKed hop by hop).
    invite: Option<(String, u32)>,
}

/// A call this UA placed, after its 200.
#[derive(Debug)]
struct Dialog {
    to: String,
    remote_target: String,
    route: Vec<String>,
    from_tag: String,
    cseq: u32,
    hold_at: Option<Instant>,
    bye_at: Instant,
    bye_sent: bool,
}

impl Dialog {
    /// An in-dialog request of this call (ACK, BYE or, with `hold`, the hold re-INVITE) with a
    /// fresh branch; returns the request and its branch.
    fn request(
        &self,
        id: &Identity,
        rng: &mut fastrand::Rng,
        call_id: &str,
        method: &str,
        hold: bool,
    ) -> (String, String) {
        let branch = build::branch(rng);
        let req = build::in_dialog(
            id,
            method,
            &build::DialogRef {
                remote_target: &self.remote_target,
                route: &self.route,
                to: &self.to,
                from_tag: &self.from_tag,
                call_id,
                cseq: self.cseq,
                branch: &branch,
            },
            hold,
        );
        (req, branch)
    }
}

/// RFC 3261 §17.1.1.1: the round-trip estimate T1 and the longest retransmission interval T2.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

/// A 2xx this UA sent to an INVITE, sent again until its ACK comes (RFC 3261 §13.3.1.4: the UAS core does
/// so whatever the transport, since the proxies between forward a 2xx without keeping it), as JsSIP does.
#[derive(Debug)]
struct Answered {
    call_id: String,
    cseq: u32,
    response: String,
    next_at: Instant,
    interval: Duration,
    give_up_at: Instant,
}

/// One user agent.
#[derive(Debug)]
pub struct Ua {
    id: Identity,
    set: Settings,
    cseq: u32,
    reg_call_id: String,
    reg_tag: String,
    /// By top Via branch.
    pending: HashMap<String, Pending>,
    /// Calls placed, by Call-ID.
    dialogs: HashMap<String, Dialog>,
    /// 2xx answers to INVITEs waiting for their ACK, by the INVITE's top Via branch (a retransmitted
    /// INVITE gets the same answer again).
    answered: HashMap<String, Answered>,
    /// Invites outstanding (placed, no 200 yet).
    invites: usize,
    refresh_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    /// Sent keepalives still waiting for their CRLF, oldest first.
    keepalives: Vec<Instant>,
    /// No new REGISTER refresh or keepalive from now on (the traffic phase is draining).
    quiet: bool,
    actions: Vec<Action>,
    rng: fastrand::Rng,
}

impl Ua {
    /// A UA for `id`.
    pub fn new(id: Identity, set: Settings) -> Self {
        let mut rng = fastrand::Rng::new();
        Self {
            reg_call_id: build::token(&mut rng, 22),
            reg_tag: build::token(&mut rng, 10),
            id,
            set,
            cseq: rng.u32(1..10_000),
            pending: HashMap::new(),
            dialogs: HashMap::new(),
            answered: HashMap::new(),
            invites: 0,
            refresh_at: None,
            keepalive_at: None,
            keepalives: Vec::new(),
            quiet: false,
            actions: Vec::new(),
            rng,
        }
    }

    /// A UA for `id` whose REGISTERs carry `call_id` and `tag`, numbered from `after` + 1: a client that
    /// reconnects registers again within the same registration (RFC 3261 §10.2.4: the same Call-ID, a
    /// higher CSeq), as JsSIP does, so that a registrar can tell a late copy of an older REGISTER.
    pub fn resuming(
        id: Identity,
        set: Settings,
        (call_id, tag): (String, String),
        after: u32,
    ) -> Self {
        Self {
            reg_call_id: call_id,
            reg_tag: tag,
            cseq: after,
            ..Self::new(id, set)
        }
    }

    /// The actions queued since the last call.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// `true` when actions wait to be taken.
    pub fn has_actions(&self) -> bool {
        !self.actions.is_empty()
    }

    /// Transactions of `kind` waiting for their final response.
    pub fn outstanding(&self, kind: TxKind) -> usize {
        self.pending.values().filter(|p| p.kind == kind).count()
    }

    /// Calls in progress (INVITE sent, BYE not answered yet).
    pub fn calls(&self) -> usize {
        self.invites + self.dialogs.len()
    }

    /// Nothing in flight: no transaction waits, no call is up.
    pub fn settled(&self) -> bool {
        self.pending.is_empty() && self.dialogs.is_empty() && self.keepalives.is_empty()
    }

    /// Stop refreshing the registration and sending keepalives (the run is ending).
    pub fn quiet(&mut self) {
        self.quiet = true;
    }

    fn next_cseq(&mut self) -> u32 {
        self.cseq = self.cseq.wrapping_add(1).max(1);
        self.cseq
    }

    fn send(&mut self, msg: String) {
        self.actions.push(Action::Send(msg));
    }

    fn done(
        &mut self,
        kind: TxKind,
        started: Instant,
        now: Instant,
        result: Result<(), LoadError>,
    ) {
        self.actions.push(Action::Done {
            kind,
            latency: now.saturating_duration_since(started),
            result,
        });
    }

    fn start(&mut self, kind: TxKind, branch: String, call_id: String, now: Instant) {
        let invite = None;
        self.pending.insert(
            branch,
            Pending {
                kind,
                started: now,
                deadline: now + self.set.tx_timeout,
                call_id,
                invite,
            },
        );
    }

    /// Handles one received WebSocket message.
    pub fn on_message(&mut self, bytes: &[u8], now: Instant) -> Result<(), LoadError> {
        if bytes == b"\r\n" {
            // The server's answer to a keepalive (RFC 5626 §4.4.1).
            if !self.keepalives.is_empty() {
                let sent = self.keepalives.remove(0);
                self.done(TxKind::Keepalive, sent, now, Ok(()));
            }
            return Ok(());
        }
        if bytes == b"\r\n\r\n" {
            // The server's keepalive: answer with one CRLF.
            self.send("\r\n".to_owned());
            return Ok(());
        }
        let msg = Message::parse(bytes).map_err(LoadError::BadSip)?;
        match (msg.start.clone(), msg.status()) {
            (_, Some(code)) => self.on_response(&msg, code, now),
            (StartLine::Request { method, .. }, None) => self.on_request(&msg, method, now),
            (StartLine::Response { .. }, None) => {}
        }
        Ok(())
    }
}
