//! Replacing a file atomically: a private temporary file in the same folder, written and
//! synced, given the old file's mode and owner, then renamed over it, and the folder synced.
//! A reader sees the old or the new file, never a partial one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const TEMP_MARK: &str = ".cipug-";
const TEMP_SUFFIX: &str = ".tmp";

/// Writes `bytes` to `path` atomically. A symlink is written through: its target is
/// replaced and the link stays. An existing file keeps its mode and owner; a new one gets
/// `new_mode`. The temporary file is created with mode 0600 and only widened after it is
/// complete.
pub fn write(path: &Path, bytes: &[u8], new_mode: u32) -> io::Result<()> {
    write_with(path, bytes, new_mode, || {})
}

/// [`write`], calling `before_rename` when the temporary file is complete and synced (the
/// crash tests kill the process there).
pub fn write_with(
    path: &Path,
    bytes: &[u8],
    new_mode: u32,
    before_rename: impl FnOnce(),
) -> io::Result<()> {
    let target = resolve_link(path)?;
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?
        .to_string_lossy();
    let old = match fs::metadata(&target) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(&name))
        .suffix(TEMP_SUFFIX)
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    let file: &File = temp.as_file();
    match &old {
        Some(meta) => {
            std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()))?;
            file.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
        None => file.set_permissions(fs::Permissions::from_mode(new_mode))?,
    }
    file.sync_all()?;
    before_rename();
    temp.persist(&target).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()
}

/// Removes temporary files that an interrupted [`write`] of `name` left in `dir`; returns
/// how many it removed.
pub fn remove_stale_temps(dir: &Path, name: &str) -> io::Result<usize> {
    let prefix = temp_prefix(name);
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if file_name.starts_with(&prefix) && file_name.ends_with(TEMP_SUFFIX) {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Temporary files of `name` are hidden: `.env` -> `.env.cipug-XXXXXX.tmp`.
fn temp_prefix(name: &str) -> String {
    let dot = if name.starts_with('.') { "" } else { "." };
    format!("{dot}{name}{TEMP_MARK}")
}

/// Follows `path` if it is a symlink (any depth), else returns it.
fn resolve_link(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path),
        _ => Ok(path.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_mode_and_writes_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.env");
        fs::write(&real, "old").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join(".env");
        std::os::unix::fs::symlink("real.env", &link).unwrap();
        write(&link, b"new", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o640);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary file left"
        );

        let fresh = dir.path().join("fresh.json");
        write(&fresh, b"{}", 0o600).unwrap();
        assert_eq!(fs::metadata(&fresh).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn removes_only_its_own_temps() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".env.cipug-abc.tmp"), "x").unwrap();
        fs::write(dir.path().join(".env.other.tmp"), "x").unwrap();
        assert_eq!(remove_stale_temps(dir.path(), ".env").unwrap(), 1);
        assert!(dir.path().join(".env.other.tmp").exists());
    }
}
