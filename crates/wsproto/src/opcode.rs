//! Frame opcodes (RFC 6455 §5.2, §11.8).

/// The opcode of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// `%x0` continuation frame.
    Continuation,
    /// `%x1` text frame.
    Text,
    /// `%x2` binary frame.
    Binary,
    /// `%x8` connection close.
    Close,
    /// `%x9` ping.
    Ping,
    /// `%xA` pong.
    Pong,
}

impl OpCode {
    /// Decode the low four bits of the first header byte; `None` for a reserved opcode.
    pub fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            0x0 => Some(Self::Continuation),
            0x1 => Some(Self::Text),
            0x2 => Some(Self::Binary),
            0x8 => Some(Self::Close),
            0x9 => Some(Self::Ping),
            0xA => Some(Self::Pong),
            _ => None,
        }
    }

    /// The four-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Control frames have the high opcode bit set (§5.5).
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_defined_opcode() {
        for bits in 0u8..16 {
            match OpCode::from_bits(bits) {
                Some(op) => assert_eq!(op.bits(), bits),
                None => assert!(
                    matches!(bits, 3..=7 | 0xB..=0xF),
                    "{bits} should be defined"
                ),
            }
        }
    }

    #[test]
    fn control_opcodes_are_close_ping_pong() {
        assert!(OpCode::Close.is_control());
        assert!(OpCode::Ping.is_control());
        assert!(OpCode::Pong.is_control());
        assert!(!OpCode::Text.is_control());
        assert!(!OpCode::Binary.is_control());
        assert!(!OpCode::Continuation.is_control());
    }
}
