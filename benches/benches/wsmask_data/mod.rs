//! Inputs shared by the wsmask benches: aligned buffers, the byte pattern, SIP text from the
//! JsSIP / SIP.js traces, and the "careful C" baseline loop.

use std::path::PathBuf;

pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A buffer whose bytes start `shift` bytes past a 64-byte boundary.
pub struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    pub fn new(data: &[u8], shift: usize) -> Self {
        let mut storage = vec![0u8; data.len() + 128];
        let start = (64 - storage.as_ptr() as usize % 64) % 64 + shift;
        storage[start..start + data.len()].copy_from_slice(data);
        Self {
            storage,
            start,
            len: data.len(),
        }
    }

    pub fn bytes(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }

    pub fn view(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

/// The "careful C" baseline: XOR 8 bytes at a time with a doubled key, bytes for the tail.
pub fn u64_word_unmask(buf: &mut [u8], key: [u8; 4]) {
    let k = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        let v = u64::from_ne_bytes(w.try_into().expect("8-byte chunk")) ^ k;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + 7) as u8).collect()
}

/// `../shared/data/traces/` beside the repository root (CI clones main with shared/ beside it).
/// The JsSIP / SIP.js traces: `shared/` beside the checkout, or the copies the edge tests keep in the repository.
fn traces_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../../shared/data/traces");
    if shared.is_dir() {
        shared
    } else {
        root.join("../crates/edge/tests/data/traces")
    }
}

/// Each WebSocket message of a trace file: the lines after a `--- >>> send` / `--- <<< recv`
/// line up to the next `---` or `===` line, minus the one newline the trace adds after it.
fn trace_messages(text: &str) -> Vec<String> {
    let mut messages = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with("--- ") || line.starts_with("=== ") {
            messages.extend(current.take());
            if line.starts_with("--- ") {
                current = Some(String::new());
            }
        } else if let Some(m) = current.as_mut() {
            m.push_str(line);
        }
    }
    messages.extend(current);
    for m in &mut messages {
        if m.ends_with('\n') {
            m.pop();
        }
    }
    messages.retain(|m| !m.is_empty());
    messages
}

/// All messages of all traces in order, starting from the first one with a UTF-8 (non-ASCII)
/// body — the chat MESSAGE — so that every size includes non-ASCII text, as SIP chat does.
pub fn sip_corpus() -> Vec<u8> {
    let dir = traces_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut messages = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        messages.extend(trace_messages(&text));
    }
    assert!(
        messages.len() > 10,
        "too few SIP messages in {}",
        dir.display()
    );
    let first_utf8 = messages.iter().position(|m| !m.is_ascii()).unwrap_or(0);
    messages.rotate_left(first_utf8);
    messages.concat().into_bytes()
}

/// `size` bytes of the corpus (repeated as needed), cut at a code point boundary and padded
/// with spaces, so the sample is valid UTF-8.
pub fn sip_sample(corpus: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + corpus.len());
    while out.len() < size {
        out.extend_from_slice(corpus);
    }
    let mut cut = size;
    while cut > 0 && (out[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    out.truncate(cut);
    out.resize(size, b' ');
    assert!(std::str::from_utf8(&out).is_ok());
    out
}
