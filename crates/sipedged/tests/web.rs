//! Plain HTTP on the WebSocket port: the web phone at /phone/, even when the request arrives in pieces; the
//! configured `[web] phone_dir` before the phone embedded at build time.

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

fn get(port: u16, path: &str) -> String {
    get_in_pieces(port, &[&format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")])
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let (head, _) = response.split_once("\r\n\r\n")?;
    head.lines()
        .filter_map(|l| l.split_once(": "))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

#[test]
fn phone_page_is_served_whole_or_in_pieces() {
    let gw = Gateway::start("");
    let whole = get(gw.port, "/phone/");
    let js = get(gw.port, "/phone/app.js");
    // The phone embedded by build.rs when npm was there at build time, else 404 with a page that says how to get it.
    if whole.starts_with("HTTP/1.1 200") {
        assert!(
            whole.contains("<title>sipedge web phone</title>"),
            "{whole}"
        );
        assert!(js.starts_with("HTTP/1.1 200"), "{js}");
        assert_eq!(
            header(&js, "Content-Type"),
            Some("text/javascript; charset=utf-8")
        );
        assert!(js.contains("JsSIP"), "the bundle carries JsSIP");
    } else {
        assert!(
            whole.starts_with("HTTP/1.1 404") && whole.contains("npm run build"),
            "{whole}"
        );
        assert!(js.starts_with("HTTP/1.1 404"), "{js}");
    }
    let split = get_in_pieces(gw.port, &["GET /phone/ HTTP/1.1\r\nHo", "st: x\r\n\r\n"]);
    assert_eq!(split.lines().next(), whole.lines().next(), "{split}");
    // Not a WebSocket and not the phone: the handshake refuses it.
    let other = get(gw.port, "/elsewhere");
    assert!(other.starts_with("HTTP/1.1 4"), "{other}");
}

#[test]
fn configured_phone_dir_is_served_instead_of_the_embedded_phone() {
    let dir = TempDir::new("phone");
    let phone = dir.0.join("dist");
    std::fs::create_dir_all(&phone).unwrap();
    std::fs::write(phone.join("index.html"), "<title>configured</title>").unwrap();
    std::fs::write(phone.join("app.js"), "let configured = 1;").unwrap();
    std::fs::write(dir.0.join("secret.txt"), "secret").unwrap();
    let gw = Gateway::start(&format!("[web]\nphone_dir = {:?}\n", phone.display()));
    let index = get(gw.port, "/phone/");
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(
        index.ends_with("\r\n\r\n<title>configured</title>"),
        "{index}"
    );
    let js = get(gw.port, "/phone/app.js");
    assert!(js.ends_with("\r\n\r\nlet configured = 1;"), "{js}");
    let missing = get(gw.port, "/phone/style.css");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    for path in ["/phone/../secret.txt", "/phone/%2e%2e/secret.txt"] {
        let r = get(gw.port, path);
        assert!(r.starts_with("HTTP/1.1 400"), "{path}: {r}");
        assert!(!r.contains("secret\n") && !r.ends_with("secret"), "{path}");
    }
    let redirect = get(gw.port, "/phone");
    assert!(redirect.starts_with("HTTP/1.1 301"), "{redirect}");
    assert_eq!(header(&redirect, "Location"), Some("/phone/"));
}
