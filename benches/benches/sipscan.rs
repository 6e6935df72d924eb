//! sipscan vs general-purpose Rust SIP parsers on a ~900-byte WebRTC INVITE and a
//! ~575-byte REGISTER from the JsSIP trace (see benches/data/sipscan/README.md).
//!
//! Group `sipscan`, ids `<function>/<message>`:
//! - `sipscan_index`: scan + header index (start line, every header, body, Content-Length).
//! - `sipscan_edge`: the edge's whole job on the message: scan, read the top Route,
//!   push our Via, add Record-Route (INVITE) / Path (REGISTER), pop our Route,
//!   decrement Max-Forwards, write the new message into a reused buffer.
//! - `rsip`: `rsip::SipMessage::try_from(&[u8])`.
//! - `ezk_sip_types`: ezk's own message-head pipeline (PullParser lines, MessageLine and
//!   header Line parse, insert into `Headers`), over a zero-copy `Bytes`.
//! - `kernel_lf_count`: the selected SIMD kernel counting line feeds of the whole message.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

#[path = "../../crates/sipscan/examples/common/edge_job.rs"]
mod edge_job;

const INVITE: &[u8] = include_bytes!("../data/sipscan/invite.sip");
const REGISTER: &[u8] = include_bytes!("../data/sipscan/register.sip");

fn sipscan_index(bytes: &[u8]) -> usize {
    let m = sipscan::Message::parse(bytes).expect("scan");
    m.header_count() + m.body().len()
}

fn sipscan_edge(bytes: &[u8], out: &mut Vec<u8>) -> usize {
    edge_job::edge(bytes, out)
}

fn rsip_parse(bytes: &[u8]) -> usize {
    use rsip::message::HasHeaders;
    let m = rsip::SipMessage::try_from(bytes).expect("rsip");
    m.headers().iter().count()
}

fn ezk_parse(src: &ezk_sip_types::_private_reexport::Bytes) -> usize {
    use ezk_sip_types::Headers;
    use ezk_sip_types::msg::{Line, MessageLine, PullParser};
    use ezk_sip_types::parse::Parse;
    let mut p = PullParser::new(src, 0);
    let first = p.next().expect("line").expect("complete");
    let first = std::str::from_utf8(first).expect("utf8");
    let (_, line) = MessageLine::parse(src)(first).expect("start line");
    let mut headers = Headers::with_capacity(16);
    for l in &mut p {
        let l = std::str::from_utf8(l.expect("complete")).expect("utf8");
        let (_, Line { name, value }) = Line::parse(src, l).expect("header");
        headers.insert(name, value);
    }
    black_box(line.is_request());
    p.head_end()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sipscan");
    let mut out = Vec::with_capacity(4096);
    for (name, bytes) in [("INVITE", INVITE), ("REGISTER", REGISTER)] {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::new("sipscan_index", name), bytes, |b, m| {
            b.iter(|| sipscan_index(black_box(m)))
        });
        g.bench_with_input(BenchmarkId::new("sipscan_edge", name), bytes, |b, m| {
            b.iter(|| sipscan_edge(black_box(m), &mut out))
        });
        g.bench_with_input(BenchmarkId::new("rsip", name), bytes, |b, m| {
            b.iter(|| rsip_parse(black_box(m)))
        });
        let src = ezk_sip_types::_private_reexport::Bytes::from_static(bytes);
        g.bench_with_input(BenchmarkId::new("ezk_sip_types", name), &src, |b, s| {
            b.iter(|| ezk_parse(black_box(s)))
        });
        g.bench_with_input(BenchmarkId::new("kernel_lf_count", name), bytes, |b, m| {
            b.iter(|| sipscan::count_line_feeds(black_box(m)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
