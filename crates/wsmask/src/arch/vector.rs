//! The pieces every vector kernel shares, written once over a [`Vector`] of bytes: the
//! unrolled load/xor/store steps, the byte tail, and the whole "unmask and prove all ASCII"
//! kernel that SSE2 (no byte shuffle) and NEON build with [`ascii_kernels!`].
//!
//! Everything here is `#[inline(always)]` and carries no target features of its own: it is
//! inlined into the `#[target_feature]` kernel that calls it and compiles to that kernel's
//! instructions, with the `const` parameters folded away.

/// One SIMD register of bytes with the operations the unmasking kernels share, each one
/// instruction (implemented per ISA in `x86_64` and `aarch64`).
///
/// # Safety
/// Every method may only run on a CPU with the implementing type's features (in practice:
/// inlined into a kernel that enables them). Loads and stores need `LANE` valid bytes at the
/// pointer; [`Vector::store_aligned`] also needs a `LANE`-aligned pointer when
/// [`Vector::ALIGN_BODY`] is set.
pub(crate) trait Vector: Copy {
    /// Bytes in one register.
    const LANE: usize;
    /// Whether the kernels align the destination of their body: x86-64 has aligned stores
    /// (and pays for stores that straddle cache lines); NEON stores have no aligned form.
    const ALIGN_BODY: bool;
    /// The rotated key word (see [`crate::key::rotated_key_word`]) in every 32-bit lane.
    unsafe fn splat(key: u32) -> Self;
    /// Unaligned load.
    unsafe fn load(p: *const u8) -> Self;
    /// Aligned store where the ISA has one (see [`Vector::ALIGN_BODY`]).
    unsafe fn store_aligned(self, p: *mut u8);
    /// Unaligned store.
    unsafe fn store(self, p: *mut u8);
    /// Bitwise XOR.
    unsafe fn xor(self, other: Self) -> Self;
    /// Bitwise OR.
    unsafe fn or(self, other: Self) -> Self;
    /// Whether no byte has its high bit set.
    unsafe fn is_ascii(self) -> bool;
}

/// Byte-at-a-time XOR for heads and tails shorter than one vector.
///
/// # Safety
/// `src` is valid for `n` reads and `dst` for `n` writes; same pointer or no overlap.
#[inline(always)]
pub(crate) unsafe fn xor_bytes(src: *const u8, dst: *mut u8, n: usize, key: u32) {
    let k = key.to_ne_bytes();
    for j in 0..n {
        // SAFETY: `j < n`, in bounds by the contract.
        unsafe { *dst.add(j) = *src.add(j) ^ k[j & 3] };
    }
}

/// Unmask the vector at `src + at` with `kv`, store it at `dst + at` when `STORE` (aligned
/// when `ALIGNED`), and return it.
///
/// # Safety
/// `V`'s features are present; `LANE` bytes at `src + at` are readable and, when `STORE`,
/// writable at `dst + at` (`LANE`-aligned when `ALIGNED`); when `STORE` is false `dst` is
/// not used.
#[inline(always)]
pub(crate) unsafe fn xor_one<V: Vector, const STORE: bool, const ALIGNED: bool>(
    src: *const u8,
    dst: *mut u8,
    at: usize,
    kv: V,
) -> V {
    // SAFETY: as per our contract.
    unsafe {
        let v = V::load(src.add(at)).xor(kv);
        if STORE && ALIGNED {
            v.store_aligned(dst.add(at));
        } else if STORE {
            v.store(dst.add(at));
        }
        v
    }
}

/// Unmask the four vectors at `src + at` with `kv`, all loaded before anything is stored (so
/// `src == dst` is fine), store them at `dst + at` when `STORE`, and return them.
///
/// # Safety
/// `V`'s features are present; `4 * LANE` bytes at `src + at` are readable and, when
/// `STORE`, writable at `dst + at`, which is `LANE`-aligned when [`Vector::ALIGN_BODY`];
/// when `STORE` is false `dst` is not used.
#[inline(always)]
pub(crate) unsafe fn xor_four<V: Vector, const STORE: bool>(
    src: *const u8,
    dst: *mut u8,
    at: usize,
    kv: V,
) -> [V; 4] {
    // SAFETY: as per our contract.
    unsafe {
        let s = src.add(at);
        let v = [
            V::load(s).xor(kv),
            V::load(s.add(V::LANE)).xor(kv),
            V::load(s.add(2 * V::LANE)).xor(kv),
            V::load(s.add(3 * V::LANE)).xor(kv),
        ];
        if STORE {
            let d = dst.add(at);
            v[0].store_aligned(d);
            v[1].store_aligned(d.add(V::LANE));
            v[2].store_aligned(d.add(2 * V::LANE));
            v[3].store_aligned(d.add(3 * V::LANE));
        }
        v
    }
}

