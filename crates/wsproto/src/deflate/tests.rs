use super::*;

fn server(values: &[&str]) -> Option<DeflateParams> {
    choose(values, &DeflateConfig::default())
}

#[test]
fn a_browser_offer_is_accepted_without_context_takeover() {
    // Chromium's offer, verbatim.
    let p = server(&["permessage-deflate; client_max_window_bits"]).expect("accepted");
    assert_eq!(
        p.header_value(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    assert!(!p.compress_takeover(Role::Server) && !p.decompress_takeover(Role::Server));
    assert_eq!(p.compress_window_bits(Role::Server), 15);
}

#[test]
fn invalid_offers_are_declined_and_the_next_one_taken() {
    for bad in [
        "permessage-deflate; foo",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; client_max_window_bits=8; client_max_window_bits=9",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "x-webkit-deflate-frame",
    ] {
        assert_eq!(server(&[bad]), None, "{bad}");
        let next = server(&[bad, "permessage-deflate"]).expect("the valid offer after it");
        assert_eq!(next.server_max_window_bits, None, "{bad}");
    }
    assert_eq!(
        server(&["permessage-deflate; x=\"a,b\""]),
        None,
        "quoted comma"
    );
    assert_eq!(server(&["permessage-deflate; x=\"unclosed"]), None);
}

#[test]
fn windows_follow_the_offer_and_the_policy() {
    let config = DeflateConfig {
        server_max_window_bits: 12,
        client_max_window_bits: 10,
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        level: 6,
    };
    let p = choose(
        &["permessage-deflate; server_max_window_bits=14; client_max_window_bits"],
        &config,
    )
    .expect("accepted");
    assert_eq!(p.server_max_window_bits, Some(12));
    assert_eq!(p.client_max_window_bits, Some(10));
    // No client_max_window_bits in the offer: the client's window cannot be limited.
    let p = choose(&["permessage-deflate"], &config).expect("accepted");
    assert_eq!(p.client_max_window_bits, None);
    assert_eq!(p.decompress_window_bits(Role::Server), 15);
    // A quoted value is a value (RFC 7692 §7.1).
    let p = choose(
        &["permessage-deflate; server_max_window_bits=\"9\""],
        &config,
    )
    .expect("ok");
    assert_eq!(p.server_max_window_bits, Some(9));
}

#[test]
fn a_client_reads_the_servers_answer() {
    let offer = DeflateConfig {
        server_max_window_bits: 10,
        ..DeflateConfig::default()
    };
    assert_eq!(
        offer.offer(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits"
    );
    let answer = server(&[&offer.offer()]).expect("accepted").header_value();
    let p = read_response(&[&answer], &offer)
        .expect("valid")
        .expect("agreed");
    assert_eq!(p.server_max_window_bits, Some(10));
    assert_eq!(read_response(&[], &offer), Ok(None));
    for bad in [
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
        "permessage-deflate; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits",
        "permessage-deflate, permessage-deflate",
        "x-other",
    ] {
        assert!(read_response(&[bad], &offer).is_err(), "{bad}");
    }
}

/// A JsSIP session through Kamailio as the browser saw it: REGISTER, MESSAGE, INVITE with WebRTC SDP, ...
const TRACE: &str = include_str!("../../../edge/tests/data/traces/jssip-kamailio-session.txt");

/// The SIP messages of [`TRACE`].
fn messages() -> Vec<&'static str> {
    TRACE
        .split("\n--- ")
        .filter_map(|m| m.split_once('\n').map(|(_, body)| body))
        .filter(|m| {
            m.starts_with("SIP/2.0") || m.lines().next().is_some_and(|l| l.ends_with(" SIP/2.0"))
        })
        .collect()
}

#[test]
fn messages_round_trip_with_and_without_context_takeover() {
    for takeover in [false, true] {
        for bits in [8, 9, 12, 15] {
            let mut c = Compressor::new(bits, 6, takeover);
            let mut d = Decompressor::new(bits, takeover);
            let (mut plain, mut sent) = (0, 0);
            for msg in messages() {
                let mut wire = Vec::new();
                c.compress(msg.as_bytes(), &mut wire);
                assert!(!wire.ends_with(&[0, 0, 0xff, 0xff]), "tail removed");
                assert_eq!(
                    d.decompress(&wire, 1 << 20),
                    Ok(msg.as_bytes()),
                    "{bits} {takeover}"
                );
                (plain, sent) = (plain + msg.len(), sent + wire.len());
            }
            assert!(plain > 5_000, "the trace has its messages: {plain} bytes");
            if bits > 8 {
                assert!(
                    sent < plain,
                    "{bits} bits, takeover {takeover}: {sent} of {plain}"
                );
                eprintln!("{bits} bits, takeover {takeover}: {sent} of {plain}");
            }
        }
    }
}

#[test]
fn an_empty_message_round_trips() {
    let mut c = Compressor::new(15, 6, false);
    let mut wire = Vec::new();
    c.compress(b"", &mut wire);
    assert_eq!(wire, [0x00], "RFC 7692 §7.2.3.6");
    assert_eq!(
        Decompressor::new(15, false).decompress(&wire, 10),
        Ok(&b""[..])
    );
}

#[test]
fn a_compression_bomb_stops_at_the_limit() {
    let zeros = vec![0u8; 16 << 20];
    let mut wire = Vec::new();
    Compressor::new(15, 9, false).compress(&zeros, &mut wire);
    assert!(wire.len() < 64 * 1024, "{}", wire.len());
    let mut d = Decompressor::new(15, false);
    assert_eq!(
        d.decompress(&wire, 65_536),
        Err(InflateError::TooBig { max: 65_536 })
    );
    assert!(d.buffer_bytes() <= 65_537, "{}", d.buffer_bytes());
    // The decompressor is usable again afterwards.
    let mut ok = Vec::new();
    Compressor::new(15, 6, false).compress(b"after", &mut ok);
    assert_eq!(d.decompress(&ok, 100), Ok(&b"after"[..]));
}

#[test]
fn garbage_is_refused() {
    let mut d = Decompressor::new(15, false);
    assert_eq!(d.decompress(&[0xff; 32], 1000), Err(InflateError::Corrupt));
}

#[test]
fn a_shared_compressor_with_a_connections_window_speaks_context_takeover() {
    // The edge: one compressor without a window of its own, 512 bytes of window per connection. The browser:
    // an ordinary inflater that keeps its 32 KiB window (server_no_context_takeover not agreed).
    let mut shared = Compressor::new(15, 6, false);
    let (mut alice, mut bob) = (Vec::new(), Vec::new());
    let (mut alice_in, mut bob_in) = (Decompressor::new(15, true), Decompressor::new(15, true));
    let (mut plain, mut with, mut without) = (0, 0, 0);
    for msg in messages() {
        for (window, peer) in [(&mut alice, &mut alice_in), (&mut bob, &mut bob_in)] {
            let mut wire = Vec::new();
            shared.compress_after(window, 512, msg.as_bytes(), &mut wire);
            assert!(
                window.len() <= 512 && window.capacity() <= 512,
                "{}",
                window.capacity()
            );
            assert_eq!(peer.decompress(&wire, 1 << 20), Ok(msg.as_bytes()));
            with += wire.len();
        }
        let mut alone = Vec::new();
        shared.compress(msg.as_bytes(), &mut alone);
        (plain, without) = (plain + 2 * msg.len(), without + 2 * alone.len());
    }
    assert!(
        with < without,
        "the window helps: {with} < {without} of {plain}"
    );
}

#[test]
fn a_shared_decompressor_with_a_lent_window_reads_a_client_keeping_its_window() {
    // The browser keeps a 1 KiB window (client_max_window_bits=10 agreed); the edge lends each message its
    // connection's last 1,024 bytes.
    let mut browser = Compressor::new(10, 6, true);
    let mut shared = Decompressor::new(10, false);
    let mut window = Vec::new();
    let mut fresh = Decompressor::new(10, false);
    let mut needed_the_window = false;
    for msg in messages() {
        let mut wire = Vec::new();
        browser.compress(msg.as_bytes(), &mut wire);
        needed_the_window |= fresh.decompress(&wire, 1 << 20) != Ok(msg.as_bytes());
        shared.lend_window(std::mem::take(&mut window), 1024);
        assert_eq!(shared.decompress(&wire, 1 << 20), Ok(msg.as_bytes()));
        window = shared.return_window();
        assert!(window.capacity() <= 1024, "{}", window.capacity());
    }
    assert!(
        needed_the_window,
        "some message refers back into an earlier one"
    );
}

#[test]
fn a_client_that_cannot_be_held_to_a_small_window_is_asked_to_keep_none() {
    let config = DeflateConfig {
        client_no_context_takeover: false,
        client_max_window_bits: 10,
        ..DeflateConfig::default()
    };
    let p = choose(&["permessage-deflate"], &config).expect("accepted");
    assert!(
        p.client_no_context_takeover,
        "no client_max_window_bits offered"
    );
    let p = choose(&["permessage-deflate; client_max_window_bits"], &config).expect("accepted");
    assert!(!p.client_no_context_takeover);
    assert_eq!(p.client_max_window_bits, Some(10));
}

#[test]
fn a_packed_context_reads_the_clients_next_message() {
    // The browser keeps a 2 KiB window (client_max_window_bits=11 agreed). Between messages the edge keeps the
    // connection's 2,048 bytes packed; the next message, which refers back into them, still inflates.
    let mut browser = Compressor::new(11, 6, true);
    let mut shared = SharedCodecs::new(6);
    let mut context = Context::default();
    let mut packed_smaller = false;
    for msg in messages().iter().chain(messages().iter()) {
        let mut wire = Vec::new();
        browser.compress(msg.as_bytes(), &mut wire);
        let plain = shared.take_context(&mut context, 2048);
        assert!(context.is_empty(), "taken");
        let d = shared.decompressor(11);
        d.lend_window(plain, 2048);
        assert_eq!(d.decompress(&wire, 1 << 20), Ok(msg.as_bytes()));
        assert!(d.take_inflated().is_some());
        let plain = d.return_window();
        let len = plain.len();
        assert!(len <= 2048, "{len}");
        shared.put_context(&mut context, plain);
        assert_eq!(
            shared.decompressor(15).take_inflated(),
            None,
            "unpacking is not a message"
        );
        packed_smaller |= context.heap_bytes() < len / 2;
        assert!(
            context.heap_bytes() <= len + 16,
            "{} of {len}",
            context.heap_bytes()
        );
    }
    assert!(packed_smaller, "SIP packs to less than half");
}

#[test]
fn a_packed_context_that_inflates_past_its_bound_comes_back_empty() {
    let mut context = Context::default();
    context.put(
        &[b'a'; 4096],
        &mut Compressor::new(15, PACK_LEVEL, false),
        b"",
        &mut Vec::new(),
    );
    assert!(!context.is_empty());
    let mut plain = vec![1, 2, 3];
    context.take(&mut Decompressor::new(15, false), b"", 1024, &mut plain);
    assert!(plain.is_empty());
    assert!(context.is_empty(), "taken");
}
