//! A bound on how many health gates look at their containers at once, whichever threads
//! wait for them: the settle period of one service does not hold up the next, and the
//! looks of many do not crowd out the services being restarted.

use crate::base::parallel::Slots;

/// How many services wait for their health gate at once (each looks at its containers four
/// times a second until they run, then every two seconds with one `container inspect`).
const GATES_AT_ONCE: usize = 8;

/// Lets at most [`GATES_AT_ONCE`] health gates look at their containers at a time, whichever
/// threads wait for them: the settle period of one service does not hold up the next.
pub struct GateSlots(Slots);

impl Default for GateSlots {
    fn default() -> Self {
        GateSlots(Slots::new(GATES_AT_ONCE))
    }
}

impl GateSlots {
    /// Runs `f` (a health gate) once a slot is free, and frees it again.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        self.0.run(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn at_most_gates_at_once_look_at_a_time() {
        let slots = GateSlots::default();
        let (active, most, done, entered) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        // The first ones in wait for each other: all of them are inside at once, whatever
        // the scheduling (no sleep decides it).
        let first = std::sync::Barrier::new(GATES_AT_ONCE);
        std::thread::scope(|scope| {
            for _ in 0..20 {
                scope.spawn(|| {
                    slots.run(|| {
                        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        if entered.fetch_add(1, Ordering::SeqCst) < GATES_AT_ONCE {
                            first.wait();
                        }
                        active.fetch_sub(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                });
            }
        });
        assert_eq!(done.load(Ordering::SeqCst), 20);
        assert_eq!(
            most.load(Ordering::SeqCst),
            GATES_AT_ONCE,
            "at most, and all, at once"
        );
    }
}
