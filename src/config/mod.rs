//! Settings from flags, `CIPUG_*` environment variables, a JSON file and defaults, turned
//! into one validated [`Config`]. The strongest source wins, in that order. This file holds
//! the type; its sources, loading and the conversion of single values live beside it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::formats::compose_version::ComposeFlavour;
use crate::formats::settings::SETTINGS;

mod convert;
mod load;
pub mod settings_file;
mod sources;
mod trusted_file;

pub use convert::parse_bool;
pub use load::parse_config_file;
pub use sources::{auth_file_paths, RegistryEnv, Sources};

/// How a service is stopped and started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopStartMethod {
    /// `<COMPOSE_TOOL> down` then `up -d` in the service folder.
    Compose,
    /// `systemctl restart <COMPOSE_TOOL>@<service>`.
    SystemdSystem,
    /// `systemctl --user restart <COMPOSE_TOOL>@<service>`.
    SystemdUser,
}

/// Which containers a changed pin restarts (compose method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartScope {
    /// Recreate only the compose services whose image variable changed.
    Services,
    /// `down` and `up -d` the whole project.
    Project,
}

/// When the snapshot before an update is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotWhen {
    /// After the containers that change stopped: the data is at rest.
    Stopped,
    /// While they run, before they stop.
    Running,
}

/// Which resolver turns tags into digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolverKind {
    /// The built-in registry client.
    Native,
    /// `skopeo inspect`, one process per image.
    Skopeo,
}

/// The validated settings of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// 0 errors only, 1 normal, 2 verbose, 3 very verbose.
    pub verbosity: u8,
    /// The folder with one subfolder per service.
    pub services_root: PathBuf,
    /// Service names to keep; empty keeps all.
    pub services_filter: Vec<String>,
    /// Service names to drop.
    pub services_filter_exclude: Vec<String>,
    /// The compose command as words.
    pub compose_tool: Vec<String>,
    /// The container command as words.
    pub container_tool: Vec<String>,
    /// Restart services whose pin changed.
    pub service_stop_start: bool,
    /// How to restart.
    pub stop_start_method: StopStartMethod,
    /// Snapshot before changing a pin.
    pub service_snapshot: bool,
    /// Pull by digest before touching a service.
    pub service_pull: bool,
    /// Pulls running at once.
    pub pull_jobs: usize,
    /// Which containers a changed pin restarts.
    pub restart_scope: RestartScope,
    /// When the snapshot is taken.
    pub snapshot_when: SnapshotWhen,
    /// Prune unused images at the end.
    pub prune_images: bool,
    /// The compose file name in each service; empty: found per service
    /// ([`crate::compose_file_names`]).
    pub compose_file_name: String,
    /// The env file name in each service.
    pub env_file_name: String,
    /// Seconds a cached resolution stays valid; 0 disables the cache.
    pub cache_duration: u64,
    /// The cache file.
    pub cache_location: PathBuf,
    /// Snapper snapshot folder relative to each service.
    pub snapshots_dir_snapper: Option<String>,
    /// Hours the newest snapper snapshot may be old.
    pub snapshots_max_age_snapper: f64,
    /// btrbk snapshot folder relative to each service.
    pub snapshots_dir_btrbk: Option<String>,
    /// Hours the newest btrbk snapshot may be old.
    pub snapshots_max_age_btrbk: f64,
    /// Seconds the health gate waits.
    pub health_timeout: u64,
    /// Seconds every container must stay up unchanged before the health gate passes.
    pub health_settle: u64,
    /// Undo failed updates.
    pub auto_rollback: bool,
    /// Snapper cleanup algorithm for cipug's snapshots.
    pub snapper_cleanup: Option<String>,
    /// Command run for each notification.
    pub notify_command: Option<Vec<String>>,
    /// Where notifications go besides NOTIFY_COMMAND: the URLs of NOTIFY_URL.
    pub notify_urls: Vec<crate::formats::notify_url::NotifyUrl>,
    /// Folder for history and the lock.
    pub state_dir: PathBuf,
    /// The resolver.
    pub resolver: ResolverKind,
    /// Resolutions running at once.
    pub resolve_jobs: usize,
    /// Requests in flight to one registry.
    pub resolve_jobs_per_registry: usize,
    /// Seconds a registry's whole share of the run may take.
    pub registry_timeout: u64,
    /// Time limits of external commands.
    pub timeouts: crate::timeouts::Timeouts,
    /// Folders with per-registry CA certificates.
    pub registry_certs_dir: Vec<PathBuf>,
    /// Registries reached over plain HTTP or unverified TLS.
    pub insecure_registries: Vec<String>,
    /// What the environment says about reaching registries (not settings of cipug's own).
    pub registry_env: RegistryEnv,
    /// Hours a new digest must have been seen before it is adopted.
    pub min_age: f64,
    /// The local times services may be updated in (`UPDATE_WINDOW`; empty: any time).
    pub update_window: crate::formats::update_window::Windows,
    /// How far version tags may move: `off`, `patch` or `minor`.
    pub tag_update: String,
    /// Owners of service files trusted besides root and the user running cipug
    /// (`TRUSTED_OWNERS`: user names or ids, `@group`s).
    pub trusted_owners: Vec<String>,
    /// The Prometheus text file written after each run.
    pub metrics_file: Option<PathBuf>,
    /// The JSON file the settings came from, if any.
    pub config_file: Option<PathBuf>,
    /// The compose tool of this run, once detected (not a setting).
    pub compose_flavour: ComposeFlavour,
}

