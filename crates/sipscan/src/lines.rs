//! Sequential search for line feeds, 64 bytes at a time with the selected kernel.

use crate::arch::{self, LfMaskFn};

/// Yields the positions of `\n` in `buf` at or after a start offset, in order.
pub(crate) struct LineFeeds<'a> {
    buf: &'a [u8],
    f: LfMaskFn,
    /// Offset of the block `mask` describes.
    base: usize,
    /// Remaining `\n` bits of the current block.
    mask: u64,
}

impl<'a> LineFeeds<'a> {
    pub(crate) fn new(buf: &'a [u8], start: usize, f: LfMaskFn) -> Self {
        let mut s = LineFeeds {
            buf,
            f,
            base: start,
            mask: 0,
        };
        s.load();
        s
    }

    fn load(&mut self) {
        let rest = self.buf.get(self.base..).unwrap_or(&[]);
        self.mask = match rest.first_chunk::<64>() {
            Some(block) => (self.f)(block),
            None if rest.is_empty() => 0,
            None => arch::lf_mask_partial(self.f, rest),
        };
    }

    /// The next `\n` position, or `None` at the end of the buffer.
    #[inline]
    pub(crate) fn next_lf(&mut self) -> Option<usize> {
        loop {
            if self.mask != 0 {
                let bit = self.mask.trailing_zeros() as usize;
                self.mask &= self.mask - 1;
                return Some(self.base + bit);
            }
            self.base += 64;
            if self.base >= self.buf.len() {
                return None;
            }
            self.load();
        }
    }
}

/// Count the lines feeds of `buf` with the selected kernel (used by benches and tests).
pub fn count_line_feeds(buf: &[u8]) -> usize {
    let mut lf = LineFeeds::new(buf, 0, arch::selected().lf_mask);
    let mut n = 0;
    while lf.next_lf().is_some() {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn positions(buf: &[u8], start: usize, f: LfMaskFn) -> Vec<usize> {
        let mut lf = LineFeeds::new(buf, start, f);
        std::iter::from_fn(|| lf.next_lf()).collect()
    }

    proptest! {
        #[test]
        fn every_kernel_matches_naive_search(
            buf in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..300),
            start in 0usize..300,
        ) {
            let start = start.min(buf.len());
            let naive: Vec<usize> = (start..buf.len()).filter(|&i| buf[i] == b'\n').collect();
            for k in arch::available() {
                prop_assert_eq!(&positions(&buf, start, k.lf_mask), &naive, "kernel {}", k.name);
            }
        }
    }

    #[test]
    fn kernels_agree_with_scalar_on_every_length_and_offset() {
        let mut data = vec![0u8; 64 + 200];
        for (i, b) in data.iter_mut().enumerate() {
            *b = if i % 7 == 3 || i % 13 == 0 {
                b'\n'
            } else {
                (i as u8) | 0x80
            };
        }
        for offset in 0..64 {
            for len in 0..=200 {
                let slice = &data[offset..offset + len];
                let want = positions(slice, 0, crate::arch::scalar::lf_mask);
                for k in arch::available() {
                    assert_eq!(
                        positions(slice, 0, k.lf_mask),
                        want,
                        "{} off {offset} len {len}",
                        k.name
                    );
                }
            }
        }
    }
}
