//! A hashed timer wheel: O(1) arm and cancel, expiry cost proportional to the timers that are due.
//!
//! Time is counted in ticks (the worker maps its clock to ticks). A timer due at tick `t` sits in bucket
//! `t % buckets` on an intrusive doubly-linked list; [`TimerWheel::advance`] walks the buckets tick by tick
//! (skipping empty ones through an occupancy bitmap) and fires timers in deadline order, and timers due in the
//! same tick in the order they were armed.

use crate::slab::{Key, Slab};

/// Names one armed timer; stale ids (fired or cancelled) are harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(pub(crate) Key);

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Node<T> {
    deadline: u64,
    prev: u32,
    next: u32,
    value: T,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    head: u32,
    tail: u32,
}

/// The wheel. `T` is what a timer carries back when it fires.
#[derive(Debug)]
pub struct TimerWheel<T> {
    buckets: Vec<Bucket>,
    occupied: Vec<u64>,
    nodes: Slab<Node<T>>,
    /// The next tick not yet processed: every timer due before it has fired.
    next_tick: u64,
}

impl<T> TimerWheel<T> {
    /// A wheel with `buckets` buckets (rounded up to a power of two, at least 64), starting at tick 0.
    pub fn new(buckets: usize) -> Self {
        let n = buckets.max(64).next_power_of_two();
        Self {
            buckets: vec![
                Bucket {
                    head: NIL,
                    tail: NIL
                };
                n
            ],
            occupied: vec![0; n / 64],
            nodes: Slab::new(),
            next_tick: 0,
        }
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `true` when no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The first tick that [`advance`](Self::advance) has not processed yet.
    pub fn next_tick(&self) -> u64 {
        self.next_tick
    }

    fn bucket_of(&self, tick: u64) -> usize {
        (tick & (self.buckets.len() as u64 - 1)) as usize
    }

    /// Arms a timer due at `deadline` (a tick). A deadline already past fires at the next advance.
    pub fn insert(&mut self, deadline: u64, value: T) -> TimerId {
        let deadline = deadline.max(self.next_tick);
        let b = self.bucket_of(deadline);
        let tail = self.buckets[b].tail;
        let key = match self.nodes.insert(Node {
            deadline,
            prev: tail,
            next: NIL,
            value,
        }) {
            Some(key) => key,
            // u32::MAX timers at once: not reachable with a fixed table of connections.
            None => panic!("timer wheel index space exhausted"),
        };
        if let Some(t) = self.node_mut(tail) {
            t.next = key.index;
        } else {
            self.buckets[b].head = key.index;
        }
        self.buckets[b].tail = key.index;
        self.occupied[b / 64] |= 1 << (b % 64);
        TimerId(key)
    }

    fn node_mut(&mut self, index: u32) -> Option<&mut Node<T>> {
        if index == NIL {
            return None;
        }
        let key = self.nodes.key_at(index)?;
        self.nodes.get_mut(key)
    }

    fn unlink(&mut self, key: Key) -> Option<Node<T>> {
        let node = self.nodes.remove(key)?;
        let b = self.bucket_of(node.deadline);
        match self.node_mut(node.prev) {
            Some(p) => p.next = node.next,
            None => self.buckets[b].head = node.next,
        }
        match self.node_mut(node.next) {
            Some(n) => n.prev = node.prev,
            None => self.buckets[b].tail = node.prev,
        }
        if self.buckets[b].head == NIL {
            self.occupied[b / 64] &= !(1 << (b % 64));
        }
        Some(node)
    }

    /// Disarms a timer; returns its value if it was still armed.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        self.unlink(id.0).map(|n| n.value)
    }

