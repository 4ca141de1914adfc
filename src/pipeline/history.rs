//! The history of updates and rollbacks: one JSON object per line in
//! `<STATE_DIR>/history.jsonl`, outside the service subvolumes so that a rollback cannot undo
//! it, and on disk so that it survives a reboot. Held-back digests are derived from it.

use std::io::Write;
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::private_dir::{self, Create};

const HISTORY_FILE: &str = "history.jsonl";

/// What happened to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The pin moved from `old` to `new` and the service runs on it.
    #[serde(rename = "updated")]
    Updated,
    /// The update from `old` to `new` failed and was undone: `old` runs again, `new` is held.
    #[serde(rename = "rolled back")]
    RolledBack,
    /// The update from `old` to `new` failed and was not undone.
    #[serde(rename = "failed")]
    Failed,
    /// `new` could not be pulled; nothing was touched and `new` is held.
    #[serde(rename = "pull failed")]
    PullFailed,
    /// `new` failed before and was not tried again.
    #[serde(rename = "held back")]
    HeldBack,
    /// `cipug rollback` put `new` back in place of `old`; `old` is held.
    #[serde(rename = "rollback")]
    Rollback,
}

impl Outcome {
    /// The word used in tables and notifications.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Updated => "updated",
            Outcome::RolledBack => "rolled back",
            Outcome::Failed => "failed",
            Outcome::PullFailed => "pull failed",
            Outcome::HeldBack => "held back",
            Outcome::Rollback => "rollback",
        }
    }
}

/// One line of history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When, RFC 3339 in UTC.
    pub time: String,
    /// The service folder name.
    pub service: String,
    /// The `<X>` of the entry.
    pub entry: String,
    /// The pin before.
    pub old: Option<String>,
    /// The pin tried or put back.
    pub new: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// The snapshot taken before the change.
    pub snapshot_before: Option<u64>,
    /// The snapshot of the failed state taken before undoing (of a `rollback` on request: of
    /// the state before it, snapper userdata `cipug=before-rollback`).
    pub snapshot_failed: Option<u64>,
    /// Details (the error, or what was restored).
    pub message: Option<String>,
}

impl Event {
    /// The pin this event gave up on, which later runs hold back.
    pub fn abandoned(&self) -> Option<&str> {
        match self.outcome {
            Outcome::RolledBack | Outcome::PullFailed => self.new.as_deref(),
            Outcome::Rollback => self.old.as_deref(),
            _ => None,
        }
    }
}

/// The history file.
#[derive(Debug, Clone)]
pub struct History {
    path: PathBuf,
}

impl History {
    /// The history in `state_dir`.
    pub fn new(state_dir: &Path) -> History {
        History {
            path: state_dir.join(HISTORY_FILE),
        }
    }

    fn folder(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("/"))
    }

    /// Every event, oldest first. A line that cannot be read is skipped with a warning.
    pub fn events(&self) -> Result<Vec<Event>> {
        let dir = match private_dir::state(self.folder(), Create::No) {
            Ok(dir) => dir,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(e),
        };
        let bytes = match dir.read(HISTORY_FILE) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(Vec::new()),
            Err(private_dir::Untrusted::Unsafe(msg)) => {
                return Err(Error::Value(format!(
                    "{msg}; cipug does not trust this history"
                )))
            }
            Err(private_dir::Untrusted::Missing(_)) => return Ok(Vec::new()),
            Err(private_dir::Untrusted::Io { path, source }) => {
                return Err(Error::io(path, source))
            }
        };
        Ok(parse(&self.path, &String::from_utf8_lossy(&bytes)))
    }

    /// Appends `events` (one `write` per line, so a crash leaves whole lines).
    pub fn append(&self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let dir = private_dir::state(self.folder(), Create::Yes)?;
        let mut file = dir
            .open_file(
                HISTORY_FILE,
                OFlags::WRONLY | OFlags::CREATE | OFlags::APPEND,
                0o600,
            )
            .map_err(|e| Error::io(&self.path, e))?;
        for event in events {
            let mut line =
                serde_json::to_string(event).map_err(|e| Error::io(&self.path, e.into()))?;
            line.push('\n');
            file.write_all(line.as_bytes())
                .map_err(|e| Error::io(&self.path, e))?;
        }
        file.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}

fn parse(path: &Path, text: &str) -> Vec<Event> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .filter_map(|(i, line)| match serde_json::from_str(line) {
            Ok(event) => Some(event),
            Err(e) => {
                log::warn!("{}:{}: skipped: {e}", path.display(), i + 1);
                None
            }
        })
        .collect()
}

/// Whether `pin` of `service`/`entry` was given up on and not successfully retried (or
/// rolled back to) since.
pub fn is_held(events: &[Event], service: &str, entry: &str, pin: &str) -> bool {
    held_by(events, service, entry, pin).is_some()
}

/// The event that gave up on `pin` of `service`/`entry`, if it was not successfully
/// retried since.
pub fn held_by<'e>(
    events: &'e [Event],
    service: &str,
    entry: &str,
    pin: &str,
) -> Option<&'e Event> {
    for event in events
        .iter()
        .rev()
        .filter(|e| e.service == service && e.entry == entry)
    {
        if event.abandoned() == Some(pin) {
            return Some(event);
        }
        // An update to the pin, or a rollback to it (one undoing a rollback), takes it back.
        if matches!(event.outcome, Outcome::Updated | Outcome::Rollback)
            && event.new.as_deref() == Some(pin)
        {
            return None;
        }
    }
    None
}

