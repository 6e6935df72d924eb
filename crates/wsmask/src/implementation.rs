//! The implementations this crate carries, and which of them the running CPU has.

use crate::arch::{Detected, runtime_has};

/// One unmasking kernel family. Each is reachable on its own through these methods (for tests
/// and benches) when [`Implementation::is_available`] says the CPU has it; the crate-level
/// functions use [`Implementation::best`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Implementation {
    /// x86-64 AVX-512 F + BW + VBMI: the [`Implementation::Avx512`] kernels, with the UTF-8
    /// table lookups done by `vpermb` (Ice Lake, Zen 4 and later).
    Avx512Vbmi,
    /// x86-64 AVX-512 F + BW: 64-byte vectors, lookup UTF-8 validation.
    Avx512,
    /// x86-64 AVX2: 32-byte vectors, lookup UTF-8 validation.
    Avx2,
    /// x86-64 baseline SSE2: 16-byte vectors, ASCII-only fast path for UTF-8.
    Sse2,
    /// aarch64 NEON: 16-byte vectors, ASCII-only fast path for UTF-8.
    Neon,
    /// Portable scalar code (8-byte words); the reference the others are tested against.
    Scalar,
}

impl Implementation {
    /// All implementations, fastest first.
    pub const ALL: [Implementation; 6] = [
        Implementation::Avx512Vbmi,
        Implementation::Avx512,
        Implementation::Avx2,
        Implementation::Sse2,
        Implementation::Neon,
        Implementation::Scalar,
    ];

    /// Short lowercase name, as used in bench ids and test output.
    pub fn name(self) -> &'static str {
        match self {
            Implementation::Avx512Vbmi => "avx512vbmi",
            Implementation::Avx512 => "avx512",
            Implementation::Avx2 => "avx2",
            Implementation::Sse2 => "sse2",
            Implementation::Neon => "neon",
            Implementation::Scalar => "scalar",
        }
    }

    /// Whether this build carries the implementation and the running CPU supports it.
    pub fn is_available(self) -> bool {
        runtime_has(self)
    }

    /// The implementations usable here, fastest first (always ends with `Scalar`).
    pub fn available() -> Vec<Implementation> {
        Self::ALL
            .into_iter()
            .filter(|imp| imp.is_available())
            .collect()
    }

    /// The implementation the crate-level functions dispatch to (detected once, then cached).
    pub fn best() -> Implementation {
        Detected::best().implementation()
    }

    pub(crate) fn detected(self) -> Detected {
        match Detected::get(self) {
            Some(d) => d,
            None => panic!(
                "wsmask: the {} implementation is not available on this CPU",
                self.name()
            ),
        }
    }

    /// [`crate::unmask`] with this implementation, whatever the length.
    ///
    /// # Panics
    /// If the implementation is not available (a caller bug: check [`Self::is_available`]).
    pub fn unmask(self, buf: &mut [u8], key: [u8; 4], offset: usize) {
        self.detected().unmask(buf, key, offset);
    }

    /// [`crate::unmask_copy`] with this implementation, whatever the length.
    ///
    /// # Panics
    /// If `src.len() != dst.len()` or the implementation is not available.
    pub fn unmask_copy(self, src: &[u8], dst: &mut [u8], key: [u8; 4], offset: usize) {
        assert_eq!(src.len(), dst.len(), "unmask_copy: length mismatch");
        self.detected().unmask_copy(src, dst, key, offset);
    }
}

impl core::fmt::Display for Implementation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_is_the_first_available_and_is_cached() {
        let available = Implementation::available();
        assert_eq!(available.last(), Some(&Implementation::Scalar));
        assert_eq!(Some(&Implementation::best()), available.first());
        assert_eq!(Implementation::best(), Implementation::best());
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn x86_detection_matches_std() {
        assert_eq!(
            Implementation::Avx512.is_available(),
            std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw")
        );
        assert_eq!(
            Implementation::Avx512Vbmi.is_available(),
            Implementation::Avx512.is_available() && std::is_x86_feature_detected!("avx512vbmi")
        );
        assert_eq!(
            Implementation::Avx2.is_available(),
            std::is_x86_feature_detected!("avx2")
        );
        assert!(Implementation::Sse2.is_available());
        assert!(!Implementation::Neon.is_available());
    }
}
