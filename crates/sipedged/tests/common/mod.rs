//! Integration-test helpers: start sipedged (and, with the `interop` feature, Kamailio) on free loopback ports,
//! and a small blocking SIP-over-WebSocket client on wsproto's client role.
#![allow(dead_code)]

pub mod admin;
pub mod dnsmasq;
pub mod fake_core;
pub mod scenario;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wsproto::{ClientHandshake, Config, Connection, Event, Role};

/// A free TCP port on 127.0.0.1.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port `p` such that `p` and `p + 1` are free (two workers' sockets toward the core).
pub fn free_udp_pair() -> u16 {
    loop {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < 65535 && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

/// Waits until something listens on 127.0.0.1:`port` (10 s at most); whether it did.
pub fn wait_listening(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn wait_tcp(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// A running sipedged, killed on drop.
pub struct Gateway {
    child: Child,
    /// The WebSocket port.
    pub port: u16,
    /// The admin (metrics) port.
    pub admin: u16,
    /// Its standard error.
    log: PathBuf,
    /// Its configuration file (rewrite it and [`reload`](Self::sighup) to change settings).
    pub config: PathBuf,
    _dir: TempDir,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "sipedge-test-{tag}-{}-{}",
            std::process::id(),
            free_tcp_port()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Gateway {
    /// Start sipedged with `extra` TOML appended to a config that sets the listener, 2 workers and the admin port.
    pub fn start(extra: &str) -> Self {
        Self::start_with("", extra, &[])
    }

    /// As [`start`](Self::start), with `listen_keys` (TOML lines ending in newlines) added to the `[[listen]]`
    /// entry and `env` set for the process (e.g. `RINGMUX_IO`).
    pub fn start_with(listen_keys: &str, extra: &str, env: &[(&str, &str)]) -> Self {
        let port = free_tcp_port();
        let admin = free_tcp_port();
        let dir = TempDir::new("gw");
        let cfg = dir.0.join("sipedge.toml");
        std::fs::write(
            &cfg,
            format!(
                "[[listen]]\naddress = \"127.0.0.1:{port}\"\n{listen_keys}[runtime]\nworkers = 2\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n{extra}"
            ),
        )
        .unwrap();
        let log = dir.0.join("sipedged.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_sipedged"))
            .envs(env.iter().copied())
            .arg("--config")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start sipedged");
        for p in [port, admin] {
            if !wait_listening(p) {
                let _ = child.kill();
                panic!(
                    "sipedged did not come up on {p}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
        Self {
            child,
            port,
            admin,
            log,
            config: cfg,
            _dir: dir,
        }
    }

    /// Send it SIGHUP (reload).
    pub fn sighup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP");
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The sum of every series of the metric `name` (whatever its labels).
    pub fn metric_sum(&self, name: &str) -> u64 {
        self.metrics()
            .lines()
            .filter_map(|l| l.strip_prefix(name))
            .filter(|rest| rest.starts_with(['{', ' ']))
            .filter_map(|rest| rest.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Fetch /metrics.
    pub fn metrics(&self) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.admin)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// The value of a metric line `name` (exact, with labels), 0 if absent.
    pub fn metric(&self, name: &str) -> u64 {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kamailio as the SIP core (deploy/kamailio/core.cfg) on a free UDP port, stopped on drop.
#[cfg(feature = "interop")]
pub struct Kamailio {
    pid_file: PathBuf,
    /// Its UDP port.
    pub port: u16,
    _dir: TempDir,
}

#[cfg(feature = "interop")]
impl Kamailio {
    pub fn start_core() -> Self {
        Self::start_core_with(false)
    }

    /// The core on UDP and, with `tcp`, on TCP at the same port number.
    pub fn start_core_with(tcp: bool) -> Self {
        let port = loop {
            let p = free_udp_pair();
            if !tcp || TcpListener::bind(("127.0.0.1", p)).is_ok() {
                break p;
            }
        };
        let dir = TempDir::new("kamailio");
        let pid_file = dir.0.join("kamailio.pid");
        let cfg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kamailio/core.cfg");
        let status = Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .arg("-P")
            .arg(&pid_file)
            .arg("-A")
            .arg(format!("CORE_LISTEN=udp:127.0.0.1:{port}"))
            .args(if tcp {
                vec![
                    "-A".to_string(),
                    format!("CORE_LISTEN_TCP=tcp:127.0.0.1:{port}"),
                ]
            } else {
                vec![]
            })
            .arg("-E")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("kamailio must be installed (Debian package kamailio); .ci/run installs it");
        assert!(status.success(), "kamailio failed to start");
        std::thread::sleep(Duration::from_millis(300));
        Self {
            pid_file,
            port,
            _dir: dir,
        }
    }
}

#[cfg(feature = "interop")]
impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A byte stream a [`WsSip`] runs over: plain TCP, or TLS on TCP.
pub trait Transport: Read + Write + Send {
    /// Sets the underlying socket's read timeout.
    fn set_timeout(&self, t: Option<Duration>) -> std::io::Result<()>;
}

impl Transport for TcpStream {
    fn set_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(t)
    }
}

/// A SIP-over-WebSocket client: blocking, with read timeouts.
pub struct WsSip {
    stream: Box<dyn Transport>,
    ws: Connection,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<Vec<u8>>,
    /// Set when the server closed the WebSocket: (code).
    pub closed: Option<Option<u16>>,
    rng: u64,
}

impl WsSip {
    pub fn connect(port: u16) -> Self {
        Self::connect_with(port, &["sip"]).expect("WebSocket handshake")
    }

    /// Connect offering `protocols`; `Err(status line)` when the server refuses.
    pub fn connect_with(port: u16, protocols: &[&str]) -> Result<Self, String> {
        Self::connect_full(port, protocols, "/", "", None)
    }

    /// Connect from `source` (a loopback address; default 127.0.0.1) to `path`, adding `extra` header lines
    /// (each ending in CRLF) to the upgrade request; `Err(status line)` when the server refuses.
    pub fn connect_full(
        port: u16,
        protocols: &[&str],
        path: &str,
        extra: &str,
        source: Option<std::net::Ipv4Addr>,
    ) -> Result<Self, String> {
        let stream = match source {
            None => TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?,
            Some(ip) => {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                s.bind(&std::net::SocketAddr::from((ip, 0)).into()).unwrap();
                s.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
                    .map_err(|e| e.to_string())?;
                s.into()
            }
        };
        stream.set_nodelay(true).unwrap();
        Self::over(Box::new(stream), protocols, path, extra)
    }

    /// The WebSocket handshake on a connected `stream` (anything already written to it, such as a PROXY
    /// protocol header, goes first); `Err(status line)` when the server refuses.
    pub fn over(
        mut stream: Box<dyn Transport>,
        protocols: &[&str],
        path: &str,
        extra: &str,
    ) -> Result<Self, String> {
        stream
            .set_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).unwrap();
        let mut hs = ClientHandshake::new(nonce, protocols);
        let mut req = Vec::new();
        hs.write_request("127.0.0.1", path, Some("http://127.0.0.1"), &mut req);
        if !extra.is_empty() {
            req.truncate(req.len() - 2);
            req.extend_from_slice(extra.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        stream.write_all(&req).map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut b = [0u8; 4096];
        loop {
            let n = stream.read(&mut b).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(String::from_utf8_lossy(&head).into_owned());
            }
            head.extend_from_slice(&b[..n]);
            match hs.feed(&head) {
                Ok(Some(_)) => break,
                Ok(None) => continue,
                Err(_) => {
                    return Err(String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string());
                }
            }
        }
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).unwrap();
        Ok(Self {
            stream,
            ws: Connection::new(
                Role::Client,
                Config {
                    max_message_size: 1 << 20,
                    max_frame_size: 1 << 20,
                    keepalive: None,
                },
            ),
            buf: Vec::new(),
            pending: Default::default(),
            closed: None,
            rng: u64::from_le_bytes(seed) | 1,
        })
    }

    fn mask(&mut self) -> [u8; 4] {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng as u32).to_le_bytes()
    }

    pub fn send(&mut self, msg: &str) {
        self.send_bytes(msg.as_bytes());
    }

    pub fn send_bytes(&mut self, msg: &[u8]) {
        let mut out = Vec::new();
        let mask = self.mask();
        match std::str::from_utf8(msg) {
            Ok(t) => self.ws.send_text(t, &mut out, Some(mask)).unwrap(),
            Err(_) => self.ws.send_binary(msg, &mut out, Some(mask)).unwrap(),
        }
        self.stream.write_all(&out).unwrap();
    }

    /// Sends a Close frame with `code`.
    pub fn close(&mut self, code: u16) {
        let mut out = Vec::new();
        let mask = self.mask();
        self.ws.close(code, "bye", &mut out, Some(mask)).unwrap();
        self.stream.write_all(&out).unwrap();
    }

    /// The next SIP message (or `None` on timeout / close).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Some(m);
            }
            if self.closed.is_some() {
                return None;
            }
            // Parse what we have.
            let mut off = 0;
            while off < self.buf.len() {
                let got = self.ws.receive(&mut self.buf[off..]);
                off += got.consumed;
                match got.event {
                    Some(Event::Message { payload, .. }) => {
                        self.pending.push_back(payload.to_vec())
                    }
                    Some(Event::Close { code, .. }) => self.closed = Some(code),
                    Some(Event::ProtocolError { code, .. }) => self.closed = Some(Some(code)),
                    Some(_) => {}
                    None if got.consumed == 0 => break,
                    None => {}
                }
            }
            self.buf.drain(..off);
            if !self.pending.is_empty() || self.closed.is_some() {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream
                .set_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut b = [0u8; 65536];
            match self.stream.read(&mut b) {
                Ok(0) => {
                    self.closed.get_or_insert(None);
                }
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
                Err(_) => return None,
            }
        }
    }

    pub fn recv(&mut self) -> Vec<u8> {
        self.recv_timeout(Duration::from_secs(5))
            .expect("a SIP message within 5 s")
    }

    /// The next message that is not a provisional response.
    pub fn recv_final(&mut self) -> Vec<u8> {
        loop {
            let m = self.recv();
            if !is_provisional(&m) {
                return m;
            }
        }
    }
}

pub fn is_provisional(m: &[u8]) -> bool {
    m.starts_with(b"SIP/2.0 1")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn status(m: &[u8]) -> u16 {
    sipscan::Message::parse(m)
        .ok()
        .and_then(|m| m.status())
        .unwrap_or_else(|| panic!("not a response: {}", text(m)))
}

/// The value of the first header `name` (full name) in `m`.
pub fn header(m: &[u8], name: &str) -> Option<String> {
    let msg = sipscan::Message::parse(m).ok()?;
    msg.headers()
        .find(|h| h.raw_name().eq_ignore_ascii_case(name.as_bytes()))
        .map(|h| text(h.value()))
}

/// A SIP user agent's side of the tests: builds requests the way JsSIP does.
pub struct Ua {
    pub user: String,
    pub host: String,
    pub ws: WsSip,
    pub cseq: u32,
    pub tag: String,
}

impl Ua {
    pub fn new(user: &str, port: u16) -> Self {
        Self::on(user, WsSip::connect(port))
    }

    /// A UA speaking over an established WebSocket.
    pub fn on(user: &str, ws: WsSip) -> Self {
        Self {
            user: user.into(),
            host: format!("{user}ws.invalid"),
            ws,
            cseq: 0,
            tag: format!("t{user}{}", free_tcp_port()),
        }
    }

    pub fn contact(&self) -> String {
        format!("<sip:{}@{};transport=ws>", self.user, self.host)
    }

    fn branch(&mut self) -> String {
        self.cseq += 1;
        format!("z9hG4bK{}{}", self.user, self.cseq)
    }

    /// A request with the usual headers; `extra` lines end with CRLF.
    pub fn request(
        &mut self,
        method: &str,
        ruri: &str,
        to: &str,
        call_id: &str,
        extra: &str,
        body: &str,
    ) -> String {
        let branch = self.branch();
        format!(
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/WS {host};branch={branch}\r\nMax-Forwards: 69\r\n\
To: {to}\r\nFrom: \"{user}\" <sip:{user}@example.test>;tag={tag}\r\nCall-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n{extra}Content-Length: {len}\r\n\r\n{body}",
            host = self.host,
            user = self.user,
            tag = self.tag,
            cseq = self.cseq,
            len = body.len(),
        )
    }

    /// Take the WebSocket (to speak as another user on the same flow).
    pub fn ws_take(self) -> WsSip {
        self.ws
    }

    pub fn register(&mut self, expires: u32) -> Vec<u8> {
        let to = format!("<sip:{}@example.test>", self.user);
        let contact = format!(
            "Contact: {};reg-id=1;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-{:012}>\";expires={expires}\r\nSupported: path,gruu,outbound\r\n",
            self.contact(),
            self.user.len()
        );
        let call_id = format!("reg-{}", self.user);
        let r = self.request("REGISTER", "sip:example.test", &to, &call_id, &contact, "");
        self.ws.send(&r);
        self.ws.recv_final()
    }
}

/// A response to `req` as a UA builds it: Vias, From, To (+tag), Call-ID, CSeq copied; `extra` lines with CRLF.
pub fn answer(req: &[u8], code: u16, reason: &str, extra: &str) -> String {
    let m = sipscan::Message::parse(req).unwrap();
    let mut s = format!("SIP/2.0 {code} {reason}\r\n");
    for h in m.headers() {
        let n = text(h.raw_name());
        let lower = n.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" | "record-route"
        ) {
            s.push_str(&format!("{n}: {}\r\n", text(h.value())));
        } else if matches!(lower.as_str(), "to" | "t") {
            let v = text(h.value());
            let v = if v.contains("tag=") {
                v
            } else {
                format!("{v};tag=uas{code}")
            };
            s.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    s.push_str(extra);
    s.push_str("Content-Length: 0\r\n\r\n");
    s
}

/// TLS on top of a connected TCP stream, for the test client (trusting the certificate of "edge.test").
pub struct Tls(rustls::StreamOwned<rustls::ClientConnection, TcpStream>);

impl std::io::Read for Tls {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(b)
    }
}

impl std::io::Write for Tls {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(b)?;
        self.0.flush()?;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Transport for Tls {
    fn set_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.0.sock.set_read_timeout(t)
    }
}

pub fn tls_over(tcp: TcpStream, root: &rustls::pki_types::CertificateDer<'static>) -> Tls {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let conn = rustls::ClientConnection::new(
        std::sync::Arc::new(cfg),
        rustls::pki_types::ServerName::try_from("edge.test").unwrap(),
    )
    .unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    s.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).unwrap();
    }
    Tls(s)
}

/// A self-signed certificate for "edge.test" written into `dir`: the `tls = { ... }` line of a `[[listen]]`
/// entry serving it, and the certificate for [`tls_over`] to trust.
pub fn edge_test_tls(dir: &TempDir) -> (String, rustls::pki_types::CertificateDer<'static>) {
    let c = rcgen::generate_simple_self_signed(vec!["edge.test".to_string()]).unwrap();
    let (cert, key) = (dir.0.join("c.pem"), dir.0.join("k.pem"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    let line = format!(
        "tls = {{ cert = \"{}\", key = \"{}\" }}\n",
        cert.display(),
        key.display()
    );
    (line, c.cert.der().clone())
}

/// `from` sends a MESSAGE to `to` (both registered), `to` answers 200 and `from` must get it; returns the
/// MESSAGE as `to` received it.
pub fn message_between(from: &mut Ua, to: &mut Ua, call_id: &str) -> Vec<u8> {
    let m = from.request(
        "MESSAGE",
        &format!("sip:{}@example.test", to.user),
        &format!("<sip:{}@example.test>", to.user),
        call_id,
        "Content-Type: text/plain\r\n",
        "hi",
    );
    from.ws.send(&m);
    let got = to.ws.recv();
    let t = text(&got);
    assert!(t.starts_with("MESSAGE "), "{call_id}: {t}");
    to.ws.send(&answer(&got, 200, "OK", ""));
    assert_eq!(status(&from.ws.recv_final()), 200, "{call_id}");
    got
}

/// A MESSAGE from `ua` to bob with the Call-ID `call_id`.
pub fn message(ua: &mut Ua, call_id: &str) -> String {
    ua.request(
        "MESSAGE",
        "sip:bob@example.test",
        "<sip:bob@example.test>",
        call_id,
        "Content-Type: text/plain\r\n",
        "hello",
    )
}
