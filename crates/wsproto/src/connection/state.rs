//! A connection's state as bytes, to move it to another process (a hand-over between an old and a new server):
//! versioned, compact, and read back with every field checked, so that bytes which are not such a state are
//! refused with the field they break and never panic.
//!
//! What moves: the role, the closing handshake's progress, a frame header or payload cut by the last read, the
//! message in progress (its reassembled bytes and whether it is compressed; the UTF-8 check of a text message is
//! made again from them), a control frame in progress, the pong owed, and the keepalive clock (as time elapsed,
//! since an `Instant` means nothing in another process). What does not: the [`Config`], which the importing
//! process gives.

use std::time::{Duration, Instant};

use super::{Connection, ControlBuf, Frame, MessageKind, PendingClose, State};
use crate::config::{Config, Role};
use crate::header::{MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::opcode::OpCode;

/// The version [`Connection::export_state`] writes; [`Connection::import_state`] reads only this one.
pub const STATE_VERSION: u8 = 1;

/// Why bytes are not a connection state this version reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Another version of the format.
    #[error("connection state version {0}, this build reads version {STATE_VERSION}")]
    Version(u8),
    /// The bytes end before the state does.
    #[error("connection state cut short")]
    Truncated,
    /// Bytes after the end of the state.
    #[error("{0} bytes after the end of the connection state")]
    Trailing(usize),
    /// A field holds a value no connection has.
    #[error("connection state field {0} holds an impossible value")]
    Field(&'static str),
    /// The message in progress is longer than this process's `max_message_size` allows.
    #[error("the message in progress ({0} bytes) is over this process's max_message_size")]
    TooBig(u64),
}

impl Connection {
    /// Appends this connection's state to `out` ([`STATE_VERSION`]); `now` turns the keepalive clock into time
    /// elapsed.
    pub fn export_state(&self, now: Instant, out: &mut Vec<u8>) {
        out.push(STATE_VERSION);
        out.push(match self.role {
            Role::Server => 0,
            Role::Client => 1,
        });
        out.push(match self.state {
            State::Open => 0,
            State::CloseSent => 1,
            State::CloseReceived => 2,
            State::Failing => 3,
            State::Closed => 4,
        });
        let header = self
            .header
            .get(..usize::from(self.header_len))
            .unwrap_or_default();
        put_bytes8(out, header);
        match &self.frame {
            None => out.push(0),
            Some(f) => {
                out.push(1);
                out.push(f.opcode.bits() | if f.fin { 0x80 } else { 0 });
                match f.mask {
                    None => out.push(0),
                    Some(m) => {
                        out.push(1);
                        out.extend_from_slice(&m);
                    }
                }
                out.extend_from_slice(&f.len.to_be_bytes());
                out.extend_from_slice(&f.done.to_be_bytes());
            }
        }
        out.push(match self.message {
            None => 0,
            Some(MessageKind::Text) => 1,
            Some(MessageKind::Binary) => 2,
        });
        out.extend_from_slice(&self.message_len.to_be_bytes());
        // Between messages the reassembly buffer holds at most a message already delivered: it does not move.
        let buf = if self.message.is_some() {
            self.message_buf.as_slice()
        } else {
            &[]
        };
        out.extend_from_slice(&(buf.len() as u64).to_be_bytes());
        out.extend_from_slice(buf);
        out.push(self.flags & !super::RELEASE_MESSAGE_BUF);
        for c in [&self.control, &self.pong] {
            match c {
                None => out.push(0),
                Some(c) => {
                    out.push(1);
                    put_bytes8(out, c.as_slice());
                }
            }
        }
        match self.pending_close {
            PendingClose::None => out.push(0),
            PendingClose::Empty => out.push(1),
            PendingClose::Code(code) => {
                out.push(2);
                out.extend_from_slice(&code.to_be_bytes());
            }
        }
        let since = self
            .keepalive_since
            .map(|at| now.saturating_duration_since(at).as_millis() as u64);
        put_option_u64(out, since);
        out.push(u8::from(self.awaiting_pong));
    }

    /// The connection [`export_state`](Self::export_state) wrote, under this process's `config`, with the
    /// keepalive clock counted from `now`.
    pub fn import_state(bytes: &[u8], config: Config, now: Instant) -> Result<Self, StateError> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.u8()?;
        if version != STATE_VERSION {
            return Err(StateError::Version(version));
        }
        let role = match r.u8()? {
            0 => Role::Server,
            1 => Role::Client,
            _ => return Err(StateError::Field("role")),
        };
        let mut c = Connection::new(role, config);
        c.state = match r.u8()? {
            0 => State::Open,
            1 => State::CloseSent,
            2 => State::CloseReceived,
            3 => State::Failing,
            4 => State::Closed,
            _ => return Err(StateError::Field("state")),
        };
        let header = r.bytes8()?;
        let slot = c
            .header
            .get_mut(..header.len())
            .filter(|_| header.len() <= MAX_HEADER_LEN)
            .ok_or(StateError::Field("header"))?;
        slot.copy_from_slice(header);
        c.header_len = header.len() as u8;
        if !header.is_empty() && !matches!(crate::header::FrameHeader::decode(header), Ok(None)) {
            // What a read cut off is the start of a header, never a whole one (that would have been read).
            return Err(StateError::Field("header"));
        }
        c.frame = match r.u8()? {
            0 => None,
            1 if header.is_empty() => Some(r.frame()?),
            _ => return Err(StateError::Field("frame")),
        };
        c.message = match r.u8()? {
            0 => None,
            1 => Some(MessageKind::Text),
            2 => Some(MessageKind::Binary),
            _ => return Err(StateError::Field("message")),
        };
        c.message_len = r.u64()?;
        if c.message.is_some() && c.message_len > config.max_message_size as u64 {
            return Err(StateError::TooBig(c.message_len));
        }
        let buf_len = r.u64()?;
        if buf_len > c.message_len || (c.message.is_none() && buf_len != 0) {
            return Err(StateError::Field("message_buf"));
        }
        c.message_buf = r.take(buf_len as usize)?.to_vec();
        c.flags = r.u8()?;
        if c.flags & !super::COMPRESSED != 0 {
            return Err(StateError::Field("flags"));
        }
        if let Some(f) = &c.frame
            && !f.opcode.is_control()
            && (c.message.is_none()
                || f.len > config.max_frame_size as u64
                || f.len > c.message_len)
        {
            // A data frame belongs to a message, and its length was held to the limits and counted in the
            // message's when its header was read.
            return Err(StateError::Field("frame"));
        }
        if c.message == Some(MessageKind::Text) && c.flags & super::COMPRESSED == 0 {
            // The text so far is checked again rather than taken on trust: a Text event's payload is UTF-8
            // whatever the bytes of the state were. (A compressed message is checked once inflated.)
            let _ = c.utf8.validate(&c.message_buf);
        }
        c.control = r.control("control")?;
        c.pong = r.control("pong")?;
        c.pending_close = match r.u8()? {
            0 => PendingClose::None,
            1 => PendingClose::Empty,
            2 => PendingClose::Code(r.u16()?),
            _ => return Err(StateError::Field("pending_close")),
        };
        c.keepalive_since = r
            .option_u64()?
            .map(|ms| now.checked_sub(Duration::from_millis(ms)).unwrap_or(now));
        c.awaiting_pong = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(StateError::Field("awaiting_pong")),
        };
        match bytes.len() - r.at {
            0 => Ok(c),
            n => Err(StateError::Trailing(n)),
        }
    }
}

