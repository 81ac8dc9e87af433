//! The memory the IOMMU reads its tables from.
//!
//! One small trait, [`Memory`], serves the model's walker, the timing model and the
//! co-simulation's memory port: read, write and compare-and-swap little-endian
//! 64-bit words at a supervisor-physical address, each able to fail with an access
//! fault (a PMA/PMP violation or a bus error, `iommu_hw_guidelines.adoc` "Faults
//! from PMA and PMP"). [`SparseMemory`] implements it with a page-granular map, in
//! which words can fault on every access or only on writes and swaps;
//! [`RecordingMemory`] wraps any memory and logs every access, so two backends'
//! accesses can be compared.

use crate::addr::Spa;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// An access to memory was refused (PMA/PMP violation or bus error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("access fault at {addr}")]
pub struct AccessFault {
    /// The address whose access failed.
    pub addr: Spa,
}

/// Memory as the IOMMU sees it: 64-bit little-endian words at 8-byte-aligned
/// supervisor-physical addresses.
///
/// Implementations may be slow or fast, sparse or dense; the IOMMU only ever
/// accesses aligned words. The low three address bits are ignored.
pub trait Memory {
    /// Reads the word at `addr`.
    fn read(&mut self, addr: Spa) -> Result<u64, AccessFault>;

    /// Writes the word at `addr`.
    fn write(&mut self, addr: Spa, value: u64) -> Result<(), AccessFault>;

    /// Atomically compares the word at `addr` with `expected` and, if equal,
    /// replaces it with `new`. Returns the value found before the operation, so the
    /// swap happened exactly when the result equals `expected`. This is the
    /// atomic PTE update that hardware A/D updating needs (`priv/supervisor.adoc`,
    /// Virtual Address Translation Process, step 9).
    fn compare_and_swap(&mut self, addr: Spa, expected: u64, new: u64) -> Result<u64, AccessFault>;

    /// Reads `out.len()` consecutive words starting at `addr` (a burst: a device
    /// context, a process context, an MSI PTE). Fails if any word fails.
    fn read_words(&mut self, addr: Spa, out: &mut [u64]) -> Result<(), AccessFault> {
        for (i, w) in out.iter_mut().enumerate() {
            *w = self.read(Spa(addr.0 + 8 * i as u64))?;
        }
        Ok(())
    }

    /// Writes the 32-bit little-endian value at a 4-byte-aligned `addr`, as the
    /// `IOFENCE.C` completion write does, by a read-modify-write of its word.
    fn write_u32(&mut self, addr: Spa, value: u32) -> Result<(), AccessFault> {
        let word_addr = Spa(addr.0 & !7);
        let old = self.read(word_addr)?;
        let shift = (addr.0 & 4) * 8;
        let new = (old & !(0xffff_ffffu64 << shift)) | (u64::from(value) << shift);
        self.write(word_addr, new)
    }
}

impl<M: Memory + ?Sized> Memory for &mut M {
    fn read(&mut self, addr: Spa) -> Result<u64, AccessFault> {
        (**self).read(addr)
    }
    fn read_words(&mut self, addr: Spa, out: &mut [u64]) -> Result<(), AccessFault> {
        (**self).read_words(addr, out)
    }
    fn write(&mut self, addr: Spa, value: u64) -> Result<(), AccessFault> {
        (**self).write(addr, value)
    }
    fn compare_and_swap(&mut self, addr: Spa, expected: u64, new: u64) -> Result<u64, AccessFault> {
        (**self).compare_and_swap(addr, expected, new)
    }
}

/// A fast, non-cryptographic hasher for page numbers (multiply and rotate, in the
/// manner of rustc's FxHash). Keys are trusted: they come from our own tables.
#[derive(Default, Clone, Copy)]
pub struct PageHasher(u64);

impl Hasher for PageHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
}

/// Builds [`PageHasher`]s.
pub type BuildPageHasher = BuildHasherDefault<PageHasher>;

const WORDS_PER_PAGE: usize = 512;
const RECENT: usize = 256;
const NO_PAGE: u64 = u64::MAX;

/// The slot of the recent-page table for a page number: low bits folded with the
/// bits above them, so pages 1 MiB apart do not collide.
#[inline]
fn recent_slot(page: u64) -> usize {
    ((page ^ (page >> 8)) as usize) & (RECENT - 1)
}

