//! Whether root may follow what a service folder says. Its `.env` names commands root runs
//! (`PRE_UPDATE_COMMAND`) and images it deploys; its compose files can mount `/` into a
//! container. So before anything of a service is read, the service folder, every folder
//! above it, its env file and its compose files (every `*.yml` / `*.yaml` at its top, since
//! compose tools merge override files) must be owned by root, the user running cipug or a
//! trusted owner (`TRUSTED_OWNERS`), and writable by no one else: not by others, and by
//! the group only when the group is root's or trusted. A folder above the service folder
//! may be writable by others when its sticky bit is set (others cannot replace what they do
//! not own there); the service folder itself may not, or others could add an override file.
//! A symlink is judged as a file too (its owner), and so is the file it leads to, with the
//! folders above that.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The owners trusted besides root and the user running cipug: users by id, and groups
/// by id (their members, and group write permission for them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trusted {
    users: BTreeSet<u32>,
    groups: BTreeSet<u32>,
}

impl Trusted {
    /// Reads `TRUSTED_OWNERS`: user names or ids, and groups as `@name` or `@id`.
    pub fn parse(words: &[String]) -> Result<Trusted, String> {
        let mut trusted = Trusted::default();
        for word in words.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
            if let Some(group) = word.strip_prefix('@') {
                let gid = group
                    .parse()
                    .ok()
                    .or_else(|| uzers::get_group_by_name(group).map(|g| g.gid()))
                    .ok_or_else(|| format!("TRUSTED_OWNERS: no group named `{group}`"))?;
                trusted.groups.insert(gid);
            } else {
                let uid = word
                    .parse()
                    .ok()
                    .or_else(|| uzers::get_user_by_name(word).map(|u| u.uid()))
                    .ok_or_else(|| format!("TRUSTED_OWNERS: no user named `{word}`"))?;
                trusted.users.insert(uid);
            }
        }
        Ok(trusted)
    }

    /// Whether a file or folder owned by `uid` is trusted.
    fn owner(&self, uid: u32) -> bool {
        if uid == 0 || uid == rustix::process::geteuid().as_raw() || self.users.contains(&uid) {
            return true;
        }
        if self.groups.is_empty() {
            return false;
        }
        let Some(user) = uzers::get_user_by_uid(uid) else {
            return false;
        };
        uzers::get_user_groups(user.name(), user.primary_group_id())
            .unwrap_or_default()
            .iter()
            .any(|g| self.groups.contains(&g.gid()))
    }

    /// Whether the group `gid` may have write permission.
    fn group(&self, gid: u32) -> bool {
        gid == 0 || self.groups.contains(&gid)
    }
}

/// Why a service is not trusted, in words: the file, its owner and mode, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The files of the service in `folder` that root reads as instructions: `env_name` and
/// every `*.yml` / `*.yaml` at the folder's top.
pub fn instruction_files(folder: &Path, env_name: &str) -> Vec<PathBuf> {
    let mut files = vec![folder.join(env_name)];
    if let Ok(entries) = std::fs::read_dir(folder) {
        let mut yaml: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .collect();
        yaml.sort();
        files.extend(yaml);
    }
    files
}

/// Checks the service folder `folder`, the folders above it and `files` (see the module);
/// the first problem found.
pub fn check(folder: &Path, files: &[PathBuf], trusted: &Trusted) -> Result<(), Refused> {
    problems(folder, files, trusted)
        .into_iter()
        .next()
        .map_or(Ok(()), Err)
}

/// Every problem [`check`] finds: one for the folders, one for each file.
pub fn problems(folder: &Path, files: &[PathBuf], trusted: &Trusted) -> Vec<Refused> {
    let folders = std::fs::canonicalize(folder)
        .map_err(|e| Refused(format!("{}: {e}", folder.display())))
        .and_then(|real| check_folders(&real, trusted, false));
    std::iter::once(folders)
        .chain(files.iter().map(|file| check_file(file, trusted)))
        .filter_map(Result::err)
        .collect()
}

/// Checks `folder` (not sticky-exempt unless `above`) and every folder above it.
fn check_folders(folder: &Path, trusted: &Trusted, above: bool) -> Result<(), Refused> {
    let mut sticky_ok = above;
    for dir in folder.ancestors() {
        let meta =
            std::fs::metadata(dir).map_err(|e| Refused(format!("{}: {e}", dir.display())))?;
        let sticky = meta.mode() & 0o1000 != 0;
        judge(dir, &meta, trusted, sticky_ok && sticky)?;
        sticky_ok = true;
    }
    Ok(())
}

