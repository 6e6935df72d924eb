//! What a completion is about, packed into the 64-bit user data of its submission.
//!
//! Bits 56..64: the operation kind; bits 32..56: low 24 bits of the slot generation; bits 0..32: the slot
//! (or the UDP socket index). A slot is freed only when no operation naming it is in flight, so the
//! generation bits are a consistency check, not what keeps stale completions away.

use crate::conn::Conn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Op {
    Accept = 1,
    Recv = 2,
    Send = 3,
    Close = 4,
    Cancel = 5,
    Timeout = 6,
    TimeoutUpdate = 7,
    Mail = 8,
    MailSent = 9,
    Event = 10,
    UdpPoll = 11,
    ConnectPoll = 12,
    Ignore = 13,
}

impl Op {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Accept,
            2 => Self::Recv,
            3 => Self::Send,
            4 => Self::Close,
            5 => Self::Cancel,
            6 => Self::Timeout,
            7 => Self::TimeoutUpdate,
            8 => Self::Mail,
            9 => Self::MailSent,
            10 => Self::Event,
            11 => Self::UdpPoll,
            12 => Self::ConnectPoll,
            13 => Self::Ignore,
            _ => return None,
        })
    }
}

const GEN_MASK: u32 = 0x00ff_ffff;

pub(crate) fn pack(op: Op, conn: Conn) -> u64 {
    (op as u64) << 56 | u64::from(conn.generation & GEN_MASK) << 32 | u64::from(conn.slot)
}

pub(crate) fn pack_plain(op: Op, index: u32) -> u64 {
    (op as u64) << 56 | u64::from(index)
}

/// The operation, slot/index, and the 24 generation bits.
pub(crate) fn unpack(ud: u64) -> Option<(Op, u32, u32)> {
    let op = Op::from_u8((ud >> 56) as u8)?;
    Some((op, ud as u32, (ud >> 32) as u32 & GEN_MASK))
}

pub(crate) fn gen_matches(conn: Conn, gen_bits: u32) -> bool {
    conn.generation & GEN_MASK == gen_bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let conn = Conn {
            slot: 0xdead_beef,
            generation: 0x0123_4567,
        };
        let (op, slot, g) = unpack(pack(Op::Send, conn)).unwrap();
        assert_eq!((op, slot), (Op::Send, 0xdead_beef));
        assert!(gen_matches(conn, g));
        assert!(!gen_matches(
            Conn {
                generation: 0x0123_4568,
                ..conn
            },
            g
        ));
        assert_eq!(
            unpack(pack_plain(Op::UdpPoll, 7)),
            Some((Op::UdpPoll, 7, 0))
        );
        assert_eq!(unpack(0), None);
    }
}
