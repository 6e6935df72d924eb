//! What a completion is about, packed into the 64-bit user data of its submission.
//!
//! Bits 56..64: the operation kind; bits 32..56: low 24 bits of the slot generation; bits 0..32: the slot
//! (or the UDP socket index). A slot is freed only when no operation naming it is in flight, so the
//! generation bits are a consistency check, not what keeps stale completions away.

use crate::conn::Conn;

/// An operation's kind. Its code in the user data is its position in [`Op::ALL`] plus one (0 names none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Op {
    Accept,
    Recv,
    Send,
    Close,
    Cancel,
    Timeout,
    TimeoutUpdate,
    Mail,
    MailSent,
    Event,
    UdpPoll,
    ConnectPoll,
    Ignore,
    Install,
}

impl Op {
    /// Every kind, in declaration order.
    const ALL: [Self; 14] = [
        Self::Accept,
        Self::Recv,
        Self::Send,
        Self::Close,
        Self::Cancel,
        Self::Timeout,
        Self::TimeoutUpdate,
        Self::Mail,
        Self::MailSent,
        Self::Event,
        Self::UdpPoll,
        Self::ConnectPoll,
        Self::Ignore,
        Self::Install,
    ];

    #[inline]
    fn code(self) -> u64 {
        self as u64 + 1
    }

    #[inline]
    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }
}

const GEN_MASK: u32 = 0x00ff_ffff;

pub(crate) fn pack(op: Op, conn: Conn) -> u64 {
    op.code() << 56 | u64::from(conn.generation & GEN_MASK) << 32 | u64::from(conn.slot)
}

pub(crate) fn pack_plain(op: Op, index: u32) -> u64 {
    op.code() << 56 | u64::from(index)
}

/// The operation, slot/index, and the 24 generation bits.
pub(crate) fn unpack(ud: u64) -> Option<(Op, u32, u32)> {
    let op = Op::from_code((ud >> 56) as u8)?;
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
        assert_eq!(unpack(u64::from(u8::MAX) << 56), None);
    }

    #[test]
    fn every_kind_round_trips() {
        for (i, &op) in Op::ALL.iter().enumerate() {
            assert_eq!(op as usize, i, "ALL is in declaration order");
            assert_eq!(unpack(pack_plain(op, 9)), Some((op, 9, 0)));
        }
    }
}
