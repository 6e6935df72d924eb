//! One SIP-over-WebSocket user agent, sans-io: it is fed the messages received and the time, and it
//! queues the messages to send and the transactions that finished. It speaks like JsSIP (RFC 7118
//! client: `.invalid` Via and Contact hosts, `transport=ws`, outbound `reg-id` / `+sip.instance`,
//! `Supported: path,gruu,outbound`), re-REGISTERs before expiry, sends CRLFCRLF keepalives and
//! answers the server's, answers MESSAGE, INVITE (180, 200), re-INVITE, BYE and OPTIONS, and runs
//! calls as the caller: INVITE, ACK, an optional hold re-INVITE, BYE.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::build::{self, Identity};
use super::message::{Message, StartLine, param, uri_of};
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
            invites: 0,
            refresh_at: None,
            keepalive_at: None,
            keepalives: Vec::new(),
            quiet: false,
            actions: Vec::new(),
            rng,
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

    /// Sends a REGISTER (initial or refresh) asking `expires` seconds.
    pub fn register(&mut self, now: Instant) {
        let cseq = self.next_cseq();
        let branch = build::branch(&mut self.rng);
        let msg = build::register(
            &self.id,
            &branch,
            &self.reg_call_id,
            &self.reg_tag,
            cseq,
            self.set.expires,
        );
        self.send(msg);
        let call_id = self.reg_call_id.clone();
        self.start(TxKind::Register, branch, call_id, now);
        self.refresh_at = None;
    }

    /// Sends a MESSAGE to the partner.
    pub fn message(&mut self, now: Instant) {
        let cseq = self.next_cseq();
        let branch = build::branch(&mut self.rng);
        let call_id = build::token(&mut self.rng, 20);
        let tag = build::token(&mut self.rng, 10);
        let msg = build::message(
            &self.id,
            &branch,
            &call_id,
            &tag,
            cseq,
            self.set.message_size,
        );
        self.send(msg);
        self.start(TxKind::Message, branch, call_id, now);
    }

    /// Places a call to the partner.
    pub fn call(&mut self, now: Instant) {
        let cseq = self.next_cseq();
        let branch = build::branch(&mut self.rng);
        let call_id = build::token(&mut self.rng, 20);
        let tag = build::token(&mut self.rng, 10);
        let (msg, ruri) = build::invite(&self.id, &branch, &call_id, &tag, cseq);
        self.send(msg);
        self.start(TxKind::Invite, branch.clone(), call_id, now);
        if let Some(p) = self.pending.get_mut(&branch) {
            p.invite = Some((ruri, cseq));
        }
        self.invites += 1;
    }

    /// Starts the keepalives: the first one after one interval (jittered).
    pub fn start_keepalives(&mut self, now: Instant) {
        if let Some(every) = self.set.keepalive {
            self.keepalive_at = Some(now + every.mul_f64(0.5 + self.rng.f64() * 0.5));
        }
    }

    /// The next instant [`Self::on_timer`] has work.
    pub fn next_timer(&self) -> Option<Instant> {
        let quiet = |t: Option<Instant>| if self.quiet { None } else { t };
        self.pending
            .values()
            .map(|p| p.deadline)
            .chain(quiet(self.refresh_at))
            .chain(quiet(self.keepalive_at))
            .chain(self.keepalives.first().map(|t| *t + self.set.tx_timeout))
            .chain(
                self.dialogs
                    .values()
                    .filter(|d| !d.bye_sent)
                    .map(|d| d.hold_at.unwrap_or(d.bye_at)),
            )
            .min()
    }

    /// Runs what is due at `now`: timeouts, refreshes, keepalives, hold and BYE.
    pub fn on_timer(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(b, _)| b.clone())
            .collect();
        for b in expired {
            if let Some(p) = self.pending.remove(&b) {
                if p.kind == TxKind::Invite {
                    self.invites = self.invites.saturating_sub(1);
                }
                if p.kind == TxKind::Bye {
                    self.dialogs.remove(&p.call_id);
                }
                let e = LoadError::Timeout(match p.kind {
                    TxKind::Register => "waiting for the REGISTER's final response",
                    TxKind::Message => "waiting for the MESSAGE's final response",
                    TxKind::Invite => "waiting for the INVITE's 200",
                    TxKind::Hold => "waiting for the re-INVITE's 200",
                    TxKind::Bye => "waiting for the BYE's 200",
                    TxKind::Keepalive => "waiting for the keepalive's CRLF",
                });
                self.done(p.kind, p.started, now, Err(e));
            }
        }
        while let Some(&sent) = self.keepalives.first() {
            if sent + self.set.tx_timeout > now {
                break;
            }
            self.keepalives.remove(0);
            self.done(
                TxKind::Keepalive,
                sent,
                now,
                Err(LoadError::Timeout("waiting for the keepalive's CRLF")),
            );
        }
        if !self.quiet {
            if self.refresh_at.is_some_and(|t| t <= now) {
                self.register(now);
            }
            if let (Some(t), Some(every)) = (self.keepalive_at, self.set.keepalive)
                && t <= now
            {
                self.send(build::KEEPALIVE.to_owned());
                self.keepalives.push(now);
                self.keepalive_at = Some(now + every);
            }
        }
        let due: Vec<String> = self
            .dialogs
            .iter()
            .filter(|(_, d)| !d.bye_sent && d.hold_at.unwrap_or(d.bye_at) <= now)
            .map(|(c, _)| c.clone())
            .collect();
        for call_id in due {
            self.dialog_step(&call_id, now);
        }
    }

    /// Sends the hold re-INVITE or the BYE of a call.
    fn dialog_step(&mut self, call_id: &str, now: Instant) {
        let Some(d) = self.dialogs.get_mut(call_id) else {
            return;
        };
        let hold = d.hold_at.take().is_some();
        if !hold {
            d.bye_sent = true;
        }
        d.cseq += 1;
        let branch = build::branch(&mut self.rng);
        let req = build::in_dialog(
            &self.id,
            if hold { "INVITE" } else { "BYE" },
            &build::DialogRef {
                remote_target: &d.remote_target,
                route: &d.route,
                to: &d.to,
                from_tag: &d.from_tag,
                call_id,
                cseq: d.cseq,
                branch: &branch,
            },
            hold,
        );
        self.send(req);
        let kind = if hold { TxKind::Hold } else { TxKind::Bye };
        self.start(kind, branch, call_id.to_owned(), now);
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
            (StartLine::Request { method, .. }, None) => self.on_request(&msg, method),
            (StartLine::Response { .. }, None) => {}
        }
        Ok(())
    }

    fn on_response(&mut self, msg: &Message<'_>, code: u16, now: Instant) {
        let Some(branch) = msg.top_branch() else {
            return;
        };
        if code < 200 {
            return;
        }
        // A late answer (after its timeout) or a stray one finds nothing and is dropped.
        let Some(p) = self.pending.remove(branch) else {
            return;
        };
        let ok = (200..300).contains(&code);
        let result = if ok {
            Ok(())
        } else {
            Err(LoadError::SipStatus(code))
        };
        match p.kind {
            TxKind::Register if ok => {
                let granted = self.granted_expires(msg);
                let secs = f64::from(granted.max(2)) * (0.5 + 0.25 * self.rng.f64());
                self.refresh_at = Some(now + Duration::from_secs_f64(secs));
            }
            TxKind::Invite => {
                self.invites = self.invites.saturating_sub(1);
                if ok {
                    self.confirm_call(msg, &p, now);
                } else if let Some((ruri, cseq)) = &p.invite {
                    // RFC 3261 §17.1.1.3: the ACK of a non-2xx has the INVITE's branch.
                    let ack = build::ack_non_2xx(&self.id, ruri, branch, msg, *cseq);
                    self.send(ack);
                }
            }
            TxKind::Hold if ok => {
                if let Some(d) = self.dialogs.get(&p.call_id) {
                    let ack = Self::ack_for(&self.id, &mut self.rng, d, &p.call_id);
                    self.send(ack);
                }
            }
            TxKind::Bye => {
                self.dialogs.remove(&p.call_id);
            }
            _ => {}
        }
        self.done(p.kind, p.started, now, result);
    }

    /// The expiry the registrar granted our binding: our Contact's `expires`, else `Expires`.
    fn granted_expires(&self, msg: &Message<'_>) -> u32 {
        let ours = msg
            .headers("contact")
            .flat_map(super::message::split_list)
            .find(|c| uri_of(c).contains(&self.id.contact_user));
        ours.and_then(|c| param(c, "expires"))
            .or_else(|| msg.header("expires"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.set.expires)
    }

    fn ack_for(id: &Identity, rng: &mut fastrand::Rng, d: &Dialog, call_id: &str) -> String {
        let branch = build::branch(rng);
        build::in_dialog(
            id,
            "ACK",
            &build::DialogRef {
                remote_target: &d.remote_target,
                route: &d.route,
                to: &d.to,
                from_tag: &d.from_tag,
                call_id,
                cseq: d.cseq,
                branch: &branch,
            },
            false,
        )
    }

    /// The INVITE's 200: the dialog (RFC 3261 §12.1.2: route set = Record-Route reversed, remote
    /// target = Contact), its ACK, and the hold and BYE timers.
    fn confirm_call(&mut self, msg: &Message<'_>, p: &Pending, now: Instant) {
        let Some((_, cseq)) = &p.invite else { return };
        let mut route: Vec<String> = msg.record_route().into_iter().map(str::to_owned).collect();
        route.reverse();
        let from_tag = msg
            .header("from")
            .and_then(|f| param(f, "tag"))
            .unwrap_or_default()
            .to_owned();
        let d = Dialog {
            to: msg.header("to").unwrap_or_default().to_owned(),
            remote_target: msg
                .header("contact")
                .map(|c| uri_of(c).to_owned())
                .unwrap_or_else(|| self.id.partner_aor()),
            route,
            from_tag,
            cseq: *cseq,
            hold_at: self.set.hold.then(|| now + self.set.call_length / 2),
            bye_at: now + self.set.call_length,
            bye_sent: false,
        };
        let ack = Self::ack_for(&self.id, &mut self.rng, &d, &p.call_id);
        self.send(ack);
        self.dialogs.insert(p.call_id.clone(), d);
    }

    fn on_request(&mut self, msg: &Message<'_>, method: &str) {
        let reply = match method {
            "ACK" => None,
            "MESSAGE" | "OPTIONS" | "BYE" | "CANCEL" => {
                Some(build::response(msg, 200, "OK", "", ""))
            }
            "INVITE" if msg.body.is_empty() => Some(build::response(
                msg,
                488,
                "Not Acceptable Here",
                "Warning: 399 sipload \"an offer is expected in the INVITE\"\r\n",
                "",
            )),
            "INVITE" => {
                let contact = format!("Contact: {}\r\n", self.id.contact());
                let tag_given = msg.header("to").and_then(|t| param(t, "tag")).is_some();
                if !tag_given {
                    let ringing = build::response(msg, 180, "Ringing", &contact, "");
                    self.send(ringing);
                }
                let sdp: &str = if tag_given {
                    &build::HOLD_ANSWER
                } else {
                    build::ANSWER
                };
                Some(build::response(msg, 200, "OK", &contact, sdp))
            }
            _ => Some(build::response(
                msg,
                405,
                "Method Not Allowed",
                "Allow: INVITE,ACK,CANCEL,BYE,MESSAGE,OPTIONS\r\n",
                "",
            )),
        };
        if let Some(r) = reply {
            self.send(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(hold: bool) -> Settings {
        Settings {
            expires: 60,
            keepalive: Some(Duration::from_secs(10)),
            tx_timeout: Duration::from_secs(5),
            call_length: Duration::from_secs(2),
            hold,
            message_size: 100,
        }
    }

    fn ua(index: u64, hold: bool) -> Ua {
        Ua::new(
            Identity::new(
                index,
                2,
                "example.test",
                &mut fastrand::Rng::with_seed(index),
            ),
            settings(hold),
        )
    }

    fn sent(ua: &mut Ua) -> Vec<String> {
        ua.take_actions()
            .into_iter()
            .filter_map(|a| match a {
                Action::Send(m) => Some(m),
                Action::Done { .. } => None,
            })
            .collect()
    }

    fn done(actions: &[Action]) -> Vec<(TxKind, bool)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Done { kind, result, .. } => Some((*kind, result.is_ok())),
                Action::Send(_) => None,
            })
            .collect()
    }

    /// What a registrar answers: 200 with our Contact and the granted expiry.
    fn registrar_ok(req: &str, granted: u32) -> String {
        let m = Message::parse(req.as_bytes()).unwrap();
        let contact = format!(
            "Contact: <{}>;expires={granted}\r\n",
            uri_of(m.header("contact").unwrap())
        );
        build::response(&m, 200, "OK", &contact, "")
    }

    #[test]
    fn registers_like_jssip_and_refreshes_before_expiry() {
        let mut a = ua(0, false);
        let t0 = Instant::now();
        a.register(t0);
        let reg = sent(&mut a).pop().unwrap();
        for needle in [
            "REGISTER sip:example.test SIP/2.0\r\n",
            "Via: SIP/2.0/WS ",
            ".invalid;branch=z9hG4bK",
            ";transport=ws>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:",
            "Supported: path,gruu,outbound\r\n",
            "Expires: 60\r\n",
            "To: <sip:sl0@example.test>\r\n",
        ] {
            assert!(reg.contains(needle), "{needle:?} in {reg}");
        }
        a.on_message(
            registrar_ok(&reg, 40).as_bytes(),
            t0 + Duration::from_millis(3),
        )
        .unwrap();
        assert_eq!(done(&a.take_actions()), vec![(TxKind::Register, true)]);
        let next = a.next_timer().unwrap();
        let d = next - t0;
        assert!(
            d >= Duration::from_secs(20) && d <= Duration::from_secs(31),
            "refresh between 50% and 75% of the granted 40 s: {d:?}"
        );
        a.on_timer(next);
        let refresh = sent(&mut a).pop().unwrap();
        assert!(refresh.starts_with("REGISTER "), "{refresh}");
        let cseq = |m: &str| Message::parse(m.as_bytes()).unwrap().cseq().unwrap().0;
        assert_eq!(cseq(&refresh), cseq(&reg) + 1, "same Call-ID, next CSeq");
        assert_eq!(
            Message::parse(refresh.as_bytes()).unwrap().call_id(),
            Message::parse(reg.as_bytes()).unwrap().call_id()
        );
        // No answer: the refresh times out.
        a.on_timer(next + Duration::from_secs(6));
        assert_eq!(done(&a.take_actions()), vec![(TxKind::Register, false)]);
    }

    #[test]
    fn keepalives_are_crlfcrlf_and_a_crlf_answers_them() {
        let mut a = ua(0, false);
        let t0 = Instant::now();
        a.start_keepalives(t0);
        let at = a.next_timer().unwrap();
        assert!(at - t0 >= Duration::from_secs(5) && at - t0 <= Duration::from_secs(10));
        a.on_timer(at);
        assert_eq!(sent(&mut a), vec!["\r\n\r\n".to_owned()]);
        assert!(!a.settled());
        a.on_message(b"\r\n", at + Duration::from_millis(1))
            .unwrap();
        assert_eq!(done(&a.take_actions()), vec![(TxKind::Keepalive, true)]);
        // The server's own keepalive is answered with a CRLF.
        a.on_message(b"\r\n\r\n", at).unwrap();
        assert_eq!(sent(&mut a), vec!["\r\n".to_owned()]);
        assert!(a.settled());
    }

    #[test]
    fn a_message_to_the_partner_is_answered_200() {
        let (mut a, mut b) = (ua(0, false), ua(1, false));
        let t0 = Instant::now();
        a.message(t0);
        let m = sent(&mut a).pop().unwrap();
        assert!(
            m.starts_with("MESSAGE sip:sl1@example.test SIP/2.0\r\n"),
            "{m}"
        );
        let body = Message::parse(m.as_bytes()).unwrap().body.len();
        assert_eq!(body, 100);
        assert_eq!(a.outstanding(TxKind::Message), 1);
        b.on_message(m.as_bytes(), t0).unwrap();
        let ok = sent(&mut b).pop().unwrap();
        assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
        a.on_message(ok.as_bytes(), t0 + Duration::from_micros(700))
            .unwrap();
        let acts = a.take_actions();
        assert_eq!(done(&acts), vec![(TxKind::Message, true)]);
        assert!(
            matches!(acts[0], Action::Done { latency, .. } if latency == Duration::from_micros(700))
        );
        assert!(a.settled());
        // A 404 is a failed MESSAGE with its status.
        a.message(t0);
        let m = sent(&mut a).pop().unwrap();
        let nf = build::response(
            &Message::parse(m.as_bytes()).unwrap(),
            404,
            "Not Found",
            "",
            "",
        );
        a.on_message(nf.as_bytes(), t0).unwrap();
        let acts = a.take_actions();
        assert!(matches!(
            &acts[0],
            Action::Done {
                result: Err(LoadError::SipStatus(404)),
                ..
            }
        ));
    }

    #[test]
    fn a_call_runs_invite_180_200_ack_hold_bye() {
        let (mut a, mut b) = (ua(0, true), ua(1, true));
        let t0 = Instant::now();
        a.call(t0);
        let invite = sent(&mut a).pop().unwrap();
        assert!(invite.contains("Content-Type: application/sdp\r\n"));
        assert!(invite.len() > 1700, "WebRTC-sized offer: {}", invite.len());
        assert!(invite.contains(";transport=ws;ob>"));
        // The proxy adds its Record-Route; the callee copies it into its answers.
        let proxied = invite.replacen(
            "Max-Forwards: 69\r\n",
            "Max-Forwards: 68\r\nRecord-Route: <sip:edge2;lr>, <sip:edge1;lr>\r\n",
            1,
        );
        b.on_message(proxied.as_bytes(), t0).unwrap();
        let answers = sent(&mut b);
        assert_eq!(answers.len(), 2);
        assert!(answers[0].starts_with("SIP/2.0 180 Ringing"));
        assert!(answers[1].starts_with("SIP/2.0 200 OK"));
        assert!(answers[1].contains("Record-Route: <sip:edge2;lr>, <sip:edge1;lr>\r\n"));
        assert!(answers[1].ends_with(build::ANSWER));
        for r in &answers {
            a.on_message(r.as_bytes(), t0 + Duration::from_millis(2))
                .unwrap();
        }
        let acts = a.take_actions();
        assert_eq!(done(&acts), vec![(TxKind::Invite, true)]);
        let ack = match &acts[0] {
            Action::Send(m) => m.clone(),
            other => panic!("ACK first, got {other:?}"),
        };
        assert!(ack.starts_with("ACK sip:"), "{ack}");
        assert!(
            ack.contains("Route: <sip:edge1;lr>, <sip:edge2;lr>\r\n"),
            "route set is the Record-Route reversed: {ack}"
        );
        assert_eq!(a.calls(), 1);
        b.on_message(ack.as_bytes(), t0).unwrap();
        assert!(sent(&mut b).is_empty(), "ACK is not answered");

        // Halfway: hold.
        let at = a.next_timer().unwrap();
        assert_eq!(at - (t0 + Duration::from_millis(2)), Duration::from_secs(1));
        a.on_timer(at);
        let hold = sent(&mut a).pop().unwrap();
        assert!(
            hold.starts_with("INVITE ") && hold.contains("a=sendonly"),
            "{hold}"
        );
        assert!(hold.contains(";tag="), "in dialog: {hold}");
        b.on_message(hold.as_bytes(), at).unwrap();
        let ok = sent(&mut b).pop().unwrap();
        assert!(ok.contains("a=recvonly"));
        a.on_message(ok.as_bytes(), at).unwrap();
        let acts = a.take_actions();
        assert_eq!(done(&acts), vec![(TxKind::Hold, true)]);
        assert!(matches!(&acts[0], Action::Send(m) if m.starts_with("ACK ")));

        // The end: BYE.
        let at = a.next_timer().unwrap();
        a.on_timer(at);
        let bye = sent(&mut a).pop().unwrap();
        assert!(bye.starts_with("BYE "), "{bye}");
        b.on_message(bye.as_bytes(), at).unwrap();
        let ok = sent(&mut b).pop().unwrap();
        a.on_message(ok.as_bytes(), at).unwrap();
        assert_eq!(done(&a.take_actions()), vec![(TxKind::Bye, true)]);
        assert_eq!(a.calls(), 0);
        assert!(a.settled());
    }

    #[test]
    fn a_refused_invite_is_acked_with_its_own_branch() {
        let mut a = ua(0, false);
        let t0 = Instant::now();
        a.call(t0);
        let invite = sent(&mut a).pop().unwrap();
        let m = Message::parse(invite.as_bytes()).unwrap();
        let busy = build::response(&m, 486, "Busy Here", "", "");
        a.on_message(busy.as_bytes(), t0).unwrap();
        let acts = a.take_actions();
        let ack = match &acts[0] {
            Action::Send(s) => s.clone(),
            other => panic!("{other:?}"),
        };
        let ackm = Message::parse(ack.as_bytes()).unwrap();
        assert_eq!(ackm.top_branch(), m.top_branch());
        assert_eq!(ackm.cseq().unwrap(), (m.cseq().unwrap().0, "ACK"));
        assert!(matches!(
            &acts[1],
            Action::Done {
                kind: TxKind::Invite,
                result: Err(LoadError::SipStatus(486)),
                ..
            }
        ));
        assert_eq!(a.calls(), 0);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut a = ua(0, false);
        assert!(matches!(
            a.on_message(b"hello", Instant::now()),
            Err(LoadError::BadSip(_))
        ));
        // An unknown method gets 405.
        let req = "NOTIFY sip:sl0@x.invalid SIP/2.0\r\nVia: SIP/2.0/WS y;branch=z9hG4bKn\r\n\
From: <sip:s@x>;tag=1\r\nTo: <sip:sl0@example.test>\r\nCall-ID: n1\r\nCSeq: 3 NOTIFY\r\n\r\n";
        a.on_message(req.as_bytes(), Instant::now()).unwrap();
        assert!(sent(&mut a)[0].starts_with("SIP/2.0 405 "));
    }
}
