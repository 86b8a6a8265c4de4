//! A small reorder window: frames of several tracks arrive a little out of order (each on its
//! own path, with its own jitter) and leave in timestamp order, so the file's blocks interleave
//! monotonically.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// Frames in timestamp order, each held until a frame `window` newer has arrived (or
/// [`Interleaver::drain`]). Equal timestamps leave in arrival order.
pub struct Interleaver<T> {
    window: Duration,
    heap: BinaryHeap<Reverse<Entry<T>>>,
    newest: Duration,
    arrivals: u64,
}

struct Entry<T> {
    at: Duration,
    order: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

impl<T> Interleaver<T> {
    /// A window of `window` (how late a frame may arrive and still be put in its place).
    pub fn new(window: Duration) -> Interleaver<T> {
        Interleaver { window, heap: BinaryHeap::new(), newest: Duration::ZERO, arrivals: 0 }
    }

    /// Takes a frame stamped `at`.
    pub fn push(&mut self, at: Duration, item: T) {
        self.newest = self.newest.max(at);
        self.arrivals += 1;
        self.heap.push(Reverse(Entry { at, order: self.arrivals, item }));
    }

    /// The oldest frame, once it is at least the window older than the newest.
    pub fn pop_ready(&mut self) -> Option<(Duration, T)> {
        let ready = self.heap.peek().is_some_and(|Reverse(e)| e.at + self.window <= self.newest);
        if ready {
            self.heap.pop().map(|Reverse(e)| (e.at, e.item))
        } else {
            None
        }
    }

    /// Every frame held, oldest first (the recording ends).
    pub fn drain(&mut self) -> impl Iterator<Item = (Duration, T)> + '_ {
        std::iter::from_fn(move || self.heap.pop().map(|Reverse(e)| (e.at, e.item)))
    }

    /// How many frames are held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when none are.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn frames_leave_in_timestamp_order_once_the_window_has_passed() {
        let mut w = Interleaver::new(MS(100));
        w.push(MS(20), "audio 20");
        w.push(MS(0), "video 0");
        w.push(MS(40), "audio 40");
        assert!(w.pop_ready().is_none(), "nothing is 100 ms older than the newest yet");
        w.push(MS(120), "audio 120");
        assert_eq!(w.pop_ready(), Some((MS(0), "video 0")));
        assert_eq!(w.pop_ready(), Some((MS(20), "audio 20")));
        assert!(w.pop_ready().is_none(), "40 + 100 > 120");
        let rest: Vec<_> = w.drain().map(|(_, x)| x).collect();
        assert_eq!(rest, ["audio 40", "audio 120"]);
        assert!(w.is_empty());
    }

    #[test]
    fn equal_timestamps_keep_their_arrival_order() {
        let mut w = Interleaver::new(MS(0));
        w.push(MS(5), 1);
        w.push(MS(5), 2);
        w.push(MS(5), 3);
        assert_eq!(w.drain().map(|(_, x)| x).collect::<Vec<_>>(), [1, 2, 3]);
    }
}
