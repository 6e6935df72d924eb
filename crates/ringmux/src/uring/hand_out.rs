//! io_uring's part of a hand-out ([`crate::hand_out`]): accepts paused with the listeners kept, multishot recvs
//! cancelled, each socket installed from the direct-descriptor table as an ordinary descriptor
//! (`IORING_OP_FIXED_FD_INSTALL`, close-on-exec).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::{opcode, types};

use super::Ring;
use super::op::{Op, pack, pack_plain};
use crate::conn::Conn;
use crate::ctx::{Core, flag};

impl Ring {
    /// Cancels the accepts in flight and arms no more, keeping the listening sockets.
    pub(super) fn pause_accepts(&mut self) {
        self.accept_paused = true;
        self.cancel_accepts();
    }

    /// Stops reading `conn`: its recv is cancelled and not armed again.
    pub(super) fn freeze_conn<M>(&mut self, core: &mut Core<M>, conn: Conn) {
        let Some(c) = core.conns.get_mut(conn.key()) else {
            return;
        };
        c.flags |= flag::FROZEN;
        if c.has(flag::RECV_ARMED) {
            let sqe = opcode::AsyncCancel::new(pack(Op::Recv, conn)).build();
            self.io.push(&sqe.user_data(pack(Op::Cancel, conn)));
            c.ops += 1;
        }
    }

    /// Installs `conn`'s direct descriptor as an ordinary one.
    pub(super) fn install<M>(&mut self, core: &mut Core<M>, conn: Conn) {
        let Some(c) = core.conns.get_mut(conn.key()) else {
            return;
        };
        if c.has(flag::RAW) {
            let fd = self
                .io
                .raw
                .get(&conn.slot)
                .map(|s| s.try_clone().map(OwnedFd::from));
            let fd = fd.unwrap_or_else(|| Err(io::Error::from_raw_os_error(libc::EBADF)));
            self.installed.push((conn, fd));
            return;
        }
        let sqe = opcode::FixedFdInstall::new(types::Fixed(c.fd as u32), 0).build();
        self.io.push(&sqe.user_data(pack(Op::Install, conn)));
        c.ops += 1;
    }

    /// An install completed with `res` (the new descriptor, or an errno).
    pub(super) fn on_install<M>(&mut self, core: &mut Core<M>, slot: u32, gen_bits: u32, res: i32) {
        // SAFETY: a non-negative result is a descriptor the kernel just made for this process, owned by nobody.
        let fd = (res >= 0).then(|| unsafe { OwnedFd::from_raw_fd(res) });
        let Some(conn) = self.op_done(core, slot, gen_bits) else {
            return;
        };
        let fd = fd.ok_or_else(|| io::Error::from_raw_os_error(-res));
        self.installed.push((conn, fd));
    }

    /// `conn` reads again.
    pub(super) fn thaw_conn<M>(&mut self, core: &mut Core<M>, conn: Conn) {
        let Some(c) = core.conns.get_mut(conn.key()) else {
            return;
        };
        c.flags &= !flag::FROZEN;
        if !c.has(flag::RECV_ARMED | flag::REARM | flag::CLOSED) {
            c.flags |= flag::REARM;
            self.rearm.push(conn);
        }
    }

    /// Cancels every accept in flight.
    pub(super) fn cancel_accepts(&mut self) {
        let armed: Vec<u32> = self
            .io
            .accepts
            .iter()
            .enumerate()
            .flat_map(|(l, a)| a.in_flight().map(move |i| super::accept_index(l, i)))
            .collect();
        for index in armed {
            let sqe = opcode::AsyncCancel::new(pack_plain(Op::Accept, index)).build();
            self.io.push(&sqe.user_data(pack_plain(Op::Ignore, 0)));
        }
    }
}
