//! [`Config::load`]: each setting from the strongest source that has it (flag, environment,
//! config file, default), the limits checked, the default paths, and the JSON config file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::convert::{convert, Raw, Typed};
use super::sources::{RegistryEnv, Sources};
use super::{Config, ResolverKind, RestartScope, SnapshotWhen, StopStartMethod, TagUpdate};
use crate::base::timeouts::Timeouts;
use crate::config::table::{self, Setting, SETTINGS};
use crate::error::{Error, Result};
use crate::formats::compose::version::ComposeFlavour;

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
        let values = merge(sources, config_file.as_deref(), &file)?;
        let checked = check(&values).map_err(|e| match (e, &sources.settings_file) {
            // Say where it was looked for.
            (Error::Value(msg), Some(looked)) if msg.starts_with("SERVICES_ROOT is not set") => {
                Error::Value(format!(
                    "{msg}; the settings file looked at: {}",
                    looked.describe()
                ))
            }
            (e, _) => e,
        })?;
        Ok(build(&values, checked, sources, config_file))
    }
}

/// Every setting converted, each from the strongest source that has it, else its default.
fn merge(
    sources: &Sources,
    config_file: Option<&Path>,
    file: &Map<String, Value>,
) -> Result<Values> {
    let mut values: HashMap<&str, Typed> = HashMap::new();
    for setting in SETTINGS {
        let typed = match raw(setting, sources, config_file, file) {
            Some(raw) => convert(setting, raw, &sources.cwd)?,
            None => match setting.default {
                Some(d) => convert(setting, Raw::Text(d.into(), "default".into()), &sources.cwd)?,
                None => Typed::Unset,
            },
        };
        values.insert(setting.name, typed);
    }
    Ok(Values(values))
}

/// The raw value of `setting` from the strongest source: flag, then environment, then file.
fn raw(
    setting: &Setting,
    sources: &Sources,
    config_file: Option<&Path>,
    file: &Map<String, Value>,
) -> Option<Raw> {
    if let Some(v) = sources.flags.get(setting.name) {
        return Some(Raw::Text(v.clone(), format!("--{}", setting.flag())));
    }
    if let Some(v) = sources.env.get(&setting.env_var()) {
        return Some(Raw::Text(v.clone(), setting.env_var()));
    }
    let path = config_file.unwrap_or(Path::new(""));
    match file.get(setting.name) {
        None | Some(Value::Null) => None,
        Some(v) => Some(Raw::Json(
            v.clone(),
            format!("{}: {}", path.display(), setting.name),
        )),
    }
}

