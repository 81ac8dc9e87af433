//! A fixed-size set-associative array with a choice of replacement policy: the
//! storage under the IOTLB and the directory caches.
//!
//! Caches are passive: `lookup`, `insert` and `invalidate`. They never allocate after
//! construction. A geometry with zero sets or zero ways is a disabled cache: every
//! lookup misses and inserts are dropped.

use std::fmt;

/// How a victim is chosen when a set is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Replacement {
    /// Least recently used.
    #[default]
    Lru,
    /// Tree pseudo-LRU (ways must be a power of two).
    PseudoLru,
    /// A deterministic pseudo-random way (xorshift, fixed seed).
    Random,
}

impl Replacement {
    /// The policy's name as configuration files spell it.
    pub fn name(self) -> &'static str {
        match self {
            Replacement::Lru => "lru",
            Replacement::PseudoLru => "plru",
            Replacement::Random => "random",
        }
    }
}

impl std::str::FromStr for Replacement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lru" => Ok(Replacement::Lru),
            "plru" | "pseudo-lru" => Ok(Replacement::PseudoLru),
            "random" => Ok(Replacement::Random),
            _ => Err(format!("unknown replacement policy {s:?} (expected lru, plru or random)")),
        }
    }
}

/// Sets x ways, and the replacement policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Number of sets (a power of two), or 0 for a disabled cache.
    pub sets: usize,
    /// Ways per set, or 0 for a disabled cache.
    pub ways: usize,
    /// Victim choice.
    pub replacement: Replacement,
}

impl Geometry {
    /// A disabled cache.
    pub const DISABLED: Geometry = Geometry { sets: 0, ways: 0, replacement: Replacement::Lru };

    /// `sets` x `ways` with LRU replacement.
    pub const fn new(sets: usize, ways: usize) -> Self {
        Geometry { sets, ways, replacement: Replacement::Lru }
    }

    /// A fully associative cache of `entries` entries.
    pub const fn fully_associative(entries: usize) -> Self {
        Geometry::new(1, entries)
    }

    /// Total entries.
    pub const fn entries(&self) -> usize {
        self.sets * self.ways
    }

    /// Whether the cache holds nothing.
    pub const fn is_disabled(&self) -> bool {
        self.sets == 0 || self.ways == 0
    }

    /// Checks that the geometry can be built.
    pub fn validate(&self) -> Result<(), GeometryError> {
        if self.is_disabled() {
            return Ok(());
        }
        if !self.sets.is_power_of_two() {
            return Err(GeometryError::SetsNotPowerOfTwo(self.sets));
        }
        if self.replacement == Replacement::PseudoLru && !self.ways.is_power_of_two() {
            return Err(GeometryError::PlruWaysNotPowerOfTwo(self.ways));
        }
        if self.ways > 64 {
            return Err(GeometryError::TooManyWays(self.ways));
        }
        Ok(())
    }
}

impl fmt::Display for Geometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_disabled() {
            write!(f, "disabled")
        } else {
            write!(f, "{}x{} {}", self.sets, self.ways, self.replacement.name())
        }
    }
}

/// A geometry that cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    /// Set indexes take low address bits, so the set count is a power of two.
    #[error("sets must be a power of two, not {0}")]
    SetsNotPowerOfTwo(usize),
    /// Tree pseudo-LRU needs a power-of-two number of ways.
    #[error("pseudo-LRU needs a power-of-two number of ways, not {0}")]
    PlruWaysNotPowerOfTwo(usize),
    /// Replacement state is kept in one 64-bit word per set.
    #[error("at most 64 ways are supported, not {0}")]
    TooManyWays(usize),
}

/// Where an entry sits: its set and way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The set.
    pub set: usize,
    /// The way within the set.
    pub way: usize,
}

/// The set-associative array: a tag array of keys `K`, a data array of values
/// `V`, and per set a bitmask of valid ways, as hardware keeps them. Emptying the
/// array costs one word per set; a lookup compares every valid way's key, with no
/// early exit, as hardware compares them in parallel.
#[derive(Clone)]
pub struct SetAssoc<K, V> {
    geometry: Geometry,
    set_mask: usize,
    keys: Vec<K>,
    values: Vec<V>,
    valid: Vec<u64>,
    /// LRU: a use stamp per slot. PLRU: one tree per set in `plru`.
    stamps: Vec<u64>,
    plru: Vec<u64>,
    clock: u64,
    rng: u64,
    occupied: usize,
}

impl<K: Copy + Eq + Default, V: Copy + Default> SetAssoc<K, V> {
    /// An empty array of the given geometry.
    ///
    /// # Panics
    /// If the geometry fails [`Geometry::validate`]; callers validate
    /// configurations when they are read.
    pub fn new(geometry: Geometry) -> Self {
        geometry.validate().expect("cache geometry validated by the caller");
        let n = geometry.entries();
        let sets = if n == 0 { 0 } else { geometry.sets };
        SetAssoc {
            geometry,
            set_mask: sets.saturating_sub(1),
            keys: vec![K::default(); n],
            values: vec![V::default(); n],
            valid: vec![0; sets],
            stamps: vec![0; n],
            plru: vec![0; sets],
            clock: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            occupied: 0,
        }
    }

