//! fwsecho over loopback: whole and fragmented messages come back whole, text and binary.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use wsproto::writer::write_frame;
use wsproto::{ClientHandshake, Config, Connection, Event, MessageKind, OpCode, Role};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> (Server, TcpStream) {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_fwsecho"))
        .args([
            "--listen",
            &addr.to_string(),
            "--workers",
            "1",
            "--for",
            "30",
        ])
        .spawn()
        .unwrap();
    let server = Server(child);
    let started = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                return (server, s);
            }
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("fwsecho did not listen: {e}"),
        }
    }
}

fn upgrade(s: &mut TcpStream) -> Vec<u8> {
    let mut hs = ClientHandshake::new(*b"0123456789abcdef", &[]);
    let mut req = Vec::new();
    hs.write_request("localhost", "/", None, &mut req);
    s.write_all(&req).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed during the handshake");
        if let Some(resp) = hs.feed(&buf[..n]).unwrap() {
            return resp.leftover;
        }
    }
}

/// Reads until one data message arrives.
fn next_message(
    s: &mut TcpStream,
    conn: &mut Connection,
    pending: &mut Vec<u8>,
) -> (MessageKind, Vec<u8>) {
    let mut buf = [0u8; 8192];
    loop {
        let mut input = std::mem::take(pending);
        let mut pos = 0;
        while pos < input.len() {
            let got = conn.receive(&mut input[pos..]);
            pos += got.consumed;
            if let Some(Event::Message { kind, payload }) = got.event {
                let out = (kind, payload.to_vec());
                *pending = input[pos..].to_vec();
                return out;
            }
            if got.consumed == 0 {
                break;
            }
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "server closed");
        pending.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn echoes_whole_and_fragmented_messages() {
    let (_server, mut s) = start();
    let mut pending = upgrade(&mut s);
    let mut conn = Connection::new(Role::Client, Config::default());
    let mut out = Vec::new();

    conn.send_text(
        "REGISTER sip:example.com SIP/2.0",
        &mut out,
        Some([1, 2, 3, 4]),
    )
    .unwrap();
    s.write_all(&out).unwrap();
    assert_eq!(
        next_message(&mut s, &mut conn, &mut pending),
        (
            MessageKind::Text,
            b"REGISTER sip:example.com SIP/2.0".to_vec()
        )
    );

    let blob: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    out.clear();
    conn.send_binary(&blob, &mut out, Some([9, 8, 7, 6]))
        .unwrap();
    s.write_all(&out).unwrap();
    assert_eq!(
        next_message(&mut s, &mut conn, &mut pending),
        (MessageKind::Binary, blob)
    );

    // A text message in two frames comes back as one message.
    out.clear();
    write_frame(
        &mut out,
        false,
        OpCode::Text,
        b"hello, ",
        Some([5, 5, 5, 5]),
    );
    write_frame(
        &mut out,
        true,
        OpCode::Continuation,
        b"world",
        Some([6, 6, 6, 6]),
    );
    s.write_all(&out).unwrap();
    assert_eq!(
        next_message(&mut s, &mut conn, &mut pending),
        (MessageKind::Text, b"hello, world".to_vec())
    );
}
