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

/// One selectable kernel.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    /// Short name: `avx512bw`, `avx2`, `sse2`, `neon` or `scalar`.
    pub name: &'static str,
    /// The block function.
    pub lf_mask: LfMaskFn,
}

static SELECTED: OnceLock<Kernel> = OnceLock::new();

/// Every kernel this CPU can run, best first; the last one is always `scalar`.
pub fn available() -> Vec<Kernel> {
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    x86::push_available(&mut v);
    #[cfg(target_arch = "aarch64")]
    v.push(Kernel {
        name: "neon",
        lf_mask: aarch64::lf_mask_neon,
    });
    v.push(Kernel {
        name: "scalar",
        lf_mask: scalar::lf_mask,
    });
    v
}

/// The kernel the scanner uses (detected once, then cached).
pub fn selected() -> Kernel {
    *SELECTED.get_or_init(|| {
        available().into_iter().next().unwrap_or(Kernel {
            name: "scalar",
            lf_mask: scalar::lf_mask,
        })
    })
}

/// Mask of `\n` positions in `bytes` (at most 64 of them), computed with `f`.
#[inline]
pub fn lf_mask_partial(f: LfMaskFn, bytes: &[u8]) -> u64 {
    let mut block = [0u8; 64];
    let n = bytes.len().min(64);
    block[..n].copy_from_slice(&bytes[..n]);
    let m = f(&block);
    if n == 64 { m } else { m & ((1u64 << n) - 1) }
}
