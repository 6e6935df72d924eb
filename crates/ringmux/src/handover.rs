//! Descriptors and bytes from one process to another over a Unix stream socket, for a hand-over between an old
//! and a new server: the new one takes the old one's listening sockets and connections (SCM_RIGHTS) with a record
//! of state for each.
//!
//! A [`Channel`] carries records: a length, the bytes, and up to [`MAX_FDS`] descriptors sent with them. The
//! receiver's descriptors are close-on-exec; a record whose descriptors did not all arrive (the kernel cut the
//! control data) is refused, and so is a peer that is not this process's user.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

mod package;

pub use package::{
    BATCH_BYTES, MAX_RECORD, PACKAGE_OLDEST, PACKAGE_VERSION, Record, recv_record, send_conns,
    send_end, send_start,
};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Descriptors one record carries at most (the kernel's `SCM_MAX_FD`).
pub const MAX_FDS: usize = 253;

/// Why a record did not go or come.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    /// The socket failed.
    #[error("hand-over socket: {0}")]
    Io(#[from] std::io::Error),
    /// The peer is another user's process.
    #[error("hand-over peer runs as uid {peer}, not this process's {own}")]
    Stranger {
        /// The peer's user.
        peer: u32,
        /// This process's user.
        own: u32,
    },
    /// More descriptors than one record carries.
    #[error("{0} descriptors in one hand-over record; at most {MAX_FDS}")]
    TooManyFds(usize),
    /// A record longer than the receiver takes.
    #[error("hand-over record of {len} bytes; at most {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// What the receiver takes.
        max: usize,
    },
    /// The descriptors sent with a record did not all arrive.
    #[error("hand-over record's descriptors were cut short")]
    FdsCut,
    /// The peer closed the socket between records.
    #[error("hand-over peer closed the socket")]
    Closed,
    /// A record is not what the format says ([`package`]).
    #[error("hand-over record malformed: {0}")]
    Malformed(&'static str),
}

/// One end of a hand-over: records of bytes and descriptors.
#[derive(Debug)]
pub struct Channel {
    stream: UnixStream,
}

impl Channel {
    /// A channel over `stream` (connected to the other process, or one end of a pair).
    pub fn new(stream: UnixStream) -> Self {
        Self { stream }
    }

    /// The peer's process id, once it is known to run as this process's user.
    pub fn check_peer(&self) -> Result<u32, HandoverError> {
        let cred =
            rustix::net::sockopt::socket_peercred(&self.stream).map_err(std::io::Error::from)?;
        let (peer, own) = (cred.uid.as_raw(), rustix::process::getuid().as_raw());
        if peer != own {
            return Err(HandoverError::Stranger { peer, own });
        }
        Ok(cred.pid.as_raw_nonzero().get() as u32)
    }

    /// Sends one record: `bytes`, and `fds` with it.
    pub fn send(&mut self, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), HandoverError> {
        if fds.len() > MAX_FDS {
            return Err(HandoverError::TooManyFds(fds.len()));
        }
        let len = u32::try_from(bytes.len()).map_err(|_| HandoverError::TooLong {
            len: bytes.len(),
            max: u32::MAX as usize,
        })?;
        let head = len.to_be_bytes();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(HandoverError::TooManyFds(fds.len()));
        }
        // The descriptors travel with the first byte; what one call does not write goes after it.
        let sent = rustix::net::sendmsg(
            &self.stream,
            &[IoSlice::new(&head), IoSlice::new(bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        )
        .map_err(std::io::Error::from)?;
        // What one call did not write goes after it, from where it stopped (no copy: records may hold keys).
        if sent < head.len() {
            self.stream
                .write_all(head.get(sent..).unwrap_or_default())?;
        }
        self.stream.write_all(
            bytes
                .get(sent.saturating_sub(head.len())..)
                .unwrap_or_default(),
        )?;
        Ok(())
    }

    /// Receives one record of at most `max` bytes, with the descriptors sent with it.
    pub fn recv(&mut self, max: usize) -> Result<(Vec<u8>, Vec<OwnedFd>), HandoverError> {
        let mut head = [0u8; 4];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            &self.stream,
            &mut [IoSliceMut::new(&mut head)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        if got.flags.contains(ReturnFlags::CTRUNC) {
            return Err(HandoverError::FdsCut);
        }
        if got.bytes == 0 {
            return Err(HandoverError::Closed);
        }
        self.stream.read_exact(&mut head[got.bytes..])?;
        let len = u32::from_be_bytes(head) as usize;
        if len > max {
            return Err(HandoverError::TooLong { len, max });
        }
        let mut bytes = vec![0; len];
        self.stream.read_exact(&mut bytes)?;
        Ok((bytes, fds))
    }
}

impl AsFd for Channel {
    /// The socket, to wait on it.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn a_listener_and_a_connection_work_in_the_receiving_hands() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut old, mut new) = (Channel::new(a), Channel::new(b));
        assert_eq!(new.check_peer().unwrap(), std::process::id());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut browser = TcpStream::connect(addr).unwrap();
        let (served, _) = listener.accept().unwrap();
        old.send(b"state of both", &[listener.as_fd(), served.as_fd()])
            .unwrap();
        drop((listener, served));
        let (bytes, mut fds) = new.recv(1024).unwrap();
        assert_eq!(bytes, b"state of both");
        assert_eq!(fds.len(), 2);
        let mut served = TcpStream::from(fds.pop().unwrap());
        let listener = TcpListener::from(fds.pop().unwrap());
        browser.write_all(b"after").unwrap();
        let mut got = [0u8; 5];
        served.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"after", "the connection carries on");
        let _second = TcpStream::connect(addr).unwrap();
        assert!(listener.accept().is_ok(), "the listener still accepts");
    }

    #[test]
    fn records_keep_their_bounds_and_their_descriptors() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut old, new) = (Channel::new(a), Channel::new(b));
        // A record longer than one write arrives whole.
        let reader = std::thread::spawn(move || {
            let mut new = new;
            let got = new.recv(1 << 20).map(|(b, f)| (b.len(), f.len()));
            (new, got)
        });
        old.send(&vec![7u8; 300_000], &[]).unwrap();
        let (mut new, got) = reader.join().unwrap();
        assert_eq!(got.unwrap(), (300_000, 0));
        // MAX_FDS descriptors go in one record, and not one more.
        let sockets: Vec<TcpListener> = (0..MAX_FDS)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let mut fds: Vec<BorrowedFd<'_>> = sockets.iter().map(AsFd::as_fd).collect();
        old.send(b"x", &fds).unwrap();
        let (bytes, got) = new.recv(16).unwrap();
        assert_eq!((bytes.as_slice(), got.len()), (&b"x"[..], MAX_FDS));
        fds.push(sockets[0].as_fd());
        assert!(matches!(
            old.send(b"x", &fds),
            Err(HandoverError::TooManyFds(254))
        ));
        // A record over what the receiver takes is refused.
        old.send(&[1; 100], &[]).unwrap();
        assert!(matches!(
            new.recv(99),
            Err(HandoverError::TooLong { len: 100, max: 99 })
        ));
        // A peer gone between records.
        let (a, b) = UnixStream::pair().unwrap();
        drop(a);
        assert!(matches!(
            Channel::new(b).recv(16),
            Err(HandoverError::Closed)
        ));
    }
}
