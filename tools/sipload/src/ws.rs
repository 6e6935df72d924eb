//! One client WebSocket connection on tokio, driven by `wsproto` in the client role: every frame sent
//! carries a fresh random mask key (RFC 6455 §5.3). Over TCP (`ws://`) or TLS (`wss://`, see
//! [`crate::connector`]).

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use wsproto::{ClientHandshake, Config, Connection, Event, MessageKind, Role};

use crate::connector::Connector;
use crate::error::LoadError;

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

/// One step of decoding the bytes read.
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
        Ok(Self {
            stream,
            conn: Connection::new(Role::Client, Config::default()),
            buf,
            start: 0,
            end: leftover,
            out,
            rng: fastrand::Rng::new(),
            subprotocol: response.subprotocol,
            tls_resumed,
        })
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        Some(self.rng.u32(..).to_ne_bytes())
    }

    /// Sends one message as one masked frame.
    pub async fn send(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), LoadError> {
        self.out.clear();
        let mask = self.mask();
        self.conn.send(kind, payload, &mut self.out, mask)?;
        write_out(&mut self.stream, &self.out).await?;
        Ok(())
    }

    /// Decodes the next event from the bytes read and not yet consumed.
    fn decode(&mut self) -> Result<Decoded<'_>, LoadError> {
        if self.start >= self.end {
            return Ok(Decoded::Drained);
        }
        let input = self.buf.get_mut(self.start..self.end).unwrap_or_default();
        let got = self.conn.receive(input);
        if got.consumed == 0 && got.event.is_none() {
            // The codec keeps partial frames itself; nothing consumed means nothing to do.
            return Ok(Decoded::Drained);
        }
        self.start += got.consumed.min(self.end - self.start);
        match got.event {
            Some(Event::Message { kind, payload }) => Ok(Decoded::Message(kind, payload)),
            Some(Event::Ping(_)) => Ok(Decoded::Ping),
            Some(Event::Pong(_)) | None => Ok(Decoded::Nothing),
            Some(Event::Close { code, .. }) => Err(LoadError::ServerClose(code)),
            Some(Event::ProtocolError { error, .. }) => Err(LoadError::Protocol(error)),
        }
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
            write_out(&mut self.stream, &self.out).await?;
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
            let _ = write_out(&mut self.stream, &self.out).await;
        }
        let _ = self.stream.shutdown().await;
    }
}
