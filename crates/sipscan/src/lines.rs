//! Sequential search for line feeds, 64 bytes at a time with the selected kernel
//! (masks for [`arch::BATCH`] blocks per kernel call).

use crate::arch::{self, BATCH, Kernel, LfMasksFn};

/// Yields the positions of `\n` in `buf` at or after a start offset, in order. The
/// masks of the current batch live in a separate array owned by the caller, so that
/// this small state stays in registers.
pub(crate) struct LineFeeds<'a> {
    buf: &'a [u8],
    f: LfMasksFn,
    /// Offset of the current block.
    base: usize,
    /// Index of the current block in the batch.
    block: usize,
    /// Remaining `\n` bits of the current block.
    mask: u64,
}

impl<'a> LineFeeds<'a> {
    /// Start at `start`, filling `masks` with the first batch.
    pub(crate) fn new(
        buf: &'a [u8],
        start: usize,
        kernel: Kernel,
        masks: &mut [u64; BATCH],
    ) -> Self {
        (kernel.lf_masks)(buf.get(start..).unwrap_or(&[]), masks);
        LineFeeds {
            buf,
            f: kernel.lf_masks,
            base: start,
            block: 0,
            mask: masks[0],
        }
    }

    /// The next `\n` position, or `None` at the end of the buffer; `masks` is the array
    /// given to [`LineFeeds::new`].
    #[inline(always)]
    pub(crate) fn next_lf(&mut self, masks: &mut [u64; BATCH]) -> Option<usize> {
        while self.mask == 0 {
            self.block += 1;
            self.base += 64;
            if self.block == BATCH {
                let rest = self.buf.get(self.base..).filter(|r| !r.is_empty())?;
                (self.f)(rest, masks);
                self.block = 0;
            }
            self.mask = *masks.get(self.block)?;
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.base + bit)
    }
}

/// Count the lines feeds of `buf` with the selected kernel (used by benches and tests).
pub fn count_line_feeds(buf: &[u8]) -> usize {
    let mut masks = [0; BATCH];
    let mut lf = LineFeeds::new(buf, 0, arch::selected(), &mut masks);
    let mut n = 0;
    while lf.next_lf(&mut masks).is_some() {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn positions(buf: &[u8], start: usize, k: Kernel) -> Vec<usize> {
        let mut masks = [0; BATCH];
        let mut lf = LineFeeds::new(buf, start, k, &mut masks);
        std::iter::from_fn(|| lf.next_lf(&mut masks)).collect()
    }

    proptest! {
        #[test]
        fn every_kernel_matches_naive_search(
            buf in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..1300),
            start in 0usize..1300,
        ) {
            let start = start.min(buf.len());
            let naive: Vec<usize> = (start..buf.len()).filter(|&i| buf[i] == b'\n').collect();
            for k in arch::available() {
                prop_assert_eq!(&positions(&buf, start, k), &naive, "kernel {}", k.name);
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
                let want = positions(slice, 0, arch::available().pop().unwrap());
                for k in arch::available() {
                    assert_eq!(
                        positions(slice, 0, k),
                        want,
                        "{} off {offset} len {len}",
                        k.name
                    );
                }
            }
        }
    }
}
