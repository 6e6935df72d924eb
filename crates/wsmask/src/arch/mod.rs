//! The only home of `unsafe`: the per-architecture kernels and the dispatcher that calls them.
//!
//! A [`Detected`] value is the proof that its implementation's CPU features are present: it is
//! only built after runtime detection (cached once in an atomic) or when the features are
//! enabled at compile time, which lets the safe dispatch functions call the
//! `#[target_feature]` kernels.

#[cfg(target_arch = "aarch64")]
pub(crate) mod aarch64;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod vector;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;

use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

use crate::Implementation;
use crate::key::rotated_key_word;
use crate::scalar;

/// What a fused kernel proved about the bytes it unmasked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Proof {
    /// `buf[..proven]` holds no invalid byte, except possibly a code point cut off at `proven`
    /// (0 = nothing proven: an error was seen, or the kernel cannot validate).
    pub(crate) proven: usize,
    /// When `proven` is the whole input: it also ends on a code point boundary.
    pub(crate) ends_complete: bool,
}

impl Proof {
    pub(crate) const NONE: Proof = Proof {
        proven: 0,
        ends_complete: false,
    };
}

/// The raw arguments of one kernel call, taken from slices: `src` is valid for `len` reads and
/// `dst` for `len` writes while the borrow `'a` lasts, and they are either the same pointer (in
/// place) or do not overlap (a shared and a mutable slice); `key` is the rotated key word (see
/// [`rotated_key_word`]).
struct Args<'a> {
    src: *const u8,
    dst: *mut u8,
    len: usize,
    key: u32,
    _slices: PhantomData<&'a mut [u8]>,
}

impl<'a> Args<'a> {
    /// Unmask `buf` in place; `buf[0]` is payload byte `offset`.
    #[inline(always)]
    fn in_place(buf: &'a mut [u8], key: [u8; 4], offset: usize) -> Self {
        let (len, p) = (buf.len(), buf.as_mut_ptr());
        Self {
            src: p,
            dst: p,
            len,
            key: rotated_key_word(key, offset),
            _slices: PhantomData,
        }
    }

    /// Unmask `src` into `dst` (the common prefix of both); `src[0]` is payload byte `offset`.
    #[inline(always)]
    fn copy(src: &'a [u8], dst: &'a mut [u8], key: [u8; 4], offset: usize) -> Self {
        Self {
            src: src.as_ptr(),
            dst: dst.as_mut_ptr(),
            len: src.len().min(dst.len()),
            key: rotated_key_word(key, offset),
            _slices: PhantomData,
        }
    }

    /// Call `kernel` (an [`XorKernel`] or a [`FusedKernel`]) on these arguments.
    ///
    /// # Safety
    /// The CPU has `kernel`'s features.
    #[inline(always)]
    unsafe fn run<R>(self, kernel: unsafe fn(*const u8, *mut u8, usize, u32) -> R) -> R {
        // SAFETY: the features by our contract; the pointers as `Args` guarantees, which every
        // kernel accepts (`src == dst` included).
        unsafe { kernel(self.src, self.dst, self.len, self.key) }
    }
}

/// An implementation whose CPU features are known to be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Detected(Implementation);

/// The best implementation when the build itself enables its features (no detection needed).
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512f",
    target_feature = "avx512bw",
    target_feature = "avx512vbmi"
))]
const COMPILED_BEST: Option<Implementation> = Some(Implementation::Avx512Vbmi);
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
const COMPILED_BEST: Option<Implementation> = Some(Implementation::Neon);
#[cfg(not(any(
    all(
        target_arch = "x86_64",
        target_feature = "avx512f",
        target_feature = "avx512bw",
        target_feature = "avx512vbmi"
    ),
    all(target_arch = "aarch64", target_feature = "neon")
)))]
const COMPILED_BEST: Option<Implementation> = None;

/// 0 = not detected yet, otherwise `1 + index into Implementation::ALL`.
static BEST: AtomicU8 = AtomicU8::new(0);

