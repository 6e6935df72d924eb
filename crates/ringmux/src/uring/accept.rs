//! Accepts that report the peer's address.
//!
//! A multishot accept into direct descriptors cannot report addresses (every shot would write the same
//! sockaddr buffer, and a direct descriptor cannot be asked with `getpeername`). So each worker keeps a few
//! single-shot accepts in flight, each with its own address buffer; a completion re-arms its accept in the
//! same submission batch as the new connection's recv, so the listener is never left without an accept.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Single-shot accepts kept in flight per worker.
pub(crate) const IN_FLIGHT: usize = 16;

/// Room for a `sockaddr_in` or `sockaddr_in6`, aligned like `sockaddr_storage`'s members.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(8))]
pub(crate) struct AddrBuf {
    pub(crate) bytes: [u8; 32],
    pub(crate) len: libc::socklen_t,
}

impl Default for AddrBuf {
    fn default() -> Self {
        Self {
            bytes: [0; 32],
            len: 32,
        }
    }
}

/// One accept's buffers and whether it is in flight. The buffers are boxed so their addresses stay put while
/// the kernel holds them.
#[derive(Debug)]
pub(crate) struct AcceptSlots {
    bufs: Box<[AddrBuf; IN_FLIGHT]>,
    armed: [bool; IN_FLIGHT],
}

impl Default for AcceptSlots {
    fn default() -> Self {
        Self {
            bufs: Box::new([AddrBuf::default(); IN_FLIGHT]),
            armed: [false; IN_FLIGHT],
        }
    }
}

impl AcceptSlots {
    /// Whether accept `i` is in flight.
    pub(crate) fn is_armed(&self, i: usize) -> bool {
        self.armed.get(i).copied().unwrap_or(false)
    }

    /// Indices of accepts in flight.
    pub(crate) fn in_flight(&self) -> impl Iterator<Item = usize> + '_ {
        self.armed
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.then_some(i))
    }

    /// Readies slot `i` for a new accept: resets the length and returns the pointers the kernel writes
    /// (`None` if `i` is out of range).
    pub(crate) fn arm(&mut self, i: usize) -> Option<(*mut libc::sockaddr, *mut libc::socklen_t)> {
        let buf = self.bufs.get_mut(i)?;
        *buf = AddrBuf::default();
        *self.armed.get_mut(i)? = true;
        let addr: *mut [u8; 32] = &mut buf.bytes;
        Some((addr.cast(), &mut buf.len))
    }

    /// Slot `i`'s accept completed: its peer address, if the kernel wrote one we understand.
    pub(crate) fn complete(&mut self, i: usize) -> Option<SocketAddr> {
        *self.armed.get_mut(i)? = false;
        let buf = self.bufs.get(i)?;
        parse_sockaddr(&buf.bytes, buf.len as usize)
    }
}

/// Reads a `sockaddr_in` / `sockaddr_in6` as the kernel lays it out (family in host order, port and address
/// in network order). `None` for other families or a short length.
pub(crate) fn parse_sockaddr(bytes: &[u8], len: usize) -> Option<SocketAddr> {
    let b = bytes.get(..len.min(bytes.len()))?;
    let family = i32::from(u16::from_ne_bytes([*b.first()?, *b.get(1)?]));
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    match family {
        libc::AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            // As std and socket2 do: the field as stored, no byte swap.
            let flow = u32::from_ne_bytes(b.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(b.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_socket2_lays_out() {
        for want in [
            "203.0.113.7:5060".parse::<SocketAddr>().unwrap(),
            "[2001:db8::1]:443".parse().unwrap(),
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 0x1234, 3)),
        ] {
            let raw = socket2::SockAddr::from(want);
            // SAFETY: `as_ptr` points at `len` initialised bytes owned by `raw`, alive for this scope.
            let bytes = unsafe {
                std::slice::from_raw_parts(raw.as_ptr().cast::<u8>(), raw.len() as usize)
            };
            assert_eq!(parse_sockaddr(bytes, bytes.len()), Some(want));
        }
    }

    #[test]
    fn rejects_short_and_foreign() {
        let v4 = socket2::SockAddr::from("10.0.0.1:1".parse::<SocketAddr>().unwrap());
        // SAFETY: as above.
        let bytes =
            unsafe { std::slice::from_raw_parts(v4.as_ptr().cast::<u8>(), v4.len() as usize) };
        assert_eq!(parse_sockaddr(bytes, 6), None, "truncated sockaddr_in");
        let mut unix = [0u8; 32];
        unix[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        assert_eq!(parse_sockaddr(&unix, 32), None);
        assert_eq!(parse_sockaddr(&[], 0), None);
    }

    #[test]
    fn slots_track_in_flight() {
        let mut s = AcceptSlots::default();
        assert!((0..IN_FLIGHT).all(|i| !s.is_armed(i)));
        assert!(s.arm(3).is_some());
        assert!(s.is_armed(3) && !s.is_armed(2));
        assert!(s.arm(IN_FLIGHT).is_none());
        assert_eq!(s.in_flight().collect::<Vec<_>>(), vec![3]);
        assert_eq!(s.complete(3), None, "nothing written: family 0");
        assert_eq!(s.in_flight().count(), 0);
    }
}