    /// The geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Whether the array stores nothing.
    #[inline]
    pub fn is_disabled(&self) -> bool {
        self.valid.is_empty()
    }

    /// Number of valid entries.
    pub fn len(&self) -> usize {
        self.occupied
    }

    /// Whether no entry is valid.
    pub fn is_empty(&self) -> bool {
        self.occupied == 0
    }

    /// The set an index value maps to.
    #[inline]
    pub fn set_of(&self, index: u64) -> usize {
        (index as usize) & self.set_mask
    }

    /// The valid entry with `key` in the set of `index`, marked used.
    #[inline]
    pub fn lookup(&mut self, index: u64, key: K) -> Option<&V> {
        let slot = self.find(index, key)?;
        Some(self.use_slot(slot))
    }

    /// Marks the entry at `slot` (from [`SetAssoc::find`]) used and returns it.
    #[inline]
    pub fn use_slot(&mut self, slot: Slot) -> &V {
        self.touch(slot.set, slot.way);
        &self.values[slot.set * self.geometry.ways + slot.way]
    }

    /// The valid entry with `key` in the set of `index`, without changing
    /// replacement state.
    #[inline]
    pub fn peek(&self, index: u64, key: K) -> Option<&V> {
        let slot = self.find(index, key)?;
        Some(&self.values[slot.set * self.geometry.ways + slot.way])
    }

    /// Where the valid entry with `key` sits in the set of `index`.
    #[inline]
    pub fn find(&self, index: u64, key: K) -> Option<Slot> {
        if self.is_disabled() {
            return None;
        }
        let set = self.set_of(index);
        let ways = self.geometry.ways;
        let tags = &self.keys[set * ways..set * ways + ways];
        let mut live = self.valid[set];
        let mut hits = 0u64;
        while live != 0 {
            let way = live.trailing_zeros() as usize;
            live &= live - 1;
            hits |= u64::from(tags[way] == key) << way;
        }
        (hits != 0).then(|| Slot { set, way: hits.trailing_zeros() as usize })
    }

    /// Inserts `value` under `key` in the set of `index`: over the entry with the
    /// same key, else in an empty way, else over the policy's victim. Returns the
    /// entry evicted, if any.
    pub fn insert(&mut self, index: u64, key: K, value: V) -> Option<(K, V)> {
        if self.is_disabled() {
            return None;
        }
        if let Some(slot) = self.find(index, key) {
            self.values[slot.set * self.geometry.ways + slot.way] = value;
            self.touch(slot.set, slot.way);
            return None;
        }
        let set = self.set_of(index);
        let ways = self.geometry.ways;
        let base = set * ways;
        let full = if ways == 64 { u64::MAX } else { (1u64 << ways) - 1 };
        let free = !self.valid[set] & full;
        let (way, evicted) = if free != 0 {
            self.occupied += 1;
            (free.trailing_zeros() as usize, None)
        } else {
            let way = self.victim(set);
            (way, Some((self.keys[base + way], self.values[base + way])))
        };
        self.keys[base + way] = key;
        self.values[base + way] = value;
        self.valid[set] |= 1 << way;
        self.touch(set, way);
        evicted
    }

    /// Empties every valid entry for which `kill` is true; returns how many.
    pub fn invalidate(&mut self, mut kill: impl FnMut(&K, &V) -> bool) -> usize {
        let ways = self.geometry.ways;
        let mut n = 0;
        for set in 0..self.valid.len() {
            let mut live = self.valid[set];
            while live != 0 {
                let way = live.trailing_zeros() as usize;
                live &= live - 1;
                if kill(&self.keys[set * ways + way], &self.values[set * ways + way]) {
                    self.valid[set] &= !(1 << way);
                    n += 1;
                }
            }
        }
        self.occupied -= n;
        n
    }

    /// Empties every entry.
    pub fn clear(&mut self) {
        if self.occupied != 0 {
            self.clear_all_sets();
        }
    }

    /// Empties every entry by clearing every set's valid bits, whether or not any
    /// is set: a fixed cost, for benchmarks that subtract it.
    pub fn clear_all_sets(&mut self) {
        self.valid.iter_mut().for_each(|v| *v = 0);
        self.occupied = 0;
    }

