//! A [`Runner`] that runs nothing: it records every command and answers by matching the
//! command line, so that the pipeline's steps can be tested in milliseconds without root,
//! and faults injected where the real tools cannot be made to fail. It is passed in
//! explicitly, like the real runner (there is no test-only switch in the code it drives).
//!
//! An answer is chosen by the first pattern (a substring of the command line, as
//! [`Cmd`]'s `Display` shows it without the folder) given to [`Recording::answer`] or
//! [`Recording::fail`] that the command contains, patterns given later first. Each pattern
//! holds a queue of answers: one is taken per matching call, and the last one stays. A
//! command no pattern matches succeeds and prints nothing. [`Recording::fail_call`] fails
//! the call with that number (from 0) whatever it is.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::adapters::runner::{Cmd, Output, RunError, Runner};

/// What a matched command gives.
#[derive(Debug, Clone)]
enum Answer {
    /// Success with this standard output.
    Prints(String),
    /// Exit status 1 with this standard error.
    Fails(String),
}

/// The recording runner (see the module).
#[derive(Debug, Default)]
pub struct Recording {
    patterns: Mutex<Vec<(String, VecDeque<Answer>)>>,
    calls: Mutex<Vec<String>>,
    fail_call: Option<usize>,
}

impl Recording {
    /// A runner where every command succeeds and prints nothing.
    pub fn new() -> Recording {
        Recording::default()
    }

    /// Commands containing `pattern` print `stdout` (queued after earlier answers of the
    /// same pattern).
    pub fn answer(self, pattern: &str, stdout: &str) -> Recording {
        self.push(pattern, Answer::Prints(stdout.to_owned()))
    }

    /// Commands containing `pattern` fail with `stderr` (queued like [`Recording::answer`]).
    pub fn fail(self, pattern: &str, stderr: &str) -> Recording {
        self.push(pattern, Answer::Fails(stderr.to_owned()))
    }

    /// The call numbered `n` (from 0) fails, whatever it is.
    pub fn fail_call(mut self, n: usize) -> Recording {
        self.fail_call = Some(n);
        self
    }

    /// The command lines run so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// How many commands run so far contain `pattern`.
    pub fn count(&self, pattern: &str) -> usize {
        self.calls().iter().filter(|c| c.contains(pattern)).count()
    }

    fn push(self, pattern: &str, answer: Answer) -> Recording {
        if let Ok(mut patterns) = self.patterns.lock() {
            match patterns.iter_mut().find(|(p, _)| p == pattern) {
                Some((_, queue)) => queue.push_back(answer),
                None => patterns.push((pattern.to_owned(), VecDeque::from([answer]))),
            }
        }
        self
    }

    /// The answer for `line`: the newest matching pattern's next one.
    fn answer_for(&self, line: &str) -> Option<Answer> {
        let mut patterns = self.patterns.lock().ok()?;
        let (_, queue) = patterns.iter_mut().rev().find(|(p, _)| line.contains(p))?;
        if queue.len() > 1 {
            queue.pop_front()
        } else {
            queue.front().cloned()
        }
    }
}

impl Runner for Recording {
    fn run(&self, cmd: &Cmd) -> Result<Output, RunError> {
        let line = shell_words::join(std::iter::once(&cmd.program).chain(&cmd.args));
        let number = {
            let Ok(mut calls) = self.calls.lock() else {
                return Ok(Output::default());
            };
            calls.push(line.clone());
            calls.len() - 1
        };
        let failed = |stderr: String| RunError::Failed {
            cmd: Box::new(cmd.clone()),
            status: "exited with status 1".into(),
            stderr,
        };
        if self.fail_call == Some(number) {
            return Err(failed(format!("call {number} fails")));
        }
        match self.answer_for(&line) {
            None => Ok(Output::default()),
            Some(Answer::Prints(stdout)) => Ok(Output {
                stdout,
                stderr: String::new(),
            }),
            Some(Answer::Fails(stderr)) => Err(failed(stderr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_by_pattern_in_turn_and_records_everything() {
        let runner = Recording::new()
            .answer("ps -a", "")
            .answer("ps -a", "c1\n")
            .fail("undochange", "No space left on device")
            .fail_call(4);
        let run = |words: &str| {
            let words: Vec<String> = words.split(' ').map(str::to_owned).collect();
            runner.run(&Cmd::from_words(&words))
        };
        assert_eq!(run("podman ps -a -q").unwrap().stdout, "");
        assert_eq!(run("podman ps -a -q").unwrap().stdout, "c1\n");
        assert_eq!(
            run("podman ps -a -q").unwrap().stdout,
            "c1\n",
            "the last one stays"
        );
        let err = run("snapper -c x undochange 3..0").unwrap_err();
        assert!(err.to_string().contains("No space left"), "{err}");
        assert!(run("podman-compose up -d").is_err(), "call 4");
        assert!(run("podman-compose up -d").is_ok(), "nothing matches");
        assert_eq!(runner.count("ps -a"), 3);
        assert_eq!(runner.calls().len(), 6);
    }
}
