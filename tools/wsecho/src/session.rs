//! One connection: handshake, then echo until the close handshake ends.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use wsproto::writer::write_frame;
use wsproto::{
    Config, Connection, Event, MessageKind, OpCode, Role, ServerConfig, ServerHandshake,
};

const READ_BUF: usize = 64 * 1024;

/// Serve one client until the WebSocket closes or TCP ends.
pub fn serve(mut stream: TcpStream, limits: Config) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; READ_BUF];
    let mut handshake = ServerHandshake::new(ServerConfig {
        subprotocols: vec!["sip".to_owned()],
        ..ServerConfig::default()
    });
    let mut out = Vec::new();
    let request = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        match handshake.feed(&buf[..n]) {
            Ok(Some(request)) => break request,
            Ok(None) => {}
            Err(e) => {
                e.write_response(&mut out);
                stream.write_all(&out)?;
                return Ok(());
            }
        }
    };
    request.write_accept(&mut out);
    stream.write_all(&out)?;
    out.clear();

    let mut conn = Connection::new(Role::Server, limits);
    let mut leftover = request.leftover;
    echo(&mut conn, &mut leftover, &mut out);
    loop {
        flush(&mut conn, &mut stream, &mut out)?;
        if conn.is_closed() {
            break;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        echo(&mut conn, &mut buf[..n], &mut out);
    }
    // §7.1.1: the server closes TCP first. Half-close and drain, so that unread input does not
    // turn our close into a reset that could destroy the Close frame in flight.
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
    Ok(())
}

/// Feed `input` to the connection, echoing every data message into `out`.
fn echo(conn: &mut Connection, input: &mut [u8], out: &mut Vec<u8>) {
    let mut pos = 0;
    loop {
        let got = conn.receive(&mut input[pos..]);
        pos += got.consumed;
        match got.event {
            None => break,
            Some(Event::Message { kind, payload }) => {
                let opcode = match kind {
                    MessageKind::Text => OpCode::Text,
                    MessageKind::Binary => OpCode::Binary,
                };
                write_frame(out, true, opcode, payload, None);
            }
            Some(Event::ProtocolError { code, error }) => {
                eprintln!("wsecho: failing the connection with {code}: {error}");
            }
            Some(Event::Ping(_) | Event::Pong(_) | Event::Close { .. }) => {}
        }
        // Queue replies (pong, Close) right after the event that caused them, so that a pong goes
        // out before the echo of a message that completes after its ping, and every ping gets one.
        queue_replies(conn, out);
    }
}

fn queue_replies(conn: &mut Connection, out: &mut Vec<u8>) {
    // Server role: never masked, so poll_transmit cannot fail.
    while let Ok(true) = conn.poll_transmit(out, None) {}
}

fn flush(conn: &mut Connection, stream: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    queue_replies(conn, out);
    if !out.is_empty() {
        stream.write_all(out)?;
        out.clear();
    }
    Ok(())
}
