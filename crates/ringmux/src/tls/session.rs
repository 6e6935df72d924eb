//! One TLS session on rustls's unbuffered API, server side (accepted connections) or client side (outbound
//! connections from `Ctx::connect_tls`): the worker lends the receive buffer (records are decrypted where they
//! arrived) and the connection's send queue (records are written straight into it), so an idle session holds no
//! buffer of its own. Bytes of an incomplete record are kept until the rest arrives, and plaintext queued before
//! the handshake finished waits in a buffer that exists only then. Once a server session's handshake is done,
//! its records go through [`Records`] and the rustls session is dropped.

use std::sync::Arc;

use rustls::client::{ClientConfig, UnbufferedClientConnection};
use rustls::server::{ServerConfig, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, UnbufferedStatus,
};
use rustls::{CommonState, HandshakeKind, ProtocolVersion};
use rustls_pki_types::ServerName;

use super::keylog::{self, TrafficSecrets};
use super::records::Records;
use super::state::{self, TlsState, TlsStateError};

/// Most bytes kept for an incomplete record or handshake message (a record is at most 16 KiB + 2 KiB; a
/// handshake message the server accepts is smaller than 64 KiB).
const MAX_PARTIAL: usize = 80 * 1024;

/// What one batch of received bytes did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// The handshake finished in this batch; `true` when it resumed an earlier session.
    pub(crate) handshake_done: Option<bool>,
    /// The peer sent close_notify.
    pub(crate) peer_closed: bool,
    /// The session failed (an alert, if any, was queued to go out).
    pub(crate) error: Option<rustls::Error>,
}

/// The rustls session of either side while it runs, or a server session's own record layer after its
/// handshake.
enum Side {
    Server(Box<UnbufferedServerConnection>),
    Client(Box<UnbufferedClientConnection>),
    Records(Box<Records>),
    /// Between the rustls session and the record layer (or when that step failed).
    Gone,
}

impl Side {
    fn common(&self) -> Option<&CommonState> {
        match self {
            Side::Server(c) => Some(c),
            Side::Client(c) => Some(c),
            Side::Records(_) | Side::Gone => None,
        }
    }

    fn is_handshaking(&self) -> bool {
        self.common().is_some_and(CommonState::is_handshaking)
    }
}

/// A TLS session of one connection.
pub(crate) struct TlsConn {
    conn: Side,
    /// Received bytes of an incomplete record (empty, with no allocation, otherwise).
    partial: Vec<u8>,
    /// Plaintext queued before the handshake allowed encrypting it.
    early: Vec<u8>,
    /// TLS 1.3 traffic secrets logged during the handshake, until the record layer takes them.
    secrets: Option<Box<TrafficSecrets>>,
    handshake_seen: bool,
    close_notify_sent: bool,
    failed: bool,
}

impl std::fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn")
            .field("client", &self.is_client())
            .field("handshaking", &self.conn.is_handshaking())
            .field("partial", &self.partial.len())
            .field("early", &self.early.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Appends what `fill` writes into `out`, growing it to the size `fill` reports as needed.
fn append<E>(
    out: &mut Vec<u8>,
    estimate: usize,
    mut fill: impl FnMut(&mut [u8]) -> Result<usize, E>,
    needs: impl Fn(&E) -> Option<usize>,
) -> Result<(), E> {
    let start = out.len();
    let mut room = estimate;
    loop {
        out.resize(start + room, 0);
        let r = fill(out.get_mut(start..).unwrap_or_default());
        match r {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(e) => match needs(&e) {
                Some(required) if required > room => room = required,
                _ => {
                    out.truncate(start);
                    return Err(e);
                }
            },
        }
    }
}

fn encrypt_needs(e: &EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    }
}

/// Room for `len` plaintext bytes as records: header, content type and tag per 16 KiB fragment.
fn sealed_size(len: usize) -> usize {
    len + (len / 16384 + 1) * 48
}

impl TlsConn {
    pub(crate) fn new(config: &Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        Ok(Self::with(Side::Server(Box::new(
            UnbufferedServerConnection::new(config.clone())?,
        ))))
    }

