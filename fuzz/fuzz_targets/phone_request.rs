//! HTTP request parsing for the web phone (`/phone/`): arbitrary bytes as a request head through the daemon's
//! own `web/request.rs` (the request line and Upgrade header) and `web/route.rs` (the request-target to a file).
//! sipedged is a binary crate, so its two files are compiled into this target with `#[path]`: they use nothing
//! but std and thiserror. Oracles: no panic; a parsed request ends at the first empty line and its target is
//! a slice of the head starting with `/`; a file route is relative, made of plain segments only (no `..`, no
//! root, no hidden or empty segment, no separator or NUL inside one) and ends in a file name.
#![no_main]
use std::path::Component;

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/sipedged/src/web/request.rs"]
#[allow(dead_code)]
mod request;
#[path = "../../crates/sipedged/src/web/route.rs"]
#[allow(dead_code)]
mod route;

fuzz_target!(|data: &[u8]| {
    let Some(req) = request::parse(data) else {
        return;
    };
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("complete head");
    let head = &data[..end];
    let at = req.target.as_ptr() as usize - data.as_ptr() as usize;
    assert!(
        at + req.target.len() <= head.len(),
        "target outside the head"
    );
    assert!(req.target.starts_with('/'));
    match route::route(req.target) {
        route::Route::File(path) => {
            assert!(path.is_relative());
            assert!(path.file_name().is_some(), "{path:?}");
            for c in path.components() {
                let Component::Normal(seg) = c else {
                    panic!("{c:?} in {path:?} from {:?}", req.target);
                };
                let seg = seg.to_str().expect("UTF-8 segment");
                assert!(!seg.is_empty() && !seg.starts_with('.'), "{seg:?}");
                assert!(!seg.contains(['/', '\\', '\0']), "{seg:?}");
            }
        }
        route::Route::NotOurs => assert!(!req.target.starts_with("/phone/")),
        route::Route::AddSlash | route::Route::Refused(_) => {}
    }
});