/// Whether the running CPU has `imp`'s features (std caches the CPUID probes).
pub(crate) fn runtime_has(imp: Implementation) -> bool {
    match imp {
        #[cfg(target_arch = "x86_64")]
        Implementation::Avx512Vbmi => {
            runtime_has(Implementation::Avx512) && std::is_x86_feature_detected!("avx512vbmi")
        }
        #[cfg(target_arch = "x86_64")]
        Implementation::Avx512 => {
            std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx2")
        }
        #[cfg(target_arch = "x86_64")]
        Implementation::Avx2 => std::is_x86_feature_detected!("avx2"),
        #[cfg(target_arch = "x86_64")]
        Implementation::Sse2 => std::is_x86_feature_detected!("sse2"),
        #[cfg(target_arch = "aarch64")]
        Implementation::Neon => std::arch::is_aarch64_feature_detected!("neon"),
        Implementation::Scalar => true,
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

impl Detected {
    /// `imp` if this CPU has it.
    pub(crate) fn get(imp: Implementation) -> Option<Self> {
        runtime_has(imp).then_some(Self(imp))
    }

    /// The fastest implementation this CPU has, known at compile time when possible.
    #[inline]
    pub(crate) fn best() -> Self {
        match COMPILED_BEST {
            Some(imp) => Self(imp),
            None => Self::cached(),
        }
    }

    #[inline]
    fn cached() -> Self {
        let n = BEST.load(Ordering::Relaxed);
        if let Some(imp) = usize::from(n)
            .checked_sub(1)
            .and_then(|i| Implementation::ALL.get(i))
        {
            // Only `detect_best` stores into BEST, after checking the features.
            return Self(*imp);
        }
        Self::detect_best()
    }

    #[cold]
    fn detect_best() -> Self {
        let (i, imp) = Implementation::ALL
            .iter()
            .enumerate()
            .find(|(_, imp)| runtime_has(**imp))
            .map_or(
                (Implementation::ALL.len() - 1, Implementation::Scalar),
                |(i, imp)| (i, *imp),
            );
        BEST.store(u8::try_from(i + 1).unwrap_or(0), Ordering::Relaxed);
        Self(imp)
    }

    pub(crate) fn implementation(self) -> Implementation {
        self.0
    }

    /// Unmask `buf` in place; `buf[0]` is payload byte `offset`.
    #[inline]
    pub(crate) fn unmask(self, buf: &mut [u8], key: [u8; 4], offset: usize) {
        // SAFETY: `Detected` proves the kernel's features.
        unsafe { Args::in_place(buf, key, offset).run(xor_kernel(self.0)) }
    }

    /// Unmask `src` into `dst` (the common prefix of both); `src[0]` is payload byte `offset`.
    #[inline]
    pub(crate) fn unmask_copy(self, src: &[u8], dst: &mut [u8], key: [u8; 4], offset: usize) {
        // SAFETY: `Detected` proves the kernel's features.
        unsafe { Args::copy(src, dst, key, offset).run(xor_kernel(self.0)) }
    }

    /// Fused unmask-in-place + UTF-8 check; see [`Proof`].
    #[inline]
    pub(crate) fn unmask_validate(self, buf: &mut [u8], key: [u8; 4], offset: usize) -> Proof {
        // SAFETY: `Detected` proves the kernel's features.
        unsafe { Args::in_place(buf, key, offset).run(fused_kernel(self.0)) }
    }

    /// Fused unmask-copy + UTF-8 check of `dst`; see [`Detected::unmask_validate`].
    #[inline]
    pub(crate) fn unmask_copy_validate(
        self,
        src: &[u8],
        dst: &mut [u8],
        key: [u8; 4],
        offset: usize,
    ) -> Proof {
        // SAFETY: `Detected` proves the kernel's features.
        unsafe { Args::copy(src, dst, key, offset).run(fused_kernel(self.0)) }
    }

    /// UTF-8 check of already unmasked bytes; see [`Detected::unmask_validate`].
    #[inline]
    pub(crate) fn validate(self, chunk: &[u8]) -> Proof {
        let (len, s) = (chunk.len(), chunk.as_ptr());
        let d = core::ptr::null_mut();
        match self.0 {
            // SAFETY: `Detected` proves the features; `s` is valid for `len` reads; with
            // `STORE = false` the kernel never touches `d`.
            #[cfg(target_arch = "x86_64")]
            Implementation::Avx512Vbmi => unsafe {
                x86_64::avx512_utf8::vbmi::xor_validate::<false>(s, d, len, 0)
            },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Implementation::Avx512 => unsafe {
                x86_64::avx512_utf8::bw::xor_validate::<false>(s, d, len, 0)
            },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Implementation::Avx2 => unsafe { x86_64::avx2::xor_validate::<false>(s, d, len, 0) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Implementation::Sse2 => unsafe { x86_64::sse2::xor_validate::<false>(s, d, len, 0) },
            // SAFETY: as above.
            #[cfg(target_arch = "aarch64")]
            Implementation::Neon => unsafe { aarch64::neon::xor_validate::<false>(s, d, len, 0) },
            _ => {
                let _ = (len, s, d);
                Proof::NONE
            }
        }
    }
}

/// The signature every `xor` kernel shares: XOR `len` bytes from `src` into `dst` with a rotated
/// key word (see [`crate::key::rotated_key_word`]).
///
/// Contract of a call: the kernel's CPU features are present; `src` is valid for `len` reads
/// and `dst` for `len` writes; `src` and `dst` are the same pointer or do not overlap.
type XorKernel = unsafe fn(*const u8, *mut u8, usize, u32);

/// The crate-level functions' kernel: [`detect_xor`] until the first call replaces it with the
/// `xor` of [`Detected::best`]. Only kernels whose features were detected are ever stored.
static XOR: AtomicPtr<()> = AtomicPtr::new(detect_xor as XorKernel as *mut ());

/// The kernel of `imp` (which the caller has proven present).
fn xor_kernel(imp: Implementation) -> XorKernel {
    match imp {
        #[cfg(target_arch = "x86_64")]
        Implementation::Avx512 | Implementation::Avx512Vbmi => x86_64::avx512::xor,
        #[cfg(target_arch = "x86_64")]
        Implementation::Avx2 => x86_64::avx2::xor,
        #[cfg(target_arch = "x86_64")]
        Implementation::Sse2 => x86_64::sse2::xor,
        #[cfg(target_arch = "aarch64")]
        Implementation::Neon => aarch64::neon::xor,
        _ => scalar_xor,
    }
}

/// First call through [`XOR`]: detect, cache the best kernel, run it.
///
/// # Safety
/// `src` is valid for `len` reads and `dst` for `len` writes; same pointer or no overlap.
unsafe fn detect_xor(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    let kernel = xor_kernel(Detected::best().0);
    XOR.store(kernel as *mut (), Ordering::Relaxed);
    // SAFETY: `Detected::best` proved the kernel's features; pointers as per our contract.
    unsafe { kernel(src, dst, len, key) }
}

/// The portable kernel behind the [`XorKernel`] signature.
///
/// # Safety
/// As for [`detect_xor`].
unsafe fn scalar_xor(src: *const u8, dst: *mut u8, len: usize, key: u32) {
    let key = key.to_ne_bytes();
    if core::ptr::eq(src, dst) {
        // SAFETY: `dst` is valid for `len` reads and writes and nothing else refers to it.
        scalar::unmask(unsafe { core::slice::from_raw_parts_mut(dst, len) }, key, 0);
    } else {
        // SAFETY: valid, non-overlapping ranges of `len` bytes each.
        let (s, d) = unsafe {
            (
                core::slice::from_raw_parts(src, len),
                core::slice::from_raw_parts_mut(dst, len),
            )
        };
        scalar::unmask_copy(s, d, key, 0);
    }
}

/// The cached kernel: one load, no branch on the implementation (a direct call when the
/// build already enables the best implementation's features).
#[inline]
fn cached_xor() -> XorKernel {
    if let Some(imp) = COMPILED_BEST {
        return xor_kernel(imp);
    }
    let p = XOR.load(Ordering::Relaxed);
    // SAFETY: `XOR` only ever holds `XorKernel` values cast to `*mut ()` (its initialiser and
    // `detect_xor`), so casting back yields the same function pointer.
    unsafe { core::mem::transmute::<*mut (), XorKernel>(p) }
}

/// [`crate::unmask`] for 32 bytes and more: the cached best kernel, called directly.
#[inline]
pub(crate) fn unmask_dispatched(buf: &mut [u8], key: [u8; 4], offset: usize) {
    xor_dispatched(Args::in_place(buf, key, offset));
}

/// [`crate::unmask_copy`] for 32 bytes and more (the common prefix of `src` and `dst`).
#[inline]
pub(crate) fn unmask_copy_dispatched(src: &[u8], dst: &mut [u8], key: [u8; 4], offset: usize) {
    xor_dispatched(Args::copy(src, dst, key, offset));
}

/// Under 64 bytes on x86-64 the inlined SSE2 steps, otherwise the cached best kernel.
#[inline(always)]
fn xor_dispatched(args: Args<'_>) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if args.len < 64 {
        // SAFETY: `len < 64`; SSE2 is enabled for the build; the pointers as `Args` guarantees.
        unsafe { x86_64::xor_under_64(args.src, args.dst, args.len, args.key) };
        return;
    }
    // SAFETY: the cached kernel's features were detected.
    unsafe { args.run(cached_xor()) }
}

/// The signature of the fused kernels that store: XOR `len` bytes from `src` into `dst` with a
/// rotated key word and prove the unmasked bytes valid UTF-8 as far as they can ([`Proof`]).
///
/// Contract of a call: as for [`XorKernel`].
type FusedKernel = unsafe fn(*const u8, *mut u8, usize, u32) -> Proof;

/// The streaming validator's kernel: [`detect_fused`] until the first call replaces it with the
/// fused kernel of [`Detected::best`], so that a whole-chunk call costs one indirect call
/// rather than a branch on the implementation. Only detected kernels are ever stored.
static FUSED: AtomicPtr<()> = AtomicPtr::new(detect_fused as FusedKernel as *mut ());

/// The fused kernel of `imp` (which the caller has proven present).
fn fused_kernel(imp: Implementation) -> FusedKernel {
    match imp {
        #[cfg(target_arch = "x86_64")]
        Implementation::Avx512Vbmi => x86_64::avx512_utf8::vbmi::xor_validate::<true>,
        #[cfg(target_arch = "x86_64")]
        Implementation::Avx512 => x86_64::avx512_utf8::bw::xor_validate::<true>,
        #[cfg(target_arch = "x86_64")]
        Implementation::Avx2 => x86_64::avx2::xor_validate::<true>,
        #[cfg(target_arch = "x86_64")]
        Implementation::Sse2 => x86_64::sse2::xor_validate::<true>,
        #[cfg(target_arch = "aarch64")]
        Implementation::Neon => aarch64::neon::xor_validate::<true>,
        _ => scalar_xor_validate,
    }
}

/// First call through [`FUSED`]: detect, cache the best kernel, run it.
///
/// # Safety
/// As for [`detect_xor`].
unsafe fn detect_fused(src: *const u8, dst: *mut u8, len: usize, key: u32) -> Proof {
    let kernel = fused_kernel(Detected::best().0);
    FUSED.store(kernel as *mut (), Ordering::Relaxed);
    // SAFETY: `Detected::best` proved the kernel's features; pointers as per our contract.
    unsafe { kernel(src, dst, len, key) }
}

/// The portable kernel behind the [`FusedKernel`] signature: unmasks, proves nothing (the
/// caller then checks the bytes with std).
///
/// # Safety
/// As for [`detect_xor`].
unsafe fn scalar_xor_validate(src: *const u8, dst: *mut u8, len: usize, key: u32) -> Proof {
    // SAFETY: as per our contract.
    unsafe { scalar_xor(src, dst, len, key) };
    Proof::NONE
}

#[inline]
fn cached_fused() -> FusedKernel {
    if let Some(imp) = COMPILED_BEST {
        return fused_kernel(imp);
    }
    let p = FUSED.load(Ordering::Relaxed);
    // SAFETY: `FUSED` only ever holds `FusedKernel` values cast to `*mut ()` (its initialiser
    // and `detect_fused`), so casting back yields the same function pointer.
    unsafe { core::mem::transmute::<*mut (), FusedKernel>(p) }
}

/// [`Detected::unmask_validate`] with the cached best kernel.
#[inline]
pub(crate) fn unmask_validate_dispatched(buf: &mut [u8], key: [u8; 4], offset: usize) -> Proof {
    // SAFETY: the cached kernel's features were detected.
    unsafe { Args::in_place(buf, key, offset).run(cached_fused()) }
}

/// [`Detected::unmask_copy_validate`] with the cached best kernel (the common prefix of `src`
/// and `dst`).
#[inline]
pub(crate) fn unmask_copy_validate_dispatched(
    src: &[u8],
    dst: &mut [u8],
    key: [u8; 4],
    offset: usize,
) -> Proof {
    // SAFETY: the cached kernel's features were detected.
    unsafe { Args::copy(src, dst, key, offset).run(cached_fused()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lookup kernels must prove valid text valid by themselves (no fallback to std).
    #[test]
    fn lookup_kernels_prove_valid_mixed_text_without_fallback() {
        let unit =
            "MESSAGE sip:bob@example.test SIP/2.0\r\n\r\nhéllo ✓ 日本 — Grüße 🎉 \u{10FFFF}\r\n";
        let text = unit.repeat(40);
        let bytes = text.as_bytes();
        for imp in [
            Implementation::Avx512Vbmi,
            Implementation::Avx512,
            Implementation::Avx2,
        ] {
            let Some(d) = Detected::get(imp) else {
                continue;
            };
            for start in (0..70).filter(|s| text.is_char_boundary(*s)) {
                let chunk = &bytes[start..];
                let full = Proof {
                    proven: chunk.len(),
                    ends_complete: true,
                };
                assert_eq!(d.validate(chunk), full, "{imp} from {start}");
                let cut = &chunk[..chunk.len() - 1];
                if !text.is_char_boundary(start + cut.len()) {
                    let proof = d.validate(cut);
                    assert_eq!((proof.proven, proof.ends_complete), (cut.len(), false));
                }
                let mut buf = chunk.to_vec();
                d.unmask(&mut buf, [1, 2, 3, 4], 0);
                assert_eq!(d.unmask_validate(&mut buf, [1, 2, 3, 4], 0), full);
                assert_eq!(buf, chunk);
            }
            let mut bad = bytes.to_vec();
            bad[700] = 0xC0;
            assert_eq!(d.validate(&bad), Proof::NONE, "{imp} must flag C0");
        }
    }

    fn bytewise(data: &[u8], key: [u8; 4]) -> Vec<u8> {
        data.iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect()
    }

    /// Every kernel `XOR` can hold, reached through the `XorKernel` signature (also the ones
    /// the dispatcher never picks on this CPU, such as the scalar one on x86-64).
    #[test]
    fn every_cacheable_kernel_unmasks_in_place_and_by_copy() {
        let key = [0x9d, 0x3b, 0xe2, 0x51];
        let data: Vec<u8> = (0..600u32).map(|i| (i * 131 + 7) as u8).collect();
        let mut kernels: Vec<(&str, XorKernel)> = vec![("detect", detect_xor)];
        for imp in Implementation::available() {
            kernels.push((imp.name(), xor_kernel(imp)));
        }
        for (name, kernel) in kernels {
            for len in 0..data.len() {
                let expect = bytewise(&data[..len], key);
                let mut buf = data[..len].to_vec();
                // SAFETY: `kernel` is the detected one or one of an available implementation;
                // `buf` is valid for `len` reads and writes.
                unsafe { kernel(buf.as_ptr(), buf.as_mut_ptr(), len, u32::from_ne_bytes(key)) };
                assert_eq!(buf, expect, "{name} in place, len {len}");
                let mut dst = vec![0u8; len];
                // SAFETY: as above; two distinct vectors.
                unsafe {
                    kernel(
                        data.as_ptr(),
                        dst.as_mut_ptr(),
                        len,
                        u32::from_ne_bytes(key),
                    )
                };
                assert_eq!(dst, expect, "{name} copy, len {len}");
            }
        }
    }

    #[test]
    fn the_cached_kernel_is_the_best_implementations() {
        let mut buf = [0u8; 40];
        unmask_dispatched(&mut buf, [1, 2, 3, 4], 0);
        assert_eq!(&buf[..5], &[1, 2, 3, 4, 1]);
        let expect = xor_kernel(Implementation::best());
        assert!(core::ptr::fn_addr_eq(cached_xor(), expect));
    }
}
