//! The plan of one service's update: its env file read, its pins compared with the
//! resolved digests, and the env file with the new pins. Pure but for reading the file.

use std::path::Path;

use crate::error::{EnvError, Error, Result};
use crate::files::atomic;
use crate::formats::envfile::EnvFile;
use crate::formats::image::reference::Pin;
use crate::formats::pins::{image_entries, ImageEntry};
use crate::resolve::Resolutions;
use crate::services::ServiceDir;

/// A service with its parsed env file and image entries.
#[derive(Debug, Clone)]
pub struct Service {
    /// The folder.
    pub dir: ServiceDir,
    /// The env file exactly as read.
    pub env: EnvFile,
    /// Its image entries.
    pub images: Vec<ImageEntry>,
}

/// One pin that changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The `<X>` of the entry.
    pub entry: String,
    /// The pin before, if any.
    pub old: Option<String>,
    /// The new pin.
    pub new: Pin,
    /// The version tag that moves with the pin (`TAG_UPDATE`), if any.
    pub retag: Option<crate::formats::image::retag::Retag>,
    /// Set when the new pin is an older digest of the tag, adopted while the tag's newest
    /// cools down.
    pub older: Option<Older>,
}

/// An older digest adopted while the tag's newest cools down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Older {
    /// How long ago the adopted digest was first seen behind the tag (seconds).
    pub seen_ago: u64,
    /// The tag's newest digest (as a pin), still cooling down.
    pub newest: String,
    /// How long ago the newest was first seen behind the tag (seconds).
    pub newest_ago: u64,
}

/// `{"seen_hours": 26.02, "newest": "<pin>", "newest_seen_hours": 3.0}` in `--format json`.
impl serde::Serialize for Older {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let in_hours = |secs: u64| (secs as f64 / 36.0).round() / 100.0;
        let mut s = serializer.serialize_struct("Older", 3)?;
        s.serialize_field("seen_hours", &in_hours(self.seen_ago))?;
        s.serialize_field("newest", &self.newest)?;
        s.serialize_field("newest_seen_hours", &in_hours(self.newest_ago))?;
        s.end()
    }
}

/// What happened to a service.
#[derive(Debug)]
pub enum Outcome {
    /// Every pin was current (or held back).
    Current,
    /// Pins changed and every step succeeded.
    Updated {
        /// The changes.
        changes: Vec<Change>,
        /// The snapshot taken before, if any.
        snapshot: Option<u64>,
        /// The containers the update created (their names), as the health gate last saw
        /// them: empty when none were recreated (or the gate was not waited for).
        recreated: Vec<String>,
    },
    /// The restart or health gate failed and the update was undone.
    RolledBack {
        /// The changes that were undone.
        changes: Vec<Change>,
        /// Why the update failed.
        error: Error,
        /// The snapshot the service was put back to, and the one of the failed state.
        snapshots: (Option<u64>, Option<u64>),
    },
    /// A step failed; the error says which.
    Failed {
        /// The changes that were attempted (empty if resolution or parsing failed).
        changes: Vec<Change>,
        /// What went wrong.
        error: Error,
        /// The snapshot taken before the failed step, if one was.
        snapshot: Option<u64>,
        /// The snapshot of the failed state a rollback took before it failed too, if any.
        failed_snapshot: Option<u64>,
    },
}

/// The largest env file cipug reads (1 MiB): anything bigger is not a hand-written `.env`.
pub const ENV_FILE_LIMIT: u64 = 1 << 20;

/// Reads and parses a service's env file. Errors (exit 32) name the file and line.
pub fn load(dir: &ServiceDir) -> Result<Service> {
    dir.check_trust()?;
    let env_error = |msg: String| {
        Error::Env(EnvError::At {
            path: dir.env_file.clone(),
            msg,
        })
    };
    // Temporary files are made beside the file written: the link's target for a symlinked
    // env file.
    let written = std::fs::canonicalize(&dir.env_file).unwrap_or_else(|_| dir.env_file.clone());
    let folder = written.parent().unwrap_or(&dir.path);
    match atomic::remove_stale_temps(folder, &file_name(&written)) {
        Ok(0) => {}
        Ok(n) => log::info!(
            "{}: removed {n} temporary file(s) left by an interrupted run",
            dir.name
        ),
        Err(e) => log::warn!(
            "{}: could not look for stale temporary files: {e}",
            folder.display()
        ),
    }
    let size = std::fs::metadata(&dir.env_file)
        .map_err(|e| env_error(e.to_string()))?
        .len();
    if size > ENV_FILE_LIMIT {
        return Err(env_error(format!(
            "{size} bytes is more than an env file holds (limit {ENV_FILE_LIMIT}); not read"
        )));
    }
    let bytes = std::fs::read(&dir.env_file).map_err(|source| {
        Error::Env(EnvError::Read {
            path: dir.env_file.clone(),
            source,
        })
    })?;
    let env = EnvFile::parse(&bytes).map_err(|e| env_error(e.to_string()))?;
    let images =
        image_entries(&env).map_err(|(line, msg)| env_error(format!("line {line}: {msg}")))?;
    Ok(Service {
        dir: dir.clone(),
        env,
        images,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The changes for `service` given the run's resolutions, or the first resolution error.
pub fn changes(service: &Service, resolutions: &Resolutions) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for image in &service.images {
        match resolutions.get(&image.tagged) {
            Some(Ok(pin)) if image.pinned.as_deref() == Some(pin.as_str()) => {}
            Some(Ok(pin)) => changes.push(Change {
                entry: image.entry.clone(),
                old: image.pinned.clone(),
                new: pin.clone(),
                retag: None,
                older: None,
            }),
            Some(Err(msg)) => {
                return Err(Error::Resolve {
                    image: image.tagged.clone(),
                    msg: msg.to_string(),
                })
            }
            None => {
                return Err(Error::Resolve {
                    image: image.tagged.clone(),
                    msg: "was not resolved".into(),
                })
            }
        }
    }
    Ok(changes)
}

/// The snapshot description: which entries change, from which digest to which.
pub fn describe(changes: &[Change]) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|c| {
            let old = c
                .old
                .as_deref()
                .and_then(|o| Pin::parse(o).ok())
                .map_or_else(|| "unpinned".to_owned(), |p| p.digest().to_owned());
            format!("{}: {old} -> {}", c.entry, c.new.digest())
        })
        .collect();
    format!("cipug update {}", parts.join("; "))
}

