//! Settings from flags, `CIPUG_*` environment variables, a JSON file and defaults, turned
//! into one validated [`Config`]. The strongest source wins, in that order.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::formats::compose_version::ComposeFlavour;
use crate::formats::settings::{self, Kind, Setting, SETTINGS};

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
    /// URL each notification is POSTed to.
    pub notify_url: Option<String>,
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
    /// How far version tags may move: `off`, `patch` or `minor`.
    pub tag_update: String,
    /// The Prometheus text file written after each run.
    pub metrics_file: Option<PathBuf>,
    /// The JSON file the settings came from, if any.
    pub config_file: Option<PathBuf>,
    /// The compose tool of this run, once detected (not a setting).
    pub compose_flavour: ComposeFlavour,
}

/// What the process environment says about reaching registries, read here so that the
/// rest of cipug reads no environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryEnv {
    /// Credential files, in the order podman and skopeo read them.
    pub auth_files: Vec<PathBuf>,
    /// `$CONTAINERS_REGISTRIES_CONF`, if set.
    pub registries_conf: Option<String>,
    /// `HTTPS_PROXY` (or `https_proxy`, `ALL_PROXY`).
    pub https_proxy: Option<String>,
    /// `NO_PROXY` (or `no_proxy`) entries.
    pub no_proxy: Vec<String>,
}

