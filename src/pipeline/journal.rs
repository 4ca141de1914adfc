//! The journal of updates and rollbacks in progress: `<STATE_DIR>/pending/<service>.json` is
//! written before an update stops anything, again right after the snapshot and before the
//! `.env` (each naming the step it is about to take, [`StepName`]), rewritten at each step of a
//! rollback before that step is taken, and removed when the update is done (updated or rolled
//! back). A run that dies in between leaves it behind and the next run finishes what it says:
//! - an update whose `.env` already holds the new pins is finished (pull, restart, health
//!   gate, rollback to the recorded snapshot if that fails), so the pinned digest runs
//!   without manual help; one whose `.env` still holds the old pins changed nothing, and the
//!   entry is dropped, once what it stopped is started again on the old pins;
//! - a rollback ([`RollingBack`]) is finished to the snapshot (or pins) it recorded, never
//!   to a new one: `undochange` to the same snapshot is safe to repeat, a failed-state
//!   snapshot already taken is not taken again, and one that got as far as restoring the
//!   files only starts the service and gates it. Until then the service is not updated.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::private_dir::{self, Create, PrivateDir, Untrusted};
use crate::formats::image::reference::Pin;
use crate::pipeline::service::Change;

/// One pin change of an update in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    /// The `<X>` of the entry.
    pub entry: String,
    /// The pin before.
    pub old: Option<String>,
    /// The pin being applied.
    pub new: String,
}

/// An update (or a rollback) in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The snapshot taken before it, if any.
    pub snapshot_before: Option<u64>,
    /// Its changes (none for a rollback on request).
    pub changes: Vec<PendingChange>,
    /// Set once a rollback of the service started: where it goes and how far it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollingBack>,
    /// Set when the update stopped compose services before its snapshot: what to start
    /// again on the old pins if it dies before the `.env` holds the new ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    /// The step the update was about to take when the entry was written; none in a
    /// rollback's entries and in those written before the steps were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached: Option<StepName>,
}

/// The steps of an update an entry is written before (see
/// `pipeline::apply` for all its steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    /// Stopping what changes, for a snapshot at rest: the `.env` holds the old pins.
    Stop,
    /// The snapshot (if any) is taken; the new pins are being written to the `.env`.
    WriteEnv,
}

/// What an update stopped before it wrote the new pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    /// The compose services stopped; none: the whole project.
    pub services: Vec<String>,
}

/// A rollback in progress, recorded before each of its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollingBack {
    /// The snapshot the service goes back to; none: only the pins in `pins`.
    pub to_snapshot: Option<u64>,
    /// Without a snapshot: each entry's pin written back (`<X>`, pin).
    #[serde(default)]
    pub pins: Vec<(String, Option<String>)>,
    /// The snapshot of the state before the rollback, once taken.
    pub state_snapshot: Option<u64>,
    /// The last step begun.
    pub step: RollbackStep,
    /// Why it rolls back.
    pub why: String,
}

/// The steps of a rollback, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackStep {
    /// Decided; the service is being stopped.
    Started,
    /// The files (or pins) are being put back.
    Restoring,
    /// Files and pins are back; the service is being started and gated.
    Restored,
}

impl Pending {
    /// Whether the `.env` of `service` already holds every new pin of this update.
    pub fn written(&self, service: &crate::pipeline::service::Service) -> bool {
        self.changes.iter().all(|c| {
            service
                .images
                .iter()
                .any(|i| i.entry == c.entry && i.pinned.as_deref() == Some(c.new.as_str()))
        })
    }

    /// Its changes as the update pipeline takes them (a pin that does not parse is left out).
    pub fn to_changes(&self) -> Vec<Change> {
        self.changes
            .iter()
            .filter_map(|c| {
                Some(Change {
                    entry: c.entry.clone(),
                    old: c.old.clone(),
                    new: Pin::parse(&c.new).ok()?,
                    retag: None,
                    older: None,
                })
            })
            .collect()
    }
}

