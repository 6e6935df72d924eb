//! Property: how the bytes are cut into reads never changes the events.

mod common;

use common::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn chunking_does_not_change_events(
        frames in proptest::collection::vec(frame_strategy(), 1..8),
        cuts in proptest::collection::vec(1usize..64, 1..20),
    ) {
        let wire: Vec<u8> = frames.concat();
        let whole = feed(&mut server(), &wire);
        prop_assert_eq!(whole.len(), frames.len());
        prop_assert!(!whole.iter().any(|e| matches!(e, Ev::Fail(_))));
        let mut conn = server();
        let mut events = Vec::new();
        let mut at = 0;
        for cut in cuts.iter().cycle() {
            if at >= wire.len() { break; }
            let end = (at + cut).min(wire.len());
            events.extend(feed(&mut conn, &wire[at..end]));
            at = end;
        }
        prop_assert_eq!(events, whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), cut in 1usize..50) {
        let mut conn = server();
        let _ = feed_chunked(&mut conn, &bytes, cut);
        let _ = transmit(&mut conn);
    }
}
