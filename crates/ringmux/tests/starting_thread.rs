//! Starting an io_uring server leaves the starting thread alone: its blocking calls are not interrupted (the
//! backend probe's ring, torn down by the kernel after close, used to interrupt the thread that made it once).

use std::io::Read;
use std::time::Duration;

use ringmux::{Config, Conn, Ctx, Handler, IoChoice, Origin, Server};

/// Sends one byte at open, then nothing.
struct OneByte;

impl Handler for OneByte {
    type State = ();
    type Message = ();

    fn open(&mut self, ctx: &mut Ctx<'_, ()>, conn: Conn, _: Origin) {
        let _ = ctx.send(conn, b"x");
    }

    fn data(&mut self, _: &mut Ctx<'_, ()>, _: Conn, _: &mut (), _: &[u8]) {}
}

#[test]
fn blocking_reads_in_the_starting_thread_are_not_interrupted() {
    let cfg = Config {
        listeners: vec![ringmux::Listener::plain("127.0.0.1:0".parse().unwrap())],
        workers: 2,
        io: IoChoice::Uring,
        ..Config::default()
    };
    let server = Server::start(cfg, |_| OneByte).unwrap();
    let addr = server.local_addr().unwrap();
    let mut interrupted = 0;
    for _ in 0..20 {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(25))).unwrap();
        let mut b = [0u8; 16];
        for _ in 0..3 {
            // The first read gets the byte, the others wait out their timeout.
            if let Err(e) = s.read(&mut b)
                && e.kind() == std::io::ErrorKind::Interrupted
            {
                interrupted += 1;
            }
        }
    }
    server.shutdown(Duration::from_secs(1));
    server.join().unwrap();
    assert_eq!(interrupted, 0, "blocking reads interrupted (EINTR)");
}