/// The new env file text with `changes` applied.
pub fn apply(service: &Service, changes: &[Change]) -> EnvFile {
    let mut env = service.env.clone();
    for change in changes {
        let image = service.images.iter().find(|i| i.entry == change.entry);
        let tagged_key = image.map(ImageEntry::tagged_key);
        let hashed_key = image.map_or_else(
            || crate::formats::env_keys::HASHED.key(&change.entry),
            ImageEntry::hashed_key,
        );
        env.set(&hashed_key, change.new.as_str(), tagged_key.as_deref());
        if let (Some(retag), Some(key)) = (&change.retag, &tagged_key) {
            match crate::formats::image::retag::rewrite(&env, key, retag) {
                Some(moved) => env = moved,
                None => log::warn!("{key}: the tag could not be moved to {}", retag.to),
            }
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn service(text: &str) -> Service {
        let env = EnvFile::parse(text.as_bytes()).unwrap();
        let images = image_entries(&env).unwrap();
        Service {
            dir: ServiceDir {
                name: "svc".into(),
                path: "/nonexistent".into(),
                env_file: "/nonexistent/.env".into(),
                trusted: Default::default(),
                project: "svc".into(),
            },
            env,
            images,
        }
    }

    #[test]
    fn changes_and_apply() {
        let svc = service(&format!(
            "# c\nSERVICE_A_IMAGE_TAGGED=a\nSERVICE_A_IMAGE_HASHED=docker.io/library/a@{A}\nSERVICE_B_IMAGE_TAGGED=b # x\nTAIL=1\n"
        ));
        let mut res = Resolutions::new();
        res.insert(
            "a".into(),
            Ok(Pin::parse(&format!("docker.io/library/a@{A}")).unwrap()),
        );
        res.insert(
            "b".into(),
            Ok(Pin::parse(&format!("docker.io/library/b@{B}")).unwrap()),
        );
        let changes = changes(&svc, &res).unwrap();
        assert_eq!(changes.len(), 1, "a is current");
        assert_eq!(changes[0].entry, "B");
        assert_eq!(
            describe(&changes),
            format!("cipug update B: unpinned -> {B}")
        );
        assert_eq!(
            apply(&svc, &changes).render(),
            format!("# c\nSERVICE_A_IMAGE_TAGGED=a\nSERVICE_A_IMAGE_HASHED=docker.io/library/a@{A}\nSERVICE_B_IMAGE_TAGGED=b # x\nSERVICE_B_IMAGE_HASHED=docker.io/library/b@{B}\nTAIL=1\n")
        );
        res.insert(
            "a".into(),
            Err(crate::resolve::RegistryError::from("404 manifest unknown").into()),
        );
        let err = super::changes(&svc, &res).unwrap_err();
        assert_eq!(err.to_string(), "a: 404 manifest unknown");
    }

    #[test]
    fn an_entry_left_unresolved_is_an_error_naming_its_tag() {
        let svc = service("SERVICE_A_IMAGE_TAGGED=a\n");
        let err = changes(&svc, &Resolutions::new()).unwrap_err();
        assert_eq!(err.to_string(), "a: was not resolved");
        assert_eq!(err.exit_code(), 30);
    }

    #[test]
    fn a_change_with_a_tag_move_rewrites_both_lines() {
        let svc = service(&format!(
            "SERVICE_A_IMAGE_TAGGED=r.io/a:1.2.3\nSERVICE_A_IMAGE_HASHED=r.io/a@{A}\n"
        ));
        let change = Change {
            entry: "A".into(),
            old: Some(format!("r.io/a@{A}")),
            new: Pin::parse(&format!("r.io/a@{B}")).unwrap(),
            retag: Some(crate::formats::image::retag::Retag {
                from: "1.2.3".into(),
                to: "1.2.5".into(),
                reference: "r.io/a:1.2.5".into(),
            }),
            older: None,
        };
        assert_eq!(
            apply(&svc, std::slice::from_ref(&change)).render(),
            format!("SERVICE_A_IMAGE_TAGGED=r.io/a:1.2.5\nSERVICE_A_IMAGE_HASHED=r.io/a@{B}\n")
        );
        assert_eq!(
            describe(&[change]),
            format!("cipug update A: {A} -> {B}"),
            "the old pin's digest"
        );
    }

    #[test]
    fn an_env_file_bigger_than_the_limit_is_not_read() {
        let (_root, _config, dir) = crate::pipeline::fixture::service("r.io/a@sha256:1");
        let big = vec![b'#'; ENV_FILE_LIMIT as usize + 1];
        std::fs::write(&dir.env_file, big).unwrap();
        let err = load(&dir).unwrap_err();
        assert_eq!(err.exit_code(), 32);
        assert!(err.to_string().contains("not read"), "{err}");
    }
}
