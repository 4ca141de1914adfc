//! Work side by side on a few threads: [`parallel_map`] runs a function over a list on at most
//! `jobs` threads and gives the results back in the list's order (resolving, pulling, tag
//! lists, notifications), and [`Slots`] caps how many holders do something at once (requests
//! in flight to one registry, health gates looking at their containers).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// `f` of every item, on at most `jobs` threads (at least one, and no more than there are
/// items), the results in the order of `items`. Each thread takes the next item not yet
/// taken, so a slow item holds up only its own thread. A panic in `f` is raised again here.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.is_empty() {
        return Vec::new();
    }
    let workers = jobs.clamp(1, items.len());
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return mine;
                        };
                        mine.push((i, f(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// A counting semaphore: at most a fixed number of holders at a time; the others wait until
/// one lets go.
pub struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// One of the [`Slots`], held until dropped.
pub struct Slot<'s>(&'s Slots);

impl Slots {
    /// `n` slots (at least one).
    pub fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free slot and takes it.
    pub fn acquire(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Slot(self)
    }

    /// Runs `f` once a slot is free, and frees it again.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let _slot = self.acquire();
        f()
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Barrier;
    use std::time::Duration;

    #[test]
    fn results_come_in_the_order_of_the_items() {
        let items: Vec<usize> = (0..50).collect();
        // The first item ends last: it waits until every other one has ended.
        let (ended, all_ended) = mpsc::channel();
        let all_ended = Mutex::new(all_ended);
        let out = parallel_map(&items, 4, |&i| {
            if i == 0 {
                let all_ended = all_ended.lock().unwrap();
                for _ in 1..items.len() {
                    all_ended.recv().unwrap();
                }
            } else {
                ended.send(()).unwrap();
            }
            i * 10
        });
        assert_eq!(out, (0..50).map(|i| i * 10).collect::<Vec<_>>());
    }

    #[test]
    fn at_most_jobs_items_at_once_and_all_of_them() {
        for jobs in [1, 3, 8] {
            let items: Vec<usize> = (0..40).collect();
            let (active, most, entered) = (
                AtomicUsize::new(0),
                AtomicUsize::new(0),
                AtomicUsize::new(0),
            );
            // The first `jobs` in wait for each other: they are all inside at once, whatever
            // the scheduling.
            let first = Barrier::new(jobs);
            let out = parallel_map(&items, jobs, |&i| {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                if entered.fetch_add(1, Ordering::SeqCst) < jobs {
                    first.wait();
                }
                active.fetch_sub(1, Ordering::SeqCst);
                i
            });
            assert_eq!(out, items);
            assert_eq!(most.load(Ordering::SeqCst), jobs, "{jobs} jobs");
        }
    }

    #[test]
    fn no_jobs_is_one_and_no_items_nothing() {
        assert_eq!(parallel_map(&[1, 2, 3], 0, |i| i + 1), [2, 3, 4]);
        assert!(parallel_map(&[] as &[u8], 4, |i| *i).is_empty());
    }

    #[test]
    fn at_most_n_hold_a_slot_at_once_and_all_of_them() {
        const N: usize = 3;
        let slots = Slots::new(N);
        let (active, most, entered) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let first = Barrier::new(N);
        std::thread::scope(|scope| {
            for _ in 0..12 {
                scope.spawn(|| {
                    slots.run(|| {
                        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        if entered.fetch_add(1, Ordering::SeqCst) < N {
                            first.wait();
                        }
                        active.fetch_sub(1, Ordering::SeqCst);
                    })
                });
            }
        });
        assert_eq!(entered.load(Ordering::SeqCst), 12);
        assert_eq!(most.load(Ordering::SeqCst), N, "at most, and all, at once");
    }

    #[test]
    fn a_waiter_gets_a_slot_only_when_a_holder_lets_go() {
        let slots = Slots::new(2);
        let held = [slots.acquire(), slots.acquire()];
        let (got, acquired) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let _slot = slots.acquire();
                got.send(()).unwrap();
            });
            // Only a check that it did not happen yet, not a proof of order: that is the
            // holders' slots, which it cannot have.
            assert!(
                acquired.recv_timeout(Duration::from_millis(50)).is_err(),
                "a third slot of two"
            );
            let [one, _two] = held;
            drop(one);
            acquired.recv().unwrap();
        });
    }

    #[test]
    fn zero_slots_are_one() {
        let slots = Slots::new(0);
        let one = slots.acquire();
        drop(one);
        slots.run(|| ());
    }
}
