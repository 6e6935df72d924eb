//! A slab of slots with generation counters.
//!
//! Every slot carries a generation that is bumped when the slot is freed, so a [`Key`] taken for one
//! occupant can never reach the next occupant of the same index.

/// A reference to one occupant of a [`Slab`]: the slot index plus the generation it was inserted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// Index of the slot.
    pub index: u32,
    /// Generation of the occupant.
    pub generation: u32,
}

const NO_FREE: u32 = u32::MAX;

/// Why [`Slab::restore`] refused its occupants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// An occupant's index is beyond the slots the generations describe.
    #[error("slot {0} is beyond the restored slab")]
    Index(u32),
    /// An occupant's generation is not its slot's.
    #[error("slot {index} has generation {slot}, its occupant says {key}")]
    Generation {
        /// The slot.
        index: u32,
        /// The slot's generation.
        slot: u32,
        /// The occupant's.
        key: u32,
    },
    /// Two occupants name one slot.
    #[error("slot {0} named twice")]
    Twice(u32),
}

#[derive(Debug)]
enum Entry<T> {
    Occupied { generation: u32, value: T },
    Vacant { generation: u32, next_free: u32 },
}

/// A slab with O(1) insert/remove/lookup and generation-checked keys.
#[derive(Debug)]
pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    free_head: u32,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slab<T> {
    /// Bytes one slot takes in the slab, occupied or not.
    pub const SLOT_BYTES: usize = std::mem::size_of::<Entry<T>>();

    /// An empty slab.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
            free_head: NO_FREE,
            len: 0,
        }
    }

    /// Number of occupied slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when no slot is occupied.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots ever allocated (occupied or vacant).
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Stores `value`, reusing the most recently freed slot first. `None` when the index space
    /// (`u32::MAX - 1` slots) is exhausted.
    pub fn insert(&mut self, value: T) -> Option<Key> {
        if self.free_head != NO_FREE {
            let index = self.free_head;
            let entry = self.entries.get_mut(index as usize)?;
            let Entry::Vacant {
                generation,
                next_free,
            } = *entry
            else {
                return None;
            };
            self.free_head = next_free;
            *entry = Entry::Occupied { generation, value };
            self.len += 1;
            return Some(Key { index, generation });
        }
        let index = u32::try_from(self.entries.len())
            .ok()
            .filter(|&i| i != NO_FREE)?;
        self.entries.push(Entry::Occupied {
            generation: 0,
            value,
        });
        self.len += 1;
        Some(Key {
            index,
            generation: 0,
        })
    }

    /// The occupant named by `key`, if it is still there.
    pub fn get(&self, key: Key) -> Option<&T> {
        match self.entries.get(key.index as usize)? {
            Entry::Occupied { generation, value } if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// The occupant named by `key`, mutably, if it is still there.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize)? {
            Entry::Occupied { generation, value } if *generation == key.generation => Some(value),
            _ => None,
        }
    }

    /// The key of whatever occupies `index` now.
    pub fn key_at(&self, index: u32) -> Option<Key> {
        match self.entries.get(index as usize)? {
            Entry::Occupied { generation, .. } => Some(Key {
                index,
                generation: *generation,
            }),
            Entry::Vacant { .. } => None,
        }
    }

    /// Frees the slot named by `key` and returns its occupant; the slot's generation moves on.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let entry = self.entries.get_mut(key.index as usize)?;
        match entry {
            Entry::Occupied { generation, .. } if *generation == key.generation => {}
            _ => return None,
        }
        let vacant = Entry::Vacant {
            generation: key.generation.wrapping_add(1),
            next_free: self.free_head,
        };
        let Entry::Occupied { value, .. } = std::mem::replace(entry, vacant) else {
            return None;
        };
        self.free_head = key.index;
        self.len -= 1;
        Some(value)
    }

    /// Every slot's generation, in index order: an occupied slot's, and the one a vacant slot gives its next
    /// occupant. A slab [restored](Self::restore) from them goes on without ever handing out a key this one
    /// handed out, so a key kept elsewhere (a flow token) stays stale across a move to another process.
    pub fn generations(&self) -> Vec<u32> {
        self.entries
            .iter()
            .map(|e| match e {
                Entry::Occupied { generation, .. } | Entry::Vacant { generation, .. } => {
                    *generation
                }
            })
            .collect()
    }

    /// A slab with one slot per entry of `generations` (from [`Slab::generations`]), holding `occupants` each at
    /// its key (whose generation must be its slot's), every other slot vacant with its generation.
    pub fn restore(
        generations: &[u32],
        occupants: impl IntoIterator<Item = (Key, T)>,
    ) -> Result<Self, RestoreError> {
        let mut slab = Self::vacant(generations);
        for (key, value) in occupants {
            slab.place(key, value)?;
        }
        slab.relink();
        Ok(slab)
    }

    /// A slab with one vacant slot per entry of `generations` and no free list yet: [`place`](Self::place) its
    /// occupants, then [`relink`](Self::relink) it before anything is inserted.
    pub fn vacant(generations: &[u32]) -> Self {
        let entries = generations
            .iter()
            .map(|&generation| Entry::Vacant {
                generation,
                next_free: NO_FREE,
            })
            .collect();
        Self {
            entries,
            free_head: NO_FREE,
            len: 0,
        }
    }

    /// Puts `value` at `key` in a slab made by [`vacant`](Self::vacant): the slot must be vacant and of the key's
    /// generation.
    pub fn place(&mut self, key: Key, value: T) -> Result<(), RestoreError> {
        let entry = self
            .entries
            .get_mut(key.index as usize)
            .ok_or(RestoreError::Index(key.index))?;
        match *entry {
            Entry::Occupied { .. } => Err(RestoreError::Twice(key.index)),
            Entry::Vacant { generation, .. } if generation != key.generation => {
                Err(RestoreError::Generation {
                    index: key.index,
                    slot: generation,
                    key: key.generation,
                })
            }
            Entry::Vacant { generation, .. } => {
                *entry = Entry::Occupied { generation, value };
                self.len += 1;
                Ok(())
            }
        }
    }

    /// Links the vacant slots of a slab made by [`vacant`](Self::vacant) into its free list, in index order.
    pub fn relink(&mut self) {
        let mut free_head = NO_FREE;
        for (index, entry) in self.entries.iter_mut().enumerate().rev() {
            if let Entry::Vacant { next_free, .. } = entry {
                *next_free = free_head;
                free_head = index as u32;
            }
        }
        self.free_head = free_head;
    }

    /// Keys of all occupied slots, in index order.
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Entry::Occupied { generation, .. } => Some(Key {
                    index: i as u32,
                    generation: *generation,
                }),
                Entry::Vacant { .. } => None,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_key_cannot_reach_new_occupant() {
        let mut slab = Slab::new();
        let a = slab.insert("a").unwrap();
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b").unwrap();
        assert_eq!(a.index, b.index, "slot is reused");
        assert_ne!(a.generation, b.generation);
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get_mut(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn free_list_is_lifo_and_len_tracks() {
        let mut slab = Slab::new();
        let keys: Vec<_> = (0..4).map(|i| slab.insert(i).unwrap()).collect();
        slab.remove(keys[1]);
        slab.remove(keys[3]);
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.insert(9).unwrap().index, 3);
        assert_eq!(slab.insert(8).unwrap().index, 1);
        assert_eq!(slab.insert(7).unwrap().index, 4);
        assert_eq!(slab.capacity(), 5);
        assert_eq!(slab.keys().count(), 5);
        assert_eq!(slab.key_at(2), Some(keys[2]));
    }

    #[test]
    fn restore_refuses_occupants_that_do_not_fit() {
        let gens = [0, 3, 1];
        let key = |index, generation| Key { index, generation };
        assert_eq!(
            Slab::restore(&gens, [(key(3, 0), ())]).err(),
            Some(RestoreError::Index(3))
        );
        assert_eq!(
            Slab::restore(&gens, [(key(1, 2), ())]).err(),
            Some(RestoreError::Generation {
                index: 1,
                slot: 3,
                key: 2
            })
        );
        assert_eq!(
            Slab::restore(&gens, [(key(1, 3), ()), (key(1, 3), ())]).err(),
            Some(RestoreError::Twice(1))
        );
        let slab = Slab::restore(&gens, [(key(1, 3), 'x')]).unwrap();
        assert_eq!((slab.len(), slab.get(key(1, 3))), (1, Some(&'x')));
    }

    proptest::proptest! {
        /// A slab restored from another's generations and occupants holds what it held, and whatever happens to
        /// it next never hands out a key the first one handed out: a key kept from before the move (a flow
        /// token of a closed connection) never reaches a new occupant.
        #[test]
        fn a_restored_slab_never_hands_out_a_key_again(
            before in proptest::collection::vec((0u8..3, 0usize..16), 0..120),
            after in proptest::collection::vec((0u8..3, 0usize..16), 0..120),
        ) {
            let mut slab = Slab::new();
            let mut live: Vec<(Key, usize)> = Vec::new();
            let mut handed = std::collections::HashSet::new();
            for (n, (op, pick)) in before.into_iter().enumerate() {
                if op == 0 {
                    let k = slab.insert(n).unwrap();
                    handed.insert(k);
                    live.push((k, n));
                } else if !live.is_empty() {
                    let (k, _) = live.swap_remove(pick % live.len());
                    slab.remove(k);
                }
            }
            let moved: Vec<(Key, usize)> = slab.keys().map(|k| (k, *slab.get(k).unwrap())).collect();
            let mut restored = Slab::restore(&slab.generations(), moved).unwrap();
            for k in &handed {
                proptest::prop_assert_eq!(restored.get(*k), slab.get(*k));
            }
            proptest::prop_assert_eq!(restored.len(), slab.len());
            for (op, pick) in after {
                if op == 0 {
                    let k = restored.insert(0).unwrap();
                    proptest::prop_assert!(!handed.contains(&k), "{:?} handed out again", k);
                } else if !live.is_empty() {
                    let (k, _) = live.swap_remove(pick % live.len());
                    proptest::prop_assert!(restored.remove(k).is_some());
                }
            }
        }

        #[test]
        fn model_check(ops in proptest::collection::vec((0u8..3, 0usize..16), 0..200)) {
            let mut slab = Slab::new();
            let mut live: Vec<(Key, usize)> = Vec::new();
            let mut dead: Vec<Key> = Vec::new();
            for (n, (op, pick)) in ops.into_iter().enumerate() {
                match op {
                    0 => { let k = slab.insert(n).unwrap(); live.push((k, n)); }
                    _ if !live.is_empty() => {
                        let (k, v) = live.swap_remove(pick % live.len());
                        proptest::prop_assert_eq!(slab.remove(k), Some(v));
                        dead.push(k);
                    }
                    _ => {}
                }
                for (k, v) in &live { proptest::prop_assert_eq!(slab.get(*k), Some(v)); }
                for k in &dead { proptest::prop_assert_eq!(slab.get(*k), None); }
                proptest::prop_assert_eq!(slab.len(), live.len());
            }
        }
    }
}
