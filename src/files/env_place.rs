//! Whether a service's env file lies inside the folder its snapshots hold. A snapshot of the
//! folder (a btrfs subvolume) holds only the files of that subvolume: an env file that is a
//! link to a file elsewhere, a file mounted onto the `.env`, or one on another file system or
//! in a nested subvolume is not in it, so a rollback to the snapshot could not restore its
//! pin, and every run would deploy the bad pin again.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{AtFlags, StatxAttributes, StatxFlags, CWD};

/// Why the env file `env_file` of the service folder `folder` is outside the folder's
/// snapshots, or `None` when it is inside (or cannot be looked at: reading it then fails
/// with its own error).
pub fn outside_snapshots(folder: &Path, env_file: &Path) -> Option<String> {
    let real = std::fs::canonicalize(env_file).ok()?;
    let real_folder = std::fs::canonicalize(folder).ok()?;
    let shown = env_file.display();
    let tail = "a rollback could not restore its pin; move the file into the folder";
    if !real.starts_with(&real_folder) {
        let how = if is_link(env_file) {
            "is a link to"
        } else {
            "leads to"
        };
        return Some(format!(
            "{shown} {how} {}, outside the snapshots of {}: {tail}",
            real.display(),
            folder.display()
        ));
    }
    let folder_dev = std::fs::metadata(&real_folder).ok()?.dev();
    let file_dev = std::fs::metadata(&real).ok()?.dev();
    if folder_dev != file_dev {
        return Some(format!(
            "{shown} ({}) is on another file system or btrfs subvolume than {}, outside its snapshots: {tail}",
            real.display(),
            folder.display()
        ));
    }
    if is_mount_root(&real) {
        return Some(format!(
            "{shown} ({}) is a mount point (a file mounted onto it), outside the snapshots of {}: {tail}",
            real.display(),
            folder.display()
        ));
    }
    None
}

/// Whether `path` itself is a symbolic link.
fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Whether `path` is the root of a mount (a bind-mounted file), where the kernel tells.
fn is_mount_root(path: &Path) -> bool {
    match rustix::fs::statx(
        CWD,
        path,
        AtFlags::NO_AUTOMOUNT | AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    ) {
        Ok(stat) => {
            stat.stx_attributes_mask
                .contains(StatxAttributes::MOUNT_ROOT)
                && stat.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_the_folder_or_a_link_within_it_is_inside() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("app");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join(".env"), "A=1\n").unwrap();
        assert_eq!(outside_snapshots(&folder, &folder.join(".env")), None);
        std::fs::create_dir(folder.join("conf")).unwrap();
        std::fs::write(folder.join("conf/app.env"), "A=1\n").unwrap();
        std::os::unix::fs::symlink("conf/app.env", folder.join("linked.env")).unwrap();
        assert_eq!(outside_snapshots(&folder, &folder.join("linked.env")), None);
        assert_eq!(
            outside_snapshots(&folder, &folder.join("missing.env")),
            None,
            "reading it fails on its own"
        );
    }

    #[test]
    fn a_link_out_of_the_folder_is_outside_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("app");
        std::fs::create_dir(&folder).unwrap();
        let shared = dir.path().join("shared.env");
        std::fs::write(&shared, "A=1\n").unwrap();
        std::os::unix::fs::symlink(&shared, folder.join(".env")).unwrap();
        // A folder whose name starts like the service's is not inside it either.
        std::fs::create_dir(dir.path().join("app2")).unwrap();
        std::fs::write(dir.path().join("app2/.env"), "A=1\n").unwrap();
        std::os::unix::fs::symlink("../app2/.env", folder.join("next.env")).unwrap();
        let why = outside_snapshots(&folder, &folder.join(".env")).unwrap();
        let real = std::fs::canonicalize(&shared).unwrap();
        assert_eq!(
            why,
            format!(
                "{}/.env is a link to {}, outside the snapshots of {}: a rollback could not restore its pin; move the file into the folder",
                folder.display(),
                real.display(),
                folder.display()
            )
        );
        assert!(outside_snapshots(&folder, &folder.join("next.env")).is_some());
    }
}
