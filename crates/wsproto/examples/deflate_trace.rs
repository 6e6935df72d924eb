//! permessage-deflate on recorded browser SIP traffic: the bytes each policy puts on the wire, per kind of
//! message, what a connection keeps between messages, and the CPU per message, through wsproto's own codec.
//!
//!   cargo run --release -p wsproto --example deflate_trace -- TRACE...
//!
//! A trace is the text the browser tests record (`--- >>> send ... N B` / `--- <<< recv ...` then the message):
//! `>>>` is what the browser sent (compressed by the browser, inflated by the edge), `<<<` what it received
//! (compressed by the edge). Each policy compresses every message as RFC 7692 allows it to, and each message is
//! inflated again and compared, so a policy that broke the stream would stop the run.

use std::time::Instant;

use wsproto::deflate::{Compressor, Context, Decompressor, PACK_LEVEL};

/// How both directions of one connection are compressed.
#[derive(Clone, Copy)]
struct Policy {
    name: &'static str,
    /// Browser to edge: the browser's window bits, and whether it keeps its window (the edge then keeps
    /// 2^bits bytes).
    up: (u8, bool),
    /// Edge to browser: bytes of what was sent kept and compressed against (0: none; `usize::MAX`: a whole
    /// zlib compressor per connection).
    down_keep: usize,
    /// The edge's compression level (the browser's is 6, zlib's default).
    level: u8,
}

const POLICIES: [Policy; 8] = [
    Policy {
        name: "no context either way",
        up: (15, false),
        down_keep: 0,
        level: 6,
    },
    Policy {
        name: "512 B toward the browser, level 1",
        up: (15, false),
        down_keep: 512,
        level: 1,
    },
    Policy {
        name: "512 B down, browser keeps 1 KiB, level 1",
        up: (10, true),
        down_keep: 512,
        level: 1,
    },
    Policy {
        name: "4 KiB down, browser keeps 1 KiB, level 6",
        up: (10, true),
        down_keep: 4096,
        level: 6,
    },
    Policy {
        name: "default: 4 KiB down, browser keeps 2 KiB",
        up: (11, true),
        down_keep: 4096,
        level: 6,
    },
    Policy {
        name: "the same at level 1",
        up: (11, true),
        down_keep: 4096,
        level: 1,
    },
    Policy {
        name: "8 KiB down, browser keeps 4 KiB, level 6",
        up: (12, true),
        down_keep: 8192,
        level: 6,
    },
    Policy {
        name: "zlib state per connection (32 KiB windows)",
        up: (15, true),
        down_keep: usize::MAX,
        level: 6,
    },
];

/// The connections of a trace (each starts with a `=== ws` line), each its messages: (sent by the browser,
/// message).
fn connections(text: &str) -> Vec<Vec<(bool, &str)>> {
    text.split("\n=== ws")
        .skip(1)
        .map(|conn| {
            conn.split("\n--- ")
                .skip(1)
                .filter_map(|m| m.split_once('\n'))
                .map(|(head, body)| (head.starts_with(">>>"), body))
                .collect()
        })
        .collect()
}

