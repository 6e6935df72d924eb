//! Handshake parser fuzzing: arbitrary bytes into `ServerHandshake` and `ClientHandshake`, whole and
//! cut into reads. Oracles: no panic; the outcome does not depend on how input is cut; an accepted
//! request answers with a well-formed 101; a refusal answers with a well-formed error response.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsproto::deflate::DeflateConfig;
use wsproto::{ClientHandshake, ServerConfig, ServerHandshake};

fn server(data: &[u8], cut: usize) -> Result<Option<wsproto::Request>, wsproto::HandshakeError> {
    let mut hs = ServerHandshake::new(ServerConfig {
        subprotocols: vec!["sip".into()],
        max_request_size: 4096,
        deflate: Some(DeflateConfig::default()),
    });
    let cut = cut.max(1);
    for (i, piece) in data.chunks(cut).enumerate() {
        if let Some(mut request) = hs.feed(piece)? {
            // Bytes not fed yet follow the leftover, as a caller would see them.
            request.leftover.extend_from_slice(data.get((i + 1) * cut..).unwrap_or_default());
            return Ok(Some(request));
        }
    }
    Ok(None)
}

fn client(
    data: &[u8],
    cut: usize,
) -> Result<Option<wsproto::Response>, wsproto::ClientHandshakeError> {
    let mut hs = ClientHandshake::new(*b"the sample nonce", &["sip"]).offer_deflate(DeflateConfig {
        server_max_window_bits: 12,
        ..DeflateConfig::default()
    });
    let cut = cut.max(1);
    for (i, piece) in data.chunks(cut).enumerate() {
        if let Some(mut response) = hs.feed(piece)? {
            response.leftover.extend_from_slice(data.get((i + 1) * cut..).unwrap_or_default());
            return Ok(Some(response));
        }
    }
    Ok(None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let cut = usize::from(control) + 1;
    let whole = server(data, data.len());
    let chunked = server(data, cut);
    // A request that completes early leaves the rest as leftover; errors may be found on a prefix
    // (size cap) in both cases alike.
    assert_eq!(whole.is_ok(), chunked.is_ok(), "server, cut {cut}");
    match whole {
        Ok(Some(request)) => {
            let Ok(Some(again)) = chunked else {
                panic!("chunked feed did not complete");
            };
            assert_eq!(request, again);
            assert_eq!(request.accept.len(), 28);
            assert!(request.subprotocol.as_deref().is_none_or(|p| p == "sip"));
            let mut out = Vec::new();
            request.write_accept(&mut out);
            assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
            assert!(out.ends_with(b"\r\n\r\n"));
            // An accepted permessage-deflate answer reads back as what was agreed.
            if let Some(agreed) = request.deflate {
                let value = agreed.header_value();
                let again = wsproto::deflate::choose(&[&value], &DeflateConfig::default());
                assert_eq!(again, Some(agreed), "{value}");
            }
        }
        Ok(None) => assert!(matches!(chunked, Ok(None))),
        Err(e) => {
            assert_eq!(Err(e.clone()), chunked.map(|_| ()));
            let mut out = Vec::new();
            e.write_response(&mut out);
            let text = String::from_utf8(out).expect("ASCII response");
            assert!(text.starts_with(&format!("HTTP/1.1 {} ", e.status())));
            assert!(matches!(e.status(), 400 | 403 | 405 | 426 | 431));
        }
    }
    let whole = client(data, data.len());
    let chunked = client(data, cut);
    assert_eq!(whole, chunked, "client, cut {cut}");
});
