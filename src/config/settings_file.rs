//! The settings file of the systemd unit (`EnvironmentFile=/etc/cipug/cipug.env`), read by
//! the command line too, so that `cipug doctor` in a shell sees what the timer's runs see.
//! Its variables count as the environment's, below the real environment and above the JSON
//! config file. It names programs that run as root, so it is read only when root (or the
//! user running cipug) owns it and no one else can write it or a folder above it, as the
//! config file. `CIPUG_SETTINGS_FILE` names another file (empty: none).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::formats::envfile::EnvFile;

/// The file the unit reads.
pub const DEFAULT: &str = "/etc/cipug/cipug.env";

/// The variable that names another settings file.
pub const VARIABLE: &str = "CIPUG_SETTINGS_FILE";

/// Which settings file a run looked at, and whether it was there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Looked {
    /// The file.
    pub path: PathBuf,
    /// Whether it existed (and was read).
    pub found: bool,
}

impl Looked {
    /// `/etc/cipug/cipug.env (read)` or `(not found)`, for messages.
    pub fn describe(&self) -> String {
        let state = if self.found { "read" } else { "not found" };
        format!("{} ({state})", self.path.display())
    }
}

/// Adds the variables of the settings file `env` names (or the default) to `env` where it
/// has none of that name; says which file it looked at (none when the variable is empty).
pub fn merge_into(env: &mut HashMap<String, String>) -> Result<Option<Looked>> {
    let path = match env.get(VARIABLE) {
        Some(p) if p.is_empty() => return Ok(None),
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(DEFAULT),
    };
    let Some(vars) = read(&path)? else {
        return Ok(Some(Looked { path, found: false }));
    };
    for (key, value) in vars {
        env.entry(key).or_insert(value);
    }
    Ok(Some(Looked { path, found: true }))
}

/// The variables of the settings file at `path`, or `None` when there is none.
pub fn read(path: &Path) -> Result<Option<Vec<(String, String)>>> {
    let bytes = match super::trusted_file::read_trusted_as(path, VARIABLE, "the settings file") {
        Ok(bytes) => bytes,
        Err(Error::FileNotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let env = EnvFile::parse(&bytes).map_err(|e| Error::UnknownFormat {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
    Ok(Some(
        env.entries()
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_environment_wins_and_others_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cipug.env");
        std::fs::write(
            &path,
            "# set here, read by the unit and the shell\nCIPUG_SERVICES_ROOT=/srv/services\nCIPUG_VERBOSITY=\"2\"\nREGISTRY_AUTH_FILE=/etc/cipug/auth.json\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut env: HashMap<String, String> = [
            (VARIABLE.to_owned(), path.display().to_string()),
            ("CIPUG_VERBOSITY".to_owned(), "0".to_owned()),
        ]
        .into();
        let looked = merge_into(&mut env).unwrap().unwrap();
        assert!(looked.found && looked.describe().ends_with("cipug.env (read)"));
        assert_eq!(env["CIPUG_SERVICES_ROOT"], "/srv/services");
        assert_eq!(env["CIPUG_VERBOSITY"], "0", "the environment wins");
        assert_eq!(env["REGISTRY_AUTH_FILE"], "/etc/cipug/auth.json");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = merge_into(&mut env).unwrap_err();
        assert!(err.to_string().contains("writable by other users"), "{err}");
        let mut none: HashMap<String, String> = [(
            VARIABLE.to_owned(),
            dir.path().join("missing").display().to_string(),
        )]
        .into();
        assert!(!merge_into(&mut none).unwrap().unwrap().found);
        let mut off: HashMap<String, String> = [(VARIABLE.to_owned(), String::new())].into();
        assert_eq!(merge_into(&mut off).unwrap(), None);
    }
}
