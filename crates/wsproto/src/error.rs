//! Protocol violations of a peer, each naming the RFC 6455 rule it breaks and the close code it earns.

use crate::close_code;

/// Why the connection is being failed (RFC 6455 §7.1.7).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// §5.2: RSV1–3 must be 0 unless an extension defining them was negotiated.
    #[error("reserved bits set without a negotiated extension (RFC 6455 §5.2)")]
    ReservedBitsSet,
    /// §5.2: opcodes 0x3–0x7 and 0xB–0xF are reserved.
    #[error("reserved opcode {0:#x} (RFC 6455 §5.2)")]
    ReservedOpcode(u8),
    /// §5.5: control frames must not be fragmented.
    #[error("fragmented control frame (RFC 6455 §5.5)")]
    FragmentedControlFrame,
    /// §5.5: control frames carry at most 125 bytes of payload.
    #[error("control frame payload of {0} bytes exceeds 125 (RFC 6455 §5.5)")]
    ControlFrameTooLong(u64),
    /// §5.2: the most significant bit of a 64-bit payload length must be 0.
    #[error("64-bit payload length with its most significant bit set (RFC 6455 §5.2)")]
    PayloadLengthMsbSet,
    /// §5.1: a client must mask every frame it sends.
    #[error("unmasked frame from a client (RFC 6455 §5.1)")]
    UnmaskedClientFrame,
    /// §5.1: a server must not mask any frame it sends.
    #[error("masked frame from a server (RFC 6455 §5.1)")]
    MaskedServerFrame,
    /// §5.4: a continuation frame needs a fragmented message in progress.
    #[error("continuation frame without a message in progress (RFC 6455 §5.4)")]
    UnexpectedContinuation,
    /// §5.4: the fragments of a message must not be interleaved with another data message.
    #[error("new data frame while a fragmented message is in progress (RFC 6455 §5.4)")]
    ExpectedContinuation,
    /// §5.6, §8.1: a text message must be valid UTF-8.
    #[error("text message is not valid UTF-8 at byte {valid_up_to} (RFC 6455 §8.1)")]
    InvalidUtf8Text {
        /// Leading bytes of the message that were valid.
        valid_up_to: usize,
    },
    /// §5.5.1: the close reason must be valid UTF-8.
    #[error("close reason is not valid UTF-8 (RFC 6455 §5.5.1)")]
    InvalidUtf8CloseReason,
    /// §5.5.1: a close body is empty or starts with a two-byte status code.
    #[error("close frame body of one byte (RFC 6455 §5.5.1)")]
    CloseBodyOneByte,
    /// §7.4: the close status code is reserved or undefined.
    #[error("close status code {0} is not allowed on the wire (RFC 6455 §7.4)")]
    InvalidCloseCode(u16),
    /// RFC 7692 §6.1: only the first frame of a compressed message has RSV1 set.
    #[error("RSV1 set on a continuation frame (RFC 7692 §6.1)")]
    CompressedContinuation,
    /// RFC 7692 §7.2.2: a compressed message that does not inflate.
    #[error("compressed message is not valid DEFLATE data (RFC 7692 §7.2.2)")]
    InvalidCompressedData,
    /// §10.4: a frame larger than this endpoint accepts.
    #[error("frame of {len} bytes exceeds the limit of {max} (RFC 6455 §10.4)")]
    FrameTooBig {
        /// Declared payload length.
        len: u64,
        /// Configured maximum frame size.
        max: usize,
    },
    /// §10.4: a message larger than this endpoint accepts.
    #[error("message of at least {len} bytes exceeds the limit of {max} (RFC 6455 §10.4)")]
    MessageTooBig {
        /// Message length so far, including the frame that overflowed it.
        len: u64,
        /// Configured maximum message size.
        max: usize,
    },
}

impl ProtocolError {
    /// The status code to send in the Close frame that fails the connection.
    pub fn close_code(&self) -> u16 {
        match self {
            Self::InvalidUtf8Text { .. }
            | Self::InvalidUtf8CloseReason
            | Self::InvalidCompressedData => close_code::INVALID_PAYLOAD,
            Self::FrameTooBig { .. } | Self::MessageTooBig { .. } => close_code::MESSAGE_TOO_BIG,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}

/// Why a frame could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// §5.5.1: no data frame may follow a Close frame we sent, nor any frame at all once closed.
    #[error("the connection is closing or closed (RFC 6455 §5.5.1)")]
    Closed,
    /// §5.3: a client must mask every frame with a fresh key.
    #[error("a client must mask its frames: pass a mask key (RFC 6455 §5.3)")]
    MaskKeyRequired,
    /// §5.1: a server must not mask its frames.
    #[error("a server must not mask its frames (RFC 6455 §5.1)")]
    MaskKeyForbidden,
    /// §5.5: a control frame payload is at most 125 bytes.
    #[error("control frame payload of {0} bytes exceeds 125 (RFC 6455 §5.5)")]
    ControlFrameTooLong(usize),
    /// §7.4: we may only send valid close codes.
    #[error("close status code {0} is not allowed on the wire (RFC 6455 §7.4)")]
    InvalidCloseCode(u16),
    /// The caller's output slice cannot hold the frame.
    #[error("output buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_errors_close_1007() {
        assert_eq!(
            ProtocolError::InvalidUtf8Text { valid_up_to: 3 }.close_code(),
            1007
        );
        assert_eq!(ProtocolError::InvalidUtf8CloseReason.close_code(), 1007);
    }

    #[test]
    fn size_errors_close_1009() {
        assert_eq!(
            ProtocolError::FrameTooBig { len: 9, max: 8 }.close_code(),
            1009
        );
        assert_eq!(
            ProtocolError::MessageTooBig { len: 9, max: 8 }.close_code(),
            1009
        );
    }

    #[test]
    fn framing_errors_close_1002() {
        for e in [
            ProtocolError::ReservedBitsSet,
            ProtocolError::ReservedOpcode(3),
            ProtocolError::FragmentedControlFrame,
            ProtocolError::ControlFrameTooLong(126),
            ProtocolError::PayloadLengthMsbSet,
            ProtocolError::UnmaskedClientFrame,
            ProtocolError::MaskedServerFrame,
            ProtocolError::UnexpectedContinuation,
            ProtocolError::ExpectedContinuation,
            ProtocolError::CloseBodyOneByte,
            ProtocolError::InvalidCloseCode(1005),
        ] {
            assert_eq!(e.close_code(), 1002, "{e}");
        }
    }
}
