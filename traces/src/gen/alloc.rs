//! Address allocators: IOVAs the way Linux hands them out, and scattered physical
//! buffers.

use super::rng::mix;
use std::collections::BTreeMap;

const PAGE: u64 = 4096;
/// Sizes of up to 2^5 = 32 pages go through the cache, as Linux's
/// `IOVA_RANGE_CACHE_MAX_SIZE` (6) allows.
const RCACHE_ORDERS: usize = 6;
/// Freed IOVAs kept per size: Linux keeps two per-CPU magazines of about 128
/// entries each and a shared depot of magazines (32 at most in older kernels);
/// one CPU's worth is modelled.
const RCACHE_DEPTH: usize = 34 * 128;

/// A model of Linux's IOVA allocator for one DMA domain.
///
/// - A request of `n` pages takes a block aligned to `n` rounded up to a power of
///   two; blocks of up to 32 pages are that power of two long.
/// - New blocks come from the top of `[low, high)` downwards: the search starts
///   below the block allocated last and goes down to the first gap that fits,
///   then once more from the top (Linux's "cached node" and retry).
/// - Freed blocks of up to 32 pages go to a per-size last-in-first-out cache
///   (Linux's per-CPU "rcache" magazines) and are handed out again before the
///   tree is searched, so the IOVA just unmapped is usually the next one mapped.
#[derive(Clone, Debug)]
pub struct IovaAllocator {
    low: u64,
    high: u64,
    /// Blocks held by the tree (in use or in the cache): start -> end.
    used: BTreeMap<u64, u64>,
    /// Where the next downward search starts.
    cached: u64,
    rcache: [Vec<u64>; RCACHE_ORDERS],
}

impl IovaAllocator {
    /// An allocator of `[low, high)` (both multiples of 4 KiB).
    pub fn new(low: u64, high: u64) -> Self {
        assert!(low.is_multiple_of(PAGE) && high.is_multiple_of(PAGE) && low < high);
        IovaAllocator { low, high, used: BTreeMap::new(), cached: high, rcache: Default::default() }
    }

    /// Linux's 32-bit DMA space: `[1 MiB, 4 GiB)`.
    pub fn dma32() -> Self {
        IovaAllocator::new(1 << 20, 1 << 32)
    }

    /// `(block length, alignment)` of a request of `size` bytes.
    fn block(size: u64) -> (u64, u64) {
        let pages = size.div_ceil(PAGE).max(1);
        let align = pages.next_power_of_two();
        let len = if align <= 1 << (RCACHE_ORDERS - 1) { align } else { pages };
        (len * PAGE, align * PAGE)
    }

    fn order(align: u64) -> usize {
        (align / PAGE).trailing_zeros() as usize
    }

    /// Allocates an IOVA for `size` bytes (rounded up to pages), aligned to the
    /// size rounded up to a power of two; `None` when the space is full.
    pub fn alloc(&mut self, size: u64) -> Option<u64> {
        let (len, align) = Self::block(size);
        let order = Self::order(align);
        if order < RCACHE_ORDERS {
            if let Some(iova) = self.rcache[order].pop() {
                return Some(iova);
            }
        }
        for _ in 0..2 {
            let mut hi = self.cached;
            let mut found = None;
            for (&start, &end) in self.used.range(..hi).rev() {
                if let Some(c) = fit(hi, end, len, align) {
                    found = Some(c);
                    break;
                }
                hi = start;
            }
            if let Some(c) = found.or_else(|| fit(hi, self.low, len, align)) {
                self.used.insert(c, c + len);
                self.cached = c;
                return Some(c);
            }
            if self.cached == self.high {
                break;
            }
            self.cached = self.high;
        }
        None
    }

    /// Frees an IOVA that [`alloc`](Self::alloc) returned for `size` bytes.
    pub fn free(&mut self, iova: u64, size: u64) {
        let (_, align) = Self::block(size);
        let order = Self::order(align);
        if order < RCACHE_ORDERS && self.rcache[order].len() < RCACHE_DEPTH {
            self.rcache[order].push(iova);
            return;
        }
        let removed = self.used.remove(&iova);
        debug_assert!(removed.is_some(), "freeing {iova:#x}, which is not allocated");
        if iova >= self.cached {
            self.cached = self.used.range(iova..).next().map_or(self.high, |(&s, _)| s);
        }
    }
}

/// The highest block of `len` bytes aligned to `align` in `[floor, hi)`.
fn fit(hi: u64, floor: u64, len: u64, align: u64) -> Option<u64> {
    let c = hi.checked_sub(len)? & !(align - 1);
    (c >= floor).then_some(c)
}

/// Scattered physical buffers: units of `unit` bytes (a power of two) in a region
/// of a power-of-two size, handed out in a pseudo-random order that visits every
/// unit once before any repeats (a keyed bijection of a counter), so buffers in
/// flight never share memory and consecutive buffers are far apart, as pages from
/// a busy system's allocator are.
#[derive(Clone, Debug)]
pub struct PhysPool {
    base: u64,
    unit: u64,
    bits: u32,
    next: u64,
    key: u64,
    mul: u64,
}