impl RegistryEnv {
    fn from_env(env: &HashMap<String, String>, uid: u32) -> RegistryEnv {
        let get = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
        let first = |names: &[&str]| names.iter().find_map(|n| get(n));
        RegistryEnv {
            auth_files: auth_file_paths(&get, uid),
            registries_conf: get("CONTAINERS_REGISTRIES_CONF"),
            https_proxy: first(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            no_proxy: first(&["NO_PROXY", "no_proxy"])
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Where the settings come from; everything `Config::load` needs, so tests pass it in.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Command-line flags by setting name.
    pub flags: BTreeMap<&'static str, String>,
    /// The process environment.
    pub env: HashMap<String, String>,
    /// The current folder, for relative paths.
    pub cwd: PathBuf,
    /// Whether the effective user is root (for the default cache location).
    pub is_root: bool,
    /// The effective user id.
    pub uid: u32,
}

impl Sources {
    /// The sources of this process: its environment, current folder and user, and `flags`.
    pub fn from_process(flags: BTreeMap<&'static str, String>) -> Result<Sources> {
        Ok(Sources {
            flags,
            env: std::env::vars().collect(),
            cwd: std::env::current_dir().map_err(|e| Error::io(".", e))?,
            is_root: rustix::process::geteuid().is_root(),
            uid: rustix::process::geteuid().as_raw(),
        })
    }
}

/// A value before conversion, with the place it came from for error messages.
enum Raw {
    Text(String, String),
    Json(Value, String),
}

impl Config {
    /// Reads, merges and validates the settings.
    pub fn load(sources: &Sources) -> Result<Config> {
        let config_file = sources
            .flags
            .get("CONFIG_FILE")
            .or_else(|| sources.env.get("CIPUG_CONFIG_FILE"))
            .filter(|p| !p.is_empty())
            .map(|p| sources.cwd.join(p));
        let file = match &config_file {
            Some(path) => read_config_file(path)?,
            None => Map::new(),
        };
        let raw = |setting: &Setting| -> Option<Raw> {
            if let Some(v) = sources.flags.get(setting.name) {
                return Some(Raw::Text(v.clone(), format!("--{}", setting.flag())));
            }
            if let Some(v) = sources.env.get(&setting.env_var()) {
                return Some(Raw::Text(v.clone(), setting.env_var()));
            }
            let path = config_file.as_deref().unwrap_or(Path::new(""));
            match file.get(setting.name) {
                None | Some(Value::Null) => None,
                Some(v) => Some(Raw::Json(
                    v.clone(),
                    format!("{}: {}", path.display(), setting.name),
                )),
            }
        };
        let mut values: HashMap<&str, Typed> = HashMap::new();
        for setting in SETTINGS {
            let typed = match raw(setting) {
                Some(raw) => convert(setting, raw, &sources.cwd)?,
                None => match setting.default {
                    Some(d) => {
                        convert(setting, Raw::Text(d.into(), "default".into()), &sources.cwd)?
                    }
                    None => Typed::Unset,
                },
            };
            values.insert(setting.name, typed);
        }
        let take = |name: &str| values.get(name).cloned().unwrap_or(Typed::Unset);
        let services_root = match take("SERVICES_ROOT") {
            Typed::Path(p) => p,
            _ => {
                return Err(Error::Value(
                    "SERVICES_ROOT is not set: pass --services-root, set CIPUG_SERVICES_ROOT or put it in the config file".into(),
                ))
            }
        };
        let cache_location = match take("CACHE_LOCATION") {
            Typed::Path(p) => p,
            _ => default_cache_location(sources),
        };
        let state_dir = match take("STATE_DIR") {
            Typed::Path(p) => p,
            _ => default_state_dir(sources),
        };
        let notify_command = match take("NOTIFY_COMMAND").text() {
            Some(text) => Some(
                shell_words::split(&text)
                    .map_err(|e| Error::Value(format!("NOTIFY_COMMAND: `{text}`: {e}")))?,
            ),
            None => None,
        };
        let verbosity = take("VERBOSITY").count();
        if verbosity > 3 {
            return Err(Error::Value(format!(
                "VERBOSITY must be 0 to 3, not {verbosity}"
            )));
        }
        let in_range = |name: &str, low: u64, high: u64| -> Result<u64> {
            let n = take(name).count();
            if (low..=high).contains(&n) {
                Ok(n)
            } else {
                Err(Error::Value(format!(
                    "{name} must be {low} to {high}, not {n}"
                )))
            }
        };
        let resolve_jobs = in_range("RESOLVE_JOBS", 1, 256)?;
        let resolve_jobs_per_registry = in_range("RESOLVE_JOBS_PER_REGISTRY", 1, 256)?;
        let registry_timeout = in_range("REGISTRY_TIMEOUT", 1, 3600)?;
        let pull_jobs = in_range("PULL_JOBS", 1, 64)?;
        let seconds = |name: &str| -> Result<std::time::Duration> {
            in_range(name, 1, 86_400).map(std::time::Duration::from_secs)
        };
        let timeouts = crate::timeouts::Timeouts {
            compose: seconds("COMPOSE_TIMEOUT")?,
            pull: seconds("PULL_TIMEOUT")?,
            snapper: seconds("SNAPPER_TIMEOUT")?,
            notify: seconds("NOTIFY_TIMEOUT")?,
            registry: std::time::Duration::from_secs(registry_timeout),
        };
        let words = |name: &str| -> Result<Vec<String>> {
            let text = take(name).text().unwrap_or_default();
            let words = shell_words::split(&text)
                .map_err(|e| Error::Value(format!("{name}: `{text}`: {e}")))?;
            if words.is_empty() {
                return Err(Error::Value(format!("{name} must not be empty")));
            }
            Ok(words)
        };
        Ok(Config {
            verbosity: verbosity as u8,
            services_root,
            services_filter: take("SERVICES_FILTER").list(),
            services_filter_exclude: take("SERVICES_FILTER_EXCLUDE").list(),
            compose_tool: words("COMPOSE_TOOL")?,
            container_tool: words("CONTAINER_TOOL")?,
            service_stop_start: take("SERVICE_STOP_START").flag(),
            stop_start_method: match take("STOP_START_METHOD").text().as_deref() {
                Some("systemd-system") => StopStartMethod::SystemdSystem,
                Some("systemd-user") => StopStartMethod::SystemdUser,
                _ => StopStartMethod::Compose,
            },
            service_snapshot: take("SERVICE_SNAPSHOT").flag(),
            service_pull: take("SERVICE_PULL").flag(),
            pull_jobs: pull_jobs as usize,
            restart_scope: match take("RESTART_SCOPE").text().as_deref() {
                Some("project") => RestartScope::Project,
                _ => RestartScope::Services,
            },
            snapshot_when: match take("SNAPSHOT_WHEN").text().as_deref() {
                Some("running") => SnapshotWhen::Running,
                _ => SnapshotWhen::Stopped,
            },
            prune_images: take("PRUNE_IMAGES").flag(),
            compose_file_name: take("COMPOSE_FILE_NAME").text().unwrap_or_default(),
            env_file_name: take("ENV_FILE_NAME").text().unwrap_or_default(),
            cache_duration: take("CACHE_DURATION").count(),
            cache_location,
            snapshots_dir_snapper: take("SNAPSHOTS_DIR_SNAPPER").text(),
            snapshots_max_age_snapper: take("SNAPSHOTS_MAX_AGE_SNAPPER").hours(),
            snapshots_dir_btrbk: take("SNAPSHOTS_DIR_BTRBK").text(),
            snapshots_max_age_btrbk: take("SNAPSHOTS_MAX_AGE_BTRBK").hours(),
            health_timeout: take("HEALTH_TIMEOUT").count(),
            health_settle: take("HEALTH_SETTLE").count(),
            auto_rollback: take("AUTO_ROLLBACK").flag(),
            snapper_cleanup: take("SNAPPER_CLEANUP").text(),
            notify_command,
            notify_url: take("NOTIFY_URL").text(),
            state_dir,
            resolver: match take("RESOLVER").text().as_deref() {
                Some("skopeo") => ResolverKind::Skopeo,
                _ => ResolverKind::Native,
            },
            resolve_jobs: resolve_jobs as usize,
            resolve_jobs_per_registry: resolve_jobs_per_registry as usize,
            registry_timeout,
            timeouts,
            registry_certs_dir: take("REGISTRY_CERTS_DIR")
                .list()
                .iter()
                .map(|d| sources.cwd.join(d))
                .collect(),
            insecure_registries: take("INSECURE_REGISTRIES").list(),
            registry_env: RegistryEnv::from_env(&sources.env, sources.uid),
            min_age: take("MIN_AGE").hours(),
            tag_update: take("TAG_UPDATE").text().unwrap_or_else(|| "off".into()),
            metrics_file: match take("METRICS_FILE") {
                Typed::Path(p) => Some(p),
                _ => None,
            },
            config_file,
            compose_flavour: ComposeFlavour::default(),
        })
    }

    /// Every setting by name, as JSON: booleans as booleans, numbers as numbers, paths as
    /// absolute strings, lists as arrays, unset ones as null.
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
                "NOTIFY_URL" => opt(&self.notify_url),
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
                "TAG_UPDATE" => Value::from(self.tag_update.as_str()),
                "METRICS_FILE" => self.metrics_file.as_deref().map_or(Value::Null, path),
                "CONFIG_FILE" => self.config_file.as_deref().map_or(Value::Null, path),
                other => unreachable!("setting {other} missing from Config::to_json"),
            };
            map.insert(setting.name.to_owned(), value);
        }
        Value::Object(map)
    }
}

