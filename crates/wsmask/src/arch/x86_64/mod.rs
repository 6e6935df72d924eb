//! x86-64 kernels: AVX-512 (F + BW), AVX2 and the SSE2 baseline.

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod sse2;

/// Byte-at-a-time XOR for heads and tails shorter than one vector.
///
/// # Safety
/// `src` is valid for `n` reads and `dst` for `n` writes; same pointer or no overlap.
#[inline]
pub(crate) unsafe fn xor_bytes(src: *const u8, dst: *mut u8, n: usize, key: u32) {
    let k = key.to_ne_bytes();
    for j in 0..n {
        // SAFETY: `j < n`, in bounds by the contract.
        unsafe { *dst.add(j) = *src.add(j) ^ k[j & 3] };
    }
}