/// A sparse memory: 4 KiB pages allocated on first write, every other word reads
/// as zero. Words can be marked bad, so that any access to them is an access fault,
/// or read-only, so that writes and compare-and-swaps of them are (reads succeed:
/// memory whose PMA or PMP allows reads but no writes or AMOs).
///
/// Pages are stored one after the other in one vector and found through a hash
/// map, in front of which a small direct-mapped table remembers the most recently
/// used pages (page tables are walked over and over): a walk's reads depend on
/// each other, so a read must be few dependent loads.
#[derive(Clone)]
pub struct SparseMemory {
    words: Vec<u64>,
    index: HashMap<u64, u32, BuildPageHasher>,
    recent: [(u64, u32); RECENT],
    bad: HashSet<u64, BuildPageHasher>,
    /// Word numbers (address >> 3) whose writes and swaps fail; reads succeed.
    read_only: HashSet<u64, BuildPageHasher>,
    /// Addresses written since the last `take_write_log`, when tracking.
    write_log: Option<Vec<u64>>,
}

impl Default for SparseMemory {
    fn default() -> Self {
        SparseMemory {
            words: Vec::new(),
            index: HashMap::default(),
            recent: [(NO_PAGE, 0); RECENT],
            bad: HashSet::default(),
            read_only: HashSet::default(),
            write_log: None,
        }
    }
}

impl SparseMemory {
    /// An empty memory: every word reads as zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the word at `addr` as bad: reads, writes and swaps of it fail.
    pub fn mark_bad(&mut self, addr: Spa) {
        self.bad.insert(addr.0 >> 3);
    }