/// The converted settings by name.
struct Values(HashMap<&'static str, Typed>);

impl Values {
    fn take(&self, name: &str) -> Typed {
        self.0.get(name).cloned().unwrap_or(Typed::Unset)
    }

    /// The whole number `name`, which must lie in `low..=high`.
    fn in_range(&self, name: &str, low: u64, high: u64) -> Result<u64> {
        let n = self.take(name).count();
        if (low..=high).contains(&n) {
            Ok(n)
        } else {
            Err(Error::Value(format!(
                "{name} must be {low} to {high}, not {n}"
            )))
        }
    }

    /// The choice `name`, validated by its `Kind::Choice` words at conversion; unset (there
    /// is always a default) gives the first word's variant.
    fn choice<T: Default>(&self, name: &str, from_word: fn(&str) -> Option<T>) -> T {
        self.take(name)
            .text()
            .and_then(|word| from_word(&word))
            .unwrap_or_default()
    }

    /// The time limit `name`: 1 second to a day.
    fn seconds(&self, name: &str) -> Result<Duration> {
        self.in_range(name, 1, 86_400).map(Duration::from_secs)
    }

    /// The command `name` split into words, of which there must be some.
    fn words(&self, name: &str) -> Result<Vec<String>> {
        let text = self.take(name).text().unwrap_or_default();
        let words = shell_words::split(&text)
            .map_err(|e| Error::Value(format!("{name}: `{text}`: {e}")))?;
        if words.is_empty() {
            return Err(Error::Value(format!("{name} must not be empty")));
        }
        Ok(words)
    }
}

/// The settings that a well-typed value may still fail: the required ones, the ones with
/// limits, and the commands that must split into words.
struct Checked {
    services_root: PathBuf,
    notify_command: Option<Vec<String>>,
    notify_urls: Vec<crate::formats::notify_url::NotifyUrl>,
    verbosity: u8,
    resolve_jobs: usize,
    resolve_jobs_per_registry: usize,
    registry_timeout: u64,
    pull_jobs: usize,
    timeouts: Timeouts,
    compose_tool: Vec<String>,
    container_tool: Vec<String>,
    update_window: crate::formats::update_window::Windows,
}

/// Checks the settings of [`Checked`], in this order; the first failure is the error.
fn check(values: &Values) -> Result<Checked> {
    let services_root = match values.take("SERVICES_ROOT") {
        Typed::Path(p) => p,
        _ => {
            return Err(Error::Value(
                "SERVICES_ROOT is not set: pass --services-root, set CIPUG_SERVICES_ROOT (in the environment or the settings file) or put it in the config file".into(),
            ))
        }
    };
    let notify_command = match values.take("NOTIFY_COMMAND").text() {
        Some(text) => Some(
            shell_words::split(&text)
                .map_err(|e| Error::Value(format!("NOTIFY_COMMAND: `{text}`: {e}")))?,
        ),
        None => None,
    };
    let notify_urls = crate::formats::notify_url::parse_all(
        &values.take("NOTIFY_URL").text().unwrap_or_default(),
    )
    .map_err(Error::Value)?;
    let verbosity = values.take("VERBOSITY").count();
    if verbosity > 3 {
        return Err(Error::Value(format!(
            "VERBOSITY must be 0 to 3, not {verbosity}"
        )));
    }
    let resolve_jobs = values.in_range("RESOLVE_JOBS", 1, 256)?;
    let resolve_jobs_per_registry = values.in_range("RESOLVE_JOBS_PER_REGISTRY", 1, 256)?;
    let registry_timeout = values.in_range("REGISTRY_TIMEOUT", 1, 3600)?;
    let pull_jobs = values.in_range("PULL_JOBS", 1, 64)?;
    let window = values.take("UPDATE_WINDOW").text().unwrap_or_default();
    let update_window = crate::formats::update_window::Windows::parse(&window)
        .map_err(|e| Error::Value(format!("UPDATE_WINDOW: {e}")))?;
    let timeouts = Timeouts {
        compose: values.seconds("COMPOSE_TIMEOUT")?,
        pull: values.seconds("PULL_TIMEOUT")?,
        snapper: values.seconds("SNAPPER_TIMEOUT")?,
        notify: values.seconds("NOTIFY_TIMEOUT")?,
        registry: Duration::from_secs(registry_timeout),
    };
    Ok(Checked {
        services_root,
        notify_command,
        notify_urls,
        verbosity: verbosity as u8,
        resolve_jobs: resolve_jobs as usize,
        resolve_jobs_per_registry: resolve_jobs_per_registry as usize,
        registry_timeout,
        pull_jobs: pull_jobs as usize,
        timeouts,
        compose_tool: values.words("COMPOSE_TOOL")?,
        container_tool: values.words("CONTAINER_TOOL")?,
        update_window,
    })
}

/// The [`Config`] of the checked and the other settings, with defaults for unset paths.
fn build(
    values: &Values,
    checked: Checked,
    sources: &Sources,
    config_file: Option<PathBuf>,
) -> Config {
    let take = |name: &str| values.take(name);
    Config {
        verbosity: checked.verbosity,
        services_root: checked.services_root,
        services_filter: take("SERVICES_FILTER").list(),
        services_filter_exclude: take("SERVICES_FILTER_EXCLUDE").list(),
        compose_tool: checked.compose_tool,
        container_tool: checked.container_tool,
        service_stop_start: take("SERVICE_STOP_START").flag(),
        stop_start_method: values.choice("STOP_START_METHOD", StopStartMethod::from_word),
        service_snapshot: take("SERVICE_SNAPSHOT").flag(),
        service_pull: take("SERVICE_PULL").flag(),
        pull_jobs: checked.pull_jobs,
        restart_scope: values.choice("RESTART_SCOPE", RestartScope::from_word),
        snapshot_when: values.choice("SNAPSHOT_WHEN", SnapshotWhen::from_word),
        prune_images: take("PRUNE_IMAGES").flag(),
        compose_file_name: take("COMPOSE_FILE_NAME").text().unwrap_or_default(),
        env_file_name: take("ENV_FILE_NAME").text().unwrap_or_default(),
        cache_duration: take("CACHE_DURATION").count(),
        cache_location: match take("CACHE_LOCATION") {
            Typed::Path(p) => p,
            _ => default_cache_location(sources),
        },
        snapshots_dir_snapper: take("SNAPSHOTS_DIR_SNAPPER").text(),
        snapshots_max_age_snapper: take("SNAPSHOTS_MAX_AGE_SNAPPER").hours(),
        snapshots_dir_btrbk: take("SNAPSHOTS_DIR_BTRBK").text(),
        snapshots_max_age_btrbk: take("SNAPSHOTS_MAX_AGE_BTRBK").hours(),
        health_timeout: take("HEALTH_TIMEOUT").count(),
        health_settle: take("HEALTH_SETTLE").count(),
        auto_rollback: take("AUTO_ROLLBACK").flag(),
        snapper_cleanup: take("SNAPPER_CLEANUP").text(),
        notify_command: checked.notify_command,
        notify_urls: checked.notify_urls,
        state_dir: match take("STATE_DIR") {
            Typed::Path(p) => p,
            _ => default_state_dir(sources),
        },
        resolver: values.choice("RESOLVER", ResolverKind::from_word),
        resolve_jobs: checked.resolve_jobs,
        resolve_jobs_per_registry: checked.resolve_jobs_per_registry,
        registry_timeout: checked.registry_timeout,
        timeouts: checked.timeouts,
        registry_certs_dir: take("REGISTRY_CERTS_DIR")
            .list()
            .iter()
            .map(|d| sources.cwd.join(d))
            .collect(),
        insecure_registries: take("INSECURE_REGISTRIES").list(),
        registry_env: RegistryEnv::from_env(&sources.env, sources.uid),
        min_age: take("MIN_AGE").hours(),
        update_window: checked.update_window,
        tag_update: values.choice("TAG_UPDATE", TagUpdate::from_word),
        trusted_owners: take("TRUSTED_OWNERS").list(),
        metrics_file: match take("METRICS_FILE") {
            Typed::Path(p) => Some(p),
            _ => None,
        },
        config_file,
        compose_flavour: ComposeFlavour::default(),
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
    let bytes = super::trusted_file::read_trusted(path)?;
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
        match table::find(key) {
            Some(_) => {}
            None => {
                let hint = key
                    .strip_prefix("CIPUG_")
                    .filter(|k| table::find(k).is_some())
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::config::tests::{sources, with_file};
    use crate::config::{Config, StopStartMethod};

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
}
