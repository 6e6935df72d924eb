//! Input: frame parsing over arbitrary chunk boundaries, unmasking, reassembly, control frames.

use std::ops::Range;

use super::{
    COMPRESSED, Connection, ControlBuf, Event, Frame, MessageKind, PendingClose,
    RELEASE_MESSAGE_BUF, Received, State,
};
use crate::close_code;
use crate::config::Role;
use crate::deflate::{Decompressor, InflateError};
use crate::error::ProtocolError;
use crate::header::{FrameHeader, MAX_HEADER_LEN};
use crate::opcode::OpCode;

/// Where a finished payload lies.
enum Source {
    Input(Range<usize>),
    MessageBuf,
    Control(Range<usize>),
    /// The decompressor's output.
    Inflated,
}

enum Ready {
    Message(MessageKind, Source),
    Ping(Source),
    Pong(Source),
    Close(Option<u16>, Source),
}

enum Step {
    /// The input is used up.
    NeedMore,
    /// A frame ended without an event; parse the next one.
    Continue,
    Ready(Ready),
}

impl Connection {
    /// Feed received bytes. Returns how many were consumed and at most one event.
    ///
    /// Handle the event (it borrows the input or the connection), then call again with
    /// `&mut bytes[consumed..]`, until a call returns no event: that call has consumed all input and
    /// released the reassembly buffer, so an idle connection holds no heap. Masked payloads are unmasked in place: a message
    /// that is one whole frame inside `bytes` is delivered without a copy; otherwise it is copied
    /// once into the reassembly buffer. Text is checked for UTF-8 as bytes arrive, so invalid text
    /// fails (1007) as soon as the bad bytes do, even in an unfinished frame.
    ///
    /// ```
    /// use wsproto::{Config, Connection, Event, MessageKind, Role};
    /// let mut conn = Connection::new(Role::Server, Config::default());
    /// // A masked text frame "Hello" (RFC 6455 §5.7), split in two reads.
    /// let mut wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let (first, second) = wire.split_at_mut(4);
    /// assert_eq!(conn.receive(first).event, None);
    /// let got = conn.receive(second);
    /// assert_eq!(got.consumed, 7);
    /// assert_eq!(got.event, Some(Event::Message { kind: MessageKind::Text, payload: b"Hello" }));
    /// ```
    pub fn receive<'a>(&'a mut self, bytes: &'a mut [u8]) -> Received<'a> {
        self.receive_with(bytes, None)
    }