/// XOR `len` bytes from `src` into `dst` (stored when `STORE`) with the rotated key word
/// `key`: a byte head up to a `LANE`-aligned destination (when [`Vector::ALIGN_BODY`]),
/// 4 × `LANE` steps, then (when storing) `LANE` steps and a byte tail.
///
/// Returns, when `CHECK_ASCII`, the length of the all-ASCII prefix (the head, then whole
/// 4 × `LANE` steps, tested while the unmasked bytes are in registers); else 0. Without
/// `STORE` it stops at the first non-ASCII step.
///
/// # Safety
/// `V`'s features are present; `src` is valid for `len` reads and `dst` for `len` writes
/// (unless `STORE` is false, when `dst` is not used); `src` and `dst` are either the same
/// pointer or the ranges do not overlap.
#[inline(always)]
pub(crate) unsafe fn xor_ascii<V: Vector, const STORE: bool, const CHECK_ASCII: bool>(
    src: *const u8,
    dst: *mut u8,
    len: usize,
    key: u32,
) -> usize {
    let anchor = if STORE { dst as usize } else { src as usize };
    let misalign = anchor & (V::LANE - 1);
    let head = if !V::ALIGN_BODY || misalign == 0 {
        0
    } else {
        (V::LANE - misalign).min(len)
    };
    let mut ascii = CHECK_ASCII;
    let mut ascii_upto = 0;
    if STORE {
        // SAFETY: `head <= len` bytes, in bounds of both ranges.
        unsafe { xor_bytes(src, dst, head, key) };
    }
    if CHECK_ASCII && head != 0 {
        let source: *const u8 = if STORE { dst } else { src };
        // SAFETY: the `head` bytes just written (or read) are in bounds.
        ascii = unsafe { core::slice::from_raw_parts(source, head) }.is_ascii();
        if ascii {
            ascii_upto = head;
        }
    }
    let mut i = head;
    let k = crate::key::advance(key, head);
    // SAFETY: `V`'s features are present.
    let kv = unsafe { V::splat(k) };
    while len - i >= 4 * V::LANE {
        // SAFETY: `i + 4 LANE <= len`; `dst + i` is aligned after the head when it has to be.
        let [a, b, c, e] = unsafe { xor_four::<V, STORE>(src, dst, i, kv) };
        i += 4 * V::LANE;
        if ascii {
            // SAFETY: `V`'s features are present.
            if unsafe { a.or(b).or(c.or(e)).is_ascii() } {
                ascii_upto = i;
            } else {
                ascii = false;
                if !STORE {
                    return ascii_upto;
                }
            }
        }
    }
    if STORE {
        while len - i >= V::LANE {
            // SAFETY: `i + LANE <= len`; `dst + i` is aligned as above.
            unsafe { xor_one::<V, true, true>(src, dst, i, kv) };
            i += V::LANE;
        }
        // SAFETY: the remaining `len - i < LANE` bytes are in bounds.
        unsafe { xor_bytes(src.add(i), dst.add(i), len - i, k) };
    }
    ascii_upto
}

/// Declares a fused kernel: `xor_validate::<STORE>`, with the signature every
/// [`FusedKernel`](crate::arch::FusedKernel) shares, compiled for the target features
/// `$features`, its body `$body` run with the arguments bound to the four names given.
///
/// The contract of every fused kernel (its `# Safety`): the CPU has the features; `src` is
/// valid for `len` reads and, when `STORE`, `dst` for `len` writes (without `STORE` `dst` is
/// not used); `src` and `dst` are either the same pointer or the ranges do not overlap. It
/// XORs the `len` bytes with the rotated key word `key` (storing them when `STORE`) and
/// returns what it proved about the unmasked bytes ([`Proof`](crate::arch::Proof)).
macro_rules! fused_kernel_fn {
    ($features:literal, |$src:ident, $dst:ident, $len:ident, $key:ident| $body:expr) => {
        /// Fused XOR (+ store when `STORE`) and UTF-8 check; see
        /// [`crate::arch::vector::fused_kernel_fn`].
        ///
        /// # Safety
        /// See [`crate::arch::vector::fused_kernel_fn`].
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn xor_validate<const STORE: bool>(
            $src: *const u8,
            $dst: *mut u8,
            $len: usize,
            $key: u32,
        ) -> crate::arch::Proof {
            $body
        }
    };
}

/// The two kernels of an ISA that can only prove "all ASCII" (see [`xor_ascii`]): `xor` and
/// `xor_validate`, built for the target features `$features` over the vector type `$vector`.
/// The proof of `xor_validate` is the all-ASCII prefix, "validated" in the sense of the lookup
/// kernels; the caller validates the rest.
macro_rules! ascii_kernels {
    ($features:literal, $vector:ty) => {
        /// XOR `len` bytes from `src` into `dst` with the rotated key word `key`.
        ///
        /// # Safety
        /// See [`crate::arch::vector::xor_ascii`], with `STORE`.
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn xor(src: *const u8, dst: *mut u8, len: usize, key: u32) {
            // SAFETY: the features are enabled here; the rest is our contract.
            unsafe { crate::arch::vector::xor_ascii::<$vector, true, false>(src, dst, len, key) };
        }

        crate::arch::vector::fused_kernel_fn!($features, |src, dst, len, key| {
            crate::arch::Proof {
                // SAFETY: the features are enabled here; the rest is our contract.
                proven: unsafe {
                    crate::arch::vector::xor_ascii::<$vector, STORE, true>(src, dst, len, key)
                },
                ends_complete: false,
            }
        });
    };
}

pub(crate) use {ascii_kernels, fused_kernel_fn};
