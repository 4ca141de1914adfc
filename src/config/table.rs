//! The table of settings: names, kinds, defaults, help texts, which subcommands read them,
//! and how `cipug config` shows each one's value.
//!
//! One table drives the command-line flags, the `CIPUG_<NAME>` environment variables, the
//! JSON config file keys, each subcommand's `--help` and `cipug config` (text, JSON and the
//! Python tool's JSON), so they can never disagree. What a row cannot hold is the field of
//! [`Config`] and its conversion in `config::load`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::{Config, ResolverKind, RestartScope, SnapshotWhen, StopStartMethod, TagUpdate};
use crate::formats::notify_url::NotifyUrl;
use crate::formats::update_window::Windows;

/// What values a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// true/false, 1/0, yes/no (any case), or a JSON boolean.
    Bool,
    /// A whole number >= 0 (JSON number or string).
    Count,
    /// Hours, integer or fractional (JSON number or string).
    Hours,
    /// A free string.
    Text,
    /// A plain file name without `/`.
    FileName,
    /// A path; relative paths are taken from the current folder.
    Path,
    /// Comma-separated names (or a JSON list of strings).
    List,
    /// One of a fixed set of words (the `WORDS` of a `config` choice enum).
    Choice(&'static [&'static str]),
}

/// Which part of a run reads a setting. A subcommand reads some groups, and its `--help`
/// lists only their settings; every flag is still accepted everywhere (a settings line in a
/// script keeps working).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Every command that loads the settings.
    Common,
    /// Finding the service folders.
    Folders,
    /// Reaching registries.
    Registries,
    /// Stopping, starting and snapshotting a service.
    Restarts,
    /// The state folder: history and the run lock.
    State,
    /// Only `update` (and `doctor`, which checks what an update needs).
    Update,
    /// The snapshot age check.
    SnapshotAges,
}

/// Whether the Python cipug had a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// It had it: `config --python-json` prints it in that tool's shape (lists as
    /// comma-separated strings, unset as `""`).
    Python,
    /// New in this cipug: printed typed everywhere.
    New,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Its name without the `CIPUG_` prefix, e.g. `SERVICES_ROOT`.
    pub name: &'static str,
    /// What values it takes.
    pub kind: Kind,
    /// Its default as text, if it has one.
    pub default: Option<&'static str>,
    /// Which part of a run reads it.
    pub group: Group,
    /// Whether the Python cipug had it.
    pub origin: Origin,
    /// Its value in a loaded [`Config`] as `cipug config --json` shows it: booleans as
    /// booleans, numbers as numbers, paths as absolute strings, lists as arrays, unset as
    /// null, NOTIFY_URL redacted.
    pub json: fn(&Config) -> Value,
    /// One line for `--help` and the README.
    pub help: &'static str,
}

impl Setting {
    /// The command-line flag, e.g. `services-root` for `--services-root`.
    pub fn flag(&self) -> String {
        self.name.to_ascii_lowercase().replace('_', "-")
    }

    /// The environment variable, e.g. `CIPUG_SERVICES_ROOT`.
    pub fn env_var(&self) -> String {
        format!("CIPUG_{}", self.name)
    }

    /// Whether subcommand `command` reads this setting. Subcommands not named here
    /// (`config`, and the top level, which is `update`) read all of them.
    pub fn read_by(&self, command: &str) -> bool {
        use Group::*;
        let groups: &[Group] = match command {
            "update" | "doctor" => &[Common, Folders, Registries, Restarts, State, Update],
            "check" => &[Common, Folders, Registries],
            "check-snapshots" => &[Common, Folders, SnapshotAges],
            "rollback" | "adopt" => &[Common, Folders, Restarts, State],
            "history" => &[Common, State],
            "completions" | "man" | "help" => &[],
            _ => return true,
        };
        groups.contains(&self.group)
    }
}

/// A path as an absolute string.
fn path(p: &Path) -> Value {
    Value::from(p.to_string_lossy().into_owned())
}

/// Paths as an array of strings.
fn paths(list: &[PathBuf]) -> Value {
    Value::from(
        list.iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
    )
}

/// A command's words joined again, shell-quoted.
fn words(command: &[String]) -> Value {
    Value::from(shell_words::join(command))
}

/// Text, null when empty.
fn text_or_null(text: &str) -> Value {
    match text {
        "" => Value::Null,
        text => Value::from(text),
    }
}

/// The URLs redacted (they carry tokens and passwords), separated by spaces; null for none.
fn redacted(urls: &[NotifyUrl]) -> Value {
    let shown: Vec<&str> = urls.iter().map(|u| u.shown.as_str()).collect();
    text_or_null(&shown.join(" "))
}

