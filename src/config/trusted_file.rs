//! Reading the JSON config file only when no one but root or the user running cipug could
//! have written it: it names programs that run as root (`COMPOSE_TOOL`, `CONTAINER_TOOL`,
//! `NOTIFY_COMMAND`). The file and every folder above it are checked as the cache is (see
//! [`crate::files::private_dir`]); a symlink is followed only when root or the user owns it.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files::private_dir::{Create, PrivateDir, Untrusted};

/// Symlinks followed at most, as the kernel does.
const MAX_LINKS: usize = 40;

/// The bytes of the config file at `path`, or an error naming it: not found (exit 20), or
/// not to be trusted (exit 25).
pub fn read_trusted(path: &Path) -> Result<Vec<u8>> {
    read_trusted_as(path, "CONFIG_FILE", "a config file")
}

/// [`read_trusted`] for the file `setting` names (`what`, in the refusal).
pub fn read_trusted_as(path: &Path, setting: &str, what: &str) -> Result<Vec<u8>> {
    let refused = |msg: String| {
        Error::Value(format!(
            "{setting} {}: {msg}; {what} names programs that run as root",
            path.display()
        ))
    };
    let convert = |e: Untrusted| match e {
        Untrusted::Missing(_) => Error::FileNotFound(path.to_path_buf()),
        Untrusted::Unsafe(msg) => refused(msg),
        Untrusted::Io { path, source } => Error::io(path, source),
    };
    let mut current: PathBuf = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let (Some(folder), Some(name)) = (current.parent(), current.file_name()) else {
            return Err(Error::FileNotFound(path.to_path_buf()));
        };
        let name = name.to_string_lossy().into_owned();
        let dir = PrivateDir::open(folder, Create::No).map_err(convert)?;
        if let Some(target) = dir.link_target(&name).map_err(convert)? {
            current = target;
            continue;
        }
        return match dir.read(&name).map_err(convert)? {
            Some(bytes) => Ok(bytes),
            None => Err(Error::FileNotFound(path.to_path_buf())),
        };
    }
    Err(refused("too many symlinks".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn config_files_others_could_write_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cipug.json");
        fs::write(&path, "{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_trusted(&path).unwrap(), b"{}");
        // A link owned by root (the tests run as root) is followed.
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink("cipug.json", &link).unwrap();
        assert_eq!(read_trusted(&link).unwrap(), b"{}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        let err = read_trusted(&path).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::VALUE_ERROR, "{err}");
        assert!(err.to_string().contains("writable by other users"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&path, Some(4321), None).unwrap();
        let err = read_trusted(&link).unwrap_err();
        assert!(err.to_string().contains("owned by user 4321"), "{err}");
        let err = read_trusted(&dir.path().join("missing.json")).unwrap_err();
        assert!(matches!(err, Error::FileNotFound(_)), "{err}");
    }
}
