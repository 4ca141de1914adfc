//! What a `cipug rollback` changes, found before it changes anything: the files of the service
//! folder that differ from the snapshot (every compose service's data in the folder, the
//! `.env` included) and the pins that move. Nothing here writes, stops or takes a lock, so
//! `cipug rollback --dry-run` cannot disturb an update that runs meanwhile.

use std::path::{Path, PathBuf};

use crate::adapters::snapper::{self, SnapperConfig};
use crate::error::{Error, Result};
use crate::formats::envfile::EnvFile;
use crate::formats::pins::{image_entries, ImageEntry};
use crate::pipeline::service::ENV_FILE_LIMIT;
use crate::services::ServiceDir;

/// One pin a rollback moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinChange {
    /// The `<X>` of the entry.
    pub entry: String,
    /// The pin in the live `.env` (none: unpinned).
    pub now: Option<String>,
    /// The pin the rollback leaves (none: unpinned).
    pub then: Option<String>,
}

/// Reads the image entries of the env file at `path` (`shown` names it in errors), changing
/// nothing: unlike [`crate::pipeline::service::load`], it leaves temporary files of a running
/// update alone. A symlink is not followed (inside a snapshot it would point out of it).
pub fn read_entries(path: &Path, shown: &str) -> Result<Vec<ImageEntry>> {
    let env_error = |msg: String| Error::Env(format!("{shown}: {msg}").into());
    let meta = std::fs::symlink_metadata(path).map_err(|e| env_error(e.to_string()))?;
    if meta.file_type().is_symlink() {
        return Err(env_error(
            "is a symlink; cipug reads the pins of a snapshot only from a plain file".into(),
        ));
    }
    if meta.len() > ENV_FILE_LIMIT {
        return Err(env_error(format!(
            "{} bytes is more than an env file holds (limit {ENV_FILE_LIMIT}); not read",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| env_error(e.to_string()))?;
    let env = EnvFile::parse(&bytes).map_err(|e| env_error(e.to_string()))?;
    image_entries(&env).map_err(|(line, msg)| env_error(format!("line {line}: {msg}")))
}

/// The live image entries of `dir`, read as [`read_entries`] does, once the folder is trusted.
pub fn live_entries(dir: &ServiceDir) -> Result<Vec<ImageEntry>> {
    dir.check_trust()?;
    read_entries(&dir.env_file, &dir.env_file.display().to_string())
}

/// The env file of `dir` inside snapshot `number` of its snapper config.
pub fn snapshot_env_file(config: &SnapperConfig, dir: &ServiceDir, number: u64) -> PathBuf {
    let relative = dir
        .env_file
        .strip_prefix(&dir.path)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| PathBuf::from(dir.env_file.file_name().unwrap_or_default()));
    snapper::snapshot_folder(&config.subvolume, number).join(relative)
}

/// The pin of every entry of `dir`'s env file in snapshot `number` (none: unpinned there).
pub fn snapshot_pins(
    config: &SnapperConfig,
    dir: &ServiceDir,
    number: u64,
) -> Result<Vec<(String, Option<String>)>> {
    let path = snapshot_env_file(config, dir, number);
    let shown = format!("{} in snapshot {number}", path.display());
    Ok(read_entries(&path, &shown)?
        .into_iter()
        .map(|i| (i.entry, i.pinned))
        .collect())
}

/// The pins that move from `now` to `target`, in the order of `now`; entries only in
/// `target` come last. With `keep_missing`, an entry `target` has no pin for stays as it is
/// (a rollback of the pins only writes pins, it removes none).
pub fn pin_changes(
    now: &[ImageEntry],
    target: &[(String, Option<String>)],
    keep_missing: bool,
) -> Vec<PinChange> {
    let mut changes = Vec::new();
    for image in now {
        let then = target
            .iter()
            .find(|(entry, _)| *entry == image.entry)
            .and_then(|(_, pin)| pin.clone());
        if then.is_none() && keep_missing {
            continue;
        }
        if then != image.pinned {
            changes.push(PinChange {
                entry: image.entry.clone(),
                now: image.pinned.clone(),
                then,
            });
        }
    }
    for (entry, pin) in target {
        if pin.is_some() && !keep_missing && !now.iter().any(|i| &i.entry == entry) {
            changes.push(PinChange {
                entry: entry.clone(),
                now: None,
                then: pin.clone(),
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(env: &str) -> Vec<ImageEntry> {
        image_entries(&EnvFile::parse(env.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn pin_changes_of_a_whole_env_file_and_of_the_pins_only() {
        let now = entries(
            "SERVICE_APP_IMAGE_TAGGED=r/app\nSERVICE_APP_IMAGE_HASHED=r/app@sha256:3\n\
             SERVICE_DB_IMAGE_TAGGED=r/db\nSERVICE_DB_IMAGE_HASHED=r/db@sha256:1\n",
        );
        let target = vec![
            ("APP".to_owned(), Some("r/app@sha256:2".to_owned())),
            ("DB".to_owned(), None),
            ("NEW".to_owned(), Some("r/new@sha256:9".to_owned())),
        ];
        let whole = pin_changes(&now, &target, false);
        let shown: Vec<(&str, Option<&str>)> = whole
            .iter()
            .map(|c| (c.entry.as_str(), c.then.as_deref()))
            .collect();
        assert_eq!(
            shown,
            [
                ("APP", Some("r/app@sha256:2")),
                ("DB", None),
                ("NEW", Some("r/new@sha256:9"))
            ]
        );
        assert_eq!(whole[0].now.as_deref(), Some("r/app@sha256:3"));
        let pins_only = pin_changes(&now, &target, true);
        assert_eq!(pins_only.len(), 1, "{pins_only:?}");
        assert_eq!(pins_only[0].entry, "APP");
        assert!(
            pin_changes(&now, &[("APP".into(), Some("r/app@sha256:3".into()))], true).is_empty()
        );
    }

    #[test]
    fn env_files_are_read_without_following_symlinks_or_touching_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join(".env");
        std::fs::write(
            &env,
            "SERVICE_APP_IMAGE_TAGGED=r/app\nSERVICE_APP_IMAGE_HASHED=r/app@sha256:3\n",
        )
        .unwrap();
        let temp = dir.path().join(".env.cipug-ABC123.tmp");
        std::fs::write(&temp, "half").unwrap();
        let read = read_entries(&env, "x").unwrap();
        assert_eq!(read[0].pinned.as_deref(), Some("r/app@sha256:3"));
        assert!(temp.exists());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&env, &link).unwrap();
        let err = read_entries(&link, "the link").unwrap_err();
        assert!(err.to_string().contains("the link: is a symlink"), "{err}");
    }
}
