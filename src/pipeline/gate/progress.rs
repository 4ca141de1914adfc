//! A line now and then, on a terminal only, saying what a health gate waits for.

use std::time::{Duration, Instant};

/// A line now and then, on a terminal only, saying what a gate waits for and how long it
/// may still wait: the seconds of a gate are otherwise silent.
pub struct Progress<'n> {
    name: &'n str,
    deadline: Duration,
    started: Instant,
    said: Option<Instant>,
    on: bool,
}

/// How often a waiting gate says so.
const SAY_EVERY: Duration = Duration::from_secs(3);

impl<'n> Progress<'n> {
    /// A gate of service `name` that waits until `deadline` from now.
    pub fn new(name: &'n str, deadline: Duration) -> Progress<'n> {
        use std::io::IsTerminal;
        Progress {
            name,
            deadline,
            started: Instant::now(),
            said: None,
            on: std::io::stderr().is_terminal(),
        }
    }

    /// Says what the gate waits for, unless it did a moment ago.
    pub fn say(&mut self, waiting: &[String]) {
        if !self.on || self.said.is_some_and(|t| t.elapsed() < SAY_EVERY) {
            return;
        }
        self.said = Some(Instant::now());
        let left = self.deadline.saturating_sub(self.started.elapsed());
        log::info!(
            "{}: health gate waits for {} ({}s left at most)",
            self.name,
            waiting.join(", "),
            left.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_says_nothing_off_a_terminal_and_once_in_a_while_on_one() {
        let waiting = ["svc_app_1 (starting)".to_owned()];
        let mut off = Progress::new("svc", Duration::from_secs(60));
        off.on = false;
        off.say(&waiting);
        assert!(off.said.is_none(), "off a terminal nothing is said");
        let mut on = Progress {
            on: true,
            ..Progress::new("svc", Duration::from_secs(60))
        };
        on.say(&waiting);
        let first = on.said.expect("said once");
        on.say(&waiting);
        assert_eq!(on.said, Some(first), "not again within {SAY_EVERY:?}");
        on.said = Some(Instant::now() - SAY_EVERY);
        on.say(&waiting);
        assert!(
            on.said.is_some_and(|t| t > first),
            "again after {SAY_EVERY:?}"
        );
    }
}
