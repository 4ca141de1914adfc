//! btrfs: whether a folder is on btrfs or a subvolume root, and the command lines that
//! make a subvolume of an ordinary folder.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::adapters::runner::Cmd;

/// `statfs` type of a btrfs file system.
const BTRFS_SUPER_MAGIC: i64 = 0x9123_683e;

/// The inode number of a btrfs subvolume's root folder.
const BTRFS_SUBVOLUME_ROOT_INODE: u64 = 256;

/// Whether `path` is on a btrfs file system.
pub fn on_btrfs(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type == BTRFS_SUPER_MAGIC)
}

/// Whether `path` is the root of a btrfs subvolume.
pub fn is_subvolume(path: &Path) -> bool {
    on_btrfs(path) && std::fs::metadata(path).is_ok_and(|m| m.ino() == BTRFS_SUBVOLUME_ROOT_INODE)
}

/// `btrfs subvolume create <path>`.
pub fn subvolume_create_cmd(path: &Path) -> Cmd {
    Cmd::new("btrfs").args(["subvolume", "create", &path.display().to_string()])
}

/// `cp -a --reflink=always <from>/. <to>/`: the folder's content, sharing its extents.
pub fn reflink_copy_cmd(from: &Path, to: &Path) -> Cmd {
    Cmd::new("cp").args([
        "-a",
        "--reflink=always",
        &format!("{}/.", from.display()),
        &format!("{}/", to.display()),
    ])
}