    /// The words marked bad, in no particular order.
    pub fn bad_words(&self) -> impl Iterator<Item = Spa> + '_ {
        self.bad.iter().map(|w| Spa(w << 3))
    }

    /// Whether the word at `addr` is marked bad.
    #[inline]
    pub fn is_bad(&self, addr: Spa) -> bool {
        !self.bad.is_empty() && self.bad.contains(&(addr.0 >> 3))
    }

    /// Marks the word at `addr` read-only: reads of it succeed, writes and
    /// compare-and-swaps fail with an access fault (even a swap whose comparison
    /// fails: an AMO to memory that allows none faults). A word marked both bad
    /// and read-only is bad. [`SparseMemory::poke`] still writes it.
    pub fn mark_read_only(&mut self, addr: Spa) {
        self.read_only.insert(addr.0 >> 3);
    }

    /// The words marked read-only, in no particular order (not listed by
    /// [`SparseMemory::bad_words`]).
    pub fn read_only_words(&self) -> impl Iterator<Item = Spa> + '_ {
        self.read_only.iter().map(|w| Spa(w << 3))
    }

    /// Whether the word at `addr` is marked read-only.
    #[inline]
    pub fn is_read_only(&self, addr: Spa) -> bool {
        !self.read_only.is_empty() && self.read_only.contains(&(addr.0 >> 3))
    }

    /// The index of the page holding `addr`, if it was ever written.
    #[inline]
    fn page_of(&mut self, addr: u64) -> Option<usize> {
        let page = addr >> 12;
        let slot = recent_slot(page);
        if self.recent[slot].0 == page {
            return Some(self.recent[slot].1 as usize);
        }
        self.page_of_slow(page)
    }

    #[cold]
    #[inline(never)]
    fn page_of_slow(&mut self, page: u64) -> Option<usize> {
        let i = *self.index.get(&page)?;
        self.recent[recent_slot(page)] = (page, i);
        Some(i as usize)
    }

    /// The word at `addr`, without access checks (zero if never written).
    pub fn peek(&self, addr: Spa) -> u64 {
        let page = addr.0 >> 12;
        let slot = recent_slot(page);
        let i = if self.recent[slot].0 == page { Some(self.recent[slot].1) } else { self.index.get(&page).copied() };
        i.map_or(0, |i| self.words[i as usize * WORDS_PER_PAGE + ((addr.0 >> 3) & 511) as usize])
    }

    /// Starts (or stops) logging the address of every word written.
    pub fn track_writes(&mut self, on: bool) {
        self.write_log = on.then(Vec::new);
    }

    /// The addresses written since the last call (in order, each once), when
    /// tracking.
    pub fn take_write_log(&mut self) -> Vec<u64> {
        match &mut self.write_log {
            Some(log) => {
                let mut v = std::mem::take(log);
                let mut seen = HashSet::<u64, BuildPageHasher>::default();
                v.retain(|a| seen.insert(*a));
                v
            }
            None => Vec::new(),
        }
    }

    /// Sets the word at `addr`, without access checks.
    pub fn poke(&mut self, addr: Spa, value: u64) {
        if let Some(log) = &mut self.write_log {
            log.push(addr.0 & !7);
        }
        let i = match self.page_of(addr.0) {
            Some(i) => i,
            None => {
                let i = self.words.len() / WORDS_PER_PAGE;
                self.words.resize(self.words.len() + WORDS_PER_PAGE, 0);
                self.index.insert(addr.0 >> 12, i as u32);
                i
            }
        };
        self.words[i * WORDS_PER_PAGE + ((addr.0 >> 3) & 511) as usize] = value;
    }

    /// Every non-zero word, in no particular order.
    pub fn nonzero_words(&self) -> impl Iterator<Item = (Spa, u64)> + '_ {
        self.index.iter().flat_map(move |(&page, &i)| {
            let base = i as usize * WORDS_PER_PAGE;
            self.words[base..base + WORDS_PER_PAGE]
                .iter()
                .enumerate()
                .filter(|(_, &w)| w != 0)
                .map(move |(w, &v)| (Spa((page << 12) | ((w as u64) << 3)), v))
        })
    }

    /// Number of pages that hold at least one written word.
    pub fn page_count(&self) -> usize {
        self.words.len() / WORDS_PER_PAGE
    }

    /// The slow path of a burst: one word at a time, checking each.
    #[cold]
    #[inline(never)]
    fn read_words_checked(&mut self, addr: Spa, out: &mut [u64]) -> Result<(), AccessFault> {
        for (k, w) in out.iter_mut().enumerate() {
            *w = self.read(Spa(addr.0 + 8 * k as u64))?;
        }
        Ok(())
    }

    #[inline]
    fn check(&self, addr: Spa) -> Result<(), AccessFault> {
        if self.is_bad(addr) {
            Err(AccessFault { addr })
        } else {
            Ok(())
        }
    }

    /// The check of a write or a swap: bad and read-only words fault.
    #[inline]
    fn check_write(&self, addr: Spa) -> Result<(), AccessFault> {
        if self.is_bad(addr) || self.is_read_only(addr) {
            Err(AccessFault { addr })
        } else {
            Ok(())
        }
    }
}

impl Memory for SparseMemory {
    #[inline]
    fn read(&mut self, addr: Spa) -> Result<u64, AccessFault> {
        self.check(addr)?;
        Ok(self.page_of(addr.0).map_or(0, |i| self.words[i * WORDS_PER_PAGE + ((addr.0 >> 3) & 511) as usize]))
    }

    #[inline]
    fn read_words(&mut self, addr: Spa, out: &mut [u64]) -> Result<(), AccessFault> {
        let first = ((addr.0 >> 3) & 511) as usize;
        if first + out.len() > WORDS_PER_PAGE || !self.bad.is_empty() {
            return self.read_words_checked(addr, out);
        }
        match self.page_of(addr.0) {
            Some(i) => {
                let at = i * WORDS_PER_PAGE + first;
                if let [one] = out {
                    *one = self.words[at];
                } else {
                    out.copy_from_slice(&self.words[at..at + out.len()])
                }
            }
            None => out.fill(0),
        }
        Ok(())
    }

    #[inline]
    fn write(&mut self, addr: Spa, value: u64) -> Result<(), AccessFault> {
        self.check_write(addr)?;
        self.poke(addr, value);
        Ok(())
    }

    #[inline]
    fn compare_and_swap(&mut self, addr: Spa, expected: u64, new: u64) -> Result<u64, AccessFault> {
        self.check_write(addr)?;
        let old = self.read(addr)?;
        if old == expected {
            self.poke(addr, new);
        }
        Ok(old)
    }
}

