//! Sending one OPTIONS probe to a target and reading its answer, over UDP (retransmitted every T1, doubling to
//! T2, as a non-INVITE client transaction), TCP or TLS (a connection of its own per probe, so a probe also shows
//! that the core still accepts connections and, over TLS, that its certificate still passes).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::Transport;
use super::health::Outcome;
use super::probe::{ProbeIds, answer, message_len, options};

/// The longest interval between a UDP probe's retransmissions (RFC 3261's T2).
const T2: Duration = Duration::from_secs(4);
/// The largest answer read over a stream.
const MAX_ANSWER: usize = 64 * 1024;

/// What every probe of one node shares.
#[derive(Debug)]
pub struct Prober {
    /// How targets are reached.
    pub transport: Transport,
    /// The local address probes are sent from (its port is left to the system).
    pub local_ip: IpAddr,
    /// The host written in the probe's Via and From.
    pub advertise_host: String,
    /// No answer by then: the probe failed.
    pub timeout: Duration,
    /// The first UDP retransmission interval.
    pub t1: Duration,
    /// TLS: the connector (its configuration as last reloaded), and the name certificates must carry when
    /// configured.
    pub tls: Option<(ringmux::TlsConnector, Option<String>)>,
}

/// A failed TLS handshake (the certificate, its name, the protocol), told apart for the metrics.
#[derive(Debug)]
pub struct TlsRefused(pub String);

impl Prober {
    /// Probe the target at `addr` (resolved from `name`, if a name).
    pub async fn probe(
        &self,
        addr: SocketAddr,
        name: Option<&str>,
    ) -> (Outcome, Option<TlsRefused>) {
        let ids = ProbeIds::random();
        let started = Instant::now();
        let target = name.map_or_else(|| host_port(addr), |n| format!("{n}:{}", addr.port()));
        let run = async {
            match self.transport {
                Transport::Udp => self.udp(addr, &target, &ids).await.map_err(Failure::Io),
                Transport::Tcp | Transport::Tls => self.stream(addr, name, &target, &ids).await,
            }
        };
        match tokio::time::timeout(self.timeout, run).await {
            Err(_) => (Outcome::Timeout, None),
            Ok(Ok(status)) => (
                Outcome::Answered {
                    status,
                    rtt: started.elapsed(),
                },
                None,
            ),
            Ok(Err(Failure::Io(e))) => {
                tracing::debug!(target = %addr, error = %e, "probe failed");
                (Outcome::TransportError, None)
            }
            Ok(Err(Failure::Tls(e))) => (Outcome::TransportError, Some(TlsRefused(e))),
        }
    }

    fn bind_ip(&self, addr: SocketAddr) -> IpAddr {
        match (self.local_ip, addr) {
            (ip @ IpAddr::V4(_), SocketAddr::V4(_)) | (ip @ IpAddr::V6(_), SocketAddr::V6(_)) => ip,
            (_, SocketAddr::V4(_)) => IpAddr::from([0u8; 4]),
            (_, SocketAddr::V6(_)) => IpAddr::from([0u16; 8]),
        }
    }

    async fn udp(&self, addr: SocketAddr, target: &str, ids: &ProbeIds) -> io::Result<u16> {
        let sock = UdpSocket::bind((self.bind_ip(addr), 0)).await?;
        // Connected: a core that is gone answers with an ICMP port unreachable, which fails the receive at once.
        sock.connect(addr).await?;
        let local = format!("{}:{}", self.advertise_host, sock.local_addr()?.port());
        let request = options(target, &local, Transport::Udp, ids);
        let mut buf = vec![0u8; 65_535];
        let mut wait = self.t1;
        loop {
            sock.send(&request).await?;
            let read = async {
                loop {
                    let n = sock.recv(&mut buf).await?;
                    if let Some(status) = answer(&buf[..n], ids) {
                        return Ok::<u16, io::Error>(status);
                    }
                }
            };
            if let Ok(r) = tokio::time::timeout(wait, read).await {
                return r;
            }
            wait = (wait * 2).min(T2);
        }
    }

