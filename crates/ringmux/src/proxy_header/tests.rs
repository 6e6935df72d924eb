use proptest::prelude::*;

use super::*;

fn v4(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Feeds `bytes` cut at `cuts` (sorted offsets); returns the header and the bytes after it.
fn feed_split(bytes: &[u8], cuts: &[usize]) -> Result<(ProxyHeader, Vec<u8>), ProxyHeaderError> {
    let mut p = ProxyHeaderParser::new();
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.iter().copied().filter(|&c| c <= bytes.len()).collect();
    bounds.push(bytes.len());
    for end in bounds {
        let piece = &bytes[start..end.max(start)];
        start = end.max(start);
        if let Progress::Done { header, consumed } = p.feed(piece)? {
            let mut after = piece[consumed..].to_vec();
            after.extend_from_slice(&bytes[start..]);
            return Ok((header, after));
        }
    }
    panic!("header incomplete after every byte of {bytes:?}");
}

#[test]
fn ipv4_in_one_piece_leaves_the_next_layer_alone() {
    let (src, dst) = (v4("203.0.113.7:51000"), v4("192.0.2.1:443"));
    let mut b = Vec::new();
    encode(Some((src, dst)), &[], &mut b);
    assert_eq!(b.len(), 28);
    b.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let mut p = ProxyHeaderParser::new();
    assert_eq!(
        p.feed(&b),
        Ok(Progress::Done {
            header: ProxyHeader::Proxied {
                source: src,
                destination: dst
            },
            consumed: 28
        })
    );
}

#[test]
fn ipv6_with_tlvs_split_byte_by_byte() {
    let (src, dst) = (v4("[2001:db8::7]:1234"), v4("[2001:db8::1]:8443"));
    let mut b = Vec::new();
    // An ALPN TLV (type 0x01) and a NOOP (0x04): skipped.
    encode(
        Some((src, dst)),
        &[0x01, 0, 2, b'h', b'2', 0x04, 0, 0],
        &mut b,
    );
    b.push(0x16);
    let cuts: Vec<usize> = (1..b.len()).collect();
    let (h, after) = feed_split(&b, &cuts).unwrap();
    assert_eq!(h.source(), Some(src));
    assert_eq!(after, vec![0x16]);
}

#[test]
fn local_and_unspec_keep_the_socket_address() {
    let mut b = Vec::new();
    encode(None, &[], &mut b);
    assert_eq!(feed_split(&b, &[]).unwrap().0, ProxyHeader::Local);
    // LOCAL may still carry an address block: skipped.
    let mut b = Vec::new();
    encode(Some((v4("10.0.0.1:1"), v4("10.0.0.2:2"))), &[], &mut b);
    b[12] = 0x20;
    assert_eq!(feed_split(&b, &[5]).unwrap(), (ProxyHeader::Local, vec![]));
    // PROXY with family UNSPEC.
    let mut b = SIGNATURE.to_vec();
    b.extend_from_slice(&[0x21, 0x00, 0, 0]);
    assert_eq!(feed_split(&b, &[13]).unwrap().0, ProxyHeader::Unknown);
    assert_eq!(ProxyHeader::Unknown.source(), None);
}

#[test]
fn errors_name_what_is_wrong() {
    let header = |ver_cmd: u8, fam: u8, len: u16| {
        let mut b = SIGNATURE.to_vec();
        b.extend_from_slice(&[ver_cmd, fam]);
        b.extend_from_slice(&len.to_be_bytes());
        b.resize(16 + usize::from(len), 0);
        b
    };
    let err = |b: &[u8]| ProxyHeaderParser::new().feed(b).unwrap_err();
    assert_eq!(
        err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
        ProxyHeaderError::Version1
    );
    assert_eq!(err(b"P"), ProxyHeaderError::Version1);
    assert_eq!(
        err(b"GET / HTTP/1.1\r\n"),
        ProxyHeaderError::Signature { at: 0, found: b'G' }
    );
    assert_eq!(
        err(&[0x16, 3, 1]),
        ProxyHeaderError::Signature { at: 0, found: 0x16 }
    );
    assert_eq!(
        err(b"\r\n\r\n\0\r\nQUIX"),
        ProxyHeaderError::Signature {
            at: 10,
            found: b'X'
        }
    );
    assert_eq!(err(&header(0x11, 0x11, 12)), ProxyHeaderError::Version(1));
    assert_eq!(err(&header(0x22, 0x11, 12)), ProxyHeaderError::Command(2));
    assert_eq!(
        err(&header(0x21, 0x31, 216)),
        ProxyHeaderError::Unsupported {
            family: 3,
            protocol: 1
        }
    );
    assert_eq!(
        err(&header(0x21, 0x12, 12)),
        ProxyHeaderError::Unsupported {
            family: 1,
            protocol: 2
        }
    );
    assert_eq!(
        err(&header(0x21, 0x11, 600)),
        ProxyHeaderError::TooLong {
            total: 616,
            max: MAX_HEADER
        }
    );
    assert_eq!(
        err(&header(0x21, 0x21, 12)),
        ProxyHeaderError::Short { len: 12, need: 36 }
    );
    assert_eq!(err(&header(0x11, 0x11, 12)).label(), "version");
    assert_eq!(err(b"GET").label(), "signature");
}

#[test]
fn a_spent_parser_stays_spent() {
    let mut p = ProxyHeaderParser::new();
    assert!(p.feed(b"x").is_err());
    assert_eq!(
        p.feed(&SIGNATURE),
        Err(ProxyHeaderError::Signature { at: 0, found: b'x' })
    );
    let mut b = Vec::new();
    encode(None, &[], &mut b);
    let mut p = ProxyHeaderParser::new();
    assert!(matches!(p.feed(&b), Ok(Progress::Done { .. })));
    assert_eq!(
        p.buffered(),
        0,
        "the header's bytes are released once it is read"
    );
    assert!(p.feed(&b).is_err());
}

#[test]
fn the_largest_header_is_accepted_and_one_more_byte_is_not() {
    let mut b = Vec::new();
    let tlv_room = MAX_HEADER - 16 - 12;
    encode(
        Some((v4("1.2.3.4:5"), v4("6.7.8.9:10"))),
        &vec![0x04; tlv_room],
        &mut b,
    );
    assert_eq!(b.len(), MAX_HEADER);
    assert!(feed_split(&b, &[100, 300]).is_ok());
    let mut b = Vec::new();
    encode(
        Some((v4("1.2.3.4:5"), v4("6.7.8.9:10"))),
        &vec![0x04; tlv_room + 1],
        &mut b,
    );
    assert!(matches!(
        feed_split(&b, &[]),
        Err(ProxyHeaderError::TooLong { .. })
    ));
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
    ]
}