/// What kind of access a [`MemoryAccess`] was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    /// A read; `value` is what was read.
    Read,
    /// A write; `value` is what was written.
    Write,
    /// A compare-and-swap; `value` is the new value, `expected` the comparand.
    CompareAndSwap {
        /// The value the swap compared against.
        expected: u64,
    },
}

/// One access made through a [`RecordingMemory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryAccess {
    /// Read, write or swap.
    pub kind: AccessKind,
    /// Where.
    pub addr: Spa,
    /// The value read, written or swapped in.
    pub value: u64,
    /// Whether the access faulted.
    pub faulted: bool,
}

/// Wraps a memory and logs every access made through it.
pub struct RecordingMemory<M> {
    /// The memory underneath.
    pub inner: M,
    /// Every access, in order.
    pub log: Vec<MemoryAccess>,
}

impl<M: Memory> RecordingMemory<M> {
    /// Starts recording accesses to `inner`.
    pub fn new(inner: M) -> Self {
        Self { inner, log: Vec::new() }
    }
}

impl<M: Memory> Memory for RecordingMemory<M> {
    fn read(&mut self, addr: Spa) -> Result<u64, AccessFault> {
        let r = self.inner.read(addr);
        self.log.push(MemoryAccess {
            kind: AccessKind::Read,
            addr,
            value: *r.as_ref().unwrap_or(&0),
            faulted: r.is_err(),
        });
        r
    }

    fn write(&mut self, addr: Spa, value: u64) -> Result<(), AccessFault> {
        let r = self.inner.write(addr, value);
        self.log.push(MemoryAccess { kind: AccessKind::Write, addr, value, faulted: r.is_err() });
        r
    }

    fn compare_and_swap(&mut self, addr: Spa, expected: u64, new: u64) -> Result<u64, AccessFault> {
        let r = self.inner.compare_and_swap(addr, expected, new);
        self.log.push(MemoryAccess {
            kind: AccessKind::CompareAndSwap { expected },
            addr,
            value: new,
            faulted: r.is_err(),
        });
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritten_words_read_zero_and_writes_stick() {
        let mut m = SparseMemory::new();
        assert_eq!(m.read(Spa(0x1000)), Ok(0));
        m.write(Spa(0x1008), 7).unwrap();
        assert_eq!(m.read(Spa(0x1008)), Ok(7));
        assert_eq!(m.read(Spa(0x1000)), Ok(0));
        assert_eq!(m.nonzero_words().collect::<Vec<_>>(), vec![(Spa(0x1008), 7)]);
    }

    #[test]
    fn bad_words_fault_on_every_kind_of_access() {
        let mut m = SparseMemory::new();
        m.mark_bad(Spa(0x2010));
        let f = AccessFault { addr: Spa(0x2010) };
        assert_eq!(m.read(Spa(0x2010)), Err(f));
        assert_eq!(m.write(Spa(0x2010), 1), Err(f));
        assert_eq!(m.compare_and_swap(Spa(0x2010), 0, 1), Err(f));
        assert_eq!(m.read(Spa(0x2018)), Ok(0));
        let mut buf = [0; 4];
        assert_eq!(m.read_words(Spa(0x2000), &mut buf), Err(f));
        assert_eq!(m.read_words(Spa(0x2018), &mut buf), Ok(()));
    }

    #[test]
    fn read_only_words_fault_only_on_writes_and_swaps() {
        let mut m = SparseMemory::new();
        m.poke(Spa(0x3008), 0x41);
        m.mark_read_only(Spa(0x300c));
        assert!(m.is_read_only(Spa(0x3008)));
        assert!(!m.is_read_only(Spa(0x3010)));
        assert!(!m.is_bad(Spa(0x3008)));
        let f = AccessFault { addr: Spa(0x3008) };
        assert_eq!(m.read(Spa(0x3008)), Ok(0x41));
        let mut buf = [0; 4];
        assert_eq!(m.read_words(Spa(0x3000), &mut buf), Ok(()));
        assert_eq!(buf, [0, 0x41, 0, 0]);
        assert_eq!(m.write(Spa(0x3008), 1), Err(f));
        // A swap faults whether or not its comparison would succeed.
        assert_eq!(m.compare_and_swap(Spa(0x3008), 0x41, 0xc1), Err(f));
        assert_eq!(m.compare_and_swap(Spa(0x3008), 0, 0xc1), Err(f));
        assert_eq!(m.write_u32(Spa(0x300c), 5), Err(AccessFault { addr: Spa(0x3008) }));
        assert_eq!(m.peek(Spa(0x3008)), 0x41);
        // Its neighbours, and software's unchecked pokes, are unaffected.
        assert_eq!(m.write(Spa(0x3010), 2), Ok(()));
        assert_eq!(m.compare_and_swap(Spa(0x3000), 0, 3), Ok(0));
        m.poke(Spa(0x3008), 0x43);
        assert_eq!(m.read(Spa(0x3008)), Ok(0x43));
        assert_eq!(m.read_only_words().collect::<Vec<_>>(), vec![Spa(0x3008)]);
        assert_eq!(m.bad_words().count(), 0);
        // A clone keeps the mark; bad wins over read-only.
        assert_eq!(m.clone().write(Spa(0x3008), 1), Err(f));
        m.mark_bad(Spa(0x3008));
        assert_eq!(m.read(Spa(0x3008)), Err(f));
    }

    #[test]
    fn nothing_marked_nothing_faults() {
        let mut m = SparseMemory::new();
        assert!(!m.is_bad(Spa(0x10)) && !m.is_read_only(Spa(0x10)));
        assert_eq!(m.write(Spa(0x10), 1), Ok(()));
        assert_eq!(m.compare_and_swap(Spa(0x10), 1, 2), Ok(1));
        assert_eq!(m.read(Spa(0x10)), Ok(2));
        assert_eq!(m.read_only_words().count(), 0);
    }

    #[test]
    fn bursts_read_consecutive_words_even_across_pages() {
        let mut m = SparseMemory::new();
        for i in 0..8u64 {
            m.poke(Spa(0x1fe0 + 8 * i), i + 1);
        }
        let mut buf = [0; 8];
        m.read_words(Spa(0x1fe0), &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3, 4, 5, 6, 7, 8]);
        m.read_words(Spa(0x9000), &mut buf).unwrap();
        assert_eq!(buf, [0; 8]);
    }