impl Config {
    /// Every setting by name, as JSON: booleans as booleans, numbers as numbers, paths as
    /// absolute strings, lists as arrays, unset ones as null; NOTIFY_URL redacted.
    pub fn to_json(&self) -> Value {
        let opt = |v: &Option<String>| v.as_ref().map_or(Value::Null, |s| Value::from(s.as_str()));
        let path = |p: &Path| Value::from(p.to_string_lossy().into_owned());
        let mut map = Map::new();
        for setting in SETTINGS {
            let value = match setting.name {
                "VERBOSITY" => Value::from(self.verbosity),
                "SERVICES_ROOT" => path(&self.services_root),
                "SERVICES_FILTER" => Value::from(self.services_filter.clone()),
                "SERVICES_FILTER_EXCLUDE" => Value::from(self.services_filter_exclude.clone()),
                "COMPOSE_TOOL" => Value::from(shell_words::join(&self.compose_tool)),
                "CONTAINER_TOOL" => Value::from(shell_words::join(&self.container_tool)),
                "SERVICE_STOP_START" => Value::from(self.service_stop_start),
                "STOP_START_METHOD" => Value::from(match self.stop_start_method {
                    StopStartMethod::Compose => "compose",
                    StopStartMethod::SystemdSystem => "systemd-system",
                    StopStartMethod::SystemdUser => "systemd-user",
                }),
                "SERVICE_SNAPSHOT" => Value::from(self.service_snapshot),
                "SERVICE_PULL" => Value::from(self.service_pull),
                "PULL_JOBS" => Value::from(self.pull_jobs),
                "RESTART_SCOPE" => Value::from(match self.restart_scope {
                    RestartScope::Services => "services",
                    RestartScope::Project => "project",
                }),
                "SNAPSHOT_WHEN" => Value::from(match self.snapshot_when {
                    SnapshotWhen::Stopped => "stopped",
                    SnapshotWhen::Running => "running",
                }),
                "PRUNE_IMAGES" => Value::from(self.prune_images),
                "COMPOSE_FILE_NAME" if self.compose_file_name.is_empty() => Value::Null,
                "COMPOSE_FILE_NAME" => Value::from(self.compose_file_name.as_str()),
                "ENV_FILE_NAME" => Value::from(self.env_file_name.as_str()),
                "CACHE_DURATION" => Value::from(self.cache_duration),
                "CACHE_LOCATION" => path(&self.cache_location),
                "SNAPSHOTS_DIR_SNAPPER" => opt(&self.snapshots_dir_snapper),
                "SNAPSHOTS_MAX_AGE_SNAPPER" => Value::from(self.snapshots_max_age_snapper),
                "SNAPSHOTS_DIR_BTRBK" => opt(&self.snapshots_dir_btrbk),
                "SNAPSHOTS_MAX_AGE_BTRBK" => Value::from(self.snapshots_max_age_btrbk),
                "HEALTH_TIMEOUT" => Value::from(self.health_timeout),
                "HEALTH_SETTLE" => Value::from(self.health_settle),
                "AUTO_ROLLBACK" => Value::from(self.auto_rollback),
                "SNAPPER_CLEANUP" => opt(&self.snapper_cleanup),
                "NOTIFY_COMMAND" => opt(&self.notify_command.as_ref().map(shell_words::join)),
                // Shown redacted: the URLs carry tokens and passwords.
                "NOTIFY_URL" if self.notify_urls.is_empty() => Value::Null,
                "NOTIFY_URL" => Value::from(
                    self.notify_urls
                        .iter()
                        .map(|u| u.shown.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                "STATE_DIR" => path(&self.state_dir),
                "RESOLVER" => Value::from(match self.resolver {
                    ResolverKind::Native => "native",
                    ResolverKind::Skopeo => "skopeo",
                }),
                "RESOLVE_JOBS" => Value::from(self.resolve_jobs),
                "RESOLVE_JOBS_PER_REGISTRY" => Value::from(self.resolve_jobs_per_registry),
                "REGISTRY_TIMEOUT" => Value::from(self.registry_timeout),
                "PULL_TIMEOUT" => Value::from(self.timeouts.pull.as_secs()),
                "COMPOSE_TIMEOUT" => Value::from(self.timeouts.compose.as_secs()),
                "SNAPPER_TIMEOUT" => Value::from(self.timeouts.snapper.as_secs()),
                "NOTIFY_TIMEOUT" => Value::from(self.timeouts.notify.as_secs()),
                "REGISTRY_CERTS_DIR" => Value::from(
                    self.registry_certs_dir
                        .iter()
                        .map(|d| d.to_string_lossy().into_owned())
                        .collect::<Vec<_>>(),
                ),
                "INSECURE_REGISTRIES" => Value::from(self.insecure_registries.clone()),
                "MIN_AGE" => Value::from(self.min_age),
                "UPDATE_WINDOW" if self.update_window.is_empty() => Value::Null,
                "UPDATE_WINDOW" => Value::from(self.update_window.as_str()),
                "TAG_UPDATE" => Value::from(self.tag_update.as_str()),
                "TRUSTED_OWNERS" => Value::from(self.trusted_owners.clone()),
                "METRICS_FILE" => self.metrics_file.as_deref().map_or(Value::Null, path),
                "CONFIG_FILE" => self.config_file.as_deref().map_or(Value::Null, path),
                other => unreachable!("setting {other} missing from Config::to_json"),
            };
            map.insert(setting.name.to_owned(), value);
        }
        Value::Object(map)
    }
}

#[cfg(test)]
impl Config {
    /// The settings these environment variables give, alone, as root in `cwd`: for unit
    /// tests.
    pub fn for_tests(env: &[(&str, &str)], cwd: &Path) -> Config {
        Config::load(&Sources {
            flags: Default::default(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: cwd.to_path_buf(),
            is_root: true,
            uid: 0,
            settings_file: None,
        })
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sources with these flags and environment, in `/work`, as root.
    pub(super) fn sources(flags: &[(&'static str, &str)], env: &[(&str, &str)]) -> Sources {
        Sources {
            flags: flags.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: PathBuf::from("/work"),
            is_root: true,
            uid: 0,
            settings_file: None,
        }
    }

    /// A config file holding `json`, and its path; the file goes with the folder.
    pub(super) fn with_file(json: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, json).unwrap();
        let p = path.to_string_lossy().into_owned();
        (dir, p)
    }

    #[test]
    fn json_lists_every_setting_and_loads_back() {
        let c = Config::load(&sources(&[], &[("CIPUG_SERVICES_ROOT", "/s")])).unwrap();
        let json = c.to_json();
        let map = json.as_object().unwrap();
        assert_eq!(map.len(), SETTINGS.len());
        assert_eq!(map["SERVICE_PULL"], Value::Bool(true));
        assert_eq!(map["CACHE_DURATION"], Value::from(3600));
        assert_eq!(map["SERVICES_ROOT"], Value::from("/s"));
        assert_eq!(map["CONFIG_FILE"], Value::Null);
        let (_dir, file) = with_file(&json.to_string());
        let again = Config::load(&sources(&[("CONFIG_FILE", &file)], &[])).unwrap();
        assert_eq!(again.to_json().as_object().unwrap().len(), SETTINGS.len());
        assert_eq!(
            Config {
                config_file: None,
                ..again
            },
            c
        );
    }
}
