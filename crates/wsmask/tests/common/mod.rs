//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Write;

use wsmask::Implementation;

/// RFC 6455 §5.3, byte by byte: the definition every implementation is checked against.
pub fn reference_unmask(data: &[u8], key: [u8; 4], offset: usize) -> Vec<u8> {
    data.iter()
        .enumerate()
        .map(|(i, b)| b ^ key[(offset + i) % 4])
        .collect()
}

/// Report straight to stderr (not captured by the test harness) so the output says which
/// paths ran.
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Run `f` when the CPU has `imp` and say that it ran; otherwise say it was skipped and why,
/// so that a missing CPU feature never passes in silence.
pub fn on(imp: Implementation, what: &str, f: impl FnOnce()) {
    if imp.is_available() {
        f();
        report(&format!("wsmask: {what}: ran the {imp} path"));
    } else {
        report(&format!(
            "wsmask: {what}: skipped: {imp} not available on this {} CPU",
            std::env::consts::ARCH
        ));
    }
}

/// A 64-byte aligned buffer with `data` starting `shift` bytes after the aligned start.
pub struct Shifted {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl Shifted {
    pub fn new(data: &[u8], shift: usize) -> Self {
        let mut storage = vec![0xAAu8; data.len() + shift + 128];
        let base = storage.as_ptr() as usize;
        let start = (64 - base % 64) % 64 + shift;
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

    /// The guard bytes around the data must never change.
    pub fn guards_intact(&self) -> bool {
        self.storage[..self.start].iter().all(|&b| b == 0xAA)
            && self.storage[self.start + self.len..]
                .iter()
                .all(|&b| b == 0xAA)
    }
}