    #[test]
    fn many_pages_survive_the_recent_page_table() {
        let mut m = SparseMemory::new();
        for p in 0..1000u64 {
            m.poke(Spa(p << 12 | 8), p);
        }
        for p in (0..1000u64).rev() {
            assert_eq!(m.read(Spa(p << 12 | 8)), Ok(p));
            assert_eq!(m.peek(Spa(p << 12 | 8)), p);
        }
        assert_eq!(m.page_count(), 1000);
    }

    #[test]
    fn compare_and_swap_only_swaps_on_match() {
        let mut m = SparseMemory::new();
        m.poke(Spa(0x40), 5);
        assert_eq!(m.compare_and_swap(Spa(0x40), 4, 9), Ok(5));
        assert_eq!(m.peek(Spa(0x40)), 5);
        assert_eq!(m.compare_and_swap(Spa(0x40), 5, 9), Ok(5));
        assert_eq!(m.peek(Spa(0x40)), 9);
    }

    #[test]
    fn write_u32_touches_only_its_half() {
        let mut m = SparseMemory::new();
        m.poke(Spa(0x100), 0x1111_2222_3333_4444);
        m.write_u32(Spa(0x104), 0xaabb_ccdd).unwrap();
        assert_eq!(m.peek(Spa(0x100)), 0xaabb_ccdd_3333_4444);
        m.write_u32(Spa(0x100), 0x5566_7788).unwrap();
        assert_eq!(m.peek(Spa(0x100)), 0xaabb_ccdd_5566_7788);
    }

    #[test]
    fn recording_logs_in_order() {
        let mut m = RecordingMemory::new(SparseMemory::new());
        m.write(Spa(8), 3).unwrap();
        m.read(Spa(8)).unwrap();
        m.compare_and_swap(Spa(8), 3, 4).unwrap();
        let kinds: Vec<_> = m.log.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, vec![AccessKind::Write, AccessKind::Read, AccessKind::CompareAndSwap { expected: 3 }]);
        assert_eq!(m.inner.peek(Spa(8)), 4);
    }
}
