//! Which compose file a service folder has: the first of the compose specification's names
//! (`compose.yaml`, `compose.yml`, `docker-compose.yaml`, `docker-compose.yml`) that exists,
//! or `COMPOSE_FILE_NAME` when it is set. Also whether the compose tool must be told the
//! file with `-f`: only when it would not find the same one by itself.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::formats::compose::version::ComposeKind;

/// The compose specification's default file names, in the order compose tools prefer them.
pub const DEFAULT_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The compose file name of the service in `folder`, if it has one.
pub fn name(config: &Config, folder: &Path) -> Option<String> {
    if !config.compose_file_name.is_empty() {
        let name = &config.compose_file_name;
        return folder.join(name).is_file().then(|| name.clone());
    }
    DEFAULT_NAMES
        .iter()
        .find(|n| folder.join(n).is_file())
        .map(|n| (*n).to_owned())
}

/// The compose file of the service in `folder`, if it has one.
pub fn path(config: &Config, folder: &Path) -> Option<PathBuf> {
    name(config, folder).map(|n| folder.join(n))
}

/// The override files compose tools merge over the compose file when no `-f` names it.
pub const OVERRIDE_NAMES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// The files podman-compose (1.0 to 1.6) reads when no `-f` names one: every one of these
/// that exists, merged in this order.
pub const PODMAN_COMPOSE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "compose.override.yaml",
    "compose.override.yml",
    "podman-compose.yaml",
    "podman-compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
    "container-compose.yml",
    "container-compose.yaml",
    "container-compose.override.yml",
    "container-compose.override.yaml",
];

/// Every compose file the compose tool reads in `folder`, in the order it merges them, when
/// cipug gives no `-f` (with `-f` the tools read only the file named): for podman-compose
/// each of [`PODMAN_COMPOSE_NAMES`] present, for docker compose the compose file, then the
/// override files present. For a tool cipug does not know, both (and
/// [`podman_only_files`] says which only podman-compose would read).
pub fn paths(config: &Config, folder: &Path) -> Vec<PathBuf> {
    let Some(main) = path(config, folder) else {
        return Vec::new();
    };
    if flag(config, folder).is_some() {
        return vec![main];
    }
    let present = |names: &[&str]| -> Vec<PathBuf> {
        names
            .iter()
            .map(|n| folder.join(n))
            .filter(|p| p.is_file())
            .collect()
    };
    let mut all = vec![main];
    all.extend(present(OVERRIDE_NAMES));
    match config.compose_flavour.kind {
        ComposeKind::PodmanCompose => present(PODMAN_COMPOSE_NAMES),
        ComposeKind::Unknown => {
            all.extend(podman_only_files(config, folder));
            all
        }
        ComposeKind::DockerComposeV1 | ComposeKind::DockerComposeV2 => all,
    }
}

/// The files of [`PODMAN_COMPOSE_NAMES`] present in `folder` that docker compose does not
/// read, when cipug gives no `-f`.
pub fn podman_only_files(config: &Config, folder: &Path) -> Vec<PathBuf> {
    if flag(config, folder).is_some() {
        return Vec::new();
    }
    PODMAN_COMPOSE_NAMES
        .iter()
        .filter(|n| !DEFAULT_NAMES.contains(n) && !OVERRIDE_NAMES.contains(n))
        .map(|n| folder.join(n))
        .filter(|p| p.is_file())
        .collect()
}

/// What to name in an error when `folder` has no compose file.
pub fn wanted(config: &Config) -> String {
    if config.compose_file_name.is_empty() {
        DEFAULT_NAMES.join(", ")
    } else {
        config.compose_file_name.clone()
    }
}

/// The file to pass with `-f`, or `None` when the compose tool finds that file alone: it is
/// the only one of the default names in the folder. With several of them, tools disagree
/// (podman-compose merges all it finds), so cipug names the one it reads.
pub fn flag(config: &Config, folder: &Path) -> Option<String> {
    let chosen = name(config, folder)?;
    let present: Vec<&str> = DEFAULT_NAMES
        .iter()
        .copied()
        .filter(|n| folder.join(n).is_file())
        .collect();
    if present == [chosen.as_str()] {
        None
    } else {
        Some(chosen)
    }
}

/// Reads the compose file at `path`, no more than one byte past
/// [`crate::formats::compose::limits::MAX_BYTES`]: a larger file is not read whole, and what
/// is returned of it is refused by [`crate::formats::compose::limits::check`] as too big.
pub fn read(path: &Path) -> std::io::Result<String> {
    let limit = crate::formats::compose::limits::MAX_BYTES;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > limit {
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> Config {
        let mut sources = crate::config::Sources::default();
        sources
            .env
            .insert("CIPUG_SERVICES_ROOT".into(), "/s".into());
        sources.cwd = PathBuf::from("/");
        let mut c = Config::load(&sources).unwrap();
        c.compose_file_name = name.to_owned();
        c
    }

    #[test]
    fn names_in_the_specifications_order_and_the_override() {
        // (files present, COMPOSE_FILE_NAME, found, -f)
        let cases: &[(&[&str], &str, Option<&str>, Option<&str>)] = &[
            (
                &["docker-compose.yml"],
                "",
                Some("docker-compose.yml"),
                None,
            ),
            (&["compose.yaml"], "", Some("compose.yaml"), None),
            (
                &["docker-compose.yaml", "compose.yml"],
                "",
                Some("compose.yml"),
                Some("compose.yml"),
            ),
            (
                &["compose.yml", "compose.yaml"],
                "",
                Some("compose.yaml"),
                Some("compose.yaml"),
            ),
            (&["other.yml"], "", None, None),
            (
                &["other.yml", "compose.yml"],
                "other.yml",
                Some("other.yml"),
                Some("other.yml"),
            ),
            (&["compose.yml"], "compose.yml", Some("compose.yml"), None),
            (&["compose.yml"], "stack.yml", None, None),
        ];
        for (files, setting, found, f) in cases {
            let dir = tempfile::tempdir().unwrap();
            for file in *files {
                std::fs::write(dir.path().join(file), "services: {}\n").unwrap();
            }
            let c = config(setting);
            assert_eq!(
                name(&c, dir.path()).as_deref(),
                *found,
                "{files:?} {setting}"
            );
            assert_eq!(flag(&c, dir.path()).as_deref(), *f, "{files:?} {setting}");
        }
    }

    #[test]
    fn each_tool_merges_its_own_files() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["compose.yml", "compose.override.yml", "podman-compose.yml"] {
            std::fs::write(dir.path().join(file), "services: {}\n").unwrap();
        }
        let names = |kind: &str| {
            let mut c = config("");
            c.compose_flavour = crate::formats::compose::version::ComposeFlavour::parse(kind);
            paths(&c, dir.path())
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        let all = ["compose.yml", "compose.override.yml", "podman-compose.yml"];
        assert_eq!(names("podman-compose version 1.0.3"), all);
        assert_eq!(
            names("Docker Compose version v2.26.1"),
            ["compose.yml", "compose.override.yml"]
        );
        assert_eq!(names(""), all, "not known: both readings");
        assert_eq!(
            podman_only_files(&config(""), dir.path()),
            [dir.path().join("podman-compose.yml")]
        );
    }
}
