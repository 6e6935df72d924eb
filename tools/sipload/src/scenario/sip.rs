//! The SIP scenarios (register, message, call, mix) on the engine: each connection is one JsSIP-like
//! user agent ([`Ua`]) driven by one loop that reads the WebSocket, runs the UA's timers and starts
//! the scenario's transactions on time.

use std::time::{Duration, Instant};

use wsproto::MessageKind;

use crate::cli::{Blend, CallArgs, MessageArgs, PaceArgs, SipArgs};
use crate::engine::{self, Go, Plan, Recorder, Scenario};
use crate::error::LoadError;
use crate::sip::build::{self, Identity};
use crate::sip::ua::{Action, Settings, TxKind, Ua};
use crate::ws::WsClient;

/// Which SIP scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Register and stay registered.
    Register,
    /// MESSAGE between pairs.
    Message,
    /// Calls between pairs.
    Call,
    /// MESSAGE and calls, in these shares.
    Mix(Blend),
}

/// How transactions are started in the traffic phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// This many per second for the whole run.
    Rate(f64),
    /// Keep this many outstanding per connection.
    FlatOut(usize),
}

/// A SIP scenario.
#[derive(Debug, Clone)]
pub struct Sip {
    mode: Mode,
    pace: Pace,
    settings: Settings,
    domain: String,
    user_prefix: String,
    connections: u64,
    /// `--linger`.
    linger: Duration,
    /// This process's seed for each connection's random identity parts (Via host, Contact user,
    /// instance): a connection that reconnects (`--reconnect`) registers as the same user agent.
    seed: u64,
    /// When this process's scenario began: REGISTER CSeqs count milliseconds from it.
    born: Instant,
}

impl Sip {
    /// From the flags; `connections` is the run's total (partners are paired by index).
    pub fn new(
        mode: Mode,
        sip: &SipArgs,
        pace: Option<&PaceArgs>,
        message: Option<&MessageArgs>,
        call: Option<&CallArgs>,
        connections: u64,
    ) -> Self {
        let pace = match pace {
            Some(p) if p.flat_out => Pace::FlatOut(p.window as usize),
            Some(p) => Pace::Rate(p.rate.map_or(1.0, |r| r.0)),
            None => Pace::Rate(1.0),
        };
        Self {
            mode,
            pace,
            settings: Settings {
                expires: sip.expires,
                keepalive: (sip.keepalive > 0).then(|| Duration::from_secs(sip.keepalive)),
                tx_timeout: Duration::from_secs(sip.tx_timeout),
                call_length: Duration::from_secs_f64(call.map_or(1.0, |c| c.call_secs)),
                hold: call.is_some_and(|c| c.hold_call),
                message_size: message.map_or(120, |m| m.message_size as usize),
            },
            domain: sip.domain.clone(),
            user_prefix: sip.user_prefix.clone(),
            connections,
            linger: Duration::from_secs(sip.linger),
            seed: fastrand::u64(..),
            born: Instant::now(),
        }
    }

    /// How long a connection stays after its own traffic settled, answering its partner (whose last
    /// call may still be up): `--linger` (a second by default), plus a call's length when there are calls.
    fn linger(&self) -> Duration {
        let calls = self.shares().1 > 0.0;
        self.linger
            + if calls {
                self.settings.call_length
            } else {
                Duration::ZERO
            }
    }

    /// Per-kind shares of the traffic.
    fn shares(&self) -> (f64, f64) {
        match self.mode {
            Mode::Register => (0.0, 0.0),
            Mode::Message => (1.0, 0.0),
            Mode::Call => (0.0, 1.0),
            Mode::Mix(b) => (b.message, b.call),
        }
    }
}

/// One connection: its WebSocket and its user agent.
#[derive(Debug)]
pub struct SipSession {
    ws: WsClient,
    ua: Ua,
}

