//! Folders that root trusts with its cache and state: opened one component at a time
//! without following links that others could have planted, and files read, written and
//! renamed only through the folder's handle, so nothing can be swapped in between a check
//! and a write.
//!
//! Every folder on the way must be owned by root or the user running cipug and not be
//! writable by others, unless the sticky bit is set (as on `/tmp`, where others cannot
//! replace what they do not own). A symlink on the way is followed only when root or the
//! user owns it; the final file is never a symlink.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};

/// Whether [`PrivateDir::open`] creates missing folders (mode 0700).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create what is missing.
    Yes,
    /// Fail with `NotFound`.
    No,
}

/// Symlinks followed at most while opening one path, as the kernel does.
const MAX_LINKS: usize = 40;

/// An open folder that passed the checks.
#[derive(Debug)]
pub struct PrivateDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Why a folder or file is not trusted, or the I/O error that stopped the check.
#[derive(Debug, thiserror::Error)]
pub enum Untrusted {
    /// Owned by someone else, writable by others, a planted link, not a folder.
    #[error("{0}")]
    Unsafe(String),
    /// The folder does not exist (with [`Create::No`]).
    #[error("{0}: does not exist")]
    Missing(PathBuf),
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What.
        source: io::Error,
    },
}

fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == me()
}

/// Refuses a folder owned by another user, or writable by others without the sticky bit.
fn check_dir(stat: &Stat, shown: &Path) -> Result<(), Untrusted> {
    if !trusted_owner(stat.st_uid) {
        return Err(Untrusted::Unsafe(format!(
            "{} is owned by user {}, not by root or the user running cipug ({}); use a folder of your own",
            shown.display(),
            stat.st_uid,
            me()
        )));
    }
    let mode = stat.st_mode;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(Untrusted::Unsafe(format!(
            "{} is writable by other users (mode {:o}); fix with `chmod go-w`",
            shown.display(),
            mode & 0o7777
        )));
    }
    Ok(())
}

