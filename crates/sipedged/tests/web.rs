//! Plain HTTP on the WebSocket port: the web phone at /phone/, even when the request arrives in pieces.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

fn get_in_pieces(port: u16, pieces: &[&str]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_nodelay(true).unwrap();
    for p in pieces {
        s.write_all(p.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn phone_page_is_served_whole_or_in_pieces() {
    let gw = Gateway::start("");
    let whole = get_in_pieces(gw.port, &["GET /phone/ HTTP/1.1\r\nHost: x\r\n\r\n"]);
    // 200 with the phone when deploy/webphone has been built, else 404 with a page that says how to build it.
    assert!(
        whole.starts_with("HTTP/1.1 200")
            || (whole.starts_with("HTTP/1.1 404") && whole.contains("npm run build")),
        "{whole}"
    );
    let split = get_in_pieces(gw.port, &["GET /phone/ HTTP/1.1\r\nHo", "st: x\r\n\r\n"]);
    assert_eq!(split.lines().next(), whole.lines().next(), "{split}");
    // Not a WebSocket and not the phone: the handshake refuses it.
    let other = get_in_pieces(gw.port, &["GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n"]);
    assert!(other.starts_with("HTTP/1.1 4"), "{other}");
}