/// The journal folder.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// The journal in `state_dir`.
    pub fn new(state_dir: &std::path::Path) -> Journal {
        Journal {
            dir: state_dir.join("pending"),
        }
    }

    fn name(service: &str) -> String {
        // Service names are folder names: no `/`; keep the file name plain anyway.
        let safe: String = service
            .chars()
            .map(|c| if c == '/' { '_' } else { c })
            .collect();
        format!("{safe}.json")
    }

    fn path(&self, service: &str) -> PathBuf {
        self.dir.join(Journal::name(service))
    }

    /// The journal folder, if it exists and may be trusted (warned about if not).
    fn folder(&self, create: Create) -> Option<PrivateDir> {
        match PrivateDir::open(&self.dir, create) {
            Ok(dir) => Some(dir),
            Err(Untrusted::Missing(_)) => None,
            Err(e) => {
                log::warn!("{e}; the journal is not used");
                None
            }
        }
    }

    /// The update in progress for `service`, if any. An unreadable entry, or one that is
    /// not to be trusted (a link, another user's file), is dropped.
    pub fn get(&self, service: &str) -> Option<Pending> {
        let dir = self.folder(Create::No)?;
        let name = Journal::name(service);
        let path = self.path(service);
        let bytes = match dir.read(&name) {
            Ok(bytes) => bytes?,
            Err(e) => {
                log::warn!("{e}; dropped");
                let _ = dir.remove(&name);
                return None;
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(pending) => Some(pending),
            Err(e) => {
                log::warn!("{}: unreadable ({e}); dropped", path.display());
                let _ = dir.remove(&name);
                None
            }
        }
    }

    /// Records an update in progress (atomically).
    pub fn put(&self, service: &str, pending: &Pending) -> Result<()> {
        let dir = private_dir::state(&self.dir, Create::Yes)?;
        let path = self.path(service);
        let json = serde_json::to_string(pending).map_err(|e| Error::io(&path, e.into()))?;
        dir.write(&Journal::name(service), json.as_bytes(), 0o600)
            .map_err(|e| Error::io(&path, e))
    }

    /// Forgets the update of `service`.
    pub fn remove(&self, service: &str) {
        let Some(dir) = self.folder(Create::No) else {
            return;
        };
        if let Err(e) = dir.remove(&Journal::name(service)) {
            log::warn!("{}: {e}", self.path(service).display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending_example() -> Pending {
        Pending {
            snapshot_before: Some(1),
            changes: Vec::new(),
            rollback: None,
            stopped: None,
            reached: None,
        }
    }

    #[test]
    fn a_rollback_in_progress_is_kept_and_old_entries_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        let pending = Pending {
            rollback: Some(RollingBack {
                to_snapshot: Some(4),
                pins: Vec::new(),
                state_snapshot: Some(6),
                step: RollbackStep::Restoring,
                why: "health gate: app exited".into(),
            }),
            ..pending_example()
        };
        journal.put("svc", &pending).unwrap();
        assert_eq!(journal.get("svc"), Some(pending));
        // An entry written before rollbacks were journalled.
        std::fs::write(
            dir.path().join("pending/old.json"),
            r#"{"snapshot_before":3,"changes":[]}"#,
        )
        .unwrap();
        assert_eq!(
            journal.get("old").unwrap().rollback,
            None,
            "an update, not a rollback"
        );
        assert!(RollbackStep::Started < RollbackStep::Restoring);
    }

    #[test]
    fn put_get_remove() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        assert!(journal.get("svc").is_none());
        let pending = Pending {
            snapshot_before: Some(4),
            changes: vec![PendingChange {
                entry: "APP".into(),
                old: None,
                new: "a@sha256:1".into(),
            }],
            rollback: None,
            stopped: None,
            reached: Some(StepName::WriteEnv),
        };
        journal.put("svc", &pending).unwrap();
        assert_eq!(journal.get("svc"), Some(pending));
        journal.remove("svc");
        assert!(journal.get("svc").is_none());
        std::fs::write(dir.path().join("pending/bad.json"), "{").unwrap();
        assert!(journal.get("bad").is_none());
        assert!(!dir.path().join("pending/bad.json").exists());
        // An entry planted as a link is neither followed nor kept.
        let elsewhere = dir.path().join("elsewhere.json");
        std::fs::write(
            &elsewhere,
            serde_json::to_string(&pending_example()).unwrap(),
        )
        .unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("pending/link.json")).unwrap();
        assert!(journal.get("link").is_none());
        assert!(!dir.path().join("pending/link.json").exists());
        assert!(elsewhere.exists());
    }

    #[test]
    fn the_step_reached_is_recorded_and_entries_without_it_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        let pending = Pending {
            stopped: Some(Stopped {
                services: vec!["app".into()],
            }),
            reached: Some(StepName::Stop),
            ..pending_example()
        };
        journal.put("svc", &pending).unwrap();
        let text = std::fs::read_to_string(dir.path().join("pending/svc.json")).unwrap();
        assert!(text.contains(r#""reached":"stop""#), "{text}");
        assert_eq!(journal.get("svc"), Some(pending));
        // Written before the steps were recorded: nothing reached is said.
        std::fs::write(
            dir.path().join("pending/old.json"),
            r#"{"snapshot_before":3,"changes":[],"stopped":{"services":["app"]}}"#,
        )
        .unwrap();
        let old = journal.get("old").unwrap();
        assert_eq!((old.reached, old.snapshot_before), (None, Some(3)));
        let unnamed = serde_json::to_string(&pending_example()).unwrap();
        assert!(!unnamed.contains("reached"), "{unnamed}");
    }

    #[test]
    fn written_once_the_env_holds_every_new_pin() {
        let a = "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let b = "r.io/app@sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let (_root, _config, dir) = crate::pipeline::fixture::service(b);
        let service = crate::pipeline::service::load(&dir).unwrap();
        let change = |entry: &str, new: &str| PendingChange {
            entry: entry.into(),
            old: Some(a.into()),
            new: new.into(),
        };
        let pending = |changes| Pending {
            changes,
            ..pending_example()
        };
        // (changes, written)
        let cases = [
            (vec![], true),
            (vec![change("APP", b)], true),
            (vec![change("APP", a)], false),
            (vec![change("APP", b), change("DB", b)], false),
        ];
        for (changes, written) in cases {
            let p = pending(changes);
            assert_eq!(p.written(&service), written, "{:?}", p.changes);
        }
        // A pin that does not parse is left out of the changes to make.
        let p = pending(vec![change("APP", b), change("DB", "not a pin")]);
        let changes = p.to_changes();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].entry.as_str(), changes[0].new.as_str()),
            ("APP", b)
        );
        assert_eq!(changes[0].old.as_deref(), Some(a));
    }

    #[test]
    fn a_service_name_with_a_slash_stays_inside_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        journal.put("a/b", &pending_example()).unwrap();
        assert!(dir.path().join("pending/a_b.json").exists());
        assert_eq!(journal.get("a/b"), Some(pending_example()));
        journal.remove("a/b");
        assert!(journal.get("a/b").is_none());
        // Removing what is not there is no error.
        journal.remove("none");
    }
}
