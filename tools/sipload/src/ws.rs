//! One client WebSocket connection on tokio, driven by `wsproto` in the client role: every frame sent
//! carries a fresh random mask key (RFC 6455 §5.3). Over TCP (`ws://`) or TLS (`wss://`, see
//! [`crate::connector`]).
//!
//! With `--deflate` the Upgrade request offers permessage-deflate (RFC 7692); when the server agrees,
//! every message sent is compressed and compressed messages received are inflated. A direction that keeps
//! its window (context takeover) has its codec in the connection; one that does not uses the codecs of the
//! thread it runs on ([`SHARED`]), so an idle connection holds none. Every connection counts its wire and
//! payload bytes each way (plain integers, no allocation) and adds them to its worker's totals when dropped.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use wsproto::deflate::{Deflate, DeflateParams, SharedCodecs};
use wsproto::{ClientHandshake, Config, Connection, Event, MessageKind, Role};

use crate::connector::Connector;
use crate::error::LoadError;
use crate::wire::{Bytes, WireTotals};

thread_local! {
    /// This thread's codecs for the directions that keep no window (reset after every message, so any
    /// connection polled on this thread may use them; only between two awaits). Made on first use at the
    /// level of the first connection that needs them (one level per process: `--deflate-level`).
    static SHARED: RefCell<Option<SharedCodecs>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's shared codecs.
fn with_shared<R>(level: u8, f: impl FnOnce(&mut SharedCodecs) -> R) -> R {
    SHARED.with(|cell| {
        // Borrowed only inside this call, which neither awaits nor re-enters: the borrow is free.
        let mut shared = cell.borrow_mut();
        f(shared.get_or_insert_with(|| SharedCodecs::new(level)))
    })
}

/// permessage-deflate on one connection: the agreement (and the codecs that keep a window), the level
/// this client compresses at, and the last message inflated.
#[derive(Debug)]
struct Compression {
    deflate: Deflate,
    level: u8,
    /// The last data message received, copied out of the (shared) decompressor's buffer.
    inflated: Vec<u8>,
}

/// The byte stream under the WebSocket.
#[derive(Debug)]
pub enum Stream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Writes all of `bytes` and pushes them out (TLS records may wait in rustls until flushed).
async fn write_out(stream: &mut Stream, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

impl Compression {
    /// What the server's answer `agreed` to `via`'s offer; counts the offer and the agreement in `via`'s
    /// totals.
    fn agreed(via: &Connector, agreed: Option<DeflateParams>) -> Option<Box<Self>> {
        let offer = via.deflate();
        via.totals().opened(offer.is_some(), agreed.is_some());
        agreed.map(|params| {
            let level = offer.map_or(6, |o| o.level);
            Box::new(Self {
                deflate: Deflate::new(params, Role::Client, level),
                level,
                inflated: Vec::new(),
            })
        })
    }
}

/// One step of decoding the bytes read.
#[derive(Debug)]
enum Decoded<'a> {
    /// A data message.
    Message(MessageKind, &'a [u8]),
    /// A ping: the codec owes the server its pong.
    Ping,
    /// A pong, or a frame that completed no event.
    Nothing,
    /// Every byte read is consumed (or the codec waits for more): read from the socket.
    Drained,
}

/// The step an event is: a data message (its payload), a ping, nothing to act on, or the end.
fn decoded(event: Option<Event<'_>>) -> Result<Decoded<'_>, LoadError> {
    match event {
        Some(Event::Message { kind, payload }) => Ok(Decoded::Message(kind, payload)),
        Some(Event::Ping(_)) => Ok(Decoded::Ping),
        Some(Event::Pong(_)) | None => Ok(Decoded::Nothing),
        Some(Event::Close { code, .. }) => Err(LoadError::ServerClose(code)),
        Some(Event::ProtocolError { error, .. }) => Err(LoadError::Protocol(error)),
    }
}

/// A connected, upgraded WebSocket.
#[derive(Debug)]
pub struct WsClient {
    stream: Stream,
    conn: Connection,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    rng: fastrand::Rng,
    /// permessage-deflate, when agreed.
    compression: Option<Box<Compression>>,
    /// Bytes moved so far, added to `totals` on drop.
    bytes: Bytes,
    totals: Arc<WireTotals>,
    /// The subprotocol the server chose (the SIP scenarios check for `sip`).
    #[allow(dead_code)]
    pub subprotocol: Option<String>,
    /// `wss://`: whether the TLS handshake resumed an earlier session.
    pub tls_resumed: Option<bool>,
}

async fn open_tcp(to: SocketAddr, source: Option<IpAddr>) -> Result<TcpStream, LoadError> {
    let sock = match to {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(LoadError::Connect)?;
    if let Some(ip) = source {
        sock.bind(SocketAddr::new(ip, 0)).map_err(LoadError::Bind)?;
    }
    let stream = sock.connect(to).await.map_err(LoadError::Connect)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl WsClient {
    /// Connects from `source` (any local address if `None`), runs the TLS handshake for `wss://`,
    /// sends the Upgrade request (with connection `index`'s credential) offering `subprotocols` and
    /// checks the answer; all within `within`. `read_buf` sizes the read buffer.
    pub async fn connect(
        via: &Connector,
        index: u64,
        source: Option<IpAddr>,
        subprotocols: &[&str],
        read_buf: usize,
        within: Duration,
    ) -> Result<Self, LoadError> {
        let target = via.target();
        let tcp = tokio::time::timeout(within, open_tcp(target.addr, source))
            .await
            .map_err(|_| LoadError::Timeout("connecting"))??;
        let (mut stream, tls_resumed) = match via.tls() {
            None => (Stream::Plain(tcp), None),
            Some((tls, name)) => {
                let s = tokio::time::timeout(within, tls.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| LoadError::Timeout("in the TLS handshake"))?
                    .map_err(LoadError::Tls)?;
                let resumed =
                    s.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                (Stream::Tls(Box::new(s)), Some(resumed))
            }
        };
        let mut nonce = [0u8; 16];
        if getrandom::fill(&mut nonce).is_err() {
            // No kernel entropy: a per-process generator still gives distinct keys.
            nonce = fastrand::u128(..).to_ne_bytes();
        }
        let mut hs = ClientHandshake::new(nonce, subprotocols);
        if let Some(offer) = via.deflate() {
            hs = hs.offer_deflate(offer);
        }
        let mut out = Vec::with_capacity(256);
        let path = via.path_for(index);
        hs.write_request(&target.host, &path, None, &mut out);
        via.add_headers(index, &mut out);
        let mut buf = vec![0u8; read_buf.max(1024)];
        let response = tokio::time::timeout(within, async {
            write_out(&mut stream, &out).await?;
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return Err(LoadError::ServerClosedTcp);
                }
                if let Some(r) = hs.feed(buf.get(..n).unwrap_or_default())? {
                    return Ok(r);
                }
            }
        })
        .await
        .map_err(|_| LoadError::Timeout("waiting for the 101"))??;
        let leftover = response.leftover.len().min(buf.len());
        buf.get_mut(..leftover)
            .unwrap_or_default()
            .copy_from_slice(response.leftover.get(..leftover).unwrap_or_default());
        out.clear();
        let compression = Compression::agreed(via, response.deflate);
        let mut bytes = Bytes::default();
        bytes.received.wire = leftover as u64;
        Ok(Self {
            stream,
            conn: Connection::new(Role::Client, Config::default()),
            buf,
            start: 0,
            end: leftover,
            out,
            rng: fastrand::Rng::new(),
            compression,
            bytes,
            totals: Arc::clone(via.totals()),
            subprotocol: response.subprotocol,
            tls_resumed,
        })
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        Some(self.rng.u32(..).to_ne_bytes())
    }

    /// Sends one message as one masked frame (compressed, with RSV1, when deflate was agreed).
    pub async fn send(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), LoadError> {
        self.out.clear();
        let mask = self.mask();
        match self.compression.as_deref_mut() {
            None => self.conn.send(kind, payload, &mut self.out, mask)?,
            Some(c) => with_shared(c.level, |shared| {
                let (compressor, _) = c.deflate.codecs(shared);
                self.conn
                    .send_compressed(kind, payload, &mut self.out, mask, compressor)
            })?,
        }
        self.bytes.sent.payload += payload.len() as u64;
        self.write_frames().await
    }

    /// Writes `out` (counted as wire bytes sent).
    async fn write_frames(&mut self) -> Result<(), LoadError> {
        self.bytes.sent.wire += self.out.len() as u64;
        write_out(&mut self.stream, &self.out).await?;
        Ok(())
    }

    /// Decodes the next event from the bytes read and not yet consumed.
    fn decode(&mut self) -> Result<Decoded<'_>, LoadError> {
        if self.start >= self.end {
            return Ok(Decoded::Drained);
        }
        if self.compression.is_some() {
            return self.decode_inflating();
        }
        let input = self.buf.get_mut(self.start..self.end).unwrap_or_default();
        let got = self.conn.receive(input);
        if got.consumed == 0 && got.event.is_none() {
            // The codec keeps partial frames itself; nothing consumed means nothing to do.
            return Ok(Decoded::Drained);
        }
        self.start += got.consumed.min(self.end - self.start);
        let step = decoded(got.event)?;
        if let Decoded::Message(_, payload) = &step {
            self.bytes.received.payload += payload.len() as u64;
        }
        Ok(step)
    }

    /// [`Self::decode`] on a connection that agreed permessage-deflate: a compressed message is inflated
    /// by the connection's or this thread's decompressor, and every message is copied into the
    /// connection's own buffer (the shared decompressor serves the next connection polled here).
    fn decode_inflating(&mut self) -> Result<Decoded<'_>, LoadError> {
        let Some(c) = self.compression.as_deref_mut() else {
            return Ok(Decoded::Drained);
        };
        let input = self.buf.get_mut(self.start..self.end).unwrap_or_default();
        let conn = &mut self.conn;
        let (consumed, idle, step) = with_shared(c.level, |shared| {
            let (_, decompressor) = c.deflate.codecs(shared);
            let got = conn.receive_inflating(input, decompressor);
            let idle = got.consumed == 0 && got.event.is_none();
            let step = decoded(got.event).map(|d| match d {
                Decoded::Message(kind, payload) => {
                    c.inflated.clear();
                    c.inflated.extend_from_slice(payload);
                    Some(Decoded::Message(kind, &[][..]))
                }
                Decoded::Ping => Some(Decoded::Ping),
                Decoded::Nothing | Decoded::Drained => None,
            });
            (got.consumed, idle, step)
        });
        if idle {
            // The codec keeps partial frames itself; nothing consumed means nothing to do.
            return Ok(Decoded::Drained);
        }
        self.start += consumed.min(self.end - self.start);
        Ok(match step? {
            Some(Decoded::Message(kind, _)) => {
                self.bytes.received.payload += c.inflated.len() as u64;
                Decoded::Message(kind, &c.inflated)
            }
            Some(Decoded::Ping) => Decoded::Ping,
            _ => Decoded::Nothing,
        })
    }

    /// Reads the next bytes from the socket into the (drained) buffer; cancel-safe.
    async fn refill(&mut self) -> Result<(), LoadError> {
        self.start = 0;
        self.end = 0;
        let n = self.stream.read(&mut self.buf).await?;
        if n == 0 {
            return Err(LoadError::ServerClosedTcp);
        }
        self.end = n;
        self.bytes.received.wire += n as u64;
        Ok(())
    }

    /// Waits for the next data message and hands it to `f` (answering pings on the way).
    pub async fn recv<R>(
        &mut self,
        f: impl FnOnce(MessageKind, &[u8]) -> R,
    ) -> Result<R, LoadError> {
        let mut f = Some(f);
        loop {
            let mut answer_ping = false;
            loop {
                match self.decode()? {
                    Decoded::Message(kind, payload) => {
                        if let Some(f) = f.take() {
                            return Ok(f(kind, payload));
                        }
                    }
                    Decoded::Ping => answer_ping = true,
                    Decoded::Nothing => {}
                    Decoded::Drained => break,
                }
            }
            if answer_ping {
                self.flush_replies().await?;
            }
            self.refill().await?;
        }
    }

    /// Writes the frames the codec owes the server (pongs).
    pub async fn flush_replies(&mut self) -> Result<(), LoadError> {
        self.out.clear();
        loop {
            let mask = self.mask();
            if !self.conn.poll_transmit(&mut self.out, mask)? {
                break;
            }
        }
        if !self.out.is_empty() {
            self.write_frames().await?;
        }
        Ok(())
    }

    /// Waits for the next data message and returns a copy of its payload, or `None` as soon as the
    /// codec owes the server a reply (a ping arrived: send the pong with [`Self::flush_replies`]).
    /// Unlike [`Self::recv`] this is cancel-safe (it only awaits the socket read): a `select!` may drop
    /// it at any await point without losing bytes.
    pub async fn next_message(&mut self) -> Result<Option<(MessageKind, Vec<u8>)>, LoadError> {
        loop {
            loop {
                match self.decode()? {
                    Decoded::Message(kind, payload) => return Ok(Some((kind, payload.to_vec()))),
                    Decoded::Ping => return Ok(None),
                    Decoded::Nothing => {}
                    Decoded::Drained => break,
                }
            }
            self.refill().await?;
        }
    }

    /// `true` when the codec holds frames to send back (pongs for the server's pings).
    pub fn replies_due(&self) -> bool {
        self.conn.has_transmit()
    }

    /// Sends Close 1000 and shuts the write side; does not wait for the server's reply.
    pub async fn close(&mut self) {
        self.out.clear();
        let mask = self.mask();
        if self
            .conn
            .close(wsproto::close_code::NORMAL, "", &mut self.out, mask)
            .is_ok()
        {
            let _ = self.write_frames().await;
        }
        let _ = self.stream.shutdown().await;
    }
}

impl Drop for WsClient {
    /// Adds this connection's byte counts to its worker's totals.
    fn drop(&mut self) {
        self.totals.add(self.bytes);
    }
}
