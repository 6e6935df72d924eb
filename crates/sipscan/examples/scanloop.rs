//! Tight loop over `Message::parse` for profiling: `cargo run --release -p sipscan
//! --example scanloop -- <file>... [--iterations N] [--edge]` (prints the best of 5
//! rounds per file, so that a busy machine disturbs it less; use with `valgrind
//! --tool=callgrind` for instruction counts). `--edge` runs the edge's whole job as the
//! `sipscan_edge` bench does: scan, read the top Route, add Via and Record-Route (Path
//! for REGISTER), pop the Route when it is ours, decrement Max-Forwards, write.

use sipscan::{Editor, HeaderName, Message, Method};
use std::hint::black_box;

const OUR_VIA: &[u8] = b"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK.w3.f17g3.a8d2e1";
const OUR_RR: &[u8] = b"<sip:tok.MTcuMw.h1f2@192.0.2.10:5060;transport=udp;lr>";
const OUR_PATH: &[u8] = b"<sip:tok.MTcuMw.h1f2@192.0.2.10:5060;transport=udp;lr;ob>";

fn index(bytes: &[u8]) -> usize {
    let m = Message::parse(bytes).expect("scan");
    m.header_count() + m.body().len()
}

fn edge(bytes: &[u8], out: &mut Vec<u8>) -> usize {
    let m = Message::parse(bytes).expect("scan");
    // As the edge pops its own Route (edge::routes): walk the Route values once, parse
    // the first, and delete its line (or, when the line goes on, the value and its comma).
    let mut routes = m.all(HeaderName::Route);
    let top = routes.next();
    let ours = top.is_some_and(|r| {
        sipscan::views::addr::parse_name_addr(r.bytes)
            .is_ok_and(|na| na.uri.sip().is_some_and(|u| u.lr()))
    });
    let mut ed = Editor::new(&m);
    ed.insert_first(HeaderName::Via, OUR_VIA);
    if m.method() == Some(Method::Register) {
        ed.insert_first(HeaderName::Path, OUR_PATH);
    } else {
        ed.insert_first(HeaderName::RecordRoute, OUR_RR);
    }
    if let (true, Some(top)) = (ours, top) {
        match routes.next() {
            Some(next) if next.header == top.header => ed.remove_span(sipscan::Span {
                start: top.span.start,
                end: next.span.start,
            }),
            _ => ed.remove(top.header).expect("route line"),
        }
    }
    ed.decrement_max_forwards().expect("max-forwards");
    out.clear();
    ed.write_into(out).expect("write")
}

fn main() {
    let mut files = Vec::new();
    let mut n: u64 = 1_000_000;
    let mut edge_job = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--edge" {
            edge_job = true;
        } else if a == "--iterations" {
            n = args
                .next()
                .and_then(|s| s.parse().ok())
                .expect("--iterations N");
        } else {
            files.push(a);
        }
    }
    assert!(
        !files.is_empty(),
        "usage: scanloop <message file>... [--iterations N] [--edge]"
    );
    let mut out = Vec::with_capacity(4096);
    for path in files {
        let bytes = std::fs::read(&path).expect("read message");
        let mut best = f64::MAX;
        let mut acc = 0usize;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for _ in 0..n {
                acc += if edge_job {
                    edge(black_box(&bytes), &mut out)
                } else {
                    index(black_box(&bytes))
                };
            }
            best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
        }
        println!(
            "{path}: {best:.1} ns/{}, best of 5 ({} kernel, {acc})",
            if edge_job { "edge job" } else { "parse" },
            sipscan::arch::selected().name
        );
    }
}