/// Why `pin` of `service`/`entry` is held back, for logs and notifications: a failed update
/// or pull (`failed before`), or a manual `cipug rollback` that left it, which is no failure.
pub fn why_held(events: &[Event], service: &str, entry: &str, pin: &str) -> &'static str {
    match held_by(events, service, entry, pin).map(|e| e.outcome) {
        Some(Outcome::Rollback) => "was rolled back with `cipug rollback`",
        _ => "failed before",
    }
}

/// The current time for events.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One history event of `change`.
pub fn event(
    service: &str,
    change: &crate::pipeline::service::Change,
    outcome: Outcome,
    snapshots: (Option<u64>, Option<u64>),
    message: Option<String>,
) -> Event {
    Event {
        time: now(),
        service: service.to_owned(),
        entry: change.entry.clone(),
        old: change.old.clone(),
        new: Some(change.new.as_str().to_owned()),
        outcome,
        snapshot_before: snapshots.0,
        snapshot_failed: snapshots.1,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(outcome: Outcome, old: &str, new: &str) -> Event {
        Event {
            time: "2026-01-01T00:00:00Z".into(),
            service: "svc".into(),
            entry: "APP".into(),
            old: Some(old.into()),
            new: Some(new.into()),
            outcome,
            snapshot_before: Some(1),
            snapshot_failed: None,
            message: None,
        }
    }

    #[test]
    fn held_back_until_retried_successfully() {
        let mut events = vec![
            event(Outcome::Updated, "a", "b"),
            event(Outcome::RolledBack, "b", "c"),
        ];
        assert!(is_held(&events, "svc", "APP", "c"));
        assert!(!is_held(&events, "svc", "APP", "d"));
        assert!(!is_held(&events, "other", "APP", "c"));
        events.push(event(Outcome::Updated, "b", "c"));
        assert!(
            !is_held(&events, "svc", "APP", "c"),
            "--retry-failed worked"
        );
        events.push(event(Outcome::Rollback, "c", "b"));
        assert!(
            is_held(&events, "svc", "APP", "c"),
            "a manual rollback holds what it left"
        );
        let why = why_held(&events, "svc", "APP", "c");
        assert_eq!(
            why, "was rolled back with `cipug rollback`",
            "not a failure"
        );
        events.push(event(Outcome::Rollback, "b", "c"));
        assert!(
            !is_held(&events, "svc", "APP", "c"),
            "undoing the rollback takes its pin back"
        );
        assert!(is_held(&events, "svc", "APP", "b"));
        events.push(event(Outcome::RolledBack, "c", "d"));
        assert_eq!(why_held(&events, "svc", "APP", "d"), "failed before");
    }

    #[test]
    fn append_and_read_back_skipping_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::new(&dir.path().join("state"));
        assert!(history.events().unwrap().is_empty());
        history
            .append(&[event(Outcome::Updated, "a", "b")])
            .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("state/history.jsonl"))
            .unwrap()
            .write_all(b"{broken\n")
            .unwrap();
        history
            .append(&[event(Outcome::RolledBack, "b", "c")])
            .unwrap();
        let events = history.events().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].outcome, Outcome::RolledBack);
        let line = std::fs::read_to_string(dir.path().join("state/history.jsonl")).unwrap();
        assert!(line.contains(r#""outcome":"rolled back""#), "{line}");
    }

    #[test]
    fn what_each_outcome_gives_up_on() {
        let cases = [
            (Outcome::Updated, None),
            (Outcome::Failed, None),
            (Outcome::HeldBack, None),
            (Outcome::RolledBack, Some("new")),
            (Outcome::PullFailed, Some("new")),
            (Outcome::Rollback, Some("old")),
        ];
        for (outcome, want) in cases {
            assert_eq!(
                event(outcome, "old", "new").abandoned(),
                want,
                "{outcome:?}"
            );
            let json = serde_json::to_value(outcome).unwrap();
            assert_eq!(json, outcome.as_str(), "the file says what the log says");
        }
    }

    #[test]
    fn an_event_of_a_change_carries_its_pins_and_snapshots() {
        let pin =
            "r.io/app@sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let change = crate::pipeline::fixture::change("APP", Some("r.io/app:old"), pin);
        let e = super::event(
            "svc",
            &change,
            Outcome::RolledBack,
            (Some(3), Some(4)),
            Some("unhealthy".into()),
        );
        assert_eq!((e.service.as_str(), e.entry.as_str()), ("svc", "APP"));
        assert_eq!(
            (e.old.as_deref(), e.new.as_deref()),
            (Some("r.io/app:old"), Some(pin))
        );
        assert_eq!((e.snapshot_before, e.snapshot_failed), (Some(3), Some(4)));
        assert!(
            chrono::DateTime::parse_from_rfc3339(&e.time).is_ok(),
            "{}",
            e.time
        );
        assert!(is_held(&[e], "svc", "APP", pin));
    }
}
