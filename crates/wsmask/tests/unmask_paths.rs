//! Every available unmask path equals the RFC 6455 §5.3 definition: all lengths 0..=1024, all
//! key phases 0..=3, shifted buffer starts, large random lengths (proptest).

mod common;

use common::{Shifted, on, reference_unmask, report};
use proptest::prelude::*;
use wsmask::Implementation;

const KEY: [u8; 4] = [0x9d, 0x3b, 0xe2, 0x51];

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + 7) as u8).collect()
}

fn exhaustive(imp: Implementation) {
    let data = pattern(1024 + 64);
    for len in 0..=1024 {
        for offset in 0..4 {
            let shift = (len * 7 + offset) % 64;
            let expect = reference_unmask(&data[..len], KEY, offset);

            let mut buf = Shifted::new(&data[..len], shift);
            imp.unmask(buf.bytes(), KEY, offset);
            assert_eq!(
                buf.bytes(),
                &expect[..],
                "{imp} in place len {len} offset {offset}"
            );
            assert!(buf.guards_intact(), "{imp} wrote outside len {len}");

            let mut dst = Shifted::new(&vec![0u8; len], (shift + 13) % 64);
            imp.unmask_copy(&data[shift..shift + len], dst.bytes(), KEY, offset);
            let expect_shifted = reference_unmask(&data[shift..shift + len], KEY, offset);
            assert_eq!(
                dst.bytes(),
                &expect_shifted[..],
                "{imp} copy len {len} offset {offset}"
            );
            assert!(dst.guards_intact(), "{imp} copy wrote outside len {len}");
        }
    }
}

fn every_shift(imp: Implementation) {
    let data = pattern(700);
    for shift in 0..64 {
        for len in [63, 64, 65, 255, 256, 257, 700 - 64] {
            let mut buf = Shifted::new(&data[..len], shift);
            imp.unmask(buf.bytes(), KEY, shift);
            assert_eq!(buf.bytes(), &reference_unmask(&data[..len], KEY, shift)[..]);
            assert!(buf.guards_intact());
        }
    }
}

macro_rules! path_tests {
    ($name:ident, $imp:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn all_lengths_to_1024_all_offsets() {
                on($imp, "unmask lengths 0..=1024 x offsets 0..=3", || exhaustive($imp));
            }

            #[test]
            fn every_buffer_start_alignment() {
                on($imp, "unmask at 64 buffer alignments", || every_shift($imp));
            }

            #[test]
            fn random_large_lengths() {
                on($imp, "unmask random lengths 1025..200000 (proptest)", || {
                    proptest!(ProptestConfig::with_cases(64), |(
                        len in 1025usize..200_000,
                        shift in 0usize..64,
                        offset in 0usize..8,
                        key in any::<[u8; 4]>(),
                        seed in any::<u8>(),
                    )| {
                        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
                        let mut buf = Shifted::new(&data, shift);
                        $imp.unmask(buf.bytes(), key, offset);
                        prop_assert_eq!(buf.bytes(), &reference_unmask(&data, key, offset)[..]);
                        prop_assert!(buf.guards_intact());
                        let mut dst = vec![0u8; len];
                        $imp.unmask_copy(&data, &mut dst, key, offset);
                        prop_assert_eq!(&dst[..], &reference_unmask(&data, key, offset)[..]);
                    });
                });
            }
        }
    };
}

path_tests!(avx512vbmi, Implementation::Avx512Vbmi);
path_tests!(avx512, Implementation::Avx512);
path_tests!(avx2, Implementation::Avx2);
path_tests!(sse2, Implementation::Sse2);
path_tests!(neon, Implementation::Neon);
path_tests!(scalar, Implementation::Scalar);

#[test]
fn paths_under_test() {
    let available = Implementation::available();
    let names = |ran: bool| -> Vec<&str> {
        Implementation::ALL
            .into_iter()
            .filter(|i| available.contains(i) == ran)
            .map(Implementation::name)
            .collect()
    };
    report(&format!(
        "wsmask: paths tested on this {} CPU: {} (dispatch uses {}); skipped: {}",
        std::env::consts::ARCH,
        names(true).join(", "),
        Implementation::best(),
        names(false).join(", ")
    ));
    assert_eq!(available.first(), Some(&Implementation::best()));
    #[cfg(target_arch = "aarch64")]
    {
        // NEON is part of the aarch64 baseline: it is what the crate-level functions run.
        assert_eq!(available, [Implementation::Neon, Implementation::Scalar]);
        assert_eq!(Implementation::best(), Implementation::Neon);
    }
    #[cfg(target_arch = "x86_64")]
    {
        let mut expect = Vec::new();
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bw") {
            if std::is_x86_feature_detected!("avx512vbmi") {
                expect.push(Implementation::Avx512Vbmi);
            }
            expect.push(Implementation::Avx512);
        }
        if std::is_x86_feature_detected!("avx2") {
            expect.push(Implementation::Avx2);
        }
        expect.push(Implementation::Sse2);
        expect.push(Implementation::Scalar);
        assert_eq!(available, expect);
    }
}

#[test]
fn dispatched_functions_match_reference() {
    let data = pattern(5000);
    for len in (0..=300).chain([1024, 4999]) {
        for offset in 0..4 {
            let mut buf = data[..len].to_vec();
            wsmask::unmask(&mut buf, KEY, offset);
            assert_eq!(buf, reference_unmask(&data[..len], KEY, offset));
            let mut dst = vec![0u8; len];
            wsmask::unmask_copy(&data[..len], &mut dst, KEY, offset);
            assert_eq!(dst, buf);
        }
    }
}

#[test]
fn payload_split_across_buffers_unmasks_like_one_piece() {
    let data = pattern(3000);
    let whole = reference_unmask(&data, KEY, 0);
    for cut in [1, 3, 17, 64, 1001] {
        let mut buf = data.clone();
        let (a, b) = buf.split_at_mut(cut);
        wsmask::unmask(a, KEY, 0);
        wsmask::unmask(b, KEY, cut);
        assert_eq!(buf, whole, "cut at {cut}");
    }
}