/// The windows as written, null when there are none.
fn window(windows: &Windows) -> Value {
    if windows.is_empty() {
        Value::Null
    } else {
        Value::from(windows.as_str())
    }
}

macro_rules! setting {
    ($name:literal, $kind:expr, $default:expr, $group:ident, $origin:ident, $json:expr,
     $help:literal) => {
        Setting {
            name: $name,
            kind: $kind,
            default: $default,
            group: Group::$group,
            origin: Origin::$origin,
            json: $json,
            help: $help,
        }
    };
}

/// Every setting, in the order `--print-config` lists them.
pub const SETTINGS: &[Setting] = &[
    setting!("VERBOSITY", Kind::Count, Some("1"), Common, Python, |c| c.verbosity.into(),
        "0 errors only, 1 normal, 2 verbose, 3 very verbose"),
    setting!("SERVICES_ROOT", Kind::Path, None, Folders, Python, |c| path(&c.services_root),
        "folder holding one subfolder (btrfs subvolume) per service; required"),
    setting!("SERVICES_FILTER", Kind::List, None, Folders, Python, |c| c.services_filter.clone().into(),
        "comma-separated service folder names to handle; empty: all"),
    setting!("SERVICES_FILTER_EXCLUDE", Kind::List, None, Folders, Python, |c| c.services_filter_exclude.clone().into(),
        "comma-separated service folder names to leave alone"),
    setting!("COMPOSE_TOOL", Kind::Text, Some("podman-compose"), Restarts, Python, |c| words(&c.compose_tool),
        "compose command, may be several words (`docker compose`)"),
    setting!("CONTAINER_TOOL", Kind::Text, Some("podman"), Restarts, Python, |c| words(&c.container_tool),
        "container command: pulls by digest, container states, image checks, pruning"),
    setting!("SERVICE_STOP_START", Kind::Bool, Some("true"), Restarts, Python, |c| c.service_stop_start.into(),
        "restart a service after its pin changed"),
    setting!("STOP_START_METHOD", Kind::Choice(StopStartMethod::WORDS), Some("compose"), Restarts, Python, |c| c.stop_start_method.into(),
        "compose (the changed containers are stopped and removed, and the compose tool recreates them: `up -d --no-deps <svc>`), systemd-system or systemd-user (systemctl stop and start <COMPOSE_TOOL>@<service>)"),
    setting!("SERVICE_SNAPSHOT", Kind::Bool, Some("true"), Restarts, Python, |c| c.service_snapshot.into(),
        "take a snapper snapshot of the service before changing its pin"),
    setting!("SERVICE_PULL", Kind::Bool, Some("true"), Update, Python, |c| c.service_pull.into(),
        "pull the new images by digest before anything of the service is touched"),
    setting!("PULL_JOBS", Kind::Count, Some("4"), Update, New, |c| c.pull_jobs.into(),
        "images pulled at the same time (1 to 64)"),
    setting!("RESTART_SCOPE", Kind::Choice(RestartScope::WORDS), Some("services"), Update, New, |c| c.restart_scope.into(),
        "services (recreate only the compose services whose image changed) or project (down and up the whole project)"),
    setting!("SNAPSHOT_WHEN", Kind::Choice(SnapshotWhen::WORDS), Some("stopped"), Update, New, |c| c.snapshot_when.into(),
        "take the snapshot after the changed containers stopped (consistent data) or while they run"),
    setting!("PRUNE_IMAGES", Kind::Bool, Some("true"), Update, Python, |c| c.prune_images.into(),
        "remove unused images after a run that updated something (`<CONTAINER_TOOL> image prune -f`)"),
    setting!("COMPOSE_FILE_NAME", Kind::FileName, None, Folders, Python, |c| text_or_null(&c.compose_file_name),
        "compose file name in each service folder; unset: the first of compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml"),
    setting!("ENV_FILE_NAME", Kind::FileName, Some(".env"), Folders, Python, |c| c.env_file_name.as_str().into(),
        "env file name in each service folder"),
    setting!("TRUSTED_OWNERS", Kind::List, None, Folders, New, |c| c.trusted_owners.clone().into(),
        "comma-separated users (name or id) and @groups whose service files root may follow, besides root and the user running cipug"),
    setting!("CACHE_DURATION", Kind::Count, Some("3600"), Registries, Python, |c| c.cache_duration.into(),
        "seconds a resolved tag is reused from the cache; 0 disables the cache"),
    setting!("CACHE_LOCATION", Kind::Path, None, Registries, Python, |c| path(&c.cache_location),
        "cache file; default $XDG_CACHE_HOME/cipug/cache.json, /var/cache/cipug/cache.json for root"),
    setting!("SNAPSHOTS_DIR_SNAPPER", Kind::Text, None, SnapshotAges, Python, |c| c.snapshots_dir_snapper.clone().into(),
        "snapper snapshot folder relative to each service (e.g. .snapshots); unset: not checked"),
    setting!("SNAPSHOTS_MAX_AGE_SNAPPER", Kind::Hours, Some("1.5"), SnapshotAges, Python, |c| c.snapshots_max_age_snapper.into(),
        "hours the newest snapper snapshot may be old"),
    setting!("SNAPSHOTS_DIR_BTRBK", Kind::Text, None, SnapshotAges, Python, |c| c.snapshots_dir_btrbk.clone().into(),
        "btrbk snapshot folder relative to each service; unset: not checked"),
    setting!("SNAPSHOTS_MAX_AGE_BTRBK", Kind::Hours, Some("36"), SnapshotAges, Python, |c| c.snapshots_max_age_btrbk.into(),
        "hours the newest btrbk snapshot may be old"),
    setting!("HEALTH_TIMEOUT", Kind::Count, Some("120"), Restarts, New, |c| c.health_timeout.into(),
        "seconds to wait after a restart for every container to run (and be healthy where a healthcheck is defined); HEALTH_SETTLE comes on top"),
    setting!("HEALTH_SETTLE", Kind::Count, Some("10"), Restarts, New, |c| c.health_settle.into(),
        "seconds every container must then stay up, with the same restart count and start time, before the health gate passes; with HEALTH_TIMEOUT=0 too, 0 checks once"),
    setting!("AUTO_ROLLBACK", Kind::Bool, Some("true"), Update, New, |c| c.auto_rollback.into(),
        "undo an update whose restart or health gate failed (snapper undochange to the snapshot before it)"),
    setting!("SNAPPER_CLEANUP", Kind::Text, Some("number"), Restarts, New, |c| c.snapper_cleanup.clone().into(),
        "snapper cleanup algorithm for cipug's snapshots; empty: none"),
    setting!("NOTIFY_COMMAND", Kind::Text, None, Restarts, New, |c| c.notify_command.as_deref().map(shell_words::join).into(),
        "command run after each entry updated, rolled back or failed, details in CIPUG_NOTIFY_* variables"),
    setting!("NOTIFY_URL", Kind::Text, None, Restarts, New, |c| redacted(&c.notify_urls),
        "notification URLs separated by spaces: a http(s):// webhook (a JSON POST per event) or shoutrrr's ntfy://, gotify://, discord://, slack://, telegram://, matrix://, smtp:// (a summary per run, a message per failure or rollback)"),
    setting!("STATE_DIR", Kind::Path, None, State, New, |c| path(&c.state_dir),
        "folder for history and the run lock; default /var/lib/cipug for root, $XDG_STATE_HOME/cipug"),
    setting!("RESOLVER", Kind::Choice(ResolverKind::WORDS), Some("native"), Registries, New, |c| c.resolver.into(),
        "how tags are resolved: native registry client or skopeo"),
    setting!("RESOLVE_JOBS", Kind::Count, Some("32"), Registries, New, |c| c.resolve_jobs.into(),
        "references resolved at the same time (native resolver)"),
    setting!("RESOLVE_JOBS_PER_REGISTRY", Kind::Count, Some("32"), Registries, New, |c| c.resolve_jobs_per_registry.into(),
        "requests in flight to one registry (native resolver)"),
    setting!("REGISTRY_TIMEOUT", Kind::Count, Some("30"), Registries, New, |c| c.registry_timeout.into(),
        "seconds a registry (and its token server) may take in all, retries included; also the limit of credential helpers and skopeo"),
    setting!("REGISTRY_CERTS_DIR", Kind::List, Some("/etc/containers/certs.d,/etc/docker/certs.d"), Registries, New, |c| paths(&c.registry_certs_dir),
        "folders with <host[:port]>/*.crt CA files (and *.cert/*.key client certificates)"),
    setting!("INSECURE_REGISTRIES", Kind::List, None, Registries, New, |c| c.insecure_registries.clone().into(),
        "comma-separated host[:port] reached over plain HTTP or unverified TLS"),
    setting!("PULL_TIMEOUT", Kind::Count, Some("1800"), Update, New, |c| c.timeouts.pull.as_secs().into(),
        "seconds a pull may take before it and everything it started are killed"),
    setting!("COMPOSE_TIMEOUT", Kind::Count, Some("300"), Restarts, New, |c| c.timeouts.compose.as_secs().into(),
        "seconds any other compose, container tool or systemctl command may take"),
    setting!("SNAPPER_TIMEOUT", Kind::Count, Some("600"), Restarts, New, |c| c.timeouts.snapper.as_secs().into(),
        "seconds a snapper command may take (undochange copies data back)"),
    setting!("NOTIFY_TIMEOUT", Kind::Count, Some("30"), Restarts, New, |c| c.timeouts.notify.as_secs().into(),
        "seconds all notifications of a run may take together, NOTIFY_COMMAND and the NOTIFY_URL requests"),
    setting!("MIN_AGE", Kind::Hours, Some("0"), Update, New, |c| c.min_age.into(),
        "hours a new digest must have been seen behind its tag before it is adopted; 0 adopts at once"),
    setting!("UPDATE_WINDOW", Kind::Text, None, Update, New, |c| window(&c.update_window),
        "local times a service may be updated in, e.g. `Sat,Sun 01:00-06:00` or `22:00-02:00; Sun 10:00-12:00`; a service's .env may set its own; empty: any time"),
    setting!("TAG_UPDATE", Kind::Choice(TagUpdate::WORDS), Some("off"), Update, New, |c| c.tag_update.into(),
        "move a version tag to its newest patch or minor release (off, patch, minor)"),
    setting!("METRICS_FILE", Kind::Path, None, Update, New, |c| c.metrics_file.as_deref().map_or(Value::Null, path),
        "Prometheus text file written after every check and update (node_exporter textfile collector)"),
    setting!("CONFIG_FILE", Kind::Path, None, Common, Python, |c| c.config_file.as_deref().map_or(Value::Null, path),
        "JSON file with settings (keys without the CIPUG_ prefix)"),
];

