//! Output: data, ping and close frames written into a caller buffer, plus queued replies.

use super::{Connection, MessageKind, PendingClose, State};
use crate::close_code;
use crate::config::Role;
use crate::deflate::Compressor;
use crate::error::SendError;
use crate::header::MAX_CONTROL_PAYLOAD;
use crate::opcode::OpCode;
use crate::writer::{write_compressed_frame, write_frame, write_frame_parts};

impl Connection {
    /// Check that `mask` suits the role: clients mask (§5.3), servers do not (§5.1).
    fn check_mask(&self, mask: Option<[u8; 4]>) -> Result<(), SendError> {
        match (self.role, mask) {
            (Role::Server, Some(_)) => Err(SendError::MaskKeyForbidden),
            (Role::Client, None) => Err(SendError::MaskKeyRequired),
            _ => Ok(()),
        }
    }

    /// Append a whole message as one frame to `out`.
    ///
    /// `mask` is `None` for a server and a fresh random key for every client frame.
    pub fn send(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        out: &mut Vec<u8>,
        mask: Option<[u8; 4]>,
    ) -> Result<(), SendError> {
        let opcode = self.data_opcode(kind, mask)?;
        write_frame(out, true, opcode, payload, mask);
        Ok(())
    }

    /// The opcode of a data message of `kind`, once the mask suits the role and data may still be sent.
    fn data_opcode(&self, kind: MessageKind, mask: Option<[u8; 4]>) -> Result<OpCode, SendError> {
        self.check_mask(mask)?;
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        Ok(kind.opcode())
    }

    /// Append a whole message compressed by `deflate` as one frame with RSV1 set (permessage-deflate, RFC 7692
    /// §6), on a connection that negotiated it.
    pub fn send_compressed(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        out: &mut Vec<u8>,
        mask: Option<[u8; 4]>,
        deflate: &mut Compressor,
    ) -> Result<(), SendError> {
        let opcode = self.data_opcode(kind, mask)?;
        write_compressed_frame(out, opcode, deflate.compress_message(payload), mask);
        Ok(())
    }

    /// Append a text message.
    pub fn send_text(
        &mut self,
        text: &str,
        out: &mut Vec<u8>,
        mask: Option<[u8; 4]>,
    ) -> Result<(), SendError> {
        self.send(MessageKind::Text, text.as_bytes(), out, mask)
    }

    /// Append a binary message.
    pub fn send_binary(
        &mut self,
        payload: &[u8],
        out: &mut Vec<u8>,
        mask: Option<[u8; 4]>,
    ) -> Result<(), SendError> {
        self.send(MessageKind::Binary, payload, out, mask)
    }

    /// Append a ping (payload at most 125 bytes).
    pub fn send_ping(
        &mut self,
        payload: &[u8],
        out: &mut Vec<u8>,
        mask: Option<[u8; 4]>,
    ) -> Result<(), SendError> {
        self.check_mask(mask)?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlFrameTooLong(payload.len()));
        }
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        write_frame(out, true, OpCode::Ping, payload, mask);
        Ok(())
    }

    /// Start (or answer) the close handshake with `code` and a reason of at most 123 bytes.
    pub fn close(
        &mut self,
        code: u16,
        reason: &str,
        out: &mut Vec<u8>,
        mask: Option<[u8; 4]>,
    ) -> Result<(), SendError> {
        self.check_mask(mask)?;
        if !close_code::is_valid_on_wire(code) {
            return Err(SendError::InvalidCloseCode(code));
        }
        if reason.len() + 2 > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlFrameTooLong(reason.len() + 2));
        }
        self.state = match self.state {
            State::Open => State::CloseSent,
            State::CloseReceived => State::Closed,
            State::CloseSent | State::Failing | State::Closed => return Err(SendError::Closed),
        };
        self.pending_close = PendingClose::None;
        self.pong = None;
        write_frame_parts(
            out,
            true,
            OpCode::Close,
            &[&code.to_be_bytes(), reason.as_bytes()],
            mask,
        );
        Ok(())
    }

    /// Append at most one queued frame (a pong, or our Close reply) to `out`; `Ok(false)` if none.
    ///
    /// Call until it returns `Ok(false)`, with a fresh mask key each time in the client role.
    pub fn poll_transmit(
        &mut self,
        out: &mut Vec<u8>,
        mask: Option<[u8; 4]>,
    ) -> Result<bool, SendError> {
        self.check_mask(mask)?;
        if self.pong_allowed()
            && let Some(pong) = self.pong.take()
        {
            write_frame(out, true, OpCode::Pong, pong.as_slice(), mask);
            return Ok(true);
        }
        let code = match self.pending_close {
            PendingClose::None => return Ok(false),
            PendingClose::Empty => None,
            PendingClose::Code(code) => Some(code),
        };
        let code_bytes = code.map(u16::to_be_bytes);
        write_frame(
            out,
            true,
            OpCode::Close,
            code_bytes.as_ref().map_or(&[][..], |b| &b[..]),
            mask,
        );
        self.pending_close = PendingClose::None;
        self.state = State::Closed;
        Ok(true)
    }
}
