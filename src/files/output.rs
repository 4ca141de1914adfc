//! Files root writes into folders that are not its own (the metrics file in
//! node_exporter's textfile folder, which the exporter's account may write): written like
//! the cache. The folder is opened without following a link at its end, the temporary
//! file is created in it without following links and renamed over the target through the
//! folder's handle. An existing target that is a symlink, or not a regular file, is
//! replaced, never followed, so whoever can write the folder cannot make root write
//! elsewhere. The new file is root's, with the mode asked for; the old file's owner and
//! mode are not taken over.

use std::io;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use crate::files::private_dir::PrivateDir;

/// Replaces `path` with `bytes` (mode `mode`) as the module says.
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let (folder, name) = split(path)?;
    let fd = rustix::fs::open(
        folder,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => io::Error::other(format!(
            "{} is not a folder (a symlink is not followed)",
            folder.display()
        )),
        e => io::Error::from(e),
    })?;
    PrivateDir::from_fd(fd, folder).write(name, bytes, mode)
}

/// Who besides root and the user running cipug can write the folder `path` is written
/// in, in words for `doctor`; `None` when no one else can.
pub fn others_can_write(path: &Path) -> io::Result<Option<String>> {
    let (folder, _) = split(path)?;
    let meta = rustix::fs::stat(folder)?;
    let me = rustix::process::geteuid().as_raw();
    let mut who = Vec::new();
    if meta.st_uid != 0 && meta.st_uid != me {
        who.push(format!("its owner, user {}", meta.st_uid));
    }
    if meta.st_mode & 0o020 != 0 && meta.st_gid != 0 {
        who.push(format!("group {}", meta.st_gid));
    }
    if meta.st_mode & 0o002 != 0 {
        who.push("every user".to_owned());
    }
    Ok((!who.is_empty()).then(|| {
        format!(
            "{} can be written by {} (mode {:o})",
            folder.display(),
            who.join(" and "),
            meta.st_mode & 0o7777
        )
    }))
}

/// The folder and the file name of `path`.
fn split(path: &Path) -> io::Result<(&Path, &str)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let folder = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((folder, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn a_planted_link_is_replaced_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("shadow");
        fs::write(&victim, "root:secret\n").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        let metrics = dir.path().join("cipug.prom");
        std::os::unix::fs::symlink(&victim, &metrics).unwrap();
        write(&metrics, b"cipug_up 1\n", 0o644).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "root:secret\n");
        let meta = fs::symlink_metadata(&metrics).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.mode() & 0o777, 0o644);
        assert_eq!(fs::read_to_string(&metrics).unwrap(), "cipug_up 1\n");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary file"
        );
    }

    #[test]
    fn a_fifo_is_replaced_and_a_linked_folder_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("cipug.prom");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &target,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        write(&target, b"x\n", 0o644).unwrap();
        assert!(fs::symlink_metadata(&target).unwrap().file_type().is_file());
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        let linked = dir.path().join("textfile");
        std::os::unix::fs::symlink(&elsewhere, &linked).unwrap();
        let err = write(&linked.join("cipug.prom"), b"x\n", 0o644).unwrap_err();
        assert!(err.to_string().contains("not a folder"), "{err}");
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn names_who_else_can_write_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cipug.prom");
        assert_eq!(others_can_write(&path).unwrap(), None);
        std::os::unix::fs::chown(dir.path(), Some(4321), None).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o757)).unwrap();
        let said = others_can_write(&path).unwrap().unwrap();
        assert!(said.contains("user 4321"), "{said}");
        assert!(said.contains("every user"), "{said}");
    }
}
