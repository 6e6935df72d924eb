//! A worker's hand-out ([`WorkerInheritance`]) as records on a [`Channel`]: one record for the worker (its
//! listeners' descriptors, its slab generations, and bytes of the handler's own), then its connections in records
//! of at most [`MAX_FDS`] descriptors and [`BATCH_BYTES`] bytes each, one descriptor per connection.
//!
//! Format version 1, integers big-endian:
//! ```text
//! worker record:     u8 version, u32 worker, u32 listeners, u32 slots + u32 generation each, u32 connections,
//!                    u32 length + the handler's bytes; descriptors: the listeners
//! connection record: u32 count, then each: u32 slot, u32 generation, peer (u8 0, or 4 + 4 bytes + u16 port,
//!                    or 6 + 16 bytes + u16 port), u8 listener (255: none), u8 proxied,
//!                    u32 length + state, u32 length + unsent bytes; descriptors: one per connection
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::{Channel, HandoverError, MAX_FDS};
use crate::{Conn, InheritedConn, WorkerInheritance};

/// The version [`send_package`] writes and [`recv_package`] reads.
pub const PACKAGE_VERSION: u8 = 1;
/// Bytes of connection state one record carries before the next record starts.
pub const BATCH_BYTES: usize = 4 << 20;
/// The largest record [`recv_package`] takes: a batch, and one connection's state beyond it.
pub const MAX_RECORD: usize = 2 * BATCH_BYTES + (16 << 20);
/// Most slots a worker's slab may have in a package.
const MAX_SLOTS: usize = 1 << 24;

/// Sends worker `worker`'s hand-out with `extra` (the handler's own bytes: a registrar's bindings, say).
pub fn send_package(
    channel: &mut Channel,
    worker: u32,
    package: &WorkerInheritance,
    extra: &[u8],
) -> Result<(), HandoverError> {
    let mut head = vec![PACKAGE_VERSION];
    head.extend_from_slice(&worker.to_be_bytes());
    put_u32(&mut head, package.listeners.len());
    put_u32(&mut head, package.generations.len());
    for g in &package.generations {
        head.extend_from_slice(&g.to_be_bytes());
    }
    put_u32(&mut head, package.conns.len());
    put_u32(&mut head, extra.len());
    head.extend_from_slice(extra);
    let listeners: Vec<BorrowedFd<'_>> = package.listeners.iter().map(AsFd::as_fd).collect();
    channel.send(&head, &listeners)?;
    let mut rest = package.conns.as_slice();
    while !rest.is_empty() {
        let mut bytes = 0;
        let n = rest
            .iter()
            .take(MAX_FDS)
            .take_while(|c| {
                bytes += c.state.len() + c.unsent.len();
                bytes <= BATCH_BYTES
            })
            .count()
            .max(1);
        let (batch, after) = rest.split_at(n);
        let mut record = Vec::new();
        put_u32(&mut record, batch.len());
        for c in batch {
            put_conn(&mut record, c);
        }
        let fds: Vec<BorrowedFd<'_>> = batch.iter().map(|c| c.fd.as_fd()).collect();
        channel.send(&record, &fds)?;
        rest = after;
    }
    Ok(())
}

