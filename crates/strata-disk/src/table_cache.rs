//! A small least-recently-used cache of decoded tables (qcow2 and qed L2 tables), keyed by
//! their file offset. Tables are shared (`Arc`) so that a reader keeps using one while another
//! thread evicts it; the cache holds at most `capacity` tables, which bounds its memory by the
//! format's largest table times the capacity.

use std::sync::Arc;

/// Decoded tables by file offset, least recently used evicted first.
#[derive(Debug)]
pub(crate) struct TableCache {
    /// (file offset, table, tick of last use).
    tables: Vec<(u64, Arc<Vec<u64>>, u64)>,
    tick: u64,
    capacity: usize,
}

impl TableCache {
    /// An empty cache of at most `capacity` tables.
    pub(crate) fn new(capacity: usize) -> Self {
        TableCache {
            tables: Vec::new(),
            tick: 0,
            capacity,
        }
    }

    /// The table at `offset`, if cached (marking it used).
    pub(crate) fn get(&mut self, offset: u64) -> Option<Arc<Vec<u64>>> {
        self.tick += 1;
        let tick = self.tick;
        self.tables
            .iter_mut()
            .find(|(o, _, _)| *o == offset)
            .map(|(_, t, used)| {
                *used = tick;
                Arc::clone(t)
            })
    }

    /// Caches `table` read at `offset`, evicting the least recently used one when full.
    pub(crate) fn insert(&mut self, offset: u64, table: Arc<Vec<u64>>) {
        self.tick += 1;
        if self.tables.iter().any(|(o, _, _)| *o == offset) {
            return;
        }
        if self.tables.len() >= self.capacity
            && let Some(lru) = self
                .tables
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(i, _)| i)
        {
            self.tables.swap_remove(lru);
        }
        self.tables.push((offset, table, self.tick));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut cache = TableCache::new(2);
        cache.insert(1, Arc::new(vec![1]));
        cache.insert(2, Arc::new(vec![2]));
        assert_eq!(cache.get(1).as_deref(), Some(&vec![1]));
        cache.insert(3, Arc::new(vec![3]));
        assert!(cache.get(2).is_none(), "2 was the least recently used");
        assert_eq!(cache.get(1).as_deref(), Some(&vec![1]));
        assert_eq!(cache.get(3).as_deref(), Some(&vec![3]));
    }
}
