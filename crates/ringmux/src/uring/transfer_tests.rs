//! The kernel path a hand-over takes with an accepted connection: a direct descriptor of one ring becomes an
//! ordinary descriptor (`IORING_OP_FIXED_FD_INSTALL`), crosses a Unix socket to another holder
//! ([`crate::handover::Channel`]) and is registered again in another ring's table, where it goes on reading and
//! writing; the bytes the client sent meanwhile wait in the socket and none is lost.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use io_uring::{IoUring, opcode, types};

use crate::handover::Channel;

/// Pushes `sqe`, submits it and waits for its completion; returns its result.
fn run(ring: &mut IoUring, sqe: io_uring::squeue::Entry) -> i32 {
    // SAFETY: the entries built here name only descriptors and the buffers of the caller, which outlive the
    // wait for their completion below.
    unsafe { ring.submission().push(&sqe.user_data(7)) }.expect("room on the queue");
    ring.submit_and_wait(1).expect("submit");
    let cqe = ring.completion().next().expect("a completion");
    assert_eq!(cqe.user_data(), 7);
    cqe.result()
}

fn table(slots: u32) -> IoUring {
    let ring = IoUring::new(8).expect("io_uring ring");
    ring.submitter()
        .register_files_sparse(slots)
        .expect("sparse table");
    ring
}

#[test]
fn a_direct_descriptor_installed_as_an_ordinary_one_moves_to_another_ring() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");

    // The old ring accepts the connection into its table, as a worker does.
    let mut old = table(4);
    let accept = opcode::Accept::new(
        types::Fd(listener.as_raw_fd()),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    )
    .file_index(Some(types::DestinationSlot::auto_target()))
    .build();
    let index = run(&mut old, accept);
    assert!(index >= 0, "accept: {index}");
    client.write_all(b"before ").unwrap();

    // An ordinary descriptor for it, close-on-exec; the old ring then lets go of its direct descriptor.
    let fd = run(
        &mut old,
        opcode::FixedFdInstall::new(types::Fixed(index as u32), 0).build(),
    );
    assert!(fd >= 0, "install: {fd}");
    // SAFETY: the kernel just made `fd`, and nothing else owns it.
    let installed = unsafe { OwnedFd::from_raw_fd(fd) };
    let flags = rustix::io::fcntl_getfd(&installed).expect("descriptor flags");
    assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    let closed = run(
        &mut old,
        opcode::Close::new(types::Fixed(index as u32)).build(),
    );
    assert_eq!(closed, 0);

    // Across a Unix socket, as between the old and the new process.
    let (a, b) = UnixStream::pair().expect("socket pair");
    let (mut from, mut to) = (Channel::new(a), Channel::new(b));
    from.send(b"conn", &[installed.as_fd()]).expect("send");
    drop(installed);
    let (bytes, mut fds) = to.recv(64).expect("recv");
    assert_eq!((bytes.as_slice(), fds.len()), (b"conn".as_slice(), 1));
    let moved = fds.pop().unwrap();

    // The new ring registers it at a slot of its own; the ordinary descriptor is closed at once (the 20,000
    // descriptor limit is spent only while a batch is in flight).
    let mut new = table(8);
    new.submitter()
        .register_files_update(5, &[moved.as_raw_fd()])
        .expect("register again");
    drop(moved);
    client.write_all(b"after").unwrap();

    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < b"before after".len() {
        let recv = opcode::Recv::new(types::Fixed(5), buf.as_mut_ptr(), buf.len() as u32).build();
        let n = run(&mut new, recv);
        assert!(n > 0, "recv: {n}");
        got.extend_from_slice(&buf[..n as usize]);
    }
    assert_eq!(got, b"before after", "nothing lost across the move");
    let reply = b"still here";
    let sent = run(
        &mut new,
        opcode::Send::new(types::Fixed(5), reply.as_ptr(), reply.len() as u32).build(),
    );
    assert_eq!(sent, reply.len() as i32);
    let mut back = [0u8; 10];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, reply);
}
