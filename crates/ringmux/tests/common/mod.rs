//! Helpers shared by the integration tests: the both-backends test macro and loopback clients.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ringmux::{Backend, Config, Conn, Ctx, Handler, IoChoice, Listener, Origin};

/// Runs each test body once per backend: `mod name { fn uring(); fn epoll(); }`.
#[macro_export]
macro_rules! both_backends {
    ($(fn $name:ident($b:ident: Backend) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn run($b: ringmux::Backend) $body
            #[test]
            fn uring() { run(ringmux::Backend::Uring) }
            #[test]
            fn epoll() { run(ringmux::Backend::Epoll) }
        }
    )*};
}

/// Echoes every byte back on the connection it came from.
pub struct Echo;

impl Handler for Echo {
    type State = ();
    type Message = ();

    fn open(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: Origin) {}

    fn data(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: &mut (), bytes: &[u8]) {
        let _ = ctx.send(conn, bytes);
    }
}

/// A plain listener on 127.0.0.1:<any>.
pub fn loopback() -> Listener {
    Listener::plain("127.0.0.1:0".parse().unwrap())
}

/// One worker with one [`loopback`] listener, the given backend.
pub fn config(b: Backend) -> Config {
    Config {
        listeners: vec![loopback()],
        workers: 1,
        io: match b {
            Backend::Uring => IoChoice::Uring,
            Backend::Epoll => IoChoice::Epoll,
        },
        tick: Duration::from_millis(1),
        ..Config::default()
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `msg` and reads the same number of bytes back.
pub fn echo_once(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).unwrap();
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back).unwrap();
    back
}

/// `true` when the server closed `s` (EOF or reset) within `within`.
pub fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 1024];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            // EINTR: retried, as any blocking read should be.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

/// Adds one part of a hand-out to the package being built (a start begins it, connections join it); `true` at
/// its end.
pub fn add_part(
    building: &mut Option<ringmux::WorkerInheritance>,
    part: ringmux::HandOutPart,
) -> bool {
    match part {
        ringmux::HandOutPart::Start {
            listeners,
            udp,
            generations,
        } => {
            *building = Some(ringmux::WorkerInheritance {
                listeners,
                udp,
                generations,
                ..ringmux::WorkerInheritance::default()
            });
            false
        }
        ringmux::HandOutPart::Conns(conns) => {
            building
                .as_mut()
                .expect("a start first")
                .conns
                .extend(conns);
            false
        }
        ringmux::HandOutPart::End => true,
    }
}