/// Checks one file (a missing one is fine: it is not read); a symlink, its target and the
/// folders above the target too.
fn check_file(file: &Path, trusted: &Trusted) -> Result<(), Refused> {
    let Ok(link) = std::fs::symlink_metadata(file) else {
        return Ok(());
    };
    if link.file_type().is_symlink() {
        if !trusted.owner(link.uid()) {
            return Err(Refused(format!(
                "{} is a symlink owned by {}, not root, the user running cipug or a TRUSTED_OWNERS owner; \
                 replace it with a link of root's (`ln -sfn \"$(readlink {0})\" {0}` as root)",
                file.display(),
                user_name(link.uid())
            )));
        }
        let target =
            std::fs::canonicalize(file).map_err(|e| Refused(format!("{}: {e}", file.display())))?;
        if let Some(parent) = target.parent() {
            check_folders(parent, trusted, true)?;
        }
        let meta = std::fs::metadata(&target)
            .map_err(|e| Refused(format!("{}: {e}", target.display())))?;
        return judge(&target, &meta, trusted, false);
    }
    judge(file, &link, trusted, false)
}

/// Refuses `path` when someone untrusted owns it or can write it.
fn judge(
    path: &Path,
    meta: &std::fs::Metadata,
    trusted: &Trusted,
    sticky_ok: bool,
) -> Result<(), Refused> {
    let mode = meta.mode();
    let mut why = String::new();
    if !trusted.owner(meta.uid()) {
        let _ = write!(why, "is owned by {}", user_name(meta.uid()));
    } else if has_access_acl(path) {
        // The mode's group bits are then only the ACL's mask: named users or groups may
        // write it.
        let _ = write!(
            why,
            "has an access ACL (`getfacl {}` shows who else may write it; `setfacl -b` removes it)",
            path.display()
        );
    } else if mode & 0o002 != 0 && !sticky_ok {
        let _ = write!(why, "is writable by every user");
    } else if mode & 0o020 != 0 && !trusted.group(meta.gid()) && !sticky_ok {
        let _ = write!(why, "is writable by group {}", group_name(meta.gid()));
    } else {
        return Ok(());
    }
    let shown = path.display();
    Err(Refused(format!(
        "{shown} {why} (owner {}, group {}, mode {:o}); root does not follow what others can change \
         (hooks, images, compose settings): fix with `chown root:root {shown} && chmod go-w {shown}`, \
         or name the owner in TRUSTED_OWNERS",
        user_name(meta.uid()),
        group_name(meta.gid()),
        mode & 0o7777
    )))
}

/// Whether `path` carries a POSIX access ACL beyond its mode bits (the kernel stores one only
/// then).
fn has_access_acl(path: &Path) -> bool {
    let mut buffer = [0u8; 1024];
    match rustix::fs::getxattr(path, "system.posix_acl_access", &mut buffer[..]) {
        Ok(n) => n > 0,
        // Longer than the buffer: a large ACL.
        Err(rustix::io::Errno::RANGE) => true,
        Err(_) => false,
    }
}

fn user_name(uid: u32) -> String {
    match uzers::get_user_by_uid(uid) {
        Some(user) => format!("user {} ({uid})", user.name().to_string_lossy()),
        None => format!("user {uid}"),
    }
}

