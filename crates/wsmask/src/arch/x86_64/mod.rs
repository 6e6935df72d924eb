//! x86-64 kernels: AVX-512 (F + BW; the fused UTF-8 kernel also built for F + BW + VBMI), AVX2 and
//! the SSE2 baseline.

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod avx512_utf8;
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
    // x86-64 is little-endian: the key word's low byte is the next key byte.
    let mut k = key;
    let mut i = 0;
    if n & 2 != 0 {
        // SAFETY: `n >= 2`, so bytes 0 and 1 are in bounds.
        unsafe {
            let v = src.cast::<u16>().read_unaligned();
            dst.cast::<u16>().write_unaligned(v ^ k as u16);
        }
        k >>= 16;
        i = 2;
    }
    if n & 1 != 0 {
        // SAFETY: `i < n`.
        unsafe { *dst.add(i) = *src.add(i) ^ k as u8 };
    }
}

/// Fewer than 64 bytes, inlined into the caller (no call, no dispatch): 16-byte SSE2 steps
/// (SSE2 is part of x86-64), then 8, 4, 2 and 1 bytes, each byte stored once.
///
/// # Safety
/// `len < 64`; `src` is valid for `len` reads and `dst` for `len` writes; same pointer or no
/// overlap.
#[cfg(target_feature = "sse2")]
#[inline(always)]
pub(crate) unsafe fn xor_under_64(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    use core::arch::x86_64::{_mm_loadu_si128, _mm_set1_epi32, _mm_storeu_si128, _mm_xor_si128};
    // SAFETY: SSE2 is enabled for the whole build (the `cfg` above).
    let kv = unsafe { _mm_set1_epi32(key as i32) };
    let mut i = 0;
    while len - i >= 16 {
        // SAFETY: SSE2 as above; 16 bytes at `i` are in bounds; loaded before stored.
        unsafe {
            let v = _mm_loadu_si128(src.add(i).cast());
            _mm_storeu_si128(dst.add(i).cast(), _mm_xor_si128(v, kv));
        }
        i += 16;
    }
    if len & 8 != 0 {
        let k = (u64::from(key) << 32) | u64::from(key);
        // SAFETY: `len - i < 16` with bit 3 set: 8 bytes at `i` are in bounds.
        unsafe {
            let v = src.add(i).cast::<u64>().read_unaligned();
            dst.add(i).cast::<u64>().write_unaligned(v ^ k);
        }
        i += 8;
    }
    if len & 4 != 0 {
        // SAFETY: 4 bytes at `i` are in bounds (as above).
        unsafe {
            let v = src.add(i).cast::<u32>().read_unaligned();
            dst.add(i).cast::<u32>().write_unaligned(v ^ key);
        }
        i += 4;
    }
    // SAFETY: the last `len & 3` bytes at `i` are in bounds.
    unsafe { xor_last_bytes(src.add(i), dst.add(i), len & 3, key) };
}
