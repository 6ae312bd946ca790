//! A bounded memory of keys seen lately, the oldest forgotten first: the policy's
//! "offered already" (a redelivered warning) and the notifier's "delivered already to
//! this channel" (a restart re-reading what it had sent).

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

#[derive(Debug)]
pub struct RecentSet<K> {
    order: VecDeque<K>,
    set: HashSet<K>,
    capacity: usize,
}

impl<K: Clone + Eq + Hash> RecentSet<K> {
    /// Remembers at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> RecentSet<K> {
        RecentSet {
            order: VecDeque::new(),
            set: HashSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `key`; false if it was there already.
    pub fn insert(&mut self, key: &K) -> bool {
        if self.set.contains(key) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.set.insert(key.clone());
        true
    }

    pub fn contains(&self, key: &K) -> bool {
        self.set.contains(key)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_key_is_forgotten_first() {
        let mut r = RecentSet::new(2);
        assert!(r.insert(&"a"));
        assert!(!r.insert(&"a"), "a repeat");
        assert!(r.insert(&"b"));
        assert!(r.insert(&"c"));
        assert!(!r.contains(&"a"), "beyond the capacity");
        assert!(r.contains(&"b") && r.contains(&"c"));
        assert_eq!(r.len(), 2);
    }
}