    /// A client session toward `name` (SNI, and the name the server's certificate must carry).
    pub(crate) fn client(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Self, rustls::Error> {
        let conn = UnbufferedClientConnection::new(config, name)?;
        Ok(Self::with(Side::Client(Box::new(conn))))
    }

    fn with(conn: Side) -> Self {
        Self {
            conn,
            partial: Vec::new(),
            early: Vec::new(),
            secrets: None,
            handshake_seen: false,
            close_notify_sent: false,
            failed: false,
        }
    }

    /// `true` for the client side of an outbound connection.
    pub(crate) fn is_client(&self) -> bool {
        matches!(self.conn, Side::Client(_))
    }

    /// Client side: writes the first flight (ClientHello) into `out`. An error means the session failed.
    pub(crate) fn start(&mut self, out: &mut Vec<u8>) -> Result<(), rustls::Error> {
        let mut outcome = Outcome::default();
        let mut plain = Vec::new();
        self.pump(&mut [], Action::Receive, &mut plain, out, &mut outcome);
        match outcome.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Bytes of plaintext waiting for the handshake.
    pub(crate) fn waiting(&self) -> usize {
        self.early.len()
    }

    /// The negotiated protocol version, once known.
    pub(crate) fn version(&self) -> Option<ProtocolVersion> {
        match &self.conn {
            Side::Records(r) => Some(r.version()),
            other => other.common()?.protocol_version(),
        }
    }

    /// The record state of an established server session, for another process to go on with
    /// ([`TlsConn::import`]); `None` while rustls runs the session (a handshake), or once it failed or is
    /// closing.
    pub(crate) fn export(&self) -> Option<TlsState> {
        match &self.conn {
            Side::Records(r) if !self.failed && !self.close_notify_sent => {
                Some(state::encode(r, &self.partial))
            }
            _ => None,
        }
    }

    /// A server session going on from an [`export`](Self::export)ed state.
    pub(crate) fn import(state: &TlsState) -> Result<Self, TlsStateError> {
        let (records, partial) = state::decode(state, MAX_PARTIAL)?;
        let mut conn = Self::with(Side::Records(Box::new(records)));
        conn.partial = partial;
        conn.handshake_seen = true;
        Ok(conn)
    }

    /// A server session whose handshake just ended leaves rustls for [`Records`]. Should rustls refuse to give
    /// its keys up, the session fails.
    fn settle(&mut self, out: &mut Vec<u8>, outcome: &mut Outcome) {
        if !matches!(self.conn, Side::Server(_)) {
            return;
        }
        let Side::Server(c) = std::mem::replace(&mut self.conn, Side::Gone) else {
            return;
        };
        let version = c.protocol_version();
        let suite = c.negotiated_cipher_suite().map(|s| s.suite());
        let secrets = self.secrets.take().unwrap_or_default();
        let TrafficSecrets { client, server } = *secrets;
        let records = match (version, suite) {
            (Some(version), Some(suite)) => c
                .dangerous_into_kernel_connection()
                // The key updates the kernel connection would derive, `Records` derives itself.
                .map(|(x, _)| x)
                .and_then(|x| Records::new(version, suite, x, client, server)),
            _ => Err(rustls::Error::HandshakeNotComplete),
        };
        match records {
            Ok(r) => self.conn = Side::Records(Box::new(r)),
            Err(e) => {
                self.failed = true;
                outcome.error = Some(e);
                return;
            }
        }
        if !self.early.is_empty() {
            let early = std::mem::take(&mut self.early);
            if let Err(e) = self.send(&early, out) {
                outcome.error = Some(e);
            }
        }
    }

    /// Feeds received bytes: decrypted application data is appended to `plain`, records to send to `out`.
    pub(crate) fn receive(
        &mut self,
        incoming: &mut [u8],
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        if self.failed {
            return outcome;
        }
        if matches!(self.conn, Side::Records(_)) {
            self.through_partial(incoming, &mut outcome, |s, buf, outcome| {
                let Side::Records(r) = &mut s.conn else {
                    return buf.len();
                };
                let used = r.receive(buf, plain, out, outcome);
                s.failed = outcome.error.is_some();
                used
            });
            return outcome;
        }
        self.through_partial(incoming, &mut outcome, |s, buf, outcome| {
            s.pump(buf, Action::Receive, plain, out, outcome)
        });
        if let Some(caught) = keylog::take() {
            self.secrets = Some(caught);
        }
        let Some(common) = self.conn.common() else {
            return outcome;
        };
        if !self.handshake_seen && !self.failed && !common.is_handshaking() {
            self.handshake_seen = true;
            outcome.handshake_done = Some(common.handshake_kind() == Some(HandshakeKind::Resumed));
            self.settle(out, &mut outcome);
        }
        outcome
    }

    /// Runs `step` over the bytes of an incomplete record kept from before and `incoming` (without a copy when
    /// nothing was kept); keeps what it leaves unused.
    fn through_partial(
        &mut self,
        incoming: &mut [u8],
        outcome: &mut Outcome,
        step: impl FnOnce(&mut Self, &mut [u8], &mut Outcome) -> usize,
    ) {
        if self.partial.is_empty() {
            let used = step(self, incoming, outcome);
            let rest = incoming.get(used..).unwrap_or_default().to_vec();
            self.keep_partial(rest, outcome);
        } else {
            let mut buf = std::mem::take(&mut self.partial);
            buf.extend_from_slice(incoming);
            let used = step(self, &mut buf, outcome);
            buf.drain(..used.min(buf.len()));
            self.keep_partial(buf, outcome);
        }
    }

    fn keep_partial(&mut self, rest: Vec<u8>, outcome: &mut Outcome) {
        if self.failed || rest.is_empty() {
            self.partial = Vec::new();
        } else if rest.len() > MAX_PARTIAL {
            self.failed = true;
            self.partial = Vec::new();
            outcome.error = Some(rustls::Error::General(
                "incomplete record or handshake message beyond the size limit".into(),
            ));
        } else {
            self.partial = rest;
        }
    }

    /// Encrypts `bytes` as application data into `out` (or keeps them until the handshake finished).
    pub(crate) fn send(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), rustls::Error> {
        if self.failed || self.close_notify_sent {
            return Err(rustls::Error::General("session is closed".into()));
        }
        if let Side::Records(r) = &mut self.conn {
            return r.send(bytes, out);
        }
        if self.conn.is_handshaking() || !self.early.is_empty() {
            self.early.extend_from_slice(bytes);
            return Ok(());
        }
        let mut rest = std::mem::take(&mut self.partial);
        let mut outcome = Outcome::default();
        let mut plain = Vec::new();
        let used = self.pump(
            &mut rest,
            Action::Send(bytes),
            &mut plain,
            out,
            &mut outcome,
        );
        rest.drain(..used.min(rest.len()));
        self.partial = rest;
        match outcome.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Queues close_notify (once), after any waiting plaintext that can still go.
    pub(crate) fn close_notify(&mut self, out: &mut Vec<u8>) {
        if self.failed || self.close_notify_sent || self.conn.is_handshaking() {
            return;
        }
        if let Side::Records(r) = &mut self.conn {
            r.close_notify(out);
            self.close_notify_sent = true;
            return;
        }
        let mut rest = std::mem::take(&mut self.partial);
        let mut outcome = Outcome::default();
        let mut plain = Vec::new();
        let used = self.pump(&mut rest, Action::Close, &mut plain, out, &mut outcome);
        rest.drain(..used.min(rest.len()));
        self.partial = rest;
        self.close_notify_sent = true;
    }

    /// Drives the state machine over `buf` until it needs more input; returns how many leading bytes of the
    /// received data are consumed.
    fn pump(
        &mut self,
        buf: &mut [u8],
        action: Action<'_>,
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
        outcome: &mut Outcome,
    ) -> usize {
        let mut used = 0;
        // Bounded: every round consumes input, emits output or ends; the bound only guards against a loop.
        for _ in 0..100_000 {
            let incoming = buf.get_mut(used..).unwrap_or_default();
            let early = &mut self.early;
            let (discard, next) = match &mut self.conn {
                Side::Server(c) => {
                    let UnbufferedStatus { discard, state } = c.process_tls_records(incoming);
                    (discard, step(state, early, action, plain, out, outcome))
                }
                Side::Client(c) => {
                    let UnbufferedStatus { discard, state } = c.process_tls_records(incoming);
                    (discard, step(state, early, action, plain, out, outcome))
                }
                // Not reached: these sessions are driven without rustls.
                Side::Records(_) | Side::Gone => return used,
            };
            used += discard;
            match next {
                Next::Go => {}
                Next::Stop => return used,
                Next::Fail(e) => {
                    self.failed = true;
                    outcome.error = Some(e);
                    self.flush_alert(out);
                    return used;
                }
            }
        }
        used
    }

    /// After a failure rustls may hold an alert for the peer: write it out. Only queued records are taken (the
    /// session is not asked to read again: it may still refer to handshake messages of the received batch, or
    /// would fail on the same bytes once more).
    fn flush_alert(&mut self, out: &mut Vec<u8>) {
        for _ in 0..4 {
            if !self.conn.common().is_some_and(CommonState::wants_write) {
                return;
            }
            let more = match &mut self.conn {
                Side::Server(c) => alert_step(c.process_tls_records(&mut []).state, out),
                Side::Client(c) => alert_step(c.process_tls_records(&mut []).state, out),
                Side::Records(_) | Side::Gone => false,
            };
            if !more {
                return;
            }
        }
    }
}

/// One step of writing out a pending alert; `false` once there is nothing more to write.
fn alert_step<Data>(
    state: Result<ConnectionState<'_, '_, Data>, rustls::Error>,
    out: &mut Vec<u8>,
) -> bool {
    match state {
        Ok(ConnectionState::EncodeTlsData(mut hs)) => {
            let _ = encode_handshake(&mut hs, out, 64);
            true
        }
        Ok(ConnectionState::TransmitTlsData(tx)) => {
            tx.done();
            true
        }
        _ => false,
    }
}

/// What the pump does after one state of the session.
enum Next {
    /// Ask the session for its next state.
    Go,
    /// Done until more bytes arrive (or more are sent).
    Stop,
    /// The session failed.
    Fail(rustls::Error),
}

/// Carries out one state of the session: received records' plaintext goes to `plain`, handshake and sealed
/// records to `out`; once application data may be written, `early` (plaintext queued during the handshake) and
/// then `action` are sealed.
fn step<Data>(
    state: Result<ConnectionState<'_, '_, Data>, rustls::Error>,
    early: &mut Vec<u8>,
    action: Action<'_>,
    plain: &mut Vec<u8>,
    out: &mut Vec<u8>,
    outcome: &mut Outcome,
) -> Next {
    match state {
        Err(e) => Next::Fail(e),
        Ok(ConnectionState::ReadTraffic(mut records)) => {
            while let Some(record) = records.next_record() {
                match record {
                    Ok(r) => plain.extend_from_slice(r.payload),
                    Err(e) => return Next::Fail(e),
                }
            }
            Next::Go
        }
        Ok(ConnectionState::EncodeTlsData(mut hs)) => match encode_handshake(&mut hs, out, 512) {
            Ok(()) => Next::Go,
            Err(e) => Next::Fail(rustls::Error::General(e.to_string())),
        },
        Ok(ConnectionState::TransmitTlsData(tx)) => {
            // `out` is the connection's send queue: it goes out in order, so it counts as sent.
            tx.done();
            Next::Go
        }
        Ok(ConnectionState::WriteTraffic(mut w)) => {
            let mut result = Ok(());
            if !early.is_empty() {
                let early = std::mem::take(early);
                result = append(
                    out,
                    sealed_size(early.len()),
                    |b| w.encrypt(&early, b),
                    encrypt_needs,
                );
            }
            result = result.and_then(|()| match action {
                Action::Send(bytes) => append(
                    out,
                    sealed_size(bytes.len()),
                    |b| w.encrypt(bytes, b),
                    encrypt_needs,
                ),
                Action::Close => append(out, 64, |b| w.queue_close_notify(b), encrypt_needs),
                Action::Receive => Ok(()),
            });
            match result {
                Ok(()) => Next::Stop,
                Err(e) => Next::Fail(rustls::Error::General(e.to_string())),
            }
        }
        Ok(ConnectionState::PeerClosed) => {
            outcome.peer_closed = true;
            Next::Go
        }
        Ok(ConnectionState::BlockedHandshake | ConnectionState::Closed) => Next::Stop,
        // Early data is not enabled; anything else new is not expected.
        Ok(other) => Next::Fail(rustls::Error::General(format!(
            "unexpected TLS state {other:?}"
        ))),
    }
}

/// Appends the handshake bytes `hs` holds to `out`.
fn encode_handshake<Data>(
    hs: &mut EncodeTlsData<'_, Data>,
    out: &mut Vec<u8>,
    estimate: usize,
) -> Result<(), EncodeError> {
    append(
        out,
        estimate,
        |b| hs.encode(b),
        |e| match e {
            EncodeError::InsufficientSize(s) => Some(s.required_size),
            EncodeError::AlreadyEncoded => None,
        },
    )
}

/// What a pump does once the session may write application data.
#[derive(Debug, Clone, Copy)]
enum Action<'a> {
    /// Only take in received records.
    Receive,
    /// Encrypt these bytes.
    Send(&'a [u8]),
    /// Write close_notify.
    Close,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_struct_stays_small() {
        let size = std::mem::size_of::<TlsConn>();
        eprintln!(
            "TlsConn: {size} B (UnbufferedServerConnection {} B)",
            std::mem::size_of::<UnbufferedServerConnection>()
        );
        // The boxed session is about half of an idle TLS connection's heap; its parts (keys, state) add the rest
        // (tests/tls_memory.rs).
        assert!(size <= 1536, "{size}");
    }
}