impl PrivateDir {
    /// Opens the folder `path`, checking every folder and link on the way from `/`.
    pub fn open(path: &Path, create: Create) -> Result<PrivateDir, Untrusted> {
        let absolute;
        let path = if path.is_absolute() {
            path
        } else {
            absolute = std::env::current_dir()
                .map_err(|source| Untrusted::Io {
                    path: path.to_path_buf(),
                    source,
                })?
                .join(path);
            &absolute
        };
        let root = || rustix::fs::open("/", DIR_FLAGS, Mode::empty());
        let mut fd = root().map_err(|e| io_err(Path::new("/"), e))?;
        let mut shown = PathBuf::from("/");
        let mut links = 0;
        let mut parts: VecDeque<OsString> = VecDeque::new();
        push_front(&mut parts, path);
        while let Some(name) = parts.pop_front() {
            if name == "/" {
                fd = root().map_err(|e| io_err(Path::new("/"), e))?;
                shown = PathBuf::from("/");
                continue;
            }
            let here = shown.join(&name);
            match step(&fd, &name, &here, create)? {
                Step::Link(target) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io_err(&here, rustix::io::Errno::LOOP));
                    }
                    push_front(&mut parts, &target);
                }
                Step::Dir(next) => {
                    fd = next;
                    shown = if name == ".." {
                        shown
                            .parent()
                            .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
                    } else {
                        here
                    };
                }
            }
        }
        Ok(PrivateDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// A folder the caller opened itself, without this module's checks of who owns the
    /// folders on the way (see [`crate::files::output`]); files in it are still opened
    /// and renamed only through its handle, never through a link.
    pub fn from_fd(fd: OwnedFd, path: &Path) -> PrivateDir {
        PrivateDir {
            fd,
            path: path.to_path_buf(),
        }
    }

    /// The folder's path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the regular file `name` (never through a link) with `flags`.
    pub fn open_file(&self, name: &str, flags: OFlags, mode: u32) -> io::Result<std::fs::File> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::from_raw_mode(mode),
        )
        .map_err(io::Error::from)?;
        let stat = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(io::Error::other("not a regular file"));
        }
        Ok(std::fs::File::from(fd))
    }

    /// The contents of the file `name`, or `None` when it does not exist. A symlink, a file
    /// owned by another user or writable by others is refused.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, Untrusted> {
        let path = self.path.join(name);
        let mut file = match self.open_file(name, OFlags::RDONLY, 0) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(Untrusted::Unsafe(format!(
                    "{} is a symlink, which is not trusted",
                    path.display()
                )))
            }
            Err(e) => return Err(Untrusted::Io { path, source: e }),
        };
        let stat = rustix::fs::fstat(file.as_fd()).map_err(|e| Untrusted::Io {
            path: path.clone(),
            source: e.into(),
        })?;
        if !trusted_owner(stat.st_uid) {
            return Err(Untrusted::Unsafe(format!(
                "{} is owned by user {}, not by root or the user running cipug ({})",
                path.display(),
                stat.st_uid,
                me()
            )));
        }
        if stat.st_mode & 0o022 != 0 {
            return Err(Untrusted::Unsafe(format!(
                "{} is writable by other users (mode {:o}); fix with `chmod 600`",
                path.display(),
                stat.st_mode & 0o777
            )));
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|source| Untrusted::Io { path, source })?;
        Ok(Some(bytes))
    }

    /// Where the entry `name` points if it is a symlink owned by root or the user running
    /// cipug; `None` if it is no symlink. A link owned by anyone else is refused.
    pub fn link_target(&self, name: &str) -> Result<Option<PathBuf>, Untrusted> {
        let here = self.path.join(name);
        let io_err = |e: rustix::io::Errno| Untrusted::Io {
            path: here.clone(),
            source: e.into(),
        };
        let stat = match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        if FileType::from_raw_mode(stat.st_mode) != FileType::Symlink {
            return Ok(None);
        }
        if !trusted_owner(stat.st_uid) {
            return Err(Untrusted::Unsafe(format!(
                "{} is a symlink owned by user {}, which is not trusted",
                here.display(),
                stat.st_uid
            )));
        }
        let target = rustix::fs::readlinkat(&self.fd, name, Vec::new()).map_err(io_err)?;
        Ok(Some(self.path.join(OsStr::from_bytes(target.as_bytes()))))
    }

    /// Replaces the file `name` atomically with `bytes` (mode `mode`): a temporary file
    /// created in this folder, synced, renamed over it through the folder's handle.
    pub fn write(&self, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
        let temp = format!(
            ".{}.cipug-{}-{}.tmp",
            name.trim_start_matches('.'),
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let mut file = self.open_file(
            &temp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
            mode & 0o700,
        )?;
        let written = file
            .write_all(bytes)
            .and_then(|()| file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode)))
            .and_then(|()| file.sync_all())
            .and_then(|()| {
                rustix::fs::renameat(&self.fd, temp.as_str(), &self.fd, name).map_err(Into::into)
            });
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, temp.as_str(), AtFlags::empty());
        }
        written?;
        rustix::fs::fsync(&self.fd).map_err(Into::into)
    }

    /// Removes the file `name` if it exists (a link is removed, never followed).
    pub fn remove(&self, name: &str) -> io::Result<()> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Opens a state folder (STATE_DIR or a folder in it); an untrusted one is an error naming
/// the setting (exit 25), so `update`, `rollback` and `history` refuse it alike.
pub fn state(path: &Path, create: Create) -> crate::error::Result<PrivateDir> {
    use crate::error::Error;
    PrivateDir::open(path, create).map_err(|e| match e {
        Untrusted::Unsafe(msg) => Error::Value(format!(
            "STATE_DIR {}: {msg}; cipug does not trust its history, journal or lock there",
            path.display()
        )),
        Untrusted::Missing(p) => Error::io(p, io::ErrorKind::NotFound.into()),
        Untrusted::Io { path, source } => Error::io(path, source),
    })
}

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