    /// [`receive`](Self::receive) on a connection that negotiated permessage-deflate: a message whose first
    /// frame has RSV1 set is inflated by `inflate` (within the message size limit) and delivered
    /// decompressed, its payload in `inflate`'s buffer. See [`crate::deflate`] for where a decompressor may
    /// live.
    pub fn receive_inflating<'a>(
        &'a mut self,
        bytes: &'a mut [u8],
        inflate: &'a mut Decompressor,
    ) -> Received<'a> {
        self.receive_with(bytes, Some(inflate))
    }

    fn receive_with<'a>(
        &'a mut self,
        bytes: &'a mut [u8],
        mut inflate: Option<&'a mut Decompressor>,
    ) -> Received<'a> {
        let inflating = inflate.is_some();
        if self.flag(RELEASE_MESSAGE_BUF) {
            self.message_buf = Vec::new();
            self.set_flag(RELEASE_MESSAGE_BUF, false);
        }
        let mut pos = 0;
        let ready = loop {
            if !matches!(self.state, State::Open | State::CloseSent) {
                // §5.5.1: nothing after a Close, nor after a failure, is processed.
                return Received {
                    consumed: bytes.len(),
                    event: None,
                };
            }
            // The frame travels by value from its header to its payload: no round trip through
            // `self.frame` (a store-to-load stall on the hot path) unless it spans reads.
            let frame = match self.frame.take() {
                Some(frame) => Ok(Some(frame)),
                None => self.read_header(bytes, &mut pos, inflating),
            };
            let step = match frame {
                Ok(Some(frame)) => {
                    self.read_payload(frame, bytes, &mut pos, inflate.as_deref_mut())
                }
                Ok(None) => Ok(Step::NeedMore),
                Err(error) => Err(error),
            };
            match step {
                Ok(Step::Continue) => {}
                Ok(Step::NeedMore) => {
                    return Received {
                        consumed: pos,
                        event: None,
                    };
                }
                Ok(Step::Ready(ready)) => break ready,
                Err(error) => {
                    return Received {
                        consumed: bytes.len(),
                        event: Some(self.fail(error)),
                    };
                }
            }
        };
        let this: &'a Self = self;
        let bytes: &'a [u8] = bytes;
        let inflated: Option<&'a Decompressor> = inflate.map(|d| &*d);
        let slice = |source: Source| -> &'a [u8] {
            match source {
                Source::Input(r) => bytes.get(r).unwrap_or(&[]),
                Source::MessageBuf => &this.message_buf,
                Source::Control(r) => this
                    .control
                    .as_deref()
                    .and_then(|c| c.as_slice().get(r))
                    .unwrap_or(&[]),
                Source::Inflated => inflated.map_or(&[], Decompressor::output),
            }
        };
        let event = match ready {
            Ready::Message(kind, source) => Event::Message {
                kind,
                payload: slice(source),
            },
            Ready::Ping(source) => Event::Ping(slice(source)),
            Ready::Pong(source) => Event::Pong(slice(source)),
            Ready::Close(code, source) => Event::Close {
                code,
                // Checked in `close_frame`; an invalid reason never gets here.
                reason: std::str::from_utf8(slice(source)).unwrap_or_default(),
            },
        };
        Received {
            consumed: pos,
            event: Some(event),
        }
    }

    /// Parse (or continue parsing) a frame header; the frame once its header is complete.
    fn read_header(
        &mut self,
        bytes: &[u8],
        pos: &mut usize,
        inflating: bool,
    ) -> Result<Option<Frame>, ProtocolError> {
        let input = bytes.get(*pos..).unwrap_or(&[]);
        let have = usize::from(self.header_len);
        let decoded = if have == 0 {
            FrameHeader::decode(input)?
        } else {
            let take = input.len().min(MAX_HEADER_LEN - have);
            self.header[have..have + take].copy_from_slice(&input[..take]);
            FrameHeader::decode(&self.header[..have + take])?
                .map(|(header, len)| (header, len - have))
        };
        match decoded {
            Some((header, used)) => {
                *pos += used;
                self.header_len = 0;
                self.start_frame(header, inflating).map(Some)
            }
            None => {
                // Shorter than the header it announces, so shorter than MAX_HEADER_LEN: keep it all.
                let take = input.len().min(MAX_HEADER_LEN - have);
                self.header[have..have + take].copy_from_slice(&input[..take]);
                self.header_len = (have + take) as u8;
                *pos += take;
                Ok(None)
            }
        }
    }

    /// Rules that need connection state: masking by role (§5.1), continuation (§5.4), limits (§10.4).
    /// `inflating`: a decompressor came with this call, so RSV1 may start a compressed message.
    fn start_frame(
        &mut self,
        header: FrameHeader,
        inflating: bool,
    ) -> Result<Frame, ProtocolError> {
        match (self.role, header.mask) {
            (Role::Server, None) => return Err(ProtocolError::UnmaskedClientFrame),
            (Role::Client, Some(_)) => return Err(ProtocolError::MaskedServerFrame),
            _ => {}
        }
        if header.rsv1 {
            if !inflating {
                return Err(ProtocolError::ReservedBitsSet);
            }
            if header.opcode == OpCode::Continuation {
                return Err(ProtocolError::CompressedContinuation);
            }
        }
        let kind = match header.opcode {
            OpCode::Continuation if self.message.is_none() => {
                return Err(ProtocolError::UnexpectedContinuation);
            }
            OpCode::Text | OpCode::Binary if self.message.is_some() => {
                return Err(ProtocolError::ExpectedContinuation);
            }
            OpCode::Text => Some(MessageKind::Text),
            OpCode::Binary => Some(MessageKind::Binary),
            OpCode::Continuation | OpCode::Close | OpCode::Ping | OpCode::Pong => None,
        };
        if !header.opcode.is_control() {
            if header.payload_len > self.config.max_frame_size as u64 {
                return Err(ProtocolError::FrameTooBig {
                    len: header.payload_len,
                    max: self.config.max_frame_size,
                });
            }
            if let Some(kind) = kind {
                self.message = Some(kind);
                self.set_flag(COMPRESSED, header.rsv1);
                self.message_len = 0;
                self.utf8.reset();
            }
            self.message_len = self.message_len.saturating_add(header.payload_len);
            if self.message_len > self.config.max_message_size as u64 {
                return Err(ProtocolError::MessageTooBig {
                    len: self.message_len,
                    max: self.config.max_message_size,
                });
            }
        }
        // The previous split control frame's payload has been delivered: release its buffer.
        self.control = None;
        Ok(Frame {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            len: header.payload_len,
            done: 0,
        })
    }

    fn read_payload(
        &mut self,
        frame: Frame,
        bytes: &mut [u8],
        pos: &mut usize,
        inflate: Option<&mut Decompressor>,
    ) -> Result<Step, ProtocolError> {
        if frame.opcode.is_control() {
            self.read_control(frame, bytes, pos)
        } else {
            self.read_data(frame, bytes, pos, inflate)
        }
    }

    fn read_data(
        &mut self,
        mut frame: Frame,
        bytes: &mut [u8],
        pos: &mut usize,
        inflate: Option<&mut Decompressor>,
    ) -> Result<Step, ProtocolError> {
        let kind = self.message.unwrap_or(MessageKind::Binary);
        // A compressed message's bytes are unmasked as they come and checked once inflated.
        let wire_kind = if self.flag(COMPRESSED) {
            MessageKind::Binary
        } else {
            kind
        };
        let avail = bytes.len().saturating_sub(*pos);
        let remaining = frame.len - frame.done;
        if frame.done == 0
            && frame.opcode != OpCode::Continuation
            && frame.fin
            && avail as u64 >= frame.len
        {
            // The whole message is one frame inside the input: unmask in place, no copy.
            let range = *pos..*pos + frame.len as usize;
            let payload = bytes.get_mut(range.clone()).unwrap_or_default();
            self.unmask_check(wire_kind, frame.mask, payload, 0)?;
            *pos = range.end;
            self.message = None;
            if self.flag(COMPRESSED) {
                self.inflate(kind, payload, inflate)?;
                return Ok(Step::Ready(Ready::Message(kind, Source::Inflated)));
            }
            if kind == MessageKind::Text {
                self.finish_text()?;
            }
            return Ok(Step::Ready(Ready::Message(kind, Source::Input(range))));
        }
        let take = remaining.min(avail as u64) as usize;
        if take > 0 {
            if frame.done == 0 {
                self.reserve_frame(frame.len as usize);
            }
            let start = self.message_buf.len();
            self.message_buf
                .extend_from_slice(bytes.get(*pos..*pos + take).unwrap_or_default());
            let mut chunk = std::mem::take(&mut self.message_buf);
            let result = self.unmask_check(wire_kind, frame.mask, &mut chunk[start..], frame.done);
            self.message_buf = chunk;
            result?;
            *pos += take;
            frame.done += take as u64;
        }
        if frame.done < frame.len {
            self.frame = Some(frame);
            return Ok(Step::NeedMore);
        }
        if !frame.fin {
            return Ok(Step::Continue);
        }
        self.message = None;
        self.set_flag(RELEASE_MESSAGE_BUF, true);
        if self.flag(COMPRESSED) {
            let compressed = std::mem::take(&mut self.message_buf);
            let inflated = self.inflate(kind, &compressed, inflate);
            self.message_buf = compressed;
            inflated?;
            return Ok(Step::Ready(Ready::Message(kind, Source::Inflated)));
        }
        if kind == MessageKind::Text {
            self.finish_text()?;
        }
        Ok(Step::Ready(Ready::Message(kind, Source::MessageBuf)))
    }

    /// Inflates a compressed message into `inflate`'s buffer, within the message size limit, and checks text.
    fn inflate(
        &mut self,
        kind: MessageKind,
        compressed: &[u8],
        inflate: Option<&mut Decompressor>,
    ) -> Result<(), ProtocolError> {
        self.set_flag(COMPRESSED, false);
        // `start_frame` accepted RSV1 only because a decompressor came with the call that read it.
        let inflate = inflate.ok_or(ProtocolError::ReservedBitsSet)?;
        let max = self.config.max_message_size;
        let plain = inflate.decompress(compressed, max).map_err(|e| match e {
            InflateError::TooBig { max } => ProtocolError::MessageTooBig {
                len: max as u64 + 1,
                max,
            },
            InflateError::Corrupt => ProtocolError::InvalidCompressedData,
        })?;
        if kind == MessageKind::Text {
            self.utf8.reset();
            self.utf8
                .validate(plain)
                .map_err(|e| ProtocolError::InvalidUtf8Text {
                    valid_up_to: e.valid_up_to,
                })?;
            self.finish_text()?;
        }
        Ok(())
    }

    /// Makes room in the reassembly buffer for a data frame of `len` bytes. The capacity doubles as a `Vec`'s
    /// would, but never past the message size limit (the frame header was already held to it), so a message
    /// sent as many small frames cannot make the buffer outgrow the limit.
    fn reserve_frame(&mut self, len: usize) {
        let buf = &mut self.message_buf;
        let needed = buf.len().saturating_add(len);
        if needed <= buf.capacity() {
            return;
        }
        let target = buf
            .capacity()
            .saturating_mul(2)
            .min(self.config.max_message_size)
            .max(needed);
        buf.reserve_exact(target - buf.len());
    }

    /// Unmask one chunk of a data frame (payload byte `offset` onward) and check text as it arrives.
    fn unmask_check(
        &mut self,
        kind: MessageKind,
        mask: Option<[u8; 4]>,
        chunk: &mut [u8],
        offset: u64,
    ) -> Result<(), ProtocolError> {
        let offset = (offset & 3) as usize;
        let checked = match (kind, mask) {
            (MessageKind::Text, Some(key)) => self.utf8.unmask_validate(chunk, key, offset),
            (MessageKind::Text, None) => self.utf8.validate(chunk),
            (MessageKind::Binary, Some(key)) => {
                wsmask::unmask(chunk, key, offset);
                Ok(())
            }
            (MessageKind::Binary, None) => Ok(()),
        };
        checked.map_err(|e| ProtocolError::InvalidUtf8Text {
            valid_up_to: e.valid_up_to,
        })
    }

    fn finish_text(&mut self) -> Result<(), ProtocolError> {
        let done = self.utf8.finish();
        self.utf8.reset();
        done.map_err(|e| ProtocolError::InvalidUtf8Text {
            valid_up_to: e.valid_up_to,
        })
    }

    fn read_control(
        &mut self,
        mut frame: Frame,
        bytes: &mut [u8],
        pos: &mut usize,
    ) -> Result<Step, ProtocolError> {
        let avail = bytes.len().saturating_sub(*pos);
        let len = frame.len as usize;
        let source = if frame.done == 0 && avail >= len {
            let range = *pos..*pos + len;
            let payload = bytes.get_mut(range.clone()).unwrap_or_default();
            if let Some(key) = frame.mask {
                wsmask::unmask(payload, key, 0);
            }
            *pos = range.end;
            Source::Input(range)
        } else {
            let done = frame.done as usize;
            let take = (len - done).min(avail);
            let src = bytes.get(*pos..*pos + take).unwrap_or_default();
            let control = self
                .control
                .get_or_insert_with(|| Box::new(ControlBuf::EMPTY));
            let dst = control.bytes.get_mut(done..done + take).unwrap_or_default();
            match frame.mask {
                Some(key) => wsmask::unmask_copy(src, dst, key, done & 3),
                None => dst.copy_from_slice(src),
            }
            *pos += take;
            frame.done += take as u64;
            control.len = frame.done as u8;
            if frame.done < frame.len {
                self.frame = Some(frame);
                return Ok(Step::NeedMore);
            }
            Source::Control(0..len)
        };
        let payload = match &source {
            Source::Input(r) => bytes.get(r.clone()).unwrap_or_default(),
            _ => self
                .control
                .as_deref()
                .map_or(&[][..], ControlBuf::as_slice),
        };
        let mut copy = ControlBuf::EMPTY;
        copy.bytes[..payload.len()].copy_from_slice(payload);
        copy.len = payload.len() as u8;
        let ready = match frame.opcode {
            OpCode::Ping => {
                match &mut self.pong {
                    Some(pong) => **pong = copy,
                    None => self.pong = Some(Box::new(copy)),
                }
                Ready::Ping(source)
            }
            OpCode::Pong => {
                self.awaiting_pong = false;
                Ready::Pong(source)
            }
            _ => {
                let code = self.close_frame(copy.as_slice())?;
                let reason = match source {
                    Source::Input(r) => Source::Input((r.start + 2).min(r.end)..r.end),
                    _ => Source::Control(2.min(len)..len),
                };
                Ready::Close(code, reason)
            }
        };
        Ok(Step::Ready(ready))
    }

    /// Check a Close body (§5.5.1, §7.4) and move the close handshake on (§7.1).
    fn close_frame(&mut self, body: &[u8]) -> Result<Option<u16>, ProtocolError> {
        let code = match body {
            [] => None,
            [_] => return Err(ProtocolError::CloseBodyOneByte),
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                if !close_code::is_valid_on_wire(code) {
                    return Err(ProtocolError::InvalidCloseCode(code));
                }
                std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8CloseReason)?;
                Some(code)
            }
        };
        if self.state == State::CloseSent {
            self.state = State::Closed;
        } else {
            self.state = State::CloseReceived;
            self.pending_close = code.map_or(PendingClose::Empty, PendingClose::Code);
        }
        self.message = None;
        self.message_buf = Vec::new();
        self.set_flag(RELEASE_MESSAGE_BUF, false);
        Ok(code)
    }
}