/// Looks a setting up by name.
pub fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMANDS: [&str; 7] = [
        "update",
        "check",
        "check-snapshots",
        "rollback",
        "history",
        "adopt",
        "doctor",
    ];

    #[test]
    fn every_setting_is_read_by_some_subcommand() {
        for setting in SETTINGS {
            assert!(
                COMMANDS.iter().any(|c| setting.read_by(c)),
                "{} is read by no subcommand",
                setting.name
            );
        }
        let read_by = |command: &str, name: &str| find(name).unwrap().read_by(command);
        assert!(!read_by("history", "SERVICE_PULL"));
        assert!(read_by("config", "SERVICE_PULL"));
        assert!(!read_by("man", "VERBOSITY"));
    }

    #[test]
    fn subcommands_read_their_groups() {
        let names = |command: &str| -> Vec<&str> {
            SETTINGS
                .iter()
                .filter(|s| s.read_by(command))
                .map(|s| s.name)
                .collect()
        };
        assert_eq!(names("history"), ["VERBOSITY", "STATE_DIR", "CONFIG_FILE"]);
        assert_eq!(
            names("check-snapshots"),
            [
                "VERBOSITY",
                "SERVICES_ROOT",
                "SERVICES_FILTER",
                "SERVICES_FILTER_EXCLUDE",
                "COMPOSE_FILE_NAME",
                "ENV_FILE_NAME",
                "TRUSTED_OWNERS",
                "SNAPSHOTS_DIR_SNAPPER",
                "SNAPSHOTS_MAX_AGE_SNAPPER",
                "SNAPSHOTS_DIR_BTRBK",
                "SNAPSHOTS_MAX_AGE_BTRBK",
                "CONFIG_FILE",
            ]
        );
        assert_eq!(names("update"), names("doctor"));
        assert_eq!(names("rollback"), names("adopt"));
        assert_eq!(names("config").len(), SETTINGS.len());
        assert!(names("man").is_empty());
        let update = names("update");
        assert!(!update.contains(&"SNAPSHOTS_DIR_BTRBK"));
        assert_eq!(
            update.len() + 4,
            SETTINGS.len(),
            "all but the snapshot ages"
        );
    }

    #[test]
    fn the_python_tools_settings_are_marked() {
        let python: Vec<&str> = SETTINGS
            .iter()
            .filter(|s| s.origin == Origin::Python)
            .map(|s| s.name)
            .collect();
        assert_eq!(python.len(), 20);
        assert!(python.contains(&"SERVICES_FILTER") && python.contains(&"CONFIG_FILE"));
        assert!(!python.contains(&"NOTIFY_URL") && !python.contains(&"TRUSTED_OWNERS"));
    }

    #[test]
    fn choice_kinds_take_the_words_of_their_enums() {
        let words = |name: &str| match find(name).unwrap().kind {
            Kind::Choice(words) => words,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(words("TAG_UPDATE"), ["off", "patch", "minor"]);
        assert_eq!(words("STOP_START_METHOD"), StopStartMethod::WORDS);
        assert_eq!(words("RESTART_SCOPE"), RestartScope::WORDS);
        assert_eq!(words("SNAPSHOT_WHEN"), SnapshotWhen::WORDS);
        assert_eq!(words("RESOLVER"), ResolverKind::WORDS);
        for setting in SETTINGS {
            if let (Kind::Choice(words), Some(default)) = (setting.kind, setting.default) {
                assert!(words.contains(&default), "{}", setting.name);
            }
        }
    }
}