fn io_err(path: &Path, e: rustix::io::Errno) -> Untrusted {
    Untrusted::Io {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Where one component of a path leads.
enum Step {
    /// A trusted symlink to this target.
    Link(PathBuf),
    /// A trusted folder, open.
    Dir(OwnedFd),
}

/// Takes one component `name` from the folder `fd` (`here` is its path, for messages):
/// a link owned by root or the user, or a folder that passes [`check_dir`] (created 0700
/// first if missing and `create` says so).
fn step(fd: &OwnedFd, name: &OsStr, here: &Path, create: Create) -> Result<Step, Untrusted> {
    let stat = match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Some(stat),
        Err(rustix::io::Errno::NOENT) => None,
        Err(e) => return Err(io_err(here, e)),
    };
    match stat {
        Some(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink => {
            if !trusted_owner(stat.st_uid) {
                return Err(Untrusted::Unsafe(format!(
                    "{} is a symlink owned by user {}, which is not trusted",
                    here.display(),
                    stat.st_uid
                )));
            }
            let target =
                rustix::fs::readlinkat(fd, name, Vec::new()).map_err(|e| io_err(here, e))?;
            return Ok(Step::Link(PathBuf::from(OsStr::from_bytes(
                target.as_bytes(),
            ))));
        }
        None if create == Create::Yes => {
            match rustix::fs::mkdirat(fd, name, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(io_err(here, e)),
            }
        }
        None => return Err(Untrusted::Missing(here.to_path_buf())),
        Some(_) => {}
    }
    let next = rustix::fs::openat(fd, name, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => Untrusted::Unsafe(format!(
            "{} is not a folder (or was replaced by a link)",
            here.display()
        )),
        e => io_err(here, e),
    })?;
    check_dir(
        &rustix::fs::fstat(&next).map_err(|e| io_err(here, e))?,
        here,
    )?;
    Ok(Step::Dir(next))
}

/// Puts the components of `path` in front of `parts` (`/` for an absolute path's root).
fn push_front(parts: &mut VecDeque<OsString>, path: &Path) {
    for component in path.components().rev() {
        match component {
            Component::RootDir => parts.push_front("/".into()),
            Component::Normal(name) => parts.push_front(name.to_owned()),
            Component::ParentDir => parts.push_front("..".into()),
            Component::CurDir | Component::Prefix(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn creates_privately_and_writes_inside() {
        let base = tempfile::tempdir().unwrap();
        let path = base.path().join("a/b");
        let dir = PrivateDir::open(&path, Create::Yes).unwrap();
        dir.write("cache.json", b"{}", 0o600).unwrap();
        assert_eq!(dir.read("cache.json").unwrap().unwrap(), b"{}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            std::fs::read_dir(&path).unwrap().count(),
            1,
            "no temporary file"
        );
        assert!(dir.read("missing").unwrap().is_none());
        dir.remove("cache.json").unwrap();
        dir.remove("cache.json").unwrap();
    }

    #[test]
    fn planted_links_and_open_folders_are_refused() {
        let base = tempfile::tempdir().unwrap();
        let victim = base.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        // A link owned by root (the tests run as root) is followed ...
        symlink(&victim, base.path().join("link")).unwrap();
        assert!(PrivateDir::open(&base.path().join("link"), Create::No).is_ok());
        // ... one owned by another user is not.
        rustix::fs::chownat(
            rustix::fs::CWD,
            base.path().join("link").as_path(),
            Some(rustix::process::Uid::from_raw(4321)),
            None,
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
        let err = PrivateDir::open(&base.path().join("link/sub"), Create::Yes).unwrap_err();
        assert!(
            err.to_string().contains("symlink owned by user 4321"),
            "{err}"
        );
        assert!(!victim.join("sub").exists());
        // A file link is never followed.
        std::fs::write(victim.join("real"), "x").unwrap();
        symlink(victim.join("real"), victim.join("cache.json")).unwrap();
        let dir = PrivateDir::open(&victim, Create::No).unwrap();
        assert!(dir.read("cache.json").is_err());
        dir.write("cache.json", b"new", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(victim.join("real")).unwrap(), "x");
        // Folders writable by others, or owned by them, are refused.
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(PrivateDir::open(&victim, Create::No).is_err());
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(PrivateDir::open(&victim, Create::No).is_ok(), "sticky");
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&victim, Some(4321), None).unwrap();
        let err = PrivateDir::open(&victim, Create::No).unwrap_err();
        assert!(err.to_string().contains("owned by user 4321"), "{err}");
    }
}
