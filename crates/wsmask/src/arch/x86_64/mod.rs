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

/// The last `n < 4` bytes of a run that starts at key phase `key` (2 bytes, then 1).
///
/// # Safety
/// `n < 4`; `src` is valid for `n` reads and `dst` for `n` writes; same pointer or no overlap.
#[inline]
pub(crate) unsafe fn xor_last_bytes(src: *const u8, dst: *mut u8, n: usize, key: u32) {
    let k = key.to_ne_bytes();
    let mut i = 0;
    if n & 2 != 0 {
        let k2 = u16::from_ne_bytes([k[0], k[1]]);
        // SAFETY: `n >= 2`, so bytes 0 and 1 are in bounds.
        unsafe {
            let v = src.cast::<u16>().read_unaligned();
            dst.cast::<u16>().write_unaligned(v ^ k2);
        }
        i = 2;
    }
    if n & 1 != 0 {
        // SAFETY: `i < n`.
        unsafe { *dst.add(i) = *src.add(i) ^ k[i] };
    }
}
