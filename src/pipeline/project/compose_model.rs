//! The compose project of a service folder as its compose tool reads it, from every file the
//! tool reads: the compose file and the override files it merges (or the files
//! `COMPOSE_FILE` names), what their top-level `include:` names (relative to the file that
//! names it), the other files `extends: file:` points into; anchors and `<<` merges
//! applied, `extends:` resolved. One model for the restart plan, the health gate and
//! `doctor`.
//!
//! Where cipug cannot follow a file (a path with a variable in it, a file that is missing,
//! too many levels), the model says so ([`ComposeServices::unsure`]); the restart plan then
//! restarts the whole project rather than guess, and the gate checks every container.
//! Every file read besides the service folder's own passes the same trust check as they
//! do.

use std::path::{Path, PathBuf};

use crate::adapters::compose::Compose;
use crate::adapters::runner::Runner;
use crate::config::Config;
use crate::files::trust::Refused;
use crate::formats::compose::services::{ComposeServices, ModelError};
use crate::formats::compose::version::ComposeKind;
use crate::formats::envfile::EnvFile;
use crate::services::ServiceDir;

/// How deep includes and extends in other files are followed.
const MAX_DEPTH: usize = 10;
/// The most files one project may read.
const MAX_FILES: usize = 64;

/// Why a compose file of a project was not read: the folder's own files make the project
/// fail, the files they name make it unsure.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// One of the folder's own compose files cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: std::io::Error,
    },
    /// A compose file that does not parse.
    #[error("{}: {error}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        error: ModelError,
    },
    /// A named file whose path has a variable in it.
    #[error("a path with a variable in it")]
    Variable,
    /// More files than a project may read.
    #[error("more than {MAX_FILES} compose files")]
    TooMany,
    /// A named file that another user could change.
    #[error("not trusted: {0}")]
    NotTrusted(Refused),
    /// A named file that cannot be read.
    #[error(transparent)]
    Unreadable(std::io::Error),
}

/// The compose project of `dir`. An error names the file that does not parse (or cannot be
/// read, when it is one of the folder's own compose files).
pub fn load(config: &Config, dir: &ServiceDir) -> Result<ComposeServices, ProjectError> {
    let mut project = ComposeServices::default();
    let mut paths = crate::services::compose_files::paths(config, &dir.path);
    if paths.is_empty() {
        paths.push(
            dir.path
                .join(crate::services::compose_files::wanted(config)),
        );
    }
    if config.compose_flavour.kind == ComposeKind::Unknown {
        if let Some(file) =
            crate::services::compose_files::podman_only_files(config, &dir.path).first()
        {
            project.doubt(format!(
                "{} is read by podman-compose, not by docker compose, and the compose tool is not known",
                file.display()
            ));
        }
    }
    let listed = compose_file_setting(dir)
        .filter(|_| crate::services::compose_files::flag(config, &dir.path).is_none());
    let mut read = 0;
    for path in &paths {
        let text =
            crate::services::compose_files::read(path).map_err(|source| ProjectError::Read {
                path: path.clone(),
                source,
            })?;
        read += 1;
        let file = parse(path, &text)?;
        project.merge(&path.display().to_string(), file);
    }
    if let Some(listed) = listed {
        // podman-compose reads COMPOSE_FILE from its environment only, docker compose from
        // the `.env` too: both readings are in the model, and it is unsure.
        project.doubt(format!(
            "COMPOSE_FILE={listed} chooses the compose files, which not every compose tool reads from the .env"
        ));
        for name in listed.split(separator()).filter(|n| !n.is_empty()) {
            let path = dir.path.join(name);
            if !paths.contains(&path) {
                read += follow(dir, &mut project, &path, 0, read);
            }
        }
    }
    let mut depth = 0;
    loop {
        let includes = project.take_includes();
        if includes.is_empty() {
            break;
        }
        depth += 1;
        for include in includes {
            if depth > MAX_DEPTH {
                project.doubt(format!(
                    "{include}: more than {MAX_DEPTH} levels of include"
                ));
                continue;
            }
            read += follow(dir, &mut project, Path::new(&include), depth, read);
        }
    }
    extend_from_files(dir, &mut project, 0);
    project.finish();
    Ok(project)
}

