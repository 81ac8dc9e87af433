//! Time ordering: a per-device queue of pending actions, and the merge of several
//! devices' event streams.

use super::Generator;
use crate::trace::Event;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// One pending action of a device model, due at `time`; `seq` keeps actions due
/// at the same time in the order they were scheduled.
struct Pending<A> {
    time: u64,
    seq: u64,
    action: A,
}

impl<A> PartialEq for Pending<A> {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl<A> Eq for Pending<A> {}
impl<A> PartialOrd for Pending<A> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<A> Ord for Pending<A> {
    /// Reversed, so that the max-heap pops the earliest.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.time, o.seq).cmp(&(self.time, self.seq))
    }
}

/// A discrete-event queue: actions are handled in time order, and an action may
/// only schedule actions at or after its own time, so the events the handlers
/// emit come out in time order. Its size is the number of actions pending (what
/// is in flight), whatever the length of the run.
pub(crate) struct Sched<A> {
    heap: BinaryHeap<Pending<A>>,
    seq: u64,
    now: u64,
}

impl<A> Sched<A> {
    pub(crate) fn new(now: u64) -> Self {
        Sched { heap: BinaryHeap::new(), seq: 0, now }
    }

    /// Schedules `action` at `time` (not before the current time).
    pub(crate) fn at(&mut self, time: u64, action: A) {
        debug_assert!(time >= self.now, "scheduling at {time}, before now ({})", self.now);
        let time = time.max(self.now);
        self.heap.push(Pending { time, seq: self.seq, action });
        self.seq += 1;
    }

    /// The earliest action, which becomes the current time.
    pub(crate) fn pop(&mut self) -> Option<(u64, A)> {
        let p = self.heap.pop()?;
        self.now = p.time;
        Some((p.time, p.action))
    }

    /// The earliest action; when none is left, `last` (taken: it runs once)
    /// `delay` after the current time.
    pub(crate) fn pop_or_last(&mut self, last: &mut Option<(u64, A)>) -> Option<(u64, A)> {
        if self.heap.is_empty() {
            let (delay, action) = last.take()?;
            self.at(self.now + delay, action);
        }
        self.pop()
    }
}

/// Merges the event streams of several generators (one per device) by time;
/// events at the same time come from the lower-indexed generator first.
pub struct Interleave<G> {
    gens: Vec<G>,
    heads: Vec<Option<Event>>,
    last: Vec<u64>,
    order: BinaryHeap<Reverse<(u64, usize)>>,
}

impl<G: Generator> Interleave<G> {
    /// Merges `gens`.
    pub fn new(mut gens: Vec<G>) -> Self {
        let mut heads = Vec::with_capacity(gens.len());
        let mut order = BinaryHeap::with_capacity(gens.len());
        let last = vec![0; gens.len()];
        for (i, g) in gens.iter_mut().enumerate() {
            let e = g.next_event();
            if let Some(e) = &e {
                order.push(Reverse((e.time.unwrap_or(0), i)));
            }
            heads.push(e);
        }
        Interleave { gens, heads, last, order }
    }

    /// The merged generators.
    pub fn generators(&self) -> &[G] {
        &self.gens
    }
}

impl<G: Generator> Generator for Interleave<G> {
    fn next_event(&mut self) -> Option<Event> {
        let Reverse((t, i)) = self.order.pop()?;
        let e = self.heads[i].take();
        self.last[i] = t;
        let next = self.gens[i].next_event();
        if let Some(n) = &next {
            self.order.push(Reverse((n.time.unwrap_or(self.last[i]), i)));
        }
        self.heads[i] = next;
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iommu_model::Access;

    struct List(std::vec::IntoIter<Event>);
    impl Generator for List {
        fn next_event(&mut self) -> Option<Event> {
            self.0.next()
        }
    }

    fn at(t: u64, dev: u32) -> Event {
        Event::access(Some(t), dev, None, 0x1000, 4, Access::Read)
    }

    #[test]
    fn interleave_merges_by_time_with_ties_to_the_lower_index() {
        let a = List(vec![at(0, 0), at(5, 0), at(5, 0), at(9, 0)].into_iter());
        let b = List(vec![at(0, 1), at(5, 1), at(6, 1)].into_iter());
        let c = List(vec![].into_iter());
        let got: Vec<(u64, u32)> =
            super::super::events(Interleave::new(vec![a, b, c])).map(|e| (e.time.unwrap(), e.device)).collect();
        assert_eq!(got, vec![(0, 0), (0, 1), (5, 0), (5, 0), (5, 1), (6, 1), (9, 0)]);
    }

    #[test]
    fn sched_pops_in_time_then_schedule_order() {
        let mut s = Sched::new(10);
        s.at(20, 'a');
        s.at(15, 'b');
        s.at(20, 'c');
        s.at(10, 'd');
        let mut got = vec![];
        while let Some((t, a)) = s.pop() {
            got.push((t, a));
        }
        assert_eq!(got, vec![(10, 'd'), (15, 'b'), (20, 'a'), (20, 'c')]);
        assert_eq!(s.now, 20);
    }

    #[test]
    fn the_last_action_comes_once_after_everything_else() {
        let mut s = Sched::new(0);
        s.at(5, 'a');
        let mut last = Some((3, 'z'));
        let mut got = vec![];
        while let Some(p) = s.pop_or_last(&mut last) {
            got.push(p);
        }
        assert_eq!(got, vec![(5, 'a'), (8, 'z')]);
        assert_eq!(last, None);
    }
}