/// The private default cache: `/var/cache/cipug/cache.json` for root, else under
/// `$XDG_CACHE_HOME` (or `~/.cache`).
fn default_cache_location(sources: &Sources) -> PathBuf {
    if sources.is_root {
        return PathBuf::from("/var/cache/cipug/cache.json");
    }
    let base = match sources
        .env
        .get("XDG_CACHE_HOME")
        .filter(|p| Path::new(p).is_absolute())
    {
        Some(dir) => PathBuf::from(dir),
        None => match sources.env.get("HOME") {
            Some(home) => Path::new(home).join(".cache"),
            None => sources.cwd.join(".cache"),
        },
    };
    base.join("cipug").join("cache.json")
}

/// The default state folder: `/var/lib/cipug` for root, else `$XDG_STATE_HOME/cipug` (or
/// `~/.local/state/cipug`). Outside the service subvolumes, so a rollback cannot undo it.
fn default_state_dir(sources: &Sources) -> PathBuf {
    if sources.is_root {
        return PathBuf::from("/var/lib/cipug");
    }
    match sources
        .env
        .get("XDG_STATE_HOME")
        .filter(|p| Path::new(p).is_absolute())
    {
        Some(dir) => Path::new(dir).join("cipug"),
        None => match sources.env.get("HOME") {
            Some(home) => Path::new(home).join(".local/state/cipug"),
            None => sources.cwd.join(".cipug-state"),
        },
    }
}

