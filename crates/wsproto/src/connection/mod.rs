//! The per-connection state machine after the opening handshake (RFC 6455 §5–§7).
//!
//! Bytes go in through [`Connection::receive`], events come out one at a time; frames go out through
//! the `send_*` methods and [`Connection::poll_transmit`] into a caller buffer. No socket, no clock.

mod keepalive;
mod receive;
mod send;
mod state;

pub use keepalive::Timeout;
pub use state::{STATE_VERSION, StateError};

use std::time::Instant;

use crate::config::{Config, Role};
use crate::error::ProtocolError;
use crate::header::{MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::opcode::OpCode;

/// The kind of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Valid UTF-8 text (checked before delivery).
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl MessageKind {
    /// The opcode of a message's first frame.
    pub fn opcode(self) -> OpCode {
        match self {
            Self::Text => OpCode::Text,
            Self::Binary => OpCode::Binary,
        }
    }
}

/// Something the peer did.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete data message. A `Text` payload has been checked to be valid UTF-8.
    Message {
        /// Text or binary.
        kind: MessageKind,
        /// The unmasked payload: in the caller's input when the message was one whole frame there,
        /// else in the connection's reassembly buffer.
        payload: &'a [u8],
    },
    /// A ping; its pong is queued for [`Connection::poll_transmit`] (only the latest ping is answered).
    Ping(&'a [u8]),
    /// A pong (solicited or not).
    Pong(&'a [u8]),
    /// The peer's Close frame. A reply is queued if we had not sent Close; the connection is then
    /// closing: flush [`Connection::poll_transmit`] and close TCP once [`Connection::is_closed`].
    Close {
        /// The status code, if the frame had a body.
        code: Option<u16>,
        /// The reason (valid UTF-8, possibly empty).
        reason: &'a str,
    },
    /// The peer broke the protocol: a Close frame with `code` is queued, later input is discarded.
    ProtocolError {
        /// The close status code sent to the peer (1002, 1007 or 1009).
        code: u16,
        /// The rule that was broken.
        error: ProtocolError,
    },
}

/// What one [`Connection::receive`] call did.
#[derive(Debug, PartialEq, Eq)]
pub struct Received<'a> {
    /// Bytes of the input consumed. If less than the input, call again with the rest after handling
    /// the event.
    pub consumed: usize,
    /// The event, if one completed.
    pub event: Option<Event<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// We sent Close and wait for the peer's.
    CloseSent,
    /// The peer sent Close; our reply is queued.
    CloseReceived,
    /// We failed the connection; our Close is queued and input is discarded.
    Failing,
    /// Both Close frames are done (or the connection failed): close TCP after flushing.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingClose {
    None,
    /// Reply to a Close without a body with an empty Close.
    Empty,
    Code(u16),
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    len: u64,
    done: u64,
}

/// A fixed buffer for one control frame payload (at most 125 bytes), so that control frames need no heap.
#[derive(Debug, Clone, Copy)]
struct ControlBuf {
    len: u8,
    bytes: [u8; MAX_CONTROL_PAYLOAD],
}

impl ControlBuf {
    const EMPTY: Self = Self {
        len: 0,
        bytes: [0; MAX_CONTROL_PAYLOAD],
    };

    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

/// [`Connection::flags`]: the reassembly buffer was delivered; free it on the next call.
const RELEASE_MESSAGE_BUF: u8 = 1;
/// [`Connection::flags`]: the message in progress is compressed (RSV1 on its first frame, RFC 7692 §6).
const COMPRESSED: u8 = 2;

/// One WebSocket connection after the opening handshake, in the server or client role.
///
/// An idle connection holds no heap memory: the reassembly buffer exists only while a message is
/// split across reads or frames, and is released after delivery.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    state: State,
    config: Config,
    /// Header bytes of a frame whose header was split across reads.
    header: [u8; MAX_HEADER_LEN],
    header_len: u8,
    frame: Option<Frame>,
    /// The data message in progress (fragmented, or one frame split across reads).
    message: Option<MessageKind>,
    message_len: u64,
    utf8: wsmask::Utf8Stream,
    message_buf: Vec<u8>,
    /// [`RELEASE_MESSAGE_BUF`] and [`COMPRESSED`] (bits, so an idle connection stays small).
    flags: u8,
    /// Payload of a control frame split across reads (allocated only then, released at the next frame).
    control: Option<Box<ControlBuf>>,
    /// The latest ping's payload, to be echoed in a pong (boxed: an idle connection holds none).
    pong: Option<Box<ControlBuf>>,
    pending_close: PendingClose,
    keepalive_since: Option<Instant>,
    awaiting_pong: bool,
}

impl Connection {
    /// A connection in `role` whose opening handshake has completed.
    pub fn new(role: Role, config: Config) -> Self {
        Self {
            role,
            state: State::Open,
            config,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            frame: None,
            message: None,
            message_len: 0,
            utf8: wsmask::Utf8Stream::new(),
            message_buf: Vec::new(),
            flags: 0,
            control: None,
            pong: None,
            pending_close: PendingClose::None,
            keepalive_since: None,
            awaiting_pong: false,
        }
    }

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether data messages may still be sent (no Close sent or received yet).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the WebSocket connection is over: flush what [`poll_transmit`](Self::poll_transmit)
    /// writes, then close the TCP connection (the server closes first, §7.1.1).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) has a frame to write.
    pub fn has_transmit(&self) -> bool {
        self.pending_close != PendingClose::None || (self.pong.is_some() && self.pong_allowed())
    }

    /// Heap bytes held right now: 0 when idle, and never more than the message size limit plus two
    /// control-frame buffers (a split control frame and a pending Pong, 126 bytes each).
    pub fn heap_bytes(&self) -> usize {
        let boxed = usize::from(self.control.is_some()) + usize::from(self.pong.is_some());
        self.message_buf.capacity() + boxed * std::mem::size_of::<ControlBuf>()
    }

    fn flag(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set_flag(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    fn pong_allowed(&self) -> bool {
        matches!(self.state, State::Open | State::CloseReceived)
    }

    fn fail(&mut self, error: ProtocolError) -> Event<'static> {
        let code = error.close_code();
        self.pong = None;
        self.frame = None;
        self.message = None;
        self.message_buf = Vec::new();
        self.set_flag(RELEASE_MESSAGE_BUF, false);
        if self.state == State::CloseSent {
            // We already sent our Close: nothing more may be sent, just drop TCP.
            self.state = State::Closed;
        } else {
            self.state = State::Failing;
            self.pending_close = PendingClose::Code(code);
        }
        Event::ProtocolError { code, error }
    }
}
