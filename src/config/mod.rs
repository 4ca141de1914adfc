//! Settings from flags, `CIPUG_*` environment variables, a JSON file and defaults, turned
//! into one validated [`Config`]. The strongest source wins, in that order. This file holds
//! the type; its sources, loading, the conversion of single values, the choice enums and the
//! JSON `cipug config` prints (from the settings table's rows) live beside it.

use std::path::PathBuf;

use crate::formats::compose::version::ComposeFlavour;

mod choices;
mod convert;
mod load;
pub mod python;
pub mod settings_file;
mod shown;
mod sources;
pub mod table;
mod trusted_file;

pub use choices::{ResolverKind, RestartScope, SnapshotWhen, StopStartMethod, TagUpdate};
pub use convert::parse_bool;
pub use load::parse_config_file;
pub use sources::{auth_file_paths, RegistryEnv, Sources};

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
    /// ([`crate::services::compose_files`]).
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
    pub timeouts: crate::base::timeouts::Timeouts,
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
    /// How far version tags may move.
    pub tag_update: TagUpdate,
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

#[cfg(test)]
impl Config {
    /// The settings these environment variables give, alone, as root in `cwd`: for unit
    /// tests.
    pub fn for_tests(env: &[(&str, &str)], cwd: &std::path::Path) -> Config {
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
    use crate::config::table::SETTINGS;
    use serde_json::Value;

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