/// Receives one worker's hand-out: the worker's index, what it handed out, and the handler's own bytes.
pub fn recv_package(
    channel: &mut Channel,
) -> Result<(u32, WorkerInheritance, Vec<u8>), HandoverError> {
    let (head, mut listeners) = channel.recv(MAX_RECORD)?;
    let mut r = Reader(&head);
    if r.u8()? != PACKAGE_VERSION {
        return Err(HandoverError::Malformed("version"));
    }
    let worker = r.u32()?;
    if r.len()? != listeners.len() {
        return Err(HandoverError::Malformed("listener descriptors"));
    }
    let slots = r.len()?;
    if slots > MAX_SLOTS {
        return Err(HandoverError::Malformed("slots"));
    }
    let generations = (0..slots).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
    let count = r.len()?;
    let extra_len = r.len()?;
    let extra = r.take(extra_len)?.to_vec();
    r.end()?;
    let mut conns = Vec::with_capacity(count.min(MAX_FDS));
    while conns.len() < count {
        let (record, fds) = channel.recv(MAX_RECORD)?;
        let mut r = Reader(&record);
        let n = r.len()?;
        if n == 0 || n != fds.len() || conns.len() + n > count {
            return Err(HandoverError::Malformed("connection descriptors"));
        }
        for fd in fds {
            conns.push(conn(&mut r, fd)?);
        }
        r.end()?;
    }
    let package = WorkerInheritance {
        listeners: std::mem::take(&mut listeners),
        generations,
        conns,
    };
    Ok((worker, package, extra))
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_conn(out: &mut Vec<u8>, c: &InheritedConn) {
    out.extend_from_slice(&c.conn.slot.to_be_bytes());
    out.extend_from_slice(&c.conn.generation.to_be_bytes());
    match c.peer {
        None => out.push(0),
        Some(SocketAddr::V4(a)) => {
            out.push(4);
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
        }
        Some(SocketAddr::V6(a)) => {
            out.push(6);
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
        }
    }
    out.push(
        c.listener
            .and_then(|l| u8::try_from(l).ok())
            .unwrap_or(u8::MAX),
    );
    out.push(u8::from(c.proxied));
    put_u32(out, c.state.len());
    out.extend_from_slice(&c.state);
    put_u32(out, c.unsent.len());
    out.extend_from_slice(&c.unsent);
}

fn conn(r: &mut Reader<'_>, fd: OwnedFd) -> Result<InheritedConn, HandoverError> {
    let conn = Conn {
        slot: r.u32()?,
        generation: r.u32()?,
    };
    let ip = match r.u8()? {
        0 => None,
        4 => Some(IpAddr::V4(Ipv4Addr::from(r.u32()?))),
        6 => {
            let b: [u8; 16] = r
                .take(16)?
                .try_into()
                .map_err(|_| HandoverError::Malformed("peer"))?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => return Err(HandoverError::Malformed("peer")),
    };
    let peer = match ip {
        Some(ip) => Some(SocketAddr::new(ip, r.u16()?)),
        None => None,
    };
    let listener = match r.u8()? {
        u8::MAX => None,
        l => Some(usize::from(l)),
    };
    let proxied = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(HandoverError::Malformed("proxied")),
    };
    let state_len = r.len()?;
    let state = r.take(state_len)?.to_vec();
    let unsent_len = r.len()?;
    let unsent = r.take(unsent_len)?.to_vec();
    Ok(InheritedConn {
        conn,
        fd,
        peer,
        listener,
        proxied,
        state,
        unsent,
    })
}

/// Reads a record's fields, each checked against what is left.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HandoverError> {
        let (got, rest) = self
            .0
            .split_at_checked(n)
            .ok_or(HandoverError::Malformed("cut short"))?;
        self.0 = rest;
        Ok(got)
    }

    fn u8(&mut self) -> Result<u8, HandoverError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, HandoverError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, HandoverError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len(&mut self) -> Result<usize, HandoverError> {
        Ok(self.u32()? as usize)
    }

    fn end(&self) -> Result<(), HandoverError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(HandoverError::Malformed("bytes after the record"))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    fn socket() -> OwnedFd {
        OwnedFd::from(UnixStream::pair().unwrap().0)
    }

    /// 600 connections (three records) with their states, a listener and the handler's bytes arrive whole.
    #[test]
    fn a_package_arrives_whole_across_records() {
        let conns: Vec<InheritedConn> = (0..600u32)
            .map(|i| InheritedConn {
                conn: Conn {
                    slot: i,
                    generation: i * 3,
                },
                fd: socket(),
                peer: if i % 2 == 0 {
                    Some(SocketAddr::from(([192, 0, 2, 7], 40000 + i as u16)))
                } else {
                    Some("[2001:db8::1]:5060".parse().unwrap())
                },
                listener: if i == 5 { None } else { Some(1) },
                proxied: i % 3 == 0,
                state: vec![i as u8; (i % 50) as usize],
                unsent: if i == 7 {
                    b"queued".to_vec()
                } else {
                    Vec::new()
                },
            })
            .collect();
        let package = WorkerInheritance {
            listeners: vec![socket(), socket()],
            generations: (0..600).map(|i| i * 3).collect(),
            conns,
        };
        let (a, b) = UnixStream::pair().unwrap();
        let (mut from, mut to) = (Channel::new(a), Channel::new(b));
        let sender = std::thread::spawn(move || {
            send_package(&mut from, 1, &package, b"bindings").unwrap();
            package
        });
        let (worker, got, extra) = recv_package(&mut to).unwrap();
        let sent = sender.join().unwrap();
        assert_eq!((worker, extra.as_slice()), (1, b"bindings".as_slice()));
        assert_eq!(got.listeners.len(), 2);
        assert_eq!(got.generations, sent.generations);
        assert_eq!(got.conns.len(), 600);
        for (g, s) in got.conns.iter().zip(&sent.conns) {
            assert_eq!(
                (g.conn, g.peer, g.listener, g.proxied, &g.state, &g.unsent),
                (s.conn, s.peer, s.listener, s.proxied, &s.state, &s.unsent)
            );
        }
    }

    /// A worker record whose descriptor count is not its listener count, or of another version, is refused.
    #[test]
    fn a_record_that_does_not_match_its_descriptors_is_refused() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut from, mut to) = (Channel::new(a), Channel::new(b));
        let mut head = vec![PACKAGE_VERSION, 0, 0, 0, 0];
        head.extend_from_slice(&2u32.to_be_bytes());
        head.extend_from_slice(&[0; 12]);
        let one = socket();
        from.send(&head, &[one.as_fd()]).unwrap();
        assert!(matches!(
            recv_package(&mut to),
            Err(HandoverError::Malformed("listener descriptors"))
        ));
        from.send(&[9], &[]).unwrap();
        assert!(matches!(
            recv_package(&mut to),
            Err(HandoverError::Malformed("version"))
        ));
    }
}
