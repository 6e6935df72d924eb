//! A worker's hand-out ([`HandOutPart`]s) as records on a [`Channel`], tagged with the worker's index so that
//! several workers' parts may interleave: its start (its listeners' descriptors, its slab generations and bytes
//! of the handler's own), its connections in records of at most [`MAX_FDS`] descriptors and [`BATCH_BYTES`]
//! bytes (one descriptor per connection), and its end.
//!
//! Format version 2, integers big-endian; each record starts with u8 version, u8 kind, u32 worker:
//! ```text
//! start (kind 1):       u32 listeners, u32 UDP sockets, u32 slots + u32 generation each, u32 length + the
//!                       handler's bytes; descriptors: the listeners, then the UDP sockets
//! connections (kind 2): u32 count, then each: u32 slot, u32 generation, peer (u8 0, or 4 + 4 bytes + u16 port,
//!                       or 6 + 16 bytes + u16 port), u8 listener (255: none), u8 proxied,
//!                       u32 length + state, u32 length + unsent bytes, u32 length + TLS record state
//!                       ([`TlsState`](crate::TlsState); 0: no TLS); descriptors: one per connection
//! end (kind 3):         nothing more
//! ```
//!
//! Version 1 records (no UDP sockets, no TLS record state) are read too; whether two processes meet at all is for
//! their own handshake to say (sipedged's hello).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::{Channel, HandoverError, MAX_FDS};
use crate::{Conn, InheritedConn, TlsState};

/// The version the records are written in.
pub const PACKAGE_VERSION: u8 = 2;
/// The oldest version read.
pub const PACKAGE_OLDEST: u8 = 1;
/// Bytes of connection state one record carries before the next record starts.
pub const BATCH_BYTES: usize = 4 << 20;
/// The largest record [`recv_record`] takes: a batch, and one connection's state beyond it.
pub const MAX_RECORD: usize = 2 * BATCH_BYTES + (16 << 20);
/// Most slots a worker's slab may have in a start record.
const MAX_SLOTS: usize = 1 << 24;

const START: u8 = 1;
const CONNS: u8 = 2;
const END: u8 = 3;

/// One record of a hand-out, as received.
#[derive(Debug)]
pub enum Record {
    /// A worker's start.
    Start {
        /// The worker.
        worker: u32,
        /// Its listening sockets.
        listeners: Vec<OwnedFd>,
        /// Its UDP sockets.
        udp: Vec<OwnedFd>,
        /// Its slab's generations.
        generations: Vec<u32>,
        /// The handler's own bytes.
        extra: Vec<u8>,
    },
    /// Connections of a worker.
    Conns {
        /// The worker.
        worker: u32,
        /// The connections.
        conns: Vec<InheritedConn>,
    },
    /// A worker's end.
    End {
        /// The worker.
        worker: u32,
    },
}

fn header(kind: u8, worker: u32) -> Vec<u8> {
    let mut out = vec![PACKAGE_VERSION, kind];
    out.extend_from_slice(&worker.to_be_bytes());
    out
}

/// Sends worker `worker`'s start: its listeners, slab generations and `extra` (the handler's own bytes: a
/// registrar's bindings, say).
pub fn send_start(
    channel: &mut Channel,
    worker: u32,
    (listeners, udp): (&[OwnedFd], &[OwnedFd]),
    generations: &[u32],
    extra: &[u8],
) -> Result<(), HandoverError> {
    let mut record = header(START, worker);
    put_u32(&mut record, listeners.len());
    put_u32(&mut record, udp.len());
    put_u32(&mut record, generations.len());
    for g in generations {
        record.extend_from_slice(&g.to_be_bytes());
    }
    put_u32(&mut record, extra.len());
    record.extend_from_slice(extra);
    let fds: Vec<BorrowedFd<'_>> = listeners.iter().chain(udp).map(AsFd::as_fd).collect();
    channel.send(&record, &fds)
}