fn put_bytes8(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn put_option_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

/// Reads the fields of a state, every read bounded by the bytes there are.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StateError> {
        let end = self.at.checked_add(n).ok_or(StateError::Truncated)?;
        let got = self.bytes.get(self.at..end).ok_or(StateError::Truncated)?;
        self.at = end;
        Ok(got)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StateError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, StateError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, StateError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, StateError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn bytes8(&mut self) -> Result<&'a [u8], StateError> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    fn option_u64(&mut self) -> Result<Option<u64>, StateError> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.u64().map(Some),
            _ => Err(StateError::Field("option")),
        }
    }

    fn frame(&mut self) -> Result<Frame, StateError> {
        let op = self.u8()?;
        let opcode = OpCode::from_bits(op & 0x0f).ok_or(StateError::Field("frame"))?;
        if op & 0x70 != 0 {
            return Err(StateError::Field("frame"));
        }
        let mask = match self.u8()? {
            0 => None,
            1 => Some(self.array()?),
            _ => return Err(StateError::Field("frame")),
        };
        let (len, done) = (self.u64()?, self.u64()?);
        if done > len || (opcode.is_control() && len > MAX_CONTROL_PAYLOAD as u64) {
            return Err(StateError::Field("frame"));
        }
        Ok(Frame {
            opcode,
            fin: op & 0x80 != 0,
            mask,
            len,
            done,
        })
    }

    fn control(&mut self, name: &'static str) -> Result<Option<Box<ControlBuf>>, StateError> {
        match self.u8()? {
            0 => Ok(None),
            1 => {
                let bytes = self.bytes8()?;
                let mut c = Box::new(ControlBuf::EMPTY);
                c.bytes
                    .get_mut(..bytes.len())
                    .ok_or(StateError::Field(name))?
                    .copy_from_slice(bytes);
                c.len = bytes.len() as u8;
                Ok(Some(c))
            }
            _ => Err(StateError::Field(name)),
        }
    }
}