impl PhysPool {
    /// A pool of the `[base, base + size)` region in units of `unit` bytes
    /// (`size` and `unit` powers of two, `size >= unit`, `base` aligned to
    /// `unit`); `key` chooses the order.
    pub fn new(base: u64, size: u64, unit: u64, key: u64) -> Self {
        assert!(unit.is_power_of_two() && size.is_power_of_two() && size >= unit && base.is_multiple_of(unit));
        let bits = (size / unit).trailing_zeros();
        PhysPool { base, unit, bits, next: 0, key: mix(key), mul: mix(key ^ 0x5851_f42d_4c95_7f2d) | 1 }
    }

    /// The units the region holds.
    pub fn units(&self) -> u64 {
        1 << self.bits
    }

    /// The unit's size.
    pub fn unit(&self) -> u64 {
        self.unit
    }

    fn permute(&self, x: u64) -> u64 {
        let mask = (1u64 << self.bits) - 1;
        let mut x = (x ^ self.key) & mask;
        x = x.wrapping_mul(self.mul) & mask;
        x ^= x >> (self.bits / 2 + 1);
        x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15) & mask;
        x ^ (x >> (self.bits / 3 + 1))
    }

    /// The next unit's address.
    pub fn alloc(&mut self) -> u64 {
        let i = self.permute(self.next);
        self.next = self.next.wrapping_add(1);
        self.base + i * self.unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn allocation_is_top_down_size_aligned_and_below_4_gib() {
        let mut a = IovaAllocator::dma32();
        assert_eq!(a.alloc(4096), Some(0xffff_f000));
        assert_eq!(a.alloc(100), Some(0xffff_e000));
        // 3 pages take a 4-page block aligned to 16 KiB.
        assert_eq!(a.alloc(0x3000), Some(0xffff_8000));
        assert_eq!(a.alloc(0x1000), Some(0xffff_7000));
        // 64 MiB: aligned to itself.
        let big = a.alloc(64 << 20).unwrap();
        assert_eq!(big, 0xf800_0000);
    }

    #[test]
    fn freed_small_blocks_are_reused_last_in_first_out() {
        let mut a = IovaAllocator::dma32();
        let x: Vec<u64> = (0..4).map(|_| a.alloc(4096).unwrap()).collect();
        a.free(x[1], 4096);
        a.free(x[3], 4096);
        assert_eq!(a.alloc(4096), Some(x[3]));
        assert_eq!(a.alloc(4096), Some(x[1]));
        // A different size class does not take them.
        a.free(x[0], 4096);
        assert_ne!(a.alloc(8192), Some(x[0]));
    }

    #[test]
    fn large_blocks_return_to_the_tree_and_gaps_are_found() {
        let mut a = IovaAllocator::new(1 << 20, 1 << 30);
        let big: Vec<u64> = (0..4).map(|_| a.alloc(128 << 20).unwrap()).collect();
        assert_eq!(big, vec![0x3800_0000, 0x3000_0000, 0x2800_0000, 0x2000_0000]);
        a.free(big[1], 128 << 20);
        // The freed gap above the search point is found again.
        assert_eq!(a.alloc(128 << 20), Some(big[1]));
        // Fill the space: the allocator reports it full instead of overlapping.
        let mut n = 0;
        while a.alloc(128 << 20).is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn live_blocks_never_overlap() {
        let mut a = IovaAllocator::new(1 << 20, 1 << 28);
        let mut live: Vec<(u64, u64)> = vec![];
        let mut r = super::super::Rng::new(7);
        for _ in 0..5000 {
            if !live.is_empty() && r.percent(45) {
                let (iova, size) = live.swap_remove(r.below(live.len() as u64) as usize);
                a.free(iova, size);
            } else {
                let size = r.range(1, 300) * 1024;
                let iova = a.alloc(size).unwrap();
                let (_, align) = IovaAllocator::block(size);
                assert_eq!(iova % align, 0);
                for &(o, s) in &live {
                    assert!(iova + size <= o || o + s <= iova, "{iova:#x}+{size:#x} overlaps {o:#x}+{s:#x}");
                }
                live.push((iova, size));
            }
        }
    }

    #[test]
    fn the_physical_pool_visits_every_unit_once_per_round() {
        let mut p = PhysPool::new(0x8000_0000, 4 << 20, 4096, 99);
        assert_eq!(p.units(), 1024);
        let seen: BTreeSet<u64> = (0..1024).map(|_| p.alloc()).collect();
        assert_eq!(seen.len(), 1024);
        assert!(seen.iter().all(|&a| (0x8000_0000..0x8040_0000).contains(&a) && a.is_multiple_of(4096)));
        // Scattered: consecutive buffers are rarely neighbours.
        let mut q = PhysPool::new(0, 1 << 30, 4096, 5);
        let v: Vec<u64> = (0..1000).map(|_| q.alloc()).collect();
        let adjacent = v.windows(2).filter(|w| w[0].abs_diff(w[1]) == 4096).count();
        assert!(adjacent < 10, "{adjacent}");
        // A one-unit pool always gives its unit.
        let mut one = PhysPool::new(0x20_0000, 0x20_0000, 0x20_0000, 1);
        assert_eq!((one.alloc(), one.alloc()), (0x20_0000, 0x20_0000));
    }
}
