//! Which target a new request goes to: among the live ones, the lowest priority value; among those, by weight
//! (RFC 2782). A worker draws `pick` from its own counter, so its requests spread over equal-priority targets in
//! proportion to their weights without any shared state.

use super::CoreTarget;

/// The index in `targets` of the best target that is up and `usable` (for example: not the one that just failed,
/// not one whose connection is backing off), or `None` when there is none.
pub fn best(
    targets: &[CoreTarget],
    pick: u64,
    usable: impl Fn(&CoreTarget) -> bool,
) -> Option<usize> {
    let live = |t: &&CoreTarget| t.up && usable(t);
    let priority = targets.iter().filter(live).map(|t| t.priority).min()?;
    let tier = || {
        targets
            .iter()
            .enumerate()
            .filter(move |(_, t)| t.priority == priority && live(t))
    };
    let total: u64 = tier().map(|(_, t)| u64::from(t.weight)).sum();
    // Spread consecutive picks (Fibonacci hashing) so that equal weights alternate rather than run in blocks.
    let spread = pick.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
    if total == 0 {
        let n = tier().count() as u64;
        return tier().nth((spread % n) as usize).map(|(i, _)| i);
    }
    let mut point = spread % total;
    for (i, t) in tier() {
        let w = u64::from(t.weight);
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use super::best;
    use crate::targets::CoreTarget;

    fn target(port: u16, priority: u32, weight: u16, up: bool) -> CoreTarget {
        CoreTarget {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            priority,
            weight,
            up,
            name: None,
            stats: Arc::default(),
        }
    }

    fn share(targets: &[CoreTarget], picks: u64) -> Vec<u64> {
        let mut counts = vec![0; targets.len()];
        for pick in 0..picks {
            if let Some(i) = best(targets, pick, |_| true) {
                counts[i] += 1;
            }
        }
        counts
    }

    #[test]
    fn the_lowest_priority_value_takes_every_request_while_it_is_up() {
        let t = [target(1, 20, 100, true), target(2, 10, 1, true)];
        assert_eq!(share(&t, 1000), [0, 1000]);
    }

    #[test]
    fn a_down_target_is_passed_over_for_the_next_priority() {
        let t = [target(1, 10, 1, false), target(2, 20, 1, true)];
        assert_eq!(share(&t, 100), [0, 100]);
    }

    #[test]
    fn equal_priorities_share_by_weight() {
        let t = [target(1, 10, 30, true), target(2, 10, 10, true)];
        let c = share(&t, 40_000);
        let ratio = c[0] as f64 / c[1] as f64;
        assert!((2.7..3.3).contains(&ratio), "{c:?}");
    }

    #[test]
    fn zero_weights_alone_share_equally() {
        let t = [target(1, 10, 0, true), target(2, 10, 0, true)];
        let c = share(&t, 10_000);
        assert!(c[0].abs_diff(c[1]) < 1_000, "{c:?}");
    }

    #[test]
    fn a_zero_weight_target_waits_while_a_weighted_one_of_its_priority_is_up() {
        let t = [target(1, 10, 0, true), target(2, 10, 5, true)];
        assert_eq!(share(&t, 100), [0, 100]);
    }

    #[test]
    fn none_when_no_target_is_up_or_usable() {
        let t = [target(1, 10, 1, false), target(2, 20, 1, true)];
        assert_eq!(best(&t, 0, |x| x.addr.port() != 2), None);
        assert_eq!(best(&[], 0, |_| true), None);
    }
}
