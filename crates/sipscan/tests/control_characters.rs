//! Issue 19 item 11: control characters are refused by the scanner (RFC 3261 §25.1: a field value is
//! `TEXT-UTF8` and `LWS`, which hold no byte below 0x20 but HTAB, and no DEL), so that the edge answers
//! `400` and never forwards such a message.

use sipscan::{Message, ScanError};

/// A REGISTER whose To header value is `to` (bytes as given).
fn register_with_to(to: &[u8]) -> Vec<u8> {
    let mut m = b"REGISTER sip:example.test SIP/2.0\r\n\
        Via: SIP/2.0/WSS a.invalid;branch=z9hG4bK1\r\n\
        Max-Forwards: 70\r\nTo: "
        .to_vec();
    m.extend_from_slice(to);
    m.extend_from_slice(
        b"\r\nFrom: <sip:alice@example.test>;tag=1\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\
        Content-Length: 0\r\n\r\n",
    );
    m
}

#[test]
fn a_nul_byte_inside_a_header_value_is_refused() {
    let m = register_with_to(b"<sip:alice@example.test>\0;tag=x");
    assert_eq!(Message::parse(&m).err(), Some(ScanError::ControlCharacter));
    assert_eq!(ScanError::ControlCharacter.status_code(), 400);
}

#[test]
fn every_control_byte_but_htab_inside_a_header_value_is_refused() {
    for b in (0u8..0x20).chain([0x7f]) {
        if b == b'\t' || b == b'\n' {
            continue;
        }
        let m = register_with_to(&[b"<sip:alice@example.test>".as_slice(), &[b], b" x"].concat());
        assert_eq!(
            Message::parse(&m).err(),
            Some(ScanError::ControlCharacter),
            "byte {b:#04x}"
        );
    }
    // HTAB is LWS; UTF-8 is TEXT-UTF8.
    let ok = register_with_to("\"Ålice\"\t<sip:alice@example.test>".as_bytes());
    Message::parse(&ok).unwrap().check().unwrap();
}

#[test]
fn a_bare_cr_inside_a_header_value_is_refused() {
    let m = register_with_to(b"<sip:alice@example.test>\rX-Injected: 1");
    assert_eq!(Message::parse(&m).err(), Some(ScanError::ControlCharacter));
}

#[test]
fn a_control_byte_in_the_start_line_or_a_long_header_is_refused() {
    let m = b"OPTIONS sip:a@b\x01 SIP/2.0\r\nVia: SIP/2.0/WS h\r\n\r\n";
    assert_eq!(Message::parse(m).err(), Some(ScanError::ControlCharacter));
    // Past the first 64-byte blocks, and in a folded continuation line.
    let long = format!(
        "<sip:alice@example.test>;x={}\r\n ;y=1\x1b",
        "a".repeat(300)
    );
    let m = register_with_to(long.as_bytes());
    assert_eq!(Message::parse(&m).err(), Some(ScanError::ControlCharacter));
}

#[test]
fn a_control_byte_in_the_body_is_not_the_scanners_business() {
    let mut m = b"MESSAGE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/WS h;branch=z9hG4bK2\r\n\
        Content-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\n"
        .to_vec();
    m.extend_from_slice(b"\0\x01\x7f");
    assert_eq!(Message::parse(&m).unwrap().body(), b"\0\x01\x7f");
}

#[test]
fn a_control_byte_escaped_by_a_quoted_pair_stays_valid() {
    // RFC 3261 §25.1 quoted-pair, as in RFC 4475 §3.1.1.2 (intmeth): valid, and kept.
    let m = register_with_to(b"\"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:alice@example.test>");
    Message::parse(&m).unwrap().check().unwrap();
}

#[test]
fn a_nul_after_an_escaped_backslash_or_outside_quotes_is_refused() {
    for to in [
        &b"\"a\\\\\x00\" <sip:alice@example.test>"[..],
        b"\\\x00 <sip:alice@example.test>",
        b"\"a\" \\\x00<sip:alice@example.test>",
    ] {
        let m = register_with_to(to);
        assert_eq!(
            Message::parse(&m).err(),
            Some(ScanError::ControlCharacter),
            "{}",
            to.escape_ascii()
        );
    }
}

#[test]
fn a_quote_left_open_does_not_excuse_the_next_header() {
    let mut m = register_with_to(b"\"open <sip:alice@example.test>");
    let at = m.windows(7).position(|w| w == b"Call-ID").unwrap();
    m.splice(at..at, b"X-A: \\\x00\r\n".iter().copied());
    assert_eq!(Message::parse(&m).err(), Some(ScanError::ControlCharacter));
}