fn read_config_file(path: &Path) -> Result<Map<String, Value>> {
    let bytes = crate::config_file::read_trusted(path)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::UnknownFormat {
        path: path.to_path_buf(),
        msg: "not valid JSON: not UTF-8".into(),
    })?;
    parse_config_file(path, &text)
}

/// Parses the text of a JSON config file; checks its structure but not the value types.
pub fn parse_config_file(path: &Path, text: &str) -> Result<Map<String, Value>> {
    let value: Value = serde_json::from_str(text).map_err(|e| Error::UnknownFormat {
        path: path.to_path_buf(),
        msg: format!("not valid JSON: {e}"),
    })?;
    let Value::Object(mut map) = value else {
        return Err(Error::UnknownStructure(format!(
            "{}: must hold one JSON object of settings",
            path.display()
        )));
    };
    // `config --json` prints CONFIG_FILE too: null, or this file's own path, reads back.
    if let Some(named) = map.remove("CONFIG_FILE") {
        let own = |p: &str| {
            p.is_empty() || std::fs::canonicalize(p).ok() == std::fs::canonicalize(path).ok()
        };
        if !(named.is_null() || named.as_str().is_some_and(own)) {
            return Err(Error::Value(format!(
                "{}: CONFIG_FILE cannot name another file inside a config file",
                path.display()
            )));
        }
    }
    for key in map.keys() {
        match settings::find(key) {
            Some(_) => {}
            None => {
                let hint = key
                    .strip_prefix("CIPUG_")
                    .filter(|k| settings::find(k).is_some())
                    .map(|k| format!(" (write `{k}`, without the CIPUG_ prefix)"))
                    .unwrap_or_default();
                return Err(Error::Value(format!(
                    "{}: unknown setting `{key}`{hint}",
                    path.display()
                )));
            }
        }
    }
    Ok(map)
}

/// A converted value.
#[derive(Debug, Clone)]
enum Typed {
    Unset,
    Flag(bool),
    Count(u64),
    Hours(f64),
    Text(String),
    Path(PathBuf),
    List(Vec<String>),
}

