//! When cipug first saw each digest behind each tag: `<STATE_DIR>/first-seen.json`,
//! `{"<tag as written>": {"<sha256:...>": <unix seconds>}}`. Outside the service subvolumes,
//! so a rollback cannot undo it, and on disk, so it survives a reboot. A digest is never
//! forgotten while its tag is followed, so a tag that moves away and comes back keeps the
//! digest's first time, and every digest a tag had is kept with its time: the cool-down
//! adopts the newest of them that is old enough when the tag's newest is not
//! ([`crate::pipeline::select::cooldown`]). The same map holds the newer version tags announced
//! (`"tag <name>"` keys), which are not digests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file name under `STATE_DIR`.
pub const FILE_NAME: &str = "first-seen.json";

/// The first-seen times of one run, loaded at its start and saved at its end.
#[derive(Debug, Clone)]
pub struct FirstSeen {
    path: PathBuf,
    times: BTreeMap<String, BTreeMap<String, f64>>,
    changed: bool,
}

impl FirstSeen {
    /// Loads `<state_dir>/first-seen.json`; a missing file is empty, an unreadable one a
    /// warning (and empty: digests count as new, so the cool-down starts again).
    pub fn load(state_dir: &Path) -> FirstSeen {
        let path = state_dir.join(FILE_NAME);
        let times = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::warn!(
                    "{}: not readable ({e}); first-seen times start anew",
                    path.display()
                );
                BTreeMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                log::warn!("{}: {e}; first-seen times start anew", path.display());
                BTreeMap::new()
            }
        };
        FirstSeen {
            path,
            times,
            changed: false,
        }
    }

    /// When `digest` was first seen behind `tagged`, recording `now` if it is new.
    pub fn see(&mut self, tagged: &str, digest: &str, now: f64) -> f64 {
        let digests = self.times.entry(tagged.to_owned()).or_default();
        if let Some(t) = digests.get(digest) {
            return *t;
        }
        digests.insert(digest.to_owned(), now);
        self.changed = true;
        now
    }

    /// When `digest` was first seen behind `tagged`, if it was.
    pub fn time(&self, tagged: &str, digest: &str) -> Option<f64> {
        self.times.get(tagged)?.get(digest).copied()
    }

    /// Every digest seen behind `tagged`, with when it was first seen (other keys left out).
    pub fn digests<'s>(&'s self, tagged: &str) -> impl Iterator<Item = (&'s str, f64)> + 's {
        self.times
            .get(tagged)
            .into_iter()
            .flatten()
            .filter(|(key, _)| crate::formats::image::reference::valid_digest(key))
            .map(|(key, time)| (key.as_str(), *time))
    }

    /// Whether `what` (e.g. a newer tag) is new behind `tagged`, recording it if so.
    pub fn first_time(&mut self, tagged: &str, what: &str, now: f64) -> bool {
        let digests = self.times.entry(tagged.to_owned()).or_default();
        if digests.contains_key(what) {
            return false;
        }
        digests.insert(what.to_owned(), now);
        self.changed = true;
        true
    }

    /// Writes the file atomically (mode 0600) if anything new was seen.
    pub fn save(&self) {
        if !self.changed {
            return;
        }
        let text = match serde_json::to_vec_pretty(&self.times) {
            Ok(text) => text,
            Err(e) => return log::warn!("{}: {e}", self.path.display()),
        };
        if let Some(dir) = self.path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
        if let Err(e) = crate::files::atomic::write(&self.path, &text, 0o600) {
            log::warn!("{}: could not write: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_time_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = FirstSeen::load(dir.path());
        assert_eq!(seen.see("a:1", "sha256:x", 100.0), 100.0);
        assert_eq!(seen.see("a:1", "sha256:x", 200.0), 100.0);
        assert_eq!(seen.see("a:1", "sha256:y", 300.0), 300.0);
        seen.save();
        let mut again = FirstSeen::load(dir.path());
        assert_eq!(again.see("a:1", "sha256:x", 900.0), 100.0, "came back to x");
        assert_eq!(again.see("a:2", "sha256:x", 900.0), 900.0, "another tag");
    }

    #[test]
    fn lists_the_digests_a_tag_had_and_not_the_tags_announced() {
        let dir = tempfile::tempdir().unwrap();
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        // A file as written before the cool-down looked back: the same shape, read as is.
        let old = serde_json::json!({"app:1": {&a: 100.0, &b: 200.0, "tag 1.2": 150.0}});
        std::fs::write(dir.path().join(FILE_NAME), old.to_string()).unwrap();
        let seen = FirstSeen::load(dir.path());
        let digests: Vec<(&str, f64)> = seen.digests("app:1").collect();
        assert_eq!(digests, [(a.as_str(), 100.0), (b.as_str(), 200.0)]);
        assert_eq!(seen.time("app:1", &b), Some(200.0));
        assert_eq!(seen.time("app:2", &b), None);
        assert_eq!(seen.digests("app:2").count(), 0);
    }
}