/// Sends connections of worker `worker`, in as many records as they need.
pub fn send_conns(
    channel: &mut Channel,
    worker: u32,
    conns: &[InheritedConn],
) -> Result<(), HandoverError> {
    let mut rest = conns;
    while !rest.is_empty() {
        let mut bytes = 0;
        let n = rest
            .iter()
            .take(MAX_FDS)
            .take_while(|c| {
                bytes += c.state.len() + c.unsent.len() + c.tls.as_bytes().len();
                bytes <= BATCH_BYTES
            })
            .count()
            .max(1);
        let (batch, after) = rest.split_at(n);
        // Sized for the whole batch, so that no key is left behind in a smaller block grown out of.
        let size: usize = batch
            .iter()
            .map(|c| 64 + c.state.len() + c.unsent.len() + c.tls.as_bytes().len())
            .sum();
        let mut record = Vec::with_capacity(10 + size);
        record.extend_from_slice(&header(CONNS, worker));
        put_u32(&mut record, batch.len());
        for c in batch {
            put_conn(&mut record, c);
        }
        let fds: Vec<BorrowedFd<'_>> = batch.iter().map(|c| c.fd.as_fd()).collect();
        let sent = channel.send(&record, &fds);
        // It holds TLS keys.
        zeroize::Zeroize::zeroize(&mut record);
        sent?;
        rest = after;
    }
    Ok(())
}

/// Sends worker `worker`'s end.
pub fn send_end(channel: &mut Channel, worker: u32) -> Result<(), HandoverError> {
    channel.send(&header(END, worker), &[])
}

/// Receives the next record of a hand-out.
pub fn recv_record(channel: &mut Channel) -> Result<Record, HandoverError> {
    let (mut bytes, fds) = channel.recv(MAX_RECORD)?;
    let record = read_record(&bytes, fds);
    // It may hold TLS keys.
    zeroize::Zeroize::zeroize(&mut bytes);
    record
}