    /// The earliest tick at which some bucket holds a timer (a lower bound on the next expiry: the bucket
    /// may only hold timers for later rounds). `None` when no timer is armed.
    pub fn next_expiry(&self) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        let n = self.buckets.len();
        let start = self.bucket_of(self.next_tick);
        self.next_occupied_from(start)
            .map(|b| self.next_tick + ((b + n - start) % n) as u64)
    }

    fn next_occupied_from(&self, start: usize) -> Option<usize> {
        let words = self.occupied.len();
        let mut w = start / 64;
        let mut word = self.occupied[w] & (!0u64 << (start % 64));
        for _ in 0..=words {
            if word != 0 {
                return Some(w * 64 + word.trailing_zeros() as usize);
            }
            w = (w + 1) % words;
            word = self.occupied[w];
        }
        // The last pass re-read the start word whole, so every bucket has been looked at.
        None
    }

    /// Processes every tick up to and including `now`, calling `fire` for each due timer in deadline order.
    pub fn advance(&mut self, now: u64, mut fire: impl FnMut(TimerId, T)) {
        while self.next_tick <= now {
            let Some(at) = self.next_expiry() else {
                self.next_tick = now + 1;
                return;
            };
            if at > now {
                self.next_tick = now + 1;
                return;
            }
            let b = self.bucket_of(at);
            let mut cursor = self.buckets[b].head;
            while cursor != NIL {
                let Some(key) = self.nodes.key_at(cursor) else {
                    break;
                };
                let Some(node) = self.nodes.get(key) else {
                    break;
                };
                let (deadline, next) = (node.deadline, node.next);
                if deadline <= at
                    && let Some(node) = self.unlink(key)
                {
                    fire(TimerId(key), node.value);
                }
                cursor = next;
            }
            self.next_tick = at + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(w: &mut TimerWheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        w.advance(now, |_, v| out.push(v));
        out
    }

    #[test]
    fn fires_in_deadline_then_arming_order() {
        let mut w = TimerWheel::new(64);
        w.insert(5, 1);
        w.insert(3, 2);
        w.insert(5, 3);
        w.insert(64 + 3, 4); // same bucket as 3, next round
        w.insert(1000, 5);
        assert_eq!(drain(&mut w, 2), Vec::<u32>::new());
        assert_eq!(drain(&mut w, 5), vec![2, 1, 3]);
        assert_eq!(drain(&mut w, 66), Vec::<u32>::new());
        assert_eq!(drain(&mut w, 67), vec![4]);
        assert_eq!(w.len(), 1);
        assert_eq!(drain(&mut w, 5000), vec![5]);
        assert!(w.is_empty());
    }

    #[test]
    fn long_jump_keeps_order_across_rounds() {
        let mut w = TimerWheel::new(64);
        for (i, d) in [200u64, 10, 130, 64, 0, 199].iter().enumerate() {
            w.insert(*d, i as u32);
        }
        assert_eq!(drain(&mut w, 10_000), vec![4, 1, 3, 2, 5, 0]);
    }

    #[test]
    fn cancel_unlinks_and_stale_ids_are_harmless() {
        let mut w = TimerWheel::new(64);
        let a = w.insert(7, 1);
        let b = w.insert(7, 2);
        let c = w.insert(7, 3);
        assert_eq!(w.cancel(b), Some(2));
        assert_eq!(w.cancel(b), None);
        assert_eq!(w.next_expiry(), Some(7));
        assert_eq!(drain(&mut w, 7), vec![1, 3]);
        assert_eq!(w.cancel(a), None);
        assert_eq!(w.cancel(c), None);
        assert_eq!(w.next_expiry(), None);
        // A deadline in the past fires on the next advance.
        w.insert(2, 9);
        assert_eq!(w.next_expiry(), Some(8));
        assert_eq!(drain(&mut w, 8), vec![9]);
    }

    proptest::proptest! {
        #[test]
        fn matches_sorted_model(
            deadlines in proptest::collection::vec(0u64..2000, 1..100),
            cancel in proptest::collection::vec(proptest::bool::ANY, 100),
            steps in proptest::collection::vec(1u64..300, 1..20),
        ) {
            let mut w = TimerWheel::new(64);
            let mut model: Vec<(u64, usize)> = Vec::new();
            for (i, d) in deadlines.iter().enumerate() {
                let id = w.insert(*d, i);
                if cancel[i] {
                    proptest::prop_assert_eq!(w.cancel(id), Some(i));
                } else {
                    model.push((*d, i));
                }
            }
            model.sort(); // by deadline, then arming order
            let mut fired = Vec::new();
            let mut now = 0;
            for s in steps {
                now += s;
                w.advance(now, |_, v| fired.push((deadlines[v], v)));
                let due: Vec<_> = model.iter().copied().filter(|(d, _)| *d <= now).collect();
                proptest::prop_assert_eq!(&fired, &due);
            }
            w.advance(u64::from(u32::MAX), |_, v| fired.push((deadlines[v], v)));
            proptest::prop_assert_eq!(fired, model);
            proptest::prop_assert!(w.is_empty());
        }
    }
}