    /// Every valid entry, set by set.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let ways = self.geometry.ways.max(1);
        (0..self.keys.len())
            .filter(move |i| self.valid[i / ways] >> (i % ways) & 1 == 1)
            .map(move |i| (&self.keys[i], &self.values[i]))
    }

    #[inline]
    fn touch(&mut self, set: usize, way: usize) {
        match self.geometry.replacement {
            Replacement::Lru => {
                self.clock += 1;
                self.stamps[set * self.geometry.ways + way] = self.clock;
            }
            Replacement::PseudoLru => {
                // Tree PLRU: on the path from the root to `way`, each node points
                // away from the half just used. Node i has children 2i+1, 2i+2.
                let ways = self.geometry.ways;
                let mut tree = self.plru[set];
                let (mut node, mut lo, mut hi) = (0usize, 0usize, ways);
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2;
                    if way < mid {
                        tree |= 1 << node; // point right, away from the left half used
                        node = 2 * node + 1;
                        hi = mid;
                    } else {
                        tree &= !(1 << node);
                        node = 2 * node + 2;
                        lo = mid;
                    }
                }
                self.plru[set] = tree;
            }
            Replacement::Random => {}
        }
    }

    fn victim(&mut self, set: usize) -> usize {
        let ways = self.geometry.ways;
        match self.geometry.replacement {
            Replacement::Lru => {
                let base = set * ways;
                (0..ways).min_by_key(|&w| self.stamps[base + w]).unwrap_or(0)
            }
            Replacement::PseudoLru => {
                let tree = self.plru[set];
                let (mut node, mut lo, mut hi) = (0usize, 0usize, ways);
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2;
                    if tree & (1 << node) != 0 {
                        node = 2 * node + 2;
                        lo = mid;
                    } else {
                        node = 2 * node + 1;
                        hi = mid;
                    }
                }
                lo
            }
            Replacement::Random => {
                let mut x = self.rng;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.rng = x;
                (x % ways as u64) as usize
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(c: &mut SetAssoc<u64, u64>, keys: &[u64]) {
        for &k in keys {
            c.insert(k, k, k * 10);
        }
    }

    #[test]
    fn disabled_cache_never_hits() {
        let mut c = SetAssoc::<u64, u64>::new(Geometry::DISABLED);
        fill(&mut c, &[1, 2, 3]);
        assert_eq!(c.lookup(1, 1), None);
        assert!(c.is_empty());
    }

    #[test]
    fn lru_evicts_the_least_recently_used_way() {
        let mut c = SetAssoc::new(Geometry::new(1, 2));
        fill(&mut c, &[1, 2]);
        assert_eq!(c.lookup(0, 1).copied(), Some(10));
        assert_eq!(c.insert(0, 3, 30), Some((2, 20)));
        assert_eq!(c.peek(0, 2), None);
        assert_eq!(c.peek(0, 1).copied(), Some(10));
    }

    #[test]
    fn plru_never_evicts_the_most_recent_way() {
        let g = Geometry { sets: 1, ways: 4, replacement: Replacement::PseudoLru };
        let mut c = SetAssoc::new(g);
        fill(&mut c, &[1, 2, 3, 4]);
        for k in 5..50u64 {
            let last = k - 1;
            c.insert(0, k, k);
            assert!(c.peek(0, k).is_some());
            assert!(c.peek(0, last).is_some(), "evicted the entry used just before");
        }
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn random_replacement_stays_within_the_set() {
        let g = Geometry { sets: 2, ways: 3, replacement: Replacement::Random };
        let mut c = SetAssoc::new(g);
        for k in 0..100u64 {
            c.insert(k, k, k);
        }
        assert_eq!(c.len(), 6);
        assert!(c.iter().all(|(k, v)| k == v));
    }

    #[test]
    fn sets_are_chosen_by_low_index_bits() {
        let mut c = SetAssoc::new(Geometry::new(4, 1));
        fill(&mut c, &[0, 1, 2, 3]);
        assert_eq!(c.len(), 4);
        c.insert(4, 4, 40); // same set as 0
        assert_eq!(c.peek(0, 0), None);
        assert_eq!(c.peek(1, 1).copied(), Some(10));
    }

    #[test]
    fn reinserting_a_key_replaces_its_value() {
        let mut c = SetAssoc::new(Geometry::new(1, 4));
        c.insert(0, 7, 1u64);
        c.insert(0, 7, 2);
        assert_eq!(c.len(), 1);
        assert_eq!(c.peek(0, 7).copied(), Some(2));
    }

    #[test]
    fn invalidate_counts_and_frees() {
        let mut c = SetAssoc::new(Geometry::new(2, 4));
        fill(&mut c, &[0, 1, 2, 3, 4, 5]);
        assert_eq!(c.invalidate(|k, _| k % 2 == 0), 3);
        assert_eq!(c.len(), 3);
        assert!(c.iter().all(|(k, _)| k % 2 == 1));
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn geometry_validation() {
        assert!(Geometry::new(3, 2).validate().is_err());
        assert!(Geometry { sets: 4, ways: 3, replacement: Replacement::PseudoLru }.validate().is_err());
        assert!(Geometry::new(4, 3).validate().is_ok());
        assert!(Geometry::new(1, 65).validate().is_err());
        assert!(Geometry::DISABLED.validate().is_ok());
    }
}
