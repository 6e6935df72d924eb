//! A fake UDP SIP core for tests of the edge's core side: it answers OPTIONS probes and other requests with 200
//! while alive, reports the other requests, and can be made silent (as a core that hangs or is cut off).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use super::answer;

/// A fake UDP core: answers OPTIONS 200 while `alive`, answers other requests 200 (while alive) and reports them.
pub struct FakeCore {
    /// Its UDP port.
    pub port: u16,
    /// While false it answers nothing (probes included).
    pub alive: Arc<AtomicBool>,
    requests: mpsc::Receiver<String>,
}

impl FakeCore {
    /// A core on `ip`, port chosen by the system.
    pub fn start(ip: [u8; 4]) -> Self {
        let sock = UdpSocket::bind(SocketAddr::from((ip, 0))).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let alive = Arc::new(AtomicBool::new(true));
        let (tx, requests) = mpsc::channel();
        let flag = alive.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if !flag.load(Ordering::SeqCst) {
                    continue;
                }
                if !msg.starts_with("OPTIONS ") && tx.send(msg.clone()).is_err() {
                    return;
                }
                let _ = sock.send_to(answer(msg.as_bytes(), 200, "OK", "").as_bytes(), from);
            }
        });
        Self {
            port,
            alive,
            requests,
        }
    }

    /// The next request other than OPTIONS it took, if one comes `within`.
    pub fn request(&self, within: Duration) -> Option<String> {
        self.requests.recv_timeout(within).ok()
    }
}
