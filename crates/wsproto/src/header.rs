//! The frame header (RFC 6455 §5.2): decoding from bytes and encoding into a caller buffer.

use crate::error::ProtocolError;
use crate::opcode::OpCode;

/// The longest header: 2 bytes + 8-byte extended length + 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// The longest control frame payload (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// RSV1: with permessage-deflate, the first frame of a compressed message (RFC 7692 §6).
    pub rsv1: bool,
    /// The frame's opcode.
    pub opcode: OpCode,
    /// The masking key, present when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

/// Header length implied by its first two bytes.
pub fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl FrameHeader {
    /// Decode a header from the start of `bytes`.
    ///
    /// Returns `Ok(None)` when `bytes` is too short, else the header and its length. Rules that need no
    /// connection state are checked here: RSV bits, reserved opcodes, control frame fragmentation and
    /// size, and the 64-bit length's most significant bit.
    #[inline]
    pub fn decode(bytes: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let (b0, b1) = match bytes {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(None),
        };
        let len = header_len(b1);
        let Some(head) = bytes.get(..len) else {
            return Ok(None);
        };
        // RSV1 is left to the connection, which knows whether an extension defines it; RSV2 and RSV3 are
        // defined by none that sipedge negotiates.
        if b0 & 0x30 != 0 {
            return Err(ProtocolError::ReservedBitsSet);
        }
        let rsv1 = b0 & 0x40 != 0;
        let opcode =
            OpCode::from_bits(b0 & 0x0F).ok_or(ProtocolError::ReservedOpcode(b0 & 0x0F))?;
        let fin = b0 & 0x80 != 0;
        let (payload_len, rest) = match (b1 & 0x7F, &head[2..]) {
            (126, [a, b, rest @ ..]) => (u64::from(u16::from_be_bytes([*a, *b])), rest),
            (127, [a, b, c, d, e, f, g, h, rest @ ..]) => {
                let n = u64::from_be_bytes([*a, *b, *c, *d, *e, *f, *g, *h]);
                if n >> 63 != 0 {
                    return Err(ProtocolError::PayloadLengthMsbSet);
                }
                (n, rest)
            }
            (n, rest) => (u64::from(n), rest),
        };
        let mask = match rest {
            [a, b, c, d] => Some([*a, *b, *c, *d]),
            _ => None,
        };
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong(payload_len));
            }
        }
        if rsv1 && opcode.is_control() {
            // RFC 7692 §6.1: control frames are never compressed; no other extension defines RSV1.
            return Err(ProtocolError::ReservedBitsSet);
        }
        Ok(Some((
            Self {
                fin,
                rsv1,
                opcode,
                mask,
                payload_len,
            },
            len,
        )))
    }

    /// Bytes [`encode`](Self::encode) writes for this header.
    pub fn encoded_len(&self) -> usize {
        let ext = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Encode into `out` (at least [`encoded_len`](Self::encoded_len) bytes, else `None`), returning
    /// the bytes written. Uses the shortest length encoding, as §5.2 requires.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let len = self.encoded_len();
        let out = out.get_mut(..len)?;
        out[0] = (u8::from(self.fin) << 7) | (u8::from(self.rsv1) << 6) | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let at = match self.payload_len {
            n @ 0..=125 => {
                out[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[at..at + 4].copy_from_slice(&key);
        }
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(h: FrameHeader) {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut buf).expect("fits");
        assert_eq!(n, h.encoded_len());
        assert_eq!(FrameHeader::decode(&buf[..n]), Ok(Some((h, n))));
        for short in 0..n {
            assert_eq!(
                FrameHeader::decode(&buf[..short]),
                Ok(None),
                "prefix {short}"
            );
        }
    }

    #[test]
    fn all_three_length_encodings_round_trip() {
        for len in [0, 1, 125, 126, 127, 0xFFFF, 0x1_0000, u64::MAX >> 1] {
            for (mask, rsv1) in [(None, false), (Some([1, 2, 3, 4]), true)] {
                round_trip(FrameHeader {
                    fin: true,
                    rsv1,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len: len,
                });
            }
        }
    }

    #[test]
    fn shortest_length_encoding_is_used() {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let h = |payload_len| FrameHeader {
            fin: true,
            rsv1: false,
            opcode: OpCode::Text,
            mask: None,
            payload_len,
        };
        assert_eq!(h(125).encode(&mut buf), Some(2));
        assert_eq!(h(126).encode(&mut buf), Some(4));
        assert_eq!(h(65536).encode(&mut buf), Some(10));
    }

    #[test]
    fn rsv_bits_are_rejected() {
        for rsv in [0x20, 0x10] {
            assert_eq!(
                FrameHeader::decode(&[0x81 | rsv, 0x00]),
                Err(ProtocolError::ReservedBitsSet)
            );
        }
        // RSV1 is the connection's to judge on data frames (permessage-deflate), never allowed on control.
        assert!(matches!(FrameHeader::decode(&[0xC1, 0x00]), Ok(Some((h, 2))) if h.rsv1));
        assert_eq!(
            FrameHeader::decode(&[0xC9, 0x00]),
            Err(ProtocolError::ReservedBitsSet)
        );
    }

    #[test]
    fn reserved_opcodes_are_rejected() {
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(
                FrameHeader::decode(&[0x80 | op, 0x00]),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
    }

    #[test]
    fn control_frames_must_be_final_and_short() {
        assert_eq!(
            FrameHeader::decode(&[0x09, 0x00]),
            Err(ProtocolError::FragmentedControlFrame)
        );
        assert_eq!(
            FrameHeader::decode(&[0x89, 126, 0, 126]),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
        assert!(FrameHeader::decode(&[0x89, 125]).is_ok());
    }

    #[test]
    fn length_msb_is_rejected() {
        let b = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            FrameHeader::decode(&b),
            Err(ProtocolError::PayloadLengthMsbSet)
        );
    }

    #[test]
    fn encode_refuses_short_output() {
        let h = FrameHeader {
            fin: true,
            rsv1: false,
            opcode: OpCode::Text,
            mask: Some([0; 4]),
            payload_len: 200,
        };
        assert_eq!(h.encode(&mut [0u8; 7]), None);
        assert_eq!(h.encode(&mut [0u8; 8]), Some(8));
    }
}
