//! Line-feed search kernels: one 64-byte block in, one bit per `\n` out.
//!
//! The kernel is picked once per process (runtime CPU detection on x86-64, NEON is
//! baseline on aarch64) and cached; [`scalar`] is the reference every vector kernel is
//! property-tested against on all lengths and offsets.

use std::sync::OnceLock;

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
pub mod x86;

/// Bit `i` of the result is set when `block[i] == b'\n'`.
pub type LfMaskFn = fn(&[u8; 64]) -> u64;

/// Blocks of 64 bytes handled per [`LfMasksFn`] call (one indirect call per 512 bytes).
pub const BATCH: usize = 16;

/// `out[i]` gets the `\n` mask of the `i`-th 64-byte block of `bytes`; a short last
/// block is zero-padded, blocks past the end of `bytes` (or past `BATCH`) give 0.
pub type LfMasksFn = fn(&[u8], &mut [u64; BATCH]);

/// One selectable kernel.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    /// Short name: `avx512bw`, `avx2`, `sse2`, `neon` or `scalar`.
    pub name: &'static str,
    /// The block function.
    pub lf_mask: LfMaskFn,
    /// The batch function the scanner calls ([`lf_mask`](Self::lf_mask) on up to
    /// [`BATCH`] blocks, inlined).
    pub lf_masks: LfMasksFn,
}

/// The body of every [`LfMasksFn`]: `f` on each block of `bytes`, inlined into the
/// caller (which carries the kernel's target features).
#[inline(always)]
pub(crate) fn fill_masks(bytes: &[u8], out: &mut [u64; BATCH], f: impl Fn(&[u8; 64]) -> u64) {
    let bytes = bytes.get(..BATCH * 64).unwrap_or(bytes);
    let (blocks, tail) = bytes.as_chunks::<64>();
    let mut slots = out.iter_mut();
    for (b, o) in blocks.iter().zip(slots.by_ref()) {
        *o = f(b);
    }
    if let Some(o) = slots.next() {
        let last = bytes
            .len()
            .checked_sub(64)
            .and_then(|s| bytes.get(s..)?.first_chunk());
        *o = match last {
            _ if tail.is_empty() => 0,
            // The last 64 bytes end with the tail: keep the bits of the tail.
            Some(last) => f(last) >> (64 - tail.len()),
            None => {
                // Zero padding holds no `\n`.
                let mut pad = [0u8; 64];
                if let Some(p) = pad.get_mut(..tail.len()) {
                    p.copy_from_slice(tail);
                }
                f(&pad)
            }
        };
    }
    for o in slots {
        *o = 0;
    }
}

const SCALAR: Kernel = Kernel {
    name: "scalar",
    lf_mask: scalar::lf_mask,
    lf_masks: scalar::lf_masks,
};

static SELECTED: OnceLock<Kernel> = OnceLock::new();

/// Every kernel this CPU can run, best first; the last one is always `scalar`.
pub fn available() -> Vec<Kernel> {
    #[cfg(target_arch = "x86_64")]
    let mut v = {
        let mut v = Vec::with_capacity(4);
        x86::push_available(&mut v);
        v
    };
    #[cfg(target_arch = "aarch64")]
    let mut v = vec![Kernel {
        name: "neon",
        lf_mask: aarch64::lf_mask_neon,
        lf_masks: aarch64::lf_masks_neon,
    }];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let mut v = Vec::with_capacity(1);
    v.push(SCALAR);
    v
}

/// The kernel the scanner uses (detected once, then cached).
pub fn selected() -> Kernel {
    *SELECTED.get_or_init(|| available().into_iter().next().unwrap_or(SCALAR))
}