fn read_record(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<Record, HandoverError> {
    let mut r = Reader(bytes);
    let version = r.u8()?;
    if !(PACKAGE_OLDEST..=PACKAGE_VERSION).contains(&version) {
        return Err(HandoverError::Malformed("version"));
    }
    let kind = r.u8()?;
    let worker = r.u32()?;
    let record = match kind {
        START => {
            let mut listeners = fds;
            let count = r.len()?;
            let udp_count = if version >= 2 { r.len()? } else { 0 };
            if count.checked_add(udp_count) != Some(listeners.len()) {
                return Err(HandoverError::Malformed("listener descriptors"));
            }
            let udp = listeners.split_off(count);
            let slots = r.len()?;
            if slots > MAX_SLOTS {
                return Err(HandoverError::Malformed("slots"));
            }
            let generations = (0..slots).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
            let extra_len = r.len()?;
            let extra = r.take(extra_len)?.to_vec();
            Record::Start {
                worker,
                listeners,
                udp,
                generations,
                extra,
            }
        }
        CONNS => {
            let n = r.len()?;
            if n == 0 || n != fds.len() {
                return Err(HandoverError::Malformed("connection descriptors"));
            }
            let mut conns = Vec::with_capacity(n);
            for fd in fds {
                conns.push(conn(&mut r, fd, version)?);
            }
            Record::Conns { worker, conns }
        }
        END if fds.is_empty() => Record::End { worker },
        _ => return Err(HandoverError::Malformed("kind")),
    };
    r.end()?;
    Ok(record)
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
    put_u32(out, c.tls.as_bytes().len());
    out.extend_from_slice(c.tls.as_bytes());
}

fn conn(r: &mut Reader<'_>, fd: OwnedFd, version: u8) -> Result<InheritedConn, HandoverError> {
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
    let tls = if version >= 2 {
        let len = r.len()?;
        TlsState::from_bytes(r.take(len)?.to_vec())
    } else {
        TlsState::default()
    };
    Ok(InheritedConn {
        conn,
        fd,
        peer,
        listener,
        proxied,
        state,
        unsent,
        tls,
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

    fn conns(n: u32) -> Vec<InheritedConn> {
        (0..n)
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
                tls: if i % 4 == 1 {
                    TlsState::from_bytes(vec![i as u8; 90])
                } else {
                    TlsState::default()
                },
            })
            .collect()
    }

    /// A start, 600 connections (three records) and an end arrive whole.
    #[test]
    fn a_hand_out_arrives_whole_across_records() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut from, mut to) = (Channel::new(a), Channel::new(b));
        let sent = conns(600);
        let sender = std::thread::spawn(move || {
            let listeners = [socket(), socket(), socket()];
            send_start(
                &mut from,
                1,
                (&listeners[..2], &listeners[2..]),
                &[3, 0, 7],
                b"bindings",
            )
            .unwrap();
            send_conns(&mut from, 1, &sent).unwrap();
            send_end(&mut from, 1).unwrap();
            sent
        });
        let Record::Start {
            worker,
            listeners,
            udp,
            generations,
            extra,
        } = recv_record(&mut to).unwrap()
        else {
            panic!("a start first");
        };
        assert_eq!(
            (worker, listeners.len(), udp.len(), generations, extra),
            (1, 2, 1, vec![3, 0, 7], b"bindings".to_vec())
        );
        let mut got = Vec::new();
        loop {
            match recv_record(&mut to).unwrap() {
                Record::Conns { worker: 1, conns } => got.extend(conns),
                Record::End { worker: 1 } => break,
                other => panic!("{other:?}"),
            }
        }
        let sent = sender.join().unwrap();
        assert_eq!(got.len(), 600);
        for (g, s) in got.iter().zip(&sent) {
            assert_eq!(
                (
                    g.conn, g.peer, g.listener, g.proxied, &g.state, &g.unsent, &g.tls
                ),
                (
                    s.conn, s.peer, s.listener, s.proxied, &s.state, &s.unsent, &s.tls
                )
            );
        }
    }

    /// Connections as the previous release (version 1, no TLS record state) wrote them are read.
    #[test]
    fn a_version_1_record_is_read() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut from, mut to) = (Channel::new(a), Channel::new(b));
        let mut record = vec![1, CONNS, 0, 0, 0, 4];
        put_u32(&mut record, 1);
        record.extend_from_slice(&9u32.to_be_bytes());
        record.extend_from_slice(&2u32.to_be_bytes());
        record.extend_from_slice(&[4, 192, 0, 2, 1, 0x13, 0xc4, 0, 0]);
        put_u32(&mut record, 3);
        record.extend_from_slice(b"abc");
        put_u32(&mut record, 0);
        let fd = socket();
        from.send(&record, &[fd.as_fd()]).unwrap();
        let Record::Conns { worker: 4, conns } = recv_record(&mut to).unwrap() else {
            panic!("connections of worker 4");
        };
        let c = &conns[0];
        assert_eq!(
            (
                c.conn,
                c.peer,
                c.listener,
                c.proxied,
                &c.state[..],
                c.tls.is_empty()
            ),
            (
                Conn {
                    slot: 9,
                    generation: 2
                },
                Some(SocketAddr::from(([192, 0, 2, 1], 5060))),
                Some(0),
                false,
                &b"abc"[..],
                true
            )
        );
        // The same bytes as version 2 are cut short (the TLS state's length is missing).
        record[0] = 2;
        from.send(&record, &[socket().as_fd()]).unwrap();
        assert!(recv_record(&mut to).is_err());
    }

    /// A record whose descriptor count is not what it says, of another version or kind, is refused.
    #[test]
    fn a_record_that_does_not_match_its_descriptors_is_refused() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut from, mut to) = (Channel::new(a), Channel::new(b));
        let mut start = header(START, 0);
        start.extend_from_slice(&2u32.to_be_bytes());
        start.extend_from_slice(&[0; 8]);
        let one = socket();
        from.send(&start, &[one.as_fd()]).unwrap();
        assert!(matches!(
            recv_record(&mut to),
            Err(HandoverError::Malformed("listener descriptors"))
        ));
        from.send(&[9], &[]).unwrap();
        assert!(matches!(
            recv_record(&mut to),
            Err(HandoverError::Malformed("version"))
        ));
        from.send(&header(9, 0), &[]).unwrap();
        assert!(matches!(
            recv_record(&mut to),
            Err(HandoverError::Malformed("kind"))
        ));
        from.send(&header(END, 0), &[one.as_fd()]).unwrap();
        assert!(matches!(
            recv_record(&mut to),
            Err(HandoverError::Malformed("kind"))
        ));
    }
}