/// Asks the compose tool which compose services it reads, where it can say, and makes the
/// model unsure when they are not the model's: one the model lacks, or one in no profile
/// that the tool lacks (the tool lists only the services of active profiles).
pub fn confirm(
    config: &Config,
    runner: &dyn Runner,
    dir: &ServiceDir,
    model: &mut ComposeServices,
) {
    let Some(cmd) = Compose::new(config).config_services(dir) else {
        return;
    };
    let listed = match runner.run(&cmd) {
        Ok(out) => out.stdout,
        Err(e) => {
            log::debug!(
                "{}: the compose tool did not list its services: {e}",
                dir.name
            );
            return;
        }
    };
    let tool: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let known = model.service_names();
    let missed: Vec<&str> = tool
        .iter()
        .copied()
        .filter(|s| !known.iter().any(|k| k == s))
        .collect();
    let extra: Vec<&String> = known
        .iter()
        .filter(|k| !tool.contains(&k.as_str()) && model.profiles(k).is_empty())
        .collect();
    if !missed.is_empty() {
        model.doubt(format!(
            "the compose tool reads compose services cipug's reading of the files does not have: {}",
            missed.join(", ")
        ));
    }
    if !extra.is_empty() {
        model.doubt(format!(
            "cipug's reading of the files has compose services the compose tool does not: {}",
            extra
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// Reads the file at `path` into `project` (an included or listed file); a file cipug cannot
/// read, trust or parse makes the model unsure. Returns how many files it read.
fn follow(
    dir: &ServiceDir,
    project: &mut ComposeServices,
    path: &Path,
    depth: usize,
    read: usize,
) -> usize {
    match other_file(dir, path, read) {
        Ok(file) => {
            project.merge(&path.display().to_string(), file);
            1
        }
        Err(why) => {
            project.doubt(format!("{} (level {depth}): {why}", path.display()));
            0
        }
    }
}

/// Gives each service that `extends:` a service of another file the keys of that one.
fn extend_from_files(dir: &ServiceDir, project: &mut ComposeServices, depth: usize) {
    for (service, file, base) in project.extends_in_files() {
        if depth >= MAX_DEPTH {
            project.doubt(format!(
                "{service}: more than {MAX_DEPTH} levels of extends"
            ));
            continue;
        }
        let path = PathBuf::from(&file);
        let mut other = match other_file(dir, &path, 0) {
            Ok(other) => other,
            Err(why) => {
                project.doubt(format!("{service} extends {base} of {file}: {why}"));
                continue;
            }
        };
        extend_from_files(dir, &mut other, depth + 1);
        other.finish();
        for why in other.unsure() {
            project.doubt(why.clone());
        }
        match other.service(&base) {
            Some(found) => project.extend_with(&service, &found.clone()),
            None => project.doubt(format!(
                "{service} extends {base}, which {file} does not have"
            )),
        }
    }
}

/// A compose file besides the folder's own: it must exist, pass the trust check (its folder
/// and those above it too) and parse.
fn other_file(dir: &ServiceDir, path: &Path, read: usize) -> Result<ComposeServices, ProjectError> {
    if path.to_string_lossy().contains('$') {
        return Err(ProjectError::Variable);
    }
    if read >= MAX_FILES {
        return Err(ProjectError::TooMany);
    }
    let path = if path.is_absolute() {
        path.to_owned()
    } else {
        dir.path.join(path)
    };
    let folder = path.parent().unwrap_or(&dir.path);
    crate::files::trust::check(folder, std::slice::from_ref(&path), &dir.trusted)
        .map_err(ProjectError::NotTrusted)?;
    let text = crate::services::compose_files::read(&path).map_err(ProjectError::Unreadable)?;
    // Merged into an empty project, so that the paths it names are made its own folder's.
    let mut file = ComposeServices::default();
    file.merge(&path.display().to_string(), parse(&path, &text)?);
    Ok(file)
}

fn parse(path: &Path, text: &str) -> Result<ComposeServices, ProjectError> {
    ComposeServices::parse(text).map_err(|error| ProjectError::Parse {
        path: path.to_owned(),
        error,
    })
}

/// `COMPOSE_FILE` as the compose tool would see it: cipug's environment, else the `.env`.
fn compose_file_setting(dir: &ServiceDir) -> Option<String> {
    let key = crate::formats::env_keys::COMPOSE_FILE.name;
    if let Ok(value) = std::env::var(key) {
        return Some(value).filter(|v| !v.is_empty());
    }
    let bytes = std::fs::read(&dir.env_file).ok()?;
    let env = EnvFile::parse(&bytes).ok()?;
    env.variables().remove(key).filter(|v| !v.is_empty())
}

/// `COMPOSE_PATH_SEPARATOR`, `:` when unset.
fn separator() -> char {
    std::env::var("COMPOSE_PATH_SEPARATOR")
        .ok()
        .and_then(|s| s.chars().next())
        .unwrap_or(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> (tempfile::TempDir, Config, ServiceDir) {
        let (root, config, dir) = crate::pipeline::fixture::service(
            "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        );
        for (name, text) in files {
            let path = dir.path.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        (root, config, dir)
    }

    #[test]
    fn includes_and_extends_of_other_files_are_followed() {
        let (_root, config, dir) = folder(&[
            (
                "compose.yml",
                "include:\n  - lib/more.yml\nservices:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n  worker:\n    extends:\n      file: common/base.yml\n      service: base\n",
            ),
            (
                "lib/more.yml",
                "include:\n  - path: [deeper.yml]\nservices:\n  side:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n",
            ),
            (
                "lib/deeper.yml",
                "services:\n  deep:\n    image: ${SERVICE_DB_IMAGE_HASHED}\n",
            ),
            (
                "common/base.yml",
                "services:\n  base:\n    extends:\n      file: root.yml\n      service: root\n    command: x\n",
            ),
            (
                "common/root.yml",
                "services:\n  root:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n",
            ),
        ]);
        let model = load(&config, &dir).unwrap();
        assert_eq!(
            model.services_using(&["APP"]),
            ["app", "side", "worker"],
            "an included file, and extends through two other files, each relative to its own"
        );
        assert_eq!(
            model.services_using(&["DB"]),
            ["deep"],
            "an include's include"
        );
        assert!(model.unsure().is_empty(), "{:?}", model.unsure());
    }

    #[test]
    fn what_cannot_be_followed_makes_the_model_unsure() {
        let (_root, config, dir) = folder(&[
            (
                "compose.yml",
                "include:\n  - ${LIB}/more.yml\n  - missing.yml\nservices:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n  worker:\n    extends:\n      file: nowhere.yml\n      service: app\n",
            ),
            ("loop.yml", "include:\n  - loop.yml\nservices: {}\n"),
            (".env", "COMPOSE_FILE=compose.yml:loop.yml\n"),
        ]);
        let model = load(&config, &dir).unwrap();
        let unsure = model.unsure().join("\n");
        for why in [
            "a path with a variable in it",
            "missing.yml",
            "worker extends app of",
            "COMPOSE_FILE=compose.yml:loop.yml",
            "levels of include",
        ] {
            assert!(unsure.contains(why), "{why}: {unsure}");
        }
        assert_eq!(model.services_using(&["APP"]), ["app"]);
    }

    #[test]
    fn an_included_file_others_can_write_is_not_read() {
        let (_root, config, dir) = folder(&[
            (
                "compose.yml",
                "include:\n  - lib/more.yml\nservices:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n",
            ),
            ("lib/more.yml", "services:\n  side:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n"),
        ]);
        use std::os::unix::fs::PermissionsExt;
        let lib = dir.path.join("lib/more.yml");
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o666)).unwrap();
        let model = load(&config, &dir).unwrap();
        assert_eq!(model.services_using(&["APP"]), ["app"]);
        assert!(
            model.unsure().iter().any(|w| w.contains("not trusted")),
            "{:?}",
            model.unsure()
        );
    }

    #[test]
    fn the_compose_tools_own_list_confirms_the_model() {
        use crate::adapters::recording::Recording;
        let (_root, mut config, dir) = folder(&[(
            "compose.yml",
            "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n  debug:\n    image: busybox\n    profiles: [debug]\n",
        )]);
        let unsure_with = |config: &Config, listed: &str| {
            let runner = Recording::new().answer("config --services", listed);
            let mut model = load(config, &dir).unwrap();
            confirm(config, &runner, &dir, &mut model);
            (model.unsure().join("\n"), runner.calls().len())
        };
        // podman-compose 1.0 cannot list them: nothing is asked.
        assert_eq!(unsure_with(&config, "app\n"), (String::new(), 0));
        config.compose_flavour =
            crate::formats::compose::version::ComposeFlavour::parse("podman-compose version 1.6.0");
        assert_eq!(
            unsure_with(&config, "app\n"),
            (String::new(), 1),
            "a profile's service need not be listed"
        );
        let (why, _) = unsure_with(&config, "app\nworker\n");
        assert!(why.contains("does not have: worker"), "{why}");
        let (why, _) = unsure_with(&config, "debug\n");
        assert!(why.contains("the compose tool does not: app"), "{why}");
    }
}