/// A message's kind for the table: its method, or its response class with the method it answers.
fn kind(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or_default();
    let cseq = msg
        .lines()
        .find_map(|l| l.strip_prefix("CSeq:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .unwrap_or("?");
    match first.strip_prefix("SIP/2.0 ") {
        Some(status) => format!("{}xx {cseq}", &status[..1]),
        None => first.split(' ').next().unwrap_or("?").to_owned(),
    }
}

/// One direction of one connection under a policy.
struct Direction {
    compressor: Compressor,
    decompressor: Decompressor,
    /// The connection's kept bytes (policies that keep plain bytes).
    window: Vec<u8>,
    keep: usize,
    own_state: bool,
}

impl Direction {
    fn new(bits: u8, level: u8, keep: usize, own_state: bool) -> Self {
        Self {
            compressor: Compressor::new(bits, level, own_state),
            decompressor: Decompressor::new(bits, own_state || keep > 0),
            window: Vec::new(),
            keep,
            own_state,
        }
    }

    /// Compressed size of `msg`, checked by inflating it as the peer would.
    fn send(&mut self, msg: &[u8]) -> usize {
        let mut wire = Vec::new();
        if self.keep > 0 && !self.own_state {
            self.compressor
                .compress_after(&mut self.window, self.keep, msg, &mut wire);
        } else {
            self.compressor.compress(msg, &mut wire);
        }
        let inflated = self.decompressor.decompress(&wire, 1 << 20);
        assert_eq!(inflated, Ok(msg), "the peer reads what was sent");
        wire.len()
    }
}

/// The edge's side of a browser that keeps its window: a shared decompressor lent the connection's bytes.
fn up_with_lent_window(
    browser: &mut Compressor,
    shared: &mut Decompressor,
    window: &mut Vec<u8>,
    bits: u8,
    msg: &[u8],
) -> usize {
    let mut wire = Vec::new();
    browser.compress(msg, &mut wire);
    shared.lend_window(std::mem::take(window), 1 << bits);
    assert_eq!(
        shared.decompress(&wire, 1 << 20),
        Ok(msg),
        "the edge reads the browser"
    );
    *window = shared.return_window();
    wire.len()
}

fn run(policy: Policy, trace: &[(bool, &str)]) -> Vec<(String, usize, usize)> {
    let (bits, keeps) = policy.up;
    let whole = policy.down_keep == usize::MAX;
    let keep = if whole { 0 } else { policy.down_keep };
    let mut down = Direction::new(15, policy.level, keep, whole);
    let mut browser = Compressor::new(bits, 6, keeps);
    let mut up_plain = Direction::new(bits, 6, 0, false);
    let mut shared = Decompressor::new(bits, false);
    let mut window = Vec::new();
    let mut rows = Vec::new();
    for &(sent_by_browser, msg) in trace {
        let wire = match (sent_by_browser, keeps) {
            (true, true) if !whole => {
                up_with_lent_window(&mut browser, &mut shared, &mut window, bits, msg.as_bytes())
            }
            (true, true) => {
                let mut w = Vec::new();
                browser.compress(msg.as_bytes(), &mut w);
                w.len()
            }
            (true, false) => up_plain.send(msg.as_bytes()),
            (false, _) => down.send(msg.as_bytes()),
        };
        rows.push((kind(msg), msg.len(), wire));
    }
    rows
}

/// Microseconds per message to pack a connection's 4 KiB context as the edge keeps it between messages, and to
/// unpack it for the next, best of 20 passes (the edge also packs against a dictionary of common SIP text, which
/// this leaves out); and the packed size over the plain one.
fn pack_per_message(trace: &[(bool, &str)]) -> (f64, f64, f64) {
    let mut windows = Vec::new();
    let mut window: Vec<u8> = Vec::new();
    for (_, msg) in trace {
        window.extend_from_slice(msg.as_bytes());
        window.drain(..window.len().saturating_sub(4096));
        windows.push(window.clone());
    }
    let mut best = (f64::MAX, f64::MAX, 0.0);
    for _ in 0..20 {
        let (mut packer, mut unpacker) = (
            Compressor::new(15, PACK_LEVEL, false),
            Decompressor::new(15, false),
        );
        let (mut scratch, mut plain) = (Vec::new(), Vec::new());
        let mut contexts = vec![Context::default(); windows.len()];
        let t = Instant::now();
        for (c, w) in contexts.iter_mut().zip(&windows) {
            c.put(w, &mut packer, b"", &mut scratch);
        }
        let pack = t.elapsed().as_secs_f64() * 1e6 / windows.len() as f64;
        let packed: usize = contexts.iter().map(Context::heap_bytes).sum();
        let t = Instant::now();
        for c in &mut contexts {
            c.take(&mut unpacker, b"", 4096, &mut plain);
        }
        let unpack = t.elapsed().as_secs_f64() * 1e6 / windows.len() as f64;
        let total: usize = windows.iter().map(Vec::len).sum();
        best = (
            best.0.min(pack),
            best.1.min(unpack),
            packed as f64 / total as f64,
        );
    }
    best
}

/// Microseconds per message to compress it as the edge does by default (at `level`, 4 KiB of context) and
/// inflate it, best of 20 passes.
fn cpu_per_message(trace: &[(bool, &str)], level: u8) -> (f64, f64, f64) {
    let mut best = (f64::MAX, f64::MAX, 0.0);
    for _ in 0..20 {
        let mut c = Compressor::new(15, level, false);
        let mut d = Decompressor::new(15, false);
        let mut window = Vec::new();
        let mut wires = Vec::with_capacity(trace.len());
        let t = Instant::now();
        for (_, msg) in trace {
            let mut wire = Vec::new();
            c.compress_after(&mut window, 4096, msg.as_bytes(), &mut wire);
            wires.push(wire);
        }
        let compress = t.elapsed().as_secs_f64() * 1e6 / trace.len() as f64;
        let t = Instant::now();
        for wire in &wires {
            let _ = d.decompress(wire, 1 << 20).map(<[u8]>::len);
        }
        let inflate = t.elapsed().as_secs_f64() * 1e6 / trace.len() as f64;
        let plain: usize = trace.iter().map(|(_, m)| m.len()).sum();
        let ratio = plain as f64 / wires.iter().map(Vec::len).sum::<usize>() as f64;
        best = (best.0.min(compress), best.1.min(inflate), ratio);
    }
    best
}

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: deflate_trace TRACE...");
        std::process::exit(2);
    }
    let texts: Vec<String> = paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect();
    for (path, text) in paths.iter().zip(&texts) {
        let conns = connections(text);
        let trace: Vec<(bool, &str)> = conns.iter().flatten().copied().collect();
        println!(
            "{path}: {} connections, {} messages, {} bytes",
            conns.len(),
            trace.len(),
            trace.iter().map(|(_, m)| m.len()).sum::<usize>()
        );
        for policy in POLICIES {
            let rows: Vec<_> = conns.iter().flat_map(|c| run(policy, c)).collect();
            let total = |f: &dyn Fn(&str) -> bool| {
                rows.iter()
                    .filter(|(k, _, _)| f(k))
                    .fold((0, 0), |(p, w), (_, pl, wi)| (p + pl, w + wi))
            };
            let ratio = |(p, w): (usize, usize)| if w == 0 { 0.0 } else { p as f64 / w as f64 };
            let setup = total(&|k| k == "INVITE" || k == "ACK" || k.ends_with(" INVITE"));
            let mut line = format!(
                "  {:44} all {:.2}x  call setup {:.2}x ({} -> {} B)",
                policy.name,
                ratio(total(&|_| true)),
                ratio(setup),
                setup.0,
                setup.1
            );
            for k in ["REGISTER", "MESSAGE", "INVITE"] {
                let t = total(&|x| x == k);
                line.push_str(&format!("  {k} {:.2}x", ratio(t)));
            }
            println!("{line}");
        }
        let (pack, unpack, size) = pack_per_message(&trace);
        println!(
            "  a 4 KiB context packed at level {PACK_LEVEL}: pack {pack:.1} us, unpack {unpack:.1} us, {:.0}% of its size",
            size * 100.0
        );
        for level in [1, 2, 3, 4, 6, 9] {
            let (c, d, r) = cpu_per_message(&trace, level);
            println!(
                "  level {level}, 4 KiB of context, every message: {r:.2}x, compress {c:.1} us, inflate {d:.1} us"
            );
        }
    }
}
