//! The per-worker edge: what to do with each SIP message from a browser's flow or from the core.

use std::net::IpAddr;

use sipscan::{HeaderName, Kind, Message, Method, Span};

use crate::action::{Action, DropReason};
use crate::config::{EdgeConfig, Mode};
use crate::flow_token::{FlowId, FlowTokenError, FlowTokenKey};
use crate::identity::Identity;
use crate::registrar::Registrar;
use crate::response;
use crate::routes::{Deletion, OwnRoutes, leading_own};
use crate::stamp::{VIA_FLOW_PARAM, stateless_branch};
use crate::time::Timestamp;

/// The prefix of every branch the edge writes: a response whose top Via lacks it is not ours.
pub const BRANCH_PREFIX: &str = "z9hG4bK-se";

/// Why a request may not be sent by `identity` (RFC 7118 §7), as a 403 reason phrase; `None` when it may.
fn identity_violation(
    msg: &Message<'_>,
    method: &Method<'_>,
    identity: &Identity,
    now: Timestamp,
) -> Option<&'static str> {
    let (header, reason) = if *method == Method::Register {
        if identity.expired(now) {
            return Some("Credential Expired");
        }
        (msg.to(), "To Does Not Match Identity")
    } else {
        (msg.from(), "From Does Not Match Identity")
    };
    let Some(Ok(addr)) = header else {
        return Some(reason);
    };
    let Some(sip) = addr.uri.sip() else {
        return Some(reason);
    };
    let user = sip.user.unwrap_or_default();
    (!identity.permits(user, sip.host.as_bytes())).then_some(reason)
}

/// Methods that the edge Record-Routes: those that form a dialog or refresh its target (RFC 3261 §12, §16.6).
fn record_routes(method: &Method<'_>) -> bool {
    matches!(
        method,
        Method::Invite
            | Method::Subscribe
            | Method::Notify
            | Method::Refer
            | Method::Update
            | Method::Prack
    )
}

/// A browser's WebSocket flow, as the runtime knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientFlow<'a> {
    /// The flow (worker, slot, generation).
    pub id: FlowId,
    /// The browser's address (for Via `received`), when the runtime knows it.
    pub peer: Option<IpAddr>,
    /// The identity the handshake authenticated, if the listener requires one (RFC 7118 §7).
    pub identity: Option<&'a Identity>,
}

impl ClientFlow<'_> {
    /// A flow with no authenticated identity.
    pub fn anonymous(id: FlowId, peer: Option<IpAddr>) -> ClientFlow<'static> {
        ClientFlow {
            id,
            peer,
            identity: None,
        }
    }
}

/// One worker's edge logic and, in standalone mode, its registrar shard.
#[derive(Debug)]
pub struct Edge {
    cfg: EdgeConfig,
    key: FlowTokenKey,
    registrar: Registrar,
}

/// Where a forwarded request goes.
#[derive(Clone, Copy)]
enum Target {
    Flow(FlowId),
    Core,
}

/// Where a browser's request goes after the edge.
enum NextHop {
    /// The SIP core (edge mode: every request from a browser, whatever its Route says).
    Core,
    /// Another browser's flow (standalone mode only: a binding, or a Route entry naming the flow), with the
    /// Request-URI to write, if any.
    Flow {
        target: FlowId,
        request_uri: Option<(Span, String)>,
    },
}

/// The edits of a forwarded request, owned so the editor can borrow them.
struct Forward<'m> {
    via: String,
    received: Option<String>,
    record_route: Option<String>,
    path: Option<String>,
    request_uri: Option<(Span, String)>,
    own: OwnRoutes<'m>,
}

