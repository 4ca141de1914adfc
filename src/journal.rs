//! The journal of updates in progress: `<STATE_DIR>/pending/<service>.json` is written right
//! after the snapshot and before the `.env`, and removed when the update is done (updated or
//! rolled back). A run that dies in between leaves it behind; the next run finds it and, if
//! the `.env` already holds the new pins, finishes the update (pull, restart, health gate,
//! rollback to the recorded snapshot if that fails), so the pinned digest runs without
//! manual help. If the `.env` still holds the old pins, nothing was changed and the entry is
//! dropped.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::atomic;
use crate::error::{Error, Result};

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

/// An update in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The snapshot taken before it, if any.
    pub snapshot_before: Option<u64>,
    /// Its changes.
    pub changes: Vec<PendingChange>,
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

    fn path(&self, service: &str) -> PathBuf {
        // Service names are folder names: no `/`; keep the file name plain anyway.
        let safe: String = service
            .chars()
            .map(|c| if c == '/' { '_' } else { c })
            .collect();
        self.dir.join(format!("{safe}.json"))
    }

    /// The update in progress for `service`, if any. An unreadable entry is dropped.
    pub fn get(&self, service: &str) -> Option<Pending> {
        let path = self.path(service);
        let text = fs::read_to_string(&path).ok()?;
        match serde_json::from_str(&text) {
            Ok(pending) => Some(pending),
            Err(e) => {
                log::warn!("{}: unreadable ({e}); dropped", path.display());
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Records an update in progress (atomically).
    pub fn put(&self, service: &str, pending: &Pending) -> Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))?;
        let path = self.path(service);
        let json = serde_json::to_string(pending).map_err(|e| Error::io(&path, e.into()))?;
        atomic::write(&path, json.as_bytes(), 0o600).map_err(|e| Error::io(&path, e))
    }

    /// Forgets the update of `service`.
    pub fn remove(&self, service: &str) {
        let path = self.path(service);
        if let Err(e) = fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                log::warn!("{}: {e}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        };
        journal.put("svc", &pending).unwrap();
        assert_eq!(journal.get("svc"), Some(pending));
        journal.remove("svc");
        assert!(journal.get("svc").is_none());
        std::fs::write(dir.path().join("pending/bad.json"), "{").unwrap();
        assert!(journal.get("bad").is_none());
        assert!(!dir.path().join("pending/bad.json").exists());
    }
}