impl Typed {
    fn flag(&self) -> bool {
        matches!(self, Typed::Flag(true))
    }
    fn count(&self) -> u64 {
        match self {
            Typed::Count(n) => *n,
            _ => 0,
        }
    }
    fn hours(&self) -> f64 {
        match self {
            Typed::Hours(h) => *h,
            _ => 0.0,
        }
    }
    fn text(&self) -> Option<String> {
        match self {
            Typed::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
    fn list(&self) -> Vec<String> {
        match self {
            Typed::List(l) => l.clone(),
            _ => Vec::new(),
        }
    }
}

/// Parses a boolean the way the original did, in any case.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn convert(setting: &Setting, raw: Raw, cwd: &Path) -> Result<Typed> {
    let type_error = |origin: &str, want: &str, got: &dyn std::fmt::Display| {
        Error::Type(format!("{origin}: expected {want}, got {got}"))
    };
    let value_error = |origin: &str, msg: String| Error::Value(format!("{origin}: {msg}"));
    // Reduce JSON to text where the kind takes text, keeping JSON's own types where they fit.
    let (text, origin) = match raw {
        Raw::Text(text, origin) => (text, origin),
        Raw::Json(value, origin) => match (&setting.kind, value) {
            (Kind::Bool, Value::Bool(b)) => return Ok(Typed::Flag(b)),
            (Kind::Count, Value::Number(n)) => {
                return n
                    .as_u64()
                    .map(Typed::Count)
                    .ok_or_else(|| type_error(&origin, "a whole number >= 0", &n))
            }
            (Kind::Hours, Value::Number(n)) => {
                let h = n.as_f64().unwrap_or(f64::NAN);
                if !(h.is_finite() && h >= 0.0) {
                    return Err(value_error(&origin, format!("hours must be >= 0, not {n}")));
                }
                return Ok(Typed::Hours(h));
            }
            (Kind::List, Value::Array(items)) => {
                let mut list = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) if !s.trim().is_empty() => list.push(s.trim().to_owned()),
                        other => return Err(type_error(&origin, "a list of names", &other)),
                    }
                }
                return Ok(Typed::List(list));
            }
            (_, Value::String(s)) => (s, origin),
            (kind, other) => {
                let want = match kind {
                    Kind::Bool => "true or false",
                    Kind::Count => "a whole number",
                    Kind::Hours => "a number of hours",
                    Kind::List => "a comma-separated string or a list of strings",
                    _ => "a string",
                };
                return Err(type_error(&origin, want, &other));
            }
        },
    };
    match setting.kind {
        Kind::Bool => parse_bool(&text)
            .map(Typed::Flag)
            .ok_or_else(|| type_error(&origin, "true/false, 1/0 or yes/no", &format!("`{text}`"))),
        Kind::Count => text
            .trim()
            .parse::<u64>()
            .map(Typed::Count)
            .map_err(|_| type_error(&origin, "a whole number >= 0", &format!("`{text}`"))),
        Kind::Hours => match text.trim().parse::<f64>() {
            Ok(h) if h.is_finite() && h >= 0.0 => Ok(Typed::Hours(h)),
            Ok(_) => Err(value_error(
                &origin,
                format!("hours must be >= 0, not `{text}`"),
            )),
            Err(_) => Err(type_error(
                &origin,
                "a number of hours",
                &format!("`{text}`"),
            )),
        },
        Kind::List => Ok(Typed::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        Kind::Text if text.trim().is_empty() => Ok(Typed::Unset),
        Kind::Text => Ok(Typed::Text(text)),
        Kind::FileName => {
            if text.is_empty() || text.contains('/') || text == "." || text == ".." {
                Err(value_error(
                    &origin,
                    format!("`{text}` must be a plain file name"),
                ))
            } else {
                Ok(Typed::Text(text))
            }
        }
        Kind::Path if text.is_empty() => Ok(Typed::Unset),
        Kind::Path => Ok(Typed::Path(cwd.join(text))),
        Kind::Choice(words) => {
            let lower = text.trim().to_ascii_lowercase();
            if words.contains(&lower.as_str()) {
                Ok(Typed::Text(lower))
            } else {
                Err(value_error(
                    &origin,
                    format!("`{text}` is not one of {}", words.join(", ")),
                ))
            }
        }
    }
}