impl Edge {
    /// An edge for one worker, sealing flow tokens with `key`.
    pub fn new(cfg: EdgeConfig, key: FlowTokenKey) -> Self {
        let registrar = Registrar::shard(cfg.registrar, cfg.workers);
        Self {
            cfg,
            key,
            registrar,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EdgeConfig {
        &self.cfg
    }

    /// The registrar shard (standalone mode).
    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Replace the registrar shard (with bindings another process handed over).
    pub fn set_registrar(&mut self, registrar: Registrar) {
        self.registrar = registrar;
    }

    /// Take what a configuration reload may change: the registrar's bounds (see [`Registrar::reconfigure`]) and
    /// the largest SIP message.
    pub fn reconfigure(
        &mut self,
        registrar: crate::registrar::RegistrarConfig,
        max_message_size: usize,
    ) {
        self.cfg.registrar = registrar;
        self.cfg.max_message_size = max_message_size;
        self.registrar.reconfigure(registrar, self.cfg.workers);
    }

    /// The WebSocket-side hop as `flow` sees it: `WSS` / `sips:` for a secure WebSocket (RFC 7118 §5).
    fn ws_hop(&self, flow: &FlowId) -> crate::stamp::Hop {
        let mut hop = self.cfg.ws_hop.clone();
        hop.transport = if flow.secure {
            if let Some(hp) = &self.cfg.wss_host_port {
                hop.host_port.clone_from(hp);
            }
            crate::stamp::Transport::Wss
        } else {
            crate::stamp::Transport::Ws
        };
        hop
    }

    /// The flow token of `flow`.
    pub fn token(&self, flow: &FlowId) -> String {
        self.key.seal(flow)
    }

    /// One WebSocket message from a browser.
    pub fn from_client(
        &mut self,
        src: &ClientFlow<'_>,
        bytes: &[u8],
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        if bytes.iter().all(|&b| b == b'\r' || b == b'\n') {
            // RFC 5626 §4.4.1: a CRLFCRLF ping is answered with a CRLF pong; a lone CRLF is a pong itself.
            if bytes.ends_with(b"\r\n\r\n") {
                out.push(Action::ToFlow {
                    flow: src.id,
                    bytes: b"\r\n".to_vec(),
                    if_gone: None,
                });
            }
            return;
        }
        if bytes.len() > self.cfg.max_message_size {
            self.reply_unparsed(bytes, 513, "Message Too Large", Target::Flow(src.id), out);
            return;
        }
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.reply_unparsed(
                    bytes,
                    e.status_code(),
                    e.reason_phrase(),
                    Target::Flow(src.id),
                    out,
                );
                return;
            }
        };
        match msg.kind() {
            Kind::Response { .. } => self.client_response(&src.id, &msg, out),
            Kind::Request { method, .. } => self.client_request(src, &msg, method, now, out),
        }
    }