    async fn stream(
        &self,
        addr: SocketAddr,
        name: Option<&str>,
        target: &str,
        ids: &ProbeIds,
    ) -> Result<u16, Failure> {
        let tcp = TcpStream::connect(addr).await.map_err(Failure::Io)?;
        let local = format!(
            "{}:{}",
            self.advertise_host,
            tcp.local_addr().map_err(Failure::Io)?.port()
        );
        let request = options(target, &local, self.transport, ids);
        let Some((connector, fixed)) = &self.tls else {
            return exchange(tcp, &request, ids).await.map_err(Failure::Io);
        };
        let server_name = server_name(fixed.as_deref().or(name), addr);
        let tls = tokio_rustls::TlsConnector::from(connector.config())
            .connect(server_name, tcp)
            .await
            .map_err(
                |e| match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(r) => Failure::Tls(r.to_string()),
                    None => Failure::Io(e),
                },
            )?;
        exchange(tls, &request, ids).await.map_err(Failure::Io)
    }
}

enum Failure {
    Io(io::Error),
    Tls(String),
}

/// The name a target's certificate is checked against: the configured or resolved name, else its IP address.
pub fn server_name(name: Option<&str>, addr: SocketAddr) -> rustls::pki_types::ServerName<'static> {
    name.and_then(|n| rustls::pki_types::ServerName::try_from(n.to_owned()).ok())
        .unwrap_or_else(|| rustls::pki_types::ServerName::IpAddress(addr.ip().into()))
}

/// `addr` as a URI's hostport (an IPv6 address in brackets).
pub fn host_port(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &[u8],
    ids: &ProbeIds,
) -> io::Result<u16> {
    s.write_all(request).await?;
    s.flush().await?;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(len) = message_len(&buf, MAX_ANSWER)
            .map_err(|()| io::Error::new(io::ErrorKind::InvalidData, "answer too large"))?
        {
            if let Some(status) = answer(&buf[..len], ids) {
                return Ok(status);
            }
            buf.drain(..len);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::{Prober, Transport};
    use crate::targets::health::Outcome;

    fn prober(transport: Transport) -> Prober {
        Prober {
            transport,
            local_ip: [127, 0, 0, 1].into(),
            advertise_host: "127.0.0.1".into(),
            timeout: Duration::from_millis(300),
            t1: Duration::from_millis(50),
            tls: None,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// A UDP "core" that drops the first `drop` probes and answers the next with `status`.
    fn udp_core(drop: usize, status: u16) -> SocketAddr {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = sock.local_addr().expect("addr");
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            for i in 0.. {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    return;
                };
                if i < drop {
                    continue;
                }
                let msg = sipscan::Message::parse(&buf[..n]).expect("a probe parses");
                let answer = edge::response::build(&msg, status, "Reason", &[]);
                let _ = sock.send_to(&answer, from);
                return;
            }
        });
        addr
    }

    #[test]
    fn a_udp_probe_lost_on_the_way_is_sent_again_and_its_answer_counts() {
        let core = udp_core(2, 200);
        let (outcome, _) = runtime().block_on(prober(Transport::Udp).probe(core, None));
        assert!(
            matches!(outcome, Outcome::Answered { status: 200, .. }),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_busy_core_answers_503_and_a_silent_one_times_out() {
        let core = udp_core(0, 503);
        let (outcome, _) = runtime().block_on(prober(Transport::Udp).probe(core, None));
        assert!(matches!(outcome, Outcome::Answered { status: 503, .. }));
        assert!(!outcome.is_good());
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = silent.local_addr().expect("addr");
        let (outcome, _) = runtime().block_on(prober(Transport::Udp).probe(addr, None));
        assert_eq!(outcome, Outcome::Timeout);
    }

    #[test]
    fn a_core_that_is_gone_fails_the_probe_at_once() {
        let gone = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.local_addr().expect("addr")
        };
        let (outcome, _) = runtime().block_on(prober(Transport::Udp).probe(gone, None));
        assert_eq!(outcome, Outcome::TransportError, "ICMP port unreachable");
        let (outcome, _) = runtime().block_on(prober(Transport::Tcp).probe(gone, None));
        assert_eq!(outcome, Outcome::TransportError, "connection refused");
    }

    #[test]
    fn a_tcp_core_answers_on_the_probes_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().expect("accept");
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).expect("read");
            let msg = sipscan::Message::parse(&buf[..n]).expect("parses");
            let answer = edge::response::build(&msg, 200, "OK", &[]);
            s.write_all(&answer).expect("write");
        });
        let (outcome, _) = runtime().block_on(prober(Transport::Tcp).probe(addr, None));
        assert!(
            matches!(outcome, Outcome::Answered { status: 200, .. }),
            "{outcome:?}"
        );
    }
}