fn group_name(gid: u32) -> String {
    match uzers::get_group_by_gid(gid) {
        Some(group) => format!("{} ({gid})", group.name().to_string_lossy()),
        None => gid.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn service() -> (tempfile::TempDir, PathBuf) {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("app");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.join(".env"), "SERVICE_APP_IMAGE_TAGGED=a:1\n").unwrap();
        fs::write(dir.join("compose.yml"), "services: {}\n").unwrap();
        fs::set_permissions(dir.join(".env"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(dir.join("compose.yml"), fs::Permissions::from_mode(0o644)).unwrap();
        (base, dir)
    }

    fn verdict(dir: &Path, trusted: &Trusted) -> Result<(), Refused> {
        check(dir, &instruction_files(dir, ".env"), trusted)
    }

    #[test]
    fn root_owned_and_private_is_trusted() {
        let (_base, dir) = service();
        verdict(&dir, &Trusted::default()).unwrap();
        assert_eq!(
            instruction_files(&dir, ".env"),
            [dir.join(".env"), dir.join("compose.yml")]
        );
    }

    #[test]
    fn files_others_own_or_can_write_are_refused() {
        let (_base, dir) = service();
        let none = Trusted::default();
        fs::set_permissions(dir.join(".env"), fs::Permissions::from_mode(0o666)).unwrap();
        let err = verdict(&dir, &none).unwrap_err().0;
        assert!(err.contains(".env is writable by every user"), "{err}");
        assert!(err.contains("mode 666"), "{err}");
        assert!(err.contains("chmod go-w"), "{err}");
        fs::set_permissions(dir.join(".env"), fs::Permissions::from_mode(0o600)).unwrap();
        // An override file the compose tool merges counts as much as the compose file.
        fs::write(dir.join("compose.override.yml"), "services: {}\n").unwrap();
        std::os::unix::fs::chown(dir.join("compose.override.yml"), Some(4321), None).unwrap();
        let err = verdict(&dir, &none).unwrap_err().0;
        assert!(
            err.contains("compose.override.yml is owned by user 4321"),
            "{err}"
        );
        let trusted = Trusted::parse(&["4321".to_owned()]).unwrap();
        verdict(&dir, &trusted).unwrap();
        // The folder: group-writable by a group that is not trusted.
        std::os::unix::fs::chown(&dir, None, Some(4321)).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o775)).unwrap();
        let err = verdict(&dir, &trusted).unwrap_err().0;
        assert!(err.contains("is writable by group 4321"), "{err}");
        let group = Trusted::parse(&["4321".to_owned(), "@4321".to_owned()]).unwrap();
        verdict(&dir, &group).unwrap();
        // Sticky does not help the service folder itself.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(verdict(&dir, &group).is_err());
    }

    #[test]
    fn a_link_and_what_it_leads_to_are_both_judged() {
        let (base, dir) = service();
        let elsewhere = base.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::write(elsewhere.join("real.env"), "X=1\n").unwrap();
        fs::remove_file(dir.join(".env")).unwrap();
        std::os::unix::fs::symlink(elsewhere.join("real.env"), dir.join(".env")).unwrap();
        verdict(&dir, &Trusted::default()).unwrap();
        std::os::unix::fs::chown(elsewhere.join("real.env"), Some(4321), None).unwrap();
        let err = verdict(&dir, &Trusted::default()).unwrap_err().0;
        assert!(err.contains("real.env is owned by user 4321"), "{err}");
        std::os::unix::fs::chown(elsewhere.join("real.env"), Some(0), None).unwrap();
        fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o777)).unwrap();
        let err = verdict(&dir, &Trusted::default()).unwrap_err().0;
        assert!(err.contains("elsewhere is writable by every user"), "{err}");
    }

    #[test]
    fn a_file_with_an_access_acl_is_refused() {
        let (_base, dir) = service();
        // A POSIX ACL as `setfacl -m u:4321:rw .env` writes it: version 2, then the user
        // object, a named user, the group object, the mask and others (tag, perm, id).
        let entries: [(u16, u16, u32); 5] = [
            (0x01, 6, u32::MAX),
            (0x02, 6, 4321),
            (0x04, 4, u32::MAX),
            (0x10, 6, u32::MAX),
            (0x20, 0, u32::MAX),
        ];
        let mut acl = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            acl.extend(tag.to_le_bytes());
            acl.extend(perm.to_le_bytes());
            acl.extend(id.to_le_bytes());
        }
        let env = dir.join(".env");
        rustix::fs::setxattr(
            &env,
            "system.posix_acl_access",
            &acl,
            rustix::fs::XattrFlags::empty(),
        )
        .expect("the test folder's file system keeps ACLs");
        let err = verdict(&dir, &Trusted::default()).unwrap_err().0;
        assert!(err.contains(".env has an access ACL"), "{err}");
    }

    #[test]
    fn unknown_owners_are_named() {
        let err = Trusted::parse(&["no-such-user-here".to_owned()]).unwrap_err();
        assert!(err.contains("no user named `no-such-user-here`"), "{err}");
        let err = Trusted::parse(&["@no-such-group-here".to_owned()]).unwrap_err();
        assert!(err.contains("no group named"), "{err}");
        assert_eq!(
            Trusted::parse(&["root".to_owned(), "@root".to_owned()]).unwrap(),
            Trusted {
                users: [0].into(),
                groups: [0].into()
            }
        );
    }
}