    /// One SIP message from the core (edge mode).
    pub fn from_core(&mut self, bytes: &[u8], out: &mut Vec<Action>) {
        if bytes.iter().all(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return; // keepalive datagram
        }
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.reply_unparsed(bytes, e.status_code(), e.reason_phrase(), Target::Core, out);
                return;
            }
        };
        match msg.kind() {
            Kind::Response { .. } => self.core_response(&msg, out),
            Kind::Request { method, .. } => self.core_request(&msg, method, out),
        }
    }

    /// A flow closed: forget the registrations it made in this shard (standalone).
    pub fn flow_closed(&mut self, flow: &FlowId) -> usize {
        self.registrar.remove_flow(flow)
    }

    /// Drop the registrations whose time has come; returns how many.
    pub fn expire(&mut self, now: Timestamp) -> usize {
        self.registrar.expire(now)
    }

    fn reply_unparsed(
        &self,
        bytes: &[u8],
        code: u16,
        reason: &str,
        to: Target,
        out: &mut Vec<Action>,
    ) {
        match response::build_from_unparsed(bytes, code, reason) {
            Some(r) => out.push(self.send(to, r, None)),
            None => out.push(Action::Drop(DropReason::Malformed)),
        }
    }

    fn reply(
        &self,
        req: &Message<'_>,
        code: u16,
        reason: &str,
        extra: &[&str],
        to: Target,
        out: &mut Vec<Action>,
    ) {
        if matches!(req.method(), Some(Method::Ack)) {
            out.push(Action::Drop(DropReason::UnroutableAck));
            return;
        }
        out.push(self.send(to, response::build(req, code, reason, extra), None));
    }

    fn send(&self, to: Target, bytes: Vec<u8>, if_gone: Option<Box<Action>>) -> Action {
        match to {
            Target::Flow(flow) => Action::ToFlow {
                flow,
                bytes,
                if_gone,
            },
            Target::Core => Action::ToCore { bytes },
        }
    }

    /// A response from a browser (to a request we forwarded to it) or from the core (to a request a browser sent
    /// through us). Pop our Via: the flow token in it names the flow the request came from; without one the
    /// request came from the core, and a browser's answer goes back there (edge mode).
    fn client_response(&self, src: &FlowId, msg: &Message<'_>, out: &mut Vec<Action>) {
        self.route_response(msg, Some(src), self.cfg.mode == Mode::Edge, out);
    }

    fn core_response(&self, msg: &Message<'_>, out: &mut Vec<Action>) {
        self.route_response(msg, None, false, out);
    }

    /// Route a response that arrived on `from` (`None`: from the core).
    fn route_response(
        &self,
        msg: &Message<'_>,
        from: Option<&FlowId>,
        tokenless_to_core: bool,
        out: &mut Vec<Action>,
    ) {
        let Some(origin) = self.pop_own_via(msg, from, out) else {
            return;
        };
        out.push(match origin {
            (Some(flow), bytes) => Action::ToFlow {
                flow,
                bytes,
                if_gone: None,
            },
            (None, bytes) if tokenless_to_core => Action::ToCore { bytes },
            (None, _) => Action::Drop(DropReason::UnroutableResponse),
        });
    }

    /// Check that the top Via is ours, for the transaction of the Via below it and the connections the response
    /// joins (it arrived `from`, and goes back to the flow its token names, or to the core), and pop it; returns
    /// the origin flow named in it and the new bytes. A Via copied from another transaction or another flow's
    /// dialog, or with a token swapped in, does not pass: its branch is not the one we would have written.
    fn pop_own_via(
        &self,
        msg: &Message<'_>,
        from: Option<&FlowId>,
        out: &mut Vec<Action>,
    ) -> Option<(Option<FlowId>, Vec<u8>)> {
        let via = match msg.top_via() {
            Some(Ok(v))
                if v.branch()
                    .is_some_and(|b| b.starts_with(BRANCH_PREFIX.as_bytes())) =>
            {
                v
            }
            _ => {
                out.push(Action::Drop(DropReason::NotOurVia));
                return None;
            }
        };
        let origin = match via.params.get(VIA_FLOW_PARAM).flatten() {
            Some(tok) => match std::str::from_utf8(tok)
                .ok()
                .and_then(|t| self.key.open(t).ok())
            {
                Some(flow) => Some(flow),
                None => {
                    out.push(Action::Drop(DropReason::BadFlowToken));
                    return None;
                }
            },
            None => None,
        };
        let (below_branch, below_sent_by) = match msg.vias().nth(1) {
            Some(Ok(v)) => (v.branch().unwrap_or_default(), v.host.as_bytes()),
            _ => (&[][..], &[][..]),
        };
        let bound = self.bound_branch(below_branch, below_sent_by, from, origin.as_ref());
        if via.branch() != Some(bound.as_bytes()) {
            out.push(Action::Drop(DropReason::NotOurVia));
            return None;
        }
        let mut ed = sipscan::Editor::new(msg);
        ed.pop_first(HeaderName::Via);
        let mut bytes = Vec::with_capacity(msg.as_bytes().len());
        if ed.write_into(&mut bytes).is_err() {
            out.push(Action::Drop(DropReason::Malformed));
            return None;
        }
        Some((origin, bytes))
    }

    /// Answer a request whose Route names no flow we hold: 430 Flow Failed for a token of another start (RFC 5626
    /// §5.3: that flow no longer exists), 403 for a forged one (RFC 5626 §5.2, counted).
    fn bad_route_token(
        &self,
        msg: &Message<'_>,
        why: FlowTokenError,
        to: Target,
        out: &mut Vec<Action>,
    ) {
        if why == FlowTokenError::Stale {
            self.reply(msg, 430, "Flow Failed", &[], to, out);
        } else {
            self.reply(msg, 403, "Invalid Flow Token", &[], to, out);
            out.push(Action::Drop(DropReason::BadFlowToken));
        }
    }

    /// Answer 400/483 for a request that must not be forwarded; `true` when answered.
    fn sanity(&self, msg: &Message<'_>, to: impl Fn() -> Target, out: &mut Vec<Action>) -> bool {
        if let Err(v) = msg.check() {
            self.reply(msg, 400, v.reason_phrase(), &[], to(), out);
            return true;
        }
        match msg.max_forwards() {
            Some(Ok(0)) => {
                self.reply(msg, 483, "Too Many Hops", &[], to(), out);
                true
            }
            Some(Err(_)) => {
                self.reply(msg, 400, "Bad Max-Forwards", &[], to(), out);
                true
            }
            _ => false,
        }
    }

    /// The flow named by our Route values, other than `except`; the error of the first token that does not open.
    fn route_flow(
        &self,
        own: &OwnRoutes<'_>,
        except: Option<&FlowId>,
    ) -> Result<Option<FlowId>, FlowTokenError> {
        let mut found = None;
        for tok in &own.tokens {
            let flow = std::str::from_utf8(tok)
                .map_err(|_| FlowTokenError::Malformed)
                .and_then(|t| self.key.open(t))?;
            if !except.is_some_and(|e| e.same_connection(&flow)) && found.is_none() {
                found = Some(flow);
            }
        }
        Ok(found)
    }

    fn client_request(
        &mut self,
        src: &ClientFlow<'_>,
        msg: &Message<'_>,
        method: Method<'_>,
        now: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let back = || Target::Flow(src.id);
        if self.sanity(msg, back, out) {
            return;
        }
        if let Some(identity) = src.identity
            && let Some(reason) = identity_violation(msg, &method, identity, now)
        {
            self.reply(msg, 403, reason, &[], back(), out);
            return;
        }
        let own = leading_own(msg, &self.cfg.own_addresses);
        if own.malformed {
            self.reply(msg, 400, "Bad Route", &[], back(), out);
            return;
        }
        if self.cfg.mode == Mode::Edge {
            // The trust boundary: every request from a browser goes to the core, which applies policy, accounting
            // and authentication. Our Route entries are popped, and the flow tokens in them (which the other party
            // of every dialog sees) are not followed.
            self.forward(src, msg, &method, own, NextHop::Core, out);
            return;
        }
        match self.route_flow(&own, Some(&src.id)) {
            Ok(Some(target)) => {
                let next = NextHop::Flow {
                    target,
                    request_uri: None,
                };
                self.forward(src, msg, &method, own, next, out);
            }
            Ok(None) => self.standalone_request(src, msg, method, own, now, out),
            Err(why) => self.bad_route_token(msg, why, back(), out),
        }
    }

    fn core_request(&self, msg: &Message<'_>, method: Method<'_>, out: &mut Vec<Action>) {
        if self.sanity(msg, || Target::Core, out) {
            return;
        }
        let own = leading_own(msg, &self.cfg.own_addresses);
        let target = match self.route_flow(&own, None) {
            Ok(Some(f)) => f,
            Ok(None) => {
                self.reply(msg, 404, "No Such Flow", &[], Target::Core, out);
                return;
            }
            Err(why) => return self.bad_route_token(msg, why, Target::Core, out),
        };
        let token = self.key.seal(&target);
        let branch = self.branch(msg, Some(&target), None);
        let fwd = Forward {
            via: self.ws_hop(&target).via(&branch),
            received: None,
            record_route: record_routes(&method).then(|| {
                format!(
                    "{}, {}",
                    self.ws_hop(&target)
                        .route_entry(Some(&token), target.outbound),
                    self.cfg.core_hop.route_entry(None, false)
                )
            }),
            path: None,
            request_uri: None,
            own,
        };
        self.deliver(msg, &fwd, Target::Flow(target), Target::Core, out);
    }

    /// RFC 5626 §5.3: a request for a flow that is gone gets 430 Flow Failed when the client registered with
    /// outbound, else 480.
    fn flow_failed(&self, msg: &Message<'_>, target: &FlowId, back: Target) -> Option<Box<Action>> {
        if matches!(msg.method(), Some(Method::Ack)) {
            return None;
        }
        let (code, reason) = if target.outbound {
            (430, "Flow Failed")
        } else {
            (480, "Temporarily Unavailable")
        };
        Some(Box::new(self.send(
            back,
            response::build(msg, code, reason, &[]),
            None,
        )))
    }

    /// The branch of our Via on `msg` as it leaves on `toward` (`None`: to the core), its responses going back to
    /// `back` (`None`: to the core).
    fn branch(&self, msg: &Message<'_>, toward: Option<&FlowId>, back: Option<&FlowId>) -> String {
        let (b, sent_by) = match msg.top_via() {
            Some(Ok(v)) => (v.branch().unwrap_or_default(), v.host.as_bytes()),
            _ => (&[][..], &[][..]),
        };
        self.bound_branch(b, sent_by, toward, back)
    }

    /// The stateless branch (RFC 3261 §16.11) for the transaction of the incoming Via (`incoming` branch and
    /// `sent_by`), bound with the secret salt to the connection the request leaves on and the one its responses
    /// go back to, so that a response is taken only on the connection its request went to, and only for the flow
    /// that sent it. The same for a request's CANCEL and non-2xx ACK (same Via, same connections).
    fn bound_branch(
        &self,
        incoming: &[u8],
        sent_by: &[u8],
        toward: Option<&FlowId>,
        back: Option<&FlowId>,
    ) -> String {
        let end = |f: Option<&FlowId>| {
            f.map_or_else(
                || "core".to_owned(),
                |f| format!("{}.{}.{}.{}", f.node, f.worker, f.slot, f.generation),
            )
        };
        stateless_branch(
            self.cfg.branch_salt,
            std::str::from_utf8(incoming).unwrap_or_default(),
            std::str::from_utf8(sent_by).unwrap_or_default(),
            &format!("{}>{}", end(toward), end(back)),
        )
    }

    /// Whether the client does outbound (RFC 5626): `reg-id` on a REGISTER's Contact, `;ob` on a dialog's.
    fn wants_outbound(msg: &Message<'_>) -> bool {
        msg.contacts().any(|c| match c {
            Ok(sipscan::Contact::Addr(a)) => {
                a.params.get("reg-id").is_some() || a.uri.sip().is_some_and(|s| s.ob())
            }
            _ => false,
        })
    }

    /// Forward a browser's request to `next`: our Via on top, carrying the sender's flow token;
    /// the browser's address as `received`; for a dialog-forming request one Record-Route entry
    /// per side, the side it leaves by first; for a REGISTER to the core, Path with the token.
    fn forward(
        &self,
        src: &ClientFlow<'_>,
        msg: &Message<'_>,
        method: &Method<'_>,
        own: OwnRoutes<'_>,
        next: NextHop,
        out: &mut Vec<Action>,
    ) {
        let received = src.peer.map(|p| p.to_string());
        let mut origin = src.id;
        let (fwd, to) = match next {
            NextHop::Core => {
                origin.outbound = Self::wants_outbound(msg);
                let token = self.key.seal(&origin);
                let core = &self.cfg.core_hop;
                let ws_entry = || {
                    self.ws_hop(&origin)
                        .route_entry(Some(&token), origin.outbound)
                };
                let fwd = Forward {
                    via: format!(
                        "{};rport;{VIA_FLOW_PARAM}={token}",
                        core.via(&self.branch(msg, None, Some(&origin)))
                    ),
                    received,
                    record_route: record_routes(method)
                        .then(|| format!("{}, {}", core.route_entry(None, false), ws_entry())),
                    path: matches!(method, Method::Register)
                        .then(|| core.route_entry(Some(&token), origin.outbound)),
                    request_uri: None,
                    own,
                };
                (fwd, Target::Core)
            }
            NextHop::Flow {
                target,
                request_uri,
            } => {
                origin.outbound |= Self::wants_outbound(msg);
                let src_token = self.key.seal(&origin);
                let entry = |flow: &FlowId, token: &str| {
                    self.ws_hop(flow).route_entry(Some(token), flow.outbound)
                };
                let fwd = Forward {
                    via: format!(
                        "{};{VIA_FLOW_PARAM}={src_token}",
                        self.ws_hop(&target)
                            .via(&self.branch(msg, Some(&target), Some(&origin)))
                    ),
                    received,
                    record_route: record_routes(method).then(|| {
                        let dst_token = self.key.seal(&target);
                        format!(
                            "{}, {}",
                            entry(&target, &dst_token),
                            entry(&origin, &src_token)
                        )
                    }),
                    path: None,
                    request_uri,
                    own,
                };
                (fwd, Target::Flow(target))
            }
        };
        self.deliver(msg, &fwd, to, Target::Flow(src.id), out);
    }

    /// Write the forwarding edits into `msg` and send it `to`; when that flow is gone, the
    /// sender (`back`) gets 430 or 480, and when Max-Forwards is spent, 483.
    fn deliver(
        &self,
        msg: &Message<'_>,
        fwd: &Forward<'_>,
        to: Target,
        back: Target,
        out: &mut Vec<Action>,
    ) {
        let Some(bytes) = self.edit(msg, fwd) else {
            return self.reply(msg, 483, "Too Many Hops", &[], back, out);
        };
        let if_gone = match to {
            Target::Flow(flow) => self.flow_failed(msg, &flow, back),
            Target::Core => None,
        };
        out.push(self.send(to, bytes, if_gone));
    }

    /// Apply the forwarding edits in one pass; `None` when Max-Forwards is exhausted.
    fn edit(&self, msg: &Message<'_>, fwd: &Forward<'_>) -> Option<Vec<u8>> {
        let mut ed = sipscan::Editor::new(msg);
        if let (Some(received), Some(via)) = (&fwd.received, msg.get(HeaderName::Via)) {
            // RFC 3261 §18.2.1: the browser's sent-by is a .invalid name (RFC 7118 §5.2), never its address.
            ed.set_param(via.index(), "received", Some(received.as_bytes()))
                .ok()?;
        }
        // Inserted at the same place, in this order: Path, Record-Route, then our Via just above the others.
        if let Some(path) = &fwd.path {
            ed.insert_first(HeaderName::Path, path.as_bytes());
        }
        if let Some(rr) = &fwd.record_route {
            ed.insert_first(HeaderName::RecordRoute, rr.as_bytes());
        }
        ed.insert_first(HeaderName::Via, fwd.via.as_bytes());
        for d in &fwd.own.deletions {
            match *d {
                Deletion::Line(i) => ed.remove(i).ok()?,
                Deletion::Span(s) => ed.remove_span(s),
            }
        }
        if let Some((span, uri)) = &fwd.request_uri {
            ed.replace_span(*span, uri.as_bytes());
        }
        if msg.get(HeaderName::MaxForwards).is_some() {
            ed.decrement_max_forwards().ok()?;
        } else {
            ed.insert_first(HeaderName::MaxForwards, b"70");
        }
        let mut bytes = Vec::with_capacity(msg.as_bytes().len() + 256);
        ed.write_into(&mut bytes).ok()?;
        Some(bytes)
    }
}

mod standalone;
