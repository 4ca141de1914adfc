//! Finding the service folders under SERVICES_ROOT and applying the filters.
//!
//! Only real folders count: a symlink is skipped with a warning (it could lead root to
//! rewrite an `.env` outside SERVICES_ROOT), and so is a name holding control characters
//! (it would break tables, logs and notifications).

pub mod compose_files;

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::files::trust::Trusted;

/// One service: a folder under SERVICES_ROOT with a compose file and an env file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDir {
    /// The folder name, which is the service's name.
    pub name: String,
    /// The folder.
    pub path: PathBuf,
    /// Its env file.
    pub env_file: PathBuf,
    /// The owners its files may have besides root and the user running cipug.
    pub trusted: Trusted,
    /// Its compose project's name, as the compose tool derives it
    /// ([`crate::formats::compose::project`]).
    pub project: String,
}

impl ServiceDir {
    /// Refuses the service (exit 25) when someone root does not trust owns or can write its
    /// folder, a folder above it, its env file or a compose file (see
    /// [`crate::files::trust`]).
    pub fn check_trust(&self) -> Result<()> {
        match self.trust_problems().into_iter().next() {
            None => Ok(()),
            Some(refused) => Err(Error::Value(format!("not trusted: {refused}"))),
        }
    }

    /// Reads the compose project's name as the compose tool of `config` derives it (see
    /// [`ServiceDir::project`]). Until the tool is known that is the folder's name: a run
    /// that restarts reads it again once it asked the tool for its version. Nothing of a
    /// service is read before its trust is checked (loading it refuses it then); an
    /// untrusted one keeps the folder's name.
    pub fn read_project(&mut self, config: &Config) {
        let flavour = &config.compose_flavour;
        let reads_files =
            flavour.reads_project_name_from_env() || flavour.reads_project_name_from_file();
        self.project = if reads_files && self.trust_problems().is_empty() {
            project_of(config, &self.path, &self.name, &self.env_file)
        } else {
            crate::formats::compose::project::normalize(&self.name)
        };
    }

    /// Every reason [`ServiceDir::check_trust`] refuses the service for, for `doctor`.
    pub fn trust_problems(&self) -> Vec<crate::files::trust::Refused> {
        let env_name = self
            .env_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let files = crate::files::trust::instruction_files(&self.path, &env_name);
        crate::files::trust::problems(&self.path, &files, &self.trusted)
    }
}

/// The services under `config.services_root`, filtered, in name order.
pub fn discover(config: &Config) -> Result<Vec<ServiceDir>> {
    let root = &config.services_root;
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::DirNotFound(root.clone()))
        }
        Err(e) => return Err(Error::io(root, e)),
    };
    let trusted = Trusted::parse(&config.trusted_owners).map_err(Error::Value)?;
    let mut services = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(root, e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if file_type.is_symlink() {
            if crate::services::compose_files::name(config, &path).is_some() {
                log::warn!(
                    "{}: skipped, a service folder must not be a symlink (it points to {}); move the folder into {}",
                    shown(&path),
                    std::fs::read_link(&path).map_or_else(|_| "?".into(), |t| shown(&t)),
                    root.display()
                );
            }
            continue;
        }
        if !file_type.is_dir() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            log::warn!("{}: skipped, the folder name is not UTF-8", shown(&path));
            continue;
        };
        if name.chars().any(char::is_control) {
            log::warn!(
                "{}: skipped, the folder name holds control characters; rename the folder",
                shown(&path)
            );
            continue;
        }
        if !keep(config, &name) {
            log::debug!("{name}: filtered out");
            continue;
        }
        let Some(compose_file) = crate::services::compose_files::name(config, &path) else {
            log::trace!(
                "{name}: none of {}, not a service",
                crate::services::compose_files::wanted(config)
            );
            continue;
        };
        let env_file = path.join(&config.env_file_name);
        if !is_file_or_link(&env_file) {
            log::debug!(
                "{name}: has {compose_file} but no {}, skipped",
                config.env_file_name
            );
            continue;
        }
        let mut dir = ServiceDir {
            project: crate::formats::compose::project::normalize(&name),
            name,
            path,
            env_file,
            trusted: trusted.clone(),
        };
        dir.read_project(config);
        services.push(dir);
    }
    services.sort_by(|a, b| a.name.cmp(&b.name));
    for wanted in &config.services_filter {
        if !services.iter().any(|s| &s.name == wanted) {
            log::warn!(
                "SERVICES_FILTER names `{wanted}`, but {} has no such service",
                root.display()
            );
        }
    }
    Ok(services)
}

/// The compose project name of the service `name` in `path`: what its compose tool reads
/// (the `.env`'s `COMPOSE_PROJECT_NAME`, the compose file's `name:`), else the folder name.
/// Read only once the service's files passed the trust check.
fn project_of(config: &Config, path: &Path, name: &str, env_file: &Path) -> String {
    let flavour = &config.compose_flavour;
    let env_value = flavour
        .reads_project_name_from_env()
        .then(|| read_bounded(env_file))
        .flatten()
        .and_then(|bytes| crate::formats::envfile::EnvFile::parse(&bytes).ok())
        .and_then(|env| {
            env.get(crate::formats::env_keys::COMPOSE_PROJECT_NAME.name)
                .map(|e| e.value.clone())
        });
    let file_name = flavour
        .reads_project_name_from_file()
        .then(|| crate::services::compose_files::path(config, path))
        .flatten()
        .and_then(|file| crate::services::compose_files::read(&file).ok())
        .and_then(|text| crate::formats::compose::services::ComposeServices::parse(&text).ok())
        .and_then(|file| file.project_name().map(str::to_owned));
    crate::formats::compose::project::name(
        flavour,
        name,
        env_value.as_deref(),
        file_name.as_deref(),
    )
}

/// The first MiB of a regular file (as much as an env file may hold); `None` for anything
/// else.
fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(1 << 20).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// A path for messages, control characters escaped.
fn shown(path: &Path) -> String {
    path.to_string_lossy().escape_debug().to_string()
}

fn keep(config: &Config, name: &str) -> bool {
    let included =
        config.services_filter.is_empty() || config.services_filter.iter().any(|f| f == name);
    included && !config.services_filter_exclude.iter().any(|f| f == name)
}

fn is_file_or_link(path: &Path) -> bool {
    path.is_file()
        || path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
}