proptest! {
    /// Any header, cut anywhere into any number of pieces, reads the same and hands back exactly the bytes after it.
    #[test]
    fn any_split_reads_the_same(
        src in addr(),
        dst_port in any::<u16>(),
        tlvs in proptest::collection::vec(any::<u8>(), 0..200),
        after in proptest::collection::vec(any::<u8>(), 0..64),
        cuts in proptest::collection::vec(0usize..400, 0..8),
    ) {
        let dst = SocketAddr::new(
            match src { SocketAddr::V4(_) => "192.0.2.1".parse().unwrap(), SocketAddr::V6(_) => "2001:db8::1".parse().unwrap() },
            dst_port,
        );
        let mut b = Vec::new();
        encode(Some((src, dst)), &tlvs, &mut b);
        b.extend_from_slice(&after);
        let mut cuts = cuts;
        cuts.sort_unstable();
        let (h, rest) = feed_split(&b, &cuts).unwrap();
        prop_assert_eq!(h, ProxyHeader::Proxied { source: src, destination: dst });
        prop_assert_eq!(rest, after);
    }

    /// Arbitrary bytes, in arbitrary pieces, never panic; a verdict never takes more than the cap.
    #[test]
    fn garbage_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..700),
        prefix in any::<bool>(),
        cuts in proptest::collection::vec(0usize..700, 0..6),
    ) {
        let mut b = if prefix { SIGNATURE.to_vec() } else { Vec::new() };
        b.extend_from_slice(&bytes);
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut p = ProxyHeaderParser::new();
        let mut start = 0;
        for end in cuts.into_iter().chain(std::iter::once(b.len())) {
            let end = end.clamp(start, b.len());
            match p.feed(&b[start..end]) {
                Ok(Progress::Incomplete) => prop_assert!(p.buffered() <= MAX_HEADER),
                Ok(Progress::Done { consumed, .. }) => {
                    prop_assert!(consumed <= end - start);
                    prop_assert!(start + consumed <= MAX_HEADER);
                    break;
                }
                Err(_) => break,
            }
            start = end;
        }
    }
}