/// What the driving loop is for.
enum Phase<'a> {
    /// Until the first REGISTER's answer.
    Setup,
    /// Until `go`.
    Hold(&'a mut Go),
    /// The traffic phase.
    Traffic(&'a Plan, Pacer),
}

/// When this connection starts its next MESSAGE and call.
#[derive(Debug)]
struct Pacer {
    next: [Option<Instant>; 2],
    period: [Duration; 2],
    window: Option<usize>,
    /// `--duration 0`: the one transaction is due then (spread over the ramp's length by index).
    once_at: Option<Instant>,
    once: bool,
    /// When this connection stopped starting transactions.
    finished_at: Option<Instant>,
}

impl Pacer {
    fn new(sip: &Sip, plan: &Plan, start: Instant) -> Self {
        let (m, c) = sip.shares();
        let n = plan.connections.max(1) as f64;
        let frac = (plan.index % plan.connections.max(1)) as f64 / n;
        let (next, period, window) = match sip.pace {
            Pace::FlatOut(w) => {
                let at = |share: f64| (share > 0.0).then_some(start);
                ([at(m), at(c)], [Duration::ZERO; 2], Some(w))
            }
            Pace::Rate(rate) => {
                let per = |share: f64| {
                    if share > 0.0 {
                        Duration::from_secs_f64(n / (rate * share))
                    } else {
                        Duration::ZERO
                    }
                };
                let period = [per(m), per(c)];
                let at = |i: usize, shift: f64| {
                    (period[i] > Duration::ZERO)
                        .then(|| start + period[i].mul_f64((frac + shift).fract()))
                };
                ([at(0, 0.0), at(1, 0.5)], period, None)
            }
        };
        Self {
            next,
            period,
            window,
            once_at: plan.once.then(|| start + plan.spread.mul_f64(frac)),
            once: plan.once,
            finished_at: None,
        }
    }

    /// Starts what is due: the one transaction of `--duration 0` at its time; else, until `end`, the
    /// paced or flat-out ones.
    fn fire(&mut self, ua: &mut Ua, now: Instant, end: Instant, register_only: bool) {
        if self.once {
            if self.once_at.is_some_and(|at| at <= now) {
                self.once_at = None;
                if register_only {
                    ua.register(now);
                } else if self.next[0].is_some() {
                    ua.message(now);
                } else if self.next[1].is_some() {
                    ua.call(now);
                }
            }
            return;
        }
        if now >= end {
            return;
        }
        for kind in 0..2 {
            let Some(mut at) = self.next[kind] else {
                continue;
            };
            if let Some(w) = self.window {
                let busy = if kind == 0 {
                    ua.outstanding(TxKind::Message)
                } else {
                    ua.calls()
                };
                for _ in busy..w {
                    start_kind(ua, kind, now);
                }
            } else {
                while at <= now {
                    start_kind(ua, kind, now);
                    at += self.period[kind];
                }
                self.next[kind] = Some(at);
            }
        }
    }

    /// `Some(when)` once this connection starts no more transactions.
    fn finished(&mut self, now: Instant, end: Instant) -> Option<Instant> {
        let done = if self.once {
            self.once_at.is_none()
        } else {
            now >= end
        };
        if done && self.finished_at.is_none() {
            self.finished_at = Some(now);
        }
        self.finished_at
    }

    /// The next instant something is due (flat out: driven by answers, no timer).
    fn next(&self, end: Instant) -> Option<Instant> {
        if self.once {
            return self.once_at;
        }
        if self.window.is_some() {
            return Some(end);
        }
        self.next.iter().flatten().copied().chain([end]).min()
    }
}

fn start_kind(ua: &mut Ua, kind: usize, now: Instant) {
    if kind == 0 {
        ua.message(now);
    } else {
        ua.call(now);
    }
}

impl Sip {
    /// Sends what the UA queued and records what finished; in setup, returns the REGISTER's result.
    async fn flush(
        &self,
        s: &mut SipSession,
        rec: &Recorder,
        setup: bool,
    ) -> Result<Option<Result<(), LoadError>>, LoadError> {
        let mut registered = None;
        for a in s.ua.take_actions() {
            match a {
                Action::Send(m) => s.ws.send(MessageKind::Text, m.as_bytes()).await?,
                Action::Done {
                    kind,
                    latency,
                    result,
                } => {
                    match &result {
                        Ok(()) => rec.tx_ok(kind.name(), latency),
                        Err(e) => rec.tx_failed_after(kind.name(), e, latency),
                    }
                    if setup && kind == TxKind::Register {
                        registered = Some(result);
                    }
                }
            }
        }
        if s.ws.replies_due() {
            s.ws.flush_replies().await?;
        }
        Ok(registered)
    }

    /// Runs one connection through `phase`; returns `go`'s instant for the hold.
    async fn drive(
        &self,
        s: &mut SipSession,
        rec: &Recorder,
        mut phase: Phase<'_>,
    ) -> Result<Option<Instant>, LoadError> {
        let far = Duration::from_secs(3600);
        loop {
            let setup = matches!(phase, Phase::Setup);
            if let Some(registered) = self.flush(s, rec, setup).await? {
                return registered.map(|()| None);
            }
            let now = Instant::now();
            let mut wake = s.ua.next_timer();
            if let Phase::Traffic(plan, pacer) = &mut phase {
                pacer.fire(&mut s.ua, now, plan.end, self.mode == Mode::Register);
                if let Some(finished) = pacer.finished(now, plan.end) {
                    s.ua.quiet();
                    let leave = finished + self.linger();
                    if s.ua.settled() {
                        if now >= leave {
                            return Ok(None);
                        }
                        wake = [wake, Some(leave)].into_iter().flatten().min();
                    }
                } else {
                    wake = [wake, pacer.next(plan.end)].into_iter().flatten().min();
                }
                if s.ua.has_actions() {
                    continue;
                }
            }
            let wake = wake.unwrap_or(now + far);
            let got = match &mut phase {
                Phase::Hold(go) => {
                    tokio::select! {
                        m = s.ws.next_message() => Some(m),
                        at = go.wait() => return Ok(at),
                        () = tokio::time::sleep_until(wake.into()) => None,
                    }
                }
                _ => {
                    tokio::select! {
                        m = s.ws.next_message() => Some(m),
                        () = tokio::time::sleep_until(wake.into()) => None,
                    }
                }
            };
            let now = Instant::now();
            match got {
                Some(m) => {
                    // `None`: a ping; the next flush sends its pong.
                    if let Some((_, payload)) = m?
                        && let Err(e) = s.ua.on_message(&payload, now)
                    {
                        rec.tx_failed("inbound", &e);
                    }
                }
                None => s.ua.on_timer(now),
            }
        }
    }
}

impl Scenario for Sip {
    type Session = SipSession;

    fn name(&self) -> &'static str {
        match self.mode {
            Mode::Register => "register",
            Mode::Message => "message",
            Mode::Call => "call",
            Mode::Mix(_) => "mix",
        }
    }

    fn drain_limit(&self) -> Duration {
        // A call that began at the end: its INVITE and its BYE may each take the transaction time-out.
        let last = if self.shares().1 > 0.0 {
            self.settings.call_length + 2 * self.settings.tx_timeout
        } else {
            self.settings.tx_timeout
        };
        engine::DRAIN_LIMIT.max(last + Duration::from_secs(2))
    }

    fn subprotocols(&self) -> &'static [&'static str] {
        &["sip"]
    }

    fn read_buffer(&self) -> usize {
        8192
    }

    async fn setup(
        &self,
        ws: WsClient,
        index: u64,
        rec: &Recorder,
    ) -> Result<SipSession, LoadError> {
        if ws.subprotocol.as_deref() != Some("sip") {
            return Err(LoadError::NoSipSubprotocol);
        }
        let mut rng =
            fastrand::Rng::with_seed(self.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let id = Identity::with_prefix(
            index,
            self.connections,
            &self.user_prefix,
            &self.domain,
            &mut rng,
        );
        // The same Call-ID and tag on every (re)connection of this index; CSeqs from the milliseconds since
        // the start, above those of the requests before a reconnect.
        let reg = (build::token(&mut rng, 22), build::token(&mut rng, 10));
        let after = u32::try_from(self.born.elapsed().as_millis()).unwrap_or(u32::MAX >> 1);
        let mut s = SipSession {
            ws,
            ua: Ua::resuming(id, self.settings.clone(), reg, after.min(u32::MAX >> 1)),
        };
        s.ua.register(Instant::now());
        self.drive(&mut s, rec, Phase::Setup).await?;
        s.ua.start_keepalives(Instant::now());
        Ok(s)
    }

    async fn hold(
        &self,
        s: &mut SipSession,
        go: &mut Go,
        rec: &Recorder,
    ) -> Result<Option<Instant>, LoadError> {
        self.drive(s, rec, Phase::Hold(go)).await
    }

    async fn traffic(
        &self,
        s: &mut SipSession,
        plan: &Plan,
        rec: &Recorder,
    ) -> Result<(), LoadError> {
        let pacer = Pacer::new(self, plan, Instant::now());
        self.drive(s, rec, Phase::Traffic(plan, pacer)).await?;
        Ok(())
    }

    async fn close(&self, mut s: SipSession) {
        s.ws.close().await;
    }
}