/// The auth files to read, in order, from the environment values that name them.
pub fn auth_file_paths(env: &dyn Fn(&str) -> Option<String>, uid: u32) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(file) = env("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        files.push(PathBuf::from(file));
    }
    match env("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => files.push(Path::new(&dir).join("containers/auth.json")),
        None => files.push(PathBuf::from(format!("/run/containers/{uid}/auth.json"))),
    }
    let home = env("HOME").filter(|h| !h.is_empty());
    match (env("XDG_CONFIG_HOME").filter(|d| !d.is_empty()), &home) {
        (Some(dir), _) => files.push(Path::new(&dir).join("containers/auth.json")),
        (None, Some(home)) => files.push(Path::new(home).join(".config/containers/auth.json")),
        (None, None) => {}
    }
    match (env("DOCKER_CONFIG").filter(|d| !d.is_empty()), &home) {
        (Some(dir), _) => files.push(Path::new(&dir).join("config.json")),
        (None, Some(home)) => files.push(Path::new(home).join(".docker/config.json")),
        (None, None) => {}
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(flags: &[(&'static str, &str)], env: &[(&str, &str)]) -> Sources {
        Sources {
            flags: flags.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: PathBuf::from("/work"),
            is_root: true,
            uid: 0,
        }
    }

    fn with_file(json: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, json).unwrap();
        let p = path.to_string_lossy().into_owned();
        (dir, p)
    }

    #[test]
    fn defaults() {
        let c = Config::load(&sources(&[], &[("CIPUG_SERVICES_ROOT", "srv")])).unwrap();
        assert_eq!(c.services_root, PathBuf::from("/work/srv"));
        assert_eq!(c.verbosity, 1);
        assert_eq!(c.compose_tool, vec!["podman-compose"]);
        assert!(c.service_stop_start && c.service_snapshot && c.service_pull && c.prune_images);
        assert_eq!(c.compose_file_name, "", "found per service");
        assert_eq!(c.env_file_name, ".env");
        assert_eq!(c.cache_duration, 3600);
        assert_eq!(
            c.cache_location,
            PathBuf::from("/var/cache/cipug/cache.json")
        );
        assert_eq!(c.snapshots_max_age_snapper, 1.5);
        assert_eq!(c.snapshots_max_age_btrbk, 36.0);
        assert_eq!(c.stop_start_method, StopStartMethod::Compose);
    }

    #[test]
    fn precedence_table() {
        let (_dir, file) = with_file(
            r#"{"SERVICES_ROOT": "/file", "VERBOSITY": 2, "COMPOSE_TOOL": "docker compose"}"#,
        );
        // (flags, env, expected SERVICES_ROOT, expected VERBOSITY)
        let cases: &[(&[(&'static str, &str)], &[(&str, &str)], &str, u8)] = &[
            (&[], &[], "/file", 2),
            (&[], &[("CIPUG_SERVICES_ROOT", "/env")], "/env", 2),
            (
                &[("SERVICES_ROOT", "/flag")],
                &[("CIPUG_SERVICES_ROOT", "/env")],
                "/flag",
                2,
            ),
            (&[], &[("CIPUG_VERBOSITY", "0")], "/file", 0),
            (
                &[("VERBOSITY", "3")],
                &[("CIPUG_VERBOSITY", "0")],
                "/file",
                3,
            ),
        ];
        for (flags, env, root, verbosity) in cases {
            let mut env = env.to_vec();
            env.push(("CIPUG_CONFIG_FILE", &file));
            let c = Config::load(&sources(flags, &env)).unwrap();
            assert_eq!(c.services_root, PathBuf::from(root), "{flags:?} {env:?}");
            assert_eq!(c.verbosity, *verbosity, "{flags:?} {env:?}");
            assert_eq!(c.compose_tool, vec!["docker", "compose"]);
        }
    }

    #[test]
    fn booleans_and_lists() {
        for (text, want) in [
            ("TRUE", true),
            ("yes", true),
            ("1", true),
            ("No", false),
            ("0", false),
            ("false", false),
        ] {
            let c = Config::load(&sources(
                &[("SERVICE_PULL", text)],
                &[("CIPUG_SERVICES_ROOT", "/s")],
            ))
            .unwrap();
            assert_eq!(c.service_pull, want, "{text}");
        }
        let (_dir, file) = with_file(
            r#"{"SERVICES_ROOT": "/s", "PRUNE_IMAGES": false, "SERVICES_FILTER": ["a", "b"], "SERVICES_FILTER_EXCLUDE": " c, d ,", "CACHE_DURATION": "60"}"#,
        );
        let c = Config::load(&sources(&[("CONFIG_FILE", &file)], &[])).unwrap();
        assert!(!c.prune_images);
        assert_eq!(c.services_filter, vec!["a", "b"]);
        assert_eq!(c.services_filter_exclude, vec!["c", "d"]);
        assert_eq!(c.cache_duration, 60);
    }

    #[test]
    fn errors_and_exit_codes() {
        let root = ("CIPUG_SERVICES_ROOT", "/s");
        let cases: &[(&str, &[(&str, &str)], u8, &str)] = &[
            ("", &[], 25, "SERVICES_ROOT is not set"),
            (
                "",
                &[root, ("CIPUG_VERBOSITY", "loud")],
                24,
                "CIPUG_VERBOSITY: expected a whole number",
            ),
            (
                "",
                &[root, ("CIPUG_VERBOSITY", "7")],
                25,
                "VERBOSITY must be 0 to 3",
            ),
            (
                "",
                &[root, ("CIPUG_SERVICE_PULL", "maybe")],
                24,
                "CIPUG_SERVICE_PULL",
            ),
            (
                "",
                &[root, ("CIPUG_STOP_START_METHOD", "cron")],
                25,
                "not one of",
            ),
            (
                "",
                &[root, ("CIPUG_ENV_FILE_NAME", "a/.env")],
                25,
                "plain file name",
            ),
            (
                "",
                &[root, ("CIPUG_SNAPSHOTS_MAX_AGE_BTRBK", "-1")],
                25,
                "hours must be >= 0",
            ),
            (
                "",
                &[root, ("CIPUG_CONFIG_FILE", "/nonexistent.json")],
                20,
                "file not found",
            ),
            ("{", &[root], 22, "not valid JSON"),
            ("[1]", &[root], 23, "one JSON object"),
            (
                r#"{"CIPUG_VERBOSITY": 1}"#,
                &[root],
                25,
                "without the CIPUG_ prefix",
            ),
            (r#"{"NOPE": 1}"#, &[root], 25, "unknown setting `NOPE`"),
            (
                r#"{"CONFIG_FILE": "x"}"#,
                &[root],
                25,
                "CONFIG_FILE cannot name another file",
            ),
            (
                r#"{"VERBOSITY": "x"}"#,
                &[root],
                24,
                "VERBOSITY: expected a whole number",
            ),
            (
                r#"{"VERBOSITY": 1.5}"#,
                &[root],
                24,
                "expected a whole number",
            ),
            (
                r#"{"SERVICE_PULL": "sometimes"}"#,
                &[root],
                24,
                "SERVICE_PULL",
            ),
            (r#"{"SERVICE_PULL": [true]}"#, &[root], 24, "SERVICE_PULL"),
            (r#"{"SERVICES_ROOT": 5}"#, &[], 24, "expected a string"),
            (
                r#"{"SERVICES_FILTER": [1]}"#,
                &[root],
                24,
                "a list of names",
            ),
        ];
        for (json, env, code, msg) in cases {
            let (_dir, file) = with_file(json);
            let mut env = env.to_vec();
            if !json.is_empty() {
                env.push(("CIPUG_CONFIG_FILE", &file));
            }
            let err = Config::load(&sources(&[], &env)).unwrap_err();
            assert_eq!(err.exit_code(), *code, "{json} {env:?}: {err}");
            assert!(err.to_string().contains(msg), "{json} {env:?}: {err}");
        }
    }

    /// Every setting gets every wrong value its kind can get, from the environment and from
    /// the file; each must be refused with the type (24) or value (25) exit code.
    #[test]
    fn every_setting_refuses_wrong_types_and_values() {
        let mut cases = 0;
        for setting in SETTINGS.iter().filter(|s| s.name != "CONFIG_FILE") {
            let (env_bad, json_bad): (Vec<(&str, u8)>, Vec<(&str, u8)>) = match setting.kind {
                Kind::Bool => (
                    vec![("maybe", 24), ("2", 24), ("", 24)],
                    vec![("5", 24), ("\"sometimes\"", 24), ("[true]", 24)],
                ),
                Kind::Count => (
                    vec![("many", 24), ("-1", 24), ("1.5", 24)],
                    vec![("-3", 24), ("1.5", 24), ("true", 24), ("\"x\"", 24)],
                ),
                Kind::Hours => (
                    vec![("soon", 24), ("-1", 25), ("inf", 25)],
                    vec![("-0.5", 25), ("\"x\"", 24), ("{}", 24)],
                ),
                Kind::Choice(_) => (vec![("cron", 25)], vec![("\"cron\"", 25), ("1", 24)]),
                Kind::FileName => (
                    vec![("a/b", 25), ("..", 25)],
                    vec![("\"a/b\"", 25), ("7", 24)],
                ),
                Kind::Path | Kind::Text => (vec![], vec![("5", 24), ("true", 24), ("[\"a\"]", 24)]),
                Kind::List => (vec![], vec![("[1]", 24), ("true", 24), ("{}", 24)]),
            };
            let range: Vec<(&str, u8)> = match setting.name {
                "VERBOSITY" => vec![("4", 25)],
                "RESOLVE_JOBS" | "RESOLVE_JOBS_PER_REGISTRY" => vec![("0", 25), ("257", 25)],
                "REGISTRY_TIMEOUT" => vec![("0", 25), ("3601", 25)],
                "PULL_JOBS" => vec![("0", 25), ("65", 25)],
                "COMPOSE_TOOL" | "CONTAINER_TOOL" => vec![("'unclosed", 25)],
                _ => vec![],
            };
            for (value, code) in env_bad.iter().chain(&range) {
                let env_var = setting.env_var();
                let err = Config::load(&sources(
                    &[],
                    &[("CIPUG_SERVICES_ROOT", "/s"), (&env_var, value)],
                ))
                .err()
                .unwrap_or_else(|| panic!("{env_var}={value:?} was accepted"));
                assert_eq!(err.exit_code(), *code, "{env_var}={value:?}: {err}");
                assert!(
                    err.to_string().contains(setting.name),
                    "{env_var}={value:?}: {err}"
                );
                cases += 1;
            }
            for (value, code) in &json_bad {
                let (_dir, file) = with_file(&format!(
                    r#"{{"SERVICES_ROOT": "/s", "{}": {value}}}"#,
                    setting.name
                ));
                let err = Config::load(&sources(&[], &[("CIPUG_CONFIG_FILE", &file)]))
                    .err()
                    .unwrap_or_else(|| panic!("{}: {value} was accepted", setting.name));
                assert_eq!(err.exit_code(), *code, "{}: {value}: {err}", setting.name);
                assert!(
                    err.to_string().contains(setting.name),
                    "{}: {value}: {err}",
                    setting.name
                );
                cases += 1;
            }
        }
        assert!(cases > 100, "{cases} cases");
    }

    #[test]
    fn a_config_file_that_is_not_utf8_is_a_format_error() {
        // Found by fuzzing: it was an I/O error (exit 30), not an unknown format (22).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, [0xff]).unwrap();
        let err = Config::load(&sources(
            &[],
            &[("CIPUG_CONFIG_FILE", path.to_str().unwrap())],
        ))
        .unwrap_err();
        assert_eq!(err.exit_code(), 22, "{err}");
    }

    #[test]
    fn default_cache_is_private_per_user() {
        let mut s = sources(&[], &[("CIPUG_SERVICES_ROOT", "/s"), ("HOME", "/home/u")]);
        s.is_root = false;
        assert_eq!(
            Config::load(&s).unwrap().cache_location,
            PathBuf::from("/home/u/.cache/cipug/cache.json")
        );
        s.env.insert("XDG_CACHE_HOME".into(), "/xdg".into());
        assert_eq!(
            Config::load(&s).unwrap().cache_location,
            PathBuf::from("/xdg/cipug/cache.json")
        );
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
