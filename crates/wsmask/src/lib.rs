//! WebSocket unmasking (RFC 6455 §5.3) at memory speed, with fused streaming UTF-8 validation.
//!
//! Every frame a browser sends is XOR-masked with a 4-byte key and must be unmasked before the
//! SIP scanner can read it; text frames must also be valid UTF-8 (RFC 6455 §8.1). This crate
//! does both with hand-written SIMD kernels, touching each byte once:
//!
//! - [`unmask`] / [`unmask_copy`]: XOR in place or while copying out of a receive buffer. The
//!   `offset` argument is the payload position of the first byte, so a payload split over
//!   several receive buffers is unmasked piece by piece.
//! - [`Utf8Stream`]: unmask + validate chunk by chunk; a code point split across chunks (or
//!   across the frames of a fragmented message) is carried over, and the verdict equals
//!   `std::str::from_utf8` on the whole payload, with the position of the first invalid byte.
//! - [`Implementation`]: AVX-512 (F + BW, and F + BW + VBMI for the UTF-8 lookups), AVX2 and
//!   SSE2 on x86-64; NEON on aarch64; portable scalar everywhere. The best one is detected once at runtime and cached (or fixed at compile
//!   time when `target_feature` already enables it); [`unmask`] and [`unmask_copy`] call the
//!   cached kernel through one function pointer. Inputs under 32 bytes take the (inlined)
//!   scalar path, and on x86-64 inputs under 64 bytes an inlined SSE2 one.
//!   Each one is callable on its own for tests and benches.
//!
//! The NEON kernels are type-checked with `cargo check --target aarch64-unknown-linux-gnu`;
//! their tests run on an aarch64 host, or on x86-64 under qemu-user (a cargo runner for that
//! target).
//! `unsafe` lives only in `src/arch/`.
//!
//! ```
//! let key = [0x37, 0xfa, 0x21, 0x3d];
//! // RFC 6455 §5.7: "Hello", masked.
//! let mut frame_payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
//! wsmask::unmask(&mut frame_payload, key, 0);
//! assert_eq!(&frame_payload, b"Hello");
//!
//! // A text message in two chunks, "é" (C3 A9) split between them.
//! let mut masked = "héllo".as_bytes().to_vec();
//! wsmask::unmask(&mut masked, key, 0); // masking is its own inverse
//! let (first, second) = masked.split_at_mut(2);
//! let mut utf8 = wsmask::Utf8Stream::new();
//! utf8.unmask_validate(first, key, 0).unwrap();
//! assert!(utf8.is_incomplete());
//! utf8.unmask_validate(second, key, 2).unwrap();
//! utf8.finish().unwrap();
//! assert_eq!([&first[..], &second[..]].concat(), "héllo".as_bytes());
//! ```

mod arch;
mod implementation;
mod key;
mod scalar;
mod stream;
mod utf8_tables;

pub use implementation::Implementation;
pub use stream::{Utf8Error, Utf8Stream};

/// Inputs shorter than this go to the scalar path (inlined 8-byte words): a vector kernel's
/// setup costs more, and a later load of bytes stored from general registers is forwarded
/// sooner than one of bytes stored from a vector register.
const SHORT: usize = 32;

/// XOR `buf` with the mask `key`, where `buf[0]` is payload byte number `offset`.
#[inline]
pub fn unmask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    if buf.len() < SHORT {
        scalar::unmask(buf, key, offset);
    } else {
        arch::unmask_dispatched(buf, key, offset);
    }
}

/// Copy `src` into `dst` (same length) while unmasking; `src[0]` is payload byte `offset`.
///
/// # Panics
/// If `src.len() != dst.len()` (a caller bug, never input-derived).
#[inline]
pub fn unmask_copy(src: &[u8], dst: &mut [u8], key: [u8; 4], offset: usize) {
    assert_eq!(src.len(), dst.len(), "unmask_copy: length mismatch");
    if src.len() < SHORT {
        scalar::unmask_copy(src, dst, key, offset);
    } else {
        arch::unmask_copy_dispatched(src, dst, key, offset);
    }
}
