//! The table of settings: names, kinds, defaults and help texts.
//!
//! One table drives the command-line flags, the `CIPUG_<NAME>` environment variables, the
//! JSON config file keys and `--print-config`, so the four can never disagree.

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
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
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
}

/// The ways a service can be stopped and started.
pub const STOP_START_METHODS: &[&str] = &["compose", "systemd-system", "systemd-user"];
/// Which containers a changed pin restarts.
pub const RESTART_SCOPES: &[&str] = &["services", "project"];
/// When the snapshot before an update is taken.
pub const SNAPSHOT_WHENS: &[&str] = &["stopped", "running"];
/// How far `TAG_UPDATE` may move a version tag.
pub const TAG_UPDATES: &[&str] = &["off", "patch", "minor"];
/// The ways an image tag can be resolved.
pub const RESOLVERS: &[&str] = &["native", "skopeo"];

macro_rules! setting {
    ($name:literal, $kind:expr, $default:expr, $help:literal) => {
        Setting {
            name: $name,
            kind: $kind,
            default: $default,
            help: $help,
        }
    };
}

/// Every setting, in the order `--print-config` lists them.
pub const SETTINGS: &[Setting] = &[
    setting!("VERBOSITY", Kind::Count, Some("1"), "0 errors only, 1 normal, 2 verbose, 3 very verbose"),
    setting!("SERVICES_ROOT", Kind::Path, None, "folder holding one subfolder (btrfs subvolume) per service; required"),
    setting!("SERVICES_FILTER", Kind::List, None, "comma-separated service folder names to handle; empty: all"),
    setting!("SERVICES_FILTER_EXCLUDE", Kind::List, None, "comma-separated service folder names to leave alone"),
    setting!("COMPOSE_TOOL", Kind::Text, Some("podman-compose"), "compose command, may be several words (`docker compose`)"),
    setting!("CONTAINER_TOOL", Kind::Text, Some("podman"), "container command: pulls by digest, container states, image checks, pruning"),
    setting!("SERVICE_STOP_START", Kind::Bool, Some("true"), "restart a service after its pin changed"),
    setting!("STOP_START_METHOD", Kind::Choice(STOP_START_METHODS), Some("compose"), "compose (the changed containers are stopped and removed, and the compose tool recreates them: `up -d --no-deps <svc>`), systemd-system or systemd-user (systemctl stop and start <COMPOSE_TOOL>@<service>)"),
    setting!("SERVICE_SNAPSHOT", Kind::Bool, Some("true"), "take a snapper snapshot of the service before changing its pin"),
    setting!("SERVICE_PULL", Kind::Bool, Some("true"), "pull the new images by digest before anything of the service is touched"),
    setting!("PULL_JOBS", Kind::Count, Some("4"), "images pulled at the same time (1 to 64)"),
    setting!("RESTART_SCOPE", Kind::Choice(RESTART_SCOPES), Some("services"), "services (recreate only the compose services whose image changed) or project (down and up the whole project)"),
    setting!("SNAPSHOT_WHEN", Kind::Choice(SNAPSHOT_WHENS), Some("stopped"), "take the snapshot after the changed containers stopped (consistent data) or while they run"),
    setting!("PRUNE_IMAGES", Kind::Bool, Some("true"), "remove unused images after a run that updated something (`<CONTAINER_TOOL> image prune -f`)"),
    setting!("COMPOSE_FILE_NAME", Kind::FileName, None, "compose file name in each service folder; unset: the first of compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml"),
    setting!("ENV_FILE_NAME", Kind::FileName, Some(".env"), "env file name in each service folder"),
    setting!("TRUSTED_OWNERS", Kind::List, None, "comma-separated users (name or id) and @groups whose service files root may follow, besides root and the user running cipug"),
    setting!("CACHE_DURATION", Kind::Count, Some("3600"), "seconds a resolved tag is reused from the cache; 0 disables the cache"),
    setting!("CACHE_LOCATION", Kind::Path, None, "cache file; default $XDG_CACHE_HOME/cipug/cache.json, /var/cache/cipug/cache.json for root"),
    setting!("SNAPSHOTS_DIR_SNAPPER", Kind::Text, None, "snapper snapshot folder relative to each service (e.g. .snapshots); unset: not checked"),
    setting!("SNAPSHOTS_MAX_AGE_SNAPPER", Kind::Hours, Some("1.5"), "hours the newest snapper snapshot may be old"),
    setting!("SNAPSHOTS_DIR_BTRBK", Kind::Text, None, "btrbk snapshot folder relative to each service; unset: not checked"),
    setting!("SNAPSHOTS_MAX_AGE_BTRBK", Kind::Hours, Some("36"), "hours the newest btrbk snapshot may be old"),
    setting!("HEALTH_TIMEOUT", Kind::Count, Some("120"), "seconds to wait after a restart for every container to run (and be healthy where a healthcheck is defined); HEALTH_SETTLE comes on top"),
    setting!("HEALTH_SETTLE", Kind::Count, Some("10"), "seconds every container must then stay up, with the same restart count and start time, before the health gate passes; with HEALTH_TIMEOUT=0 too, 0 checks once"),
    setting!("AUTO_ROLLBACK", Kind::Bool, Some("true"), "undo an update whose restart or health gate failed (snapper undochange to the snapshot before it)"),
    setting!("SNAPPER_CLEANUP", Kind::Text, Some("number"), "snapper cleanup algorithm for cipug's snapshots; empty: none"),
    setting!("NOTIFY_COMMAND", Kind::Text, None, "command run after each entry updated, rolled back or failed, details in CIPUG_NOTIFY_* variables"),
    setting!("NOTIFY_URL", Kind::Text, None, "notification URLs separated by spaces: a http(s):// webhook (a JSON POST per event) or shoutrrr's ntfy://, gotify://, discord://, slack://, telegram://, matrix://, smtp:// (a summary per run, a message per failure or rollback)"),
    setting!("STATE_DIR", Kind::Path, None, "folder for history and the run lock; default /var/lib/cipug for root, $XDG_STATE_HOME/cipug"),
    setting!("RESOLVER", Kind::Choice(RESOLVERS), Some("native"), "how tags are resolved: native registry client or skopeo"),
    setting!("RESOLVE_JOBS", Kind::Count, Some("32"), "references resolved at the same time (native resolver)"),
    setting!("RESOLVE_JOBS_PER_REGISTRY", Kind::Count, Some("32"), "requests in flight to one registry (native resolver)"),
    setting!("REGISTRY_TIMEOUT", Kind::Count, Some("30"), "seconds a registry (and its token server) may take in all, retries included; also the limit of credential helpers and skopeo"),
    setting!("REGISTRY_CERTS_DIR", Kind::List, Some("/etc/containers/certs.d,/etc/docker/certs.d"), "folders with <host[:port]>/*.crt CA files (and *.cert/*.key client certificates)"),
    setting!("INSECURE_REGISTRIES", Kind::List, None, "comma-separated host[:port] reached over plain HTTP or unverified TLS"),
    setting!("PULL_TIMEOUT", Kind::Count, Some("1800"), "seconds a pull may take before it and everything it started are killed"),
    setting!("COMPOSE_TIMEOUT", Kind::Count, Some("300"), "seconds any other compose, container tool or systemctl command may take"),
    setting!("SNAPPER_TIMEOUT", Kind::Count, Some("600"), "seconds a snapper command may take (undochange copies data back)"),
    setting!("NOTIFY_TIMEOUT", Kind::Count, Some("30"), "seconds all notifications of a run may take together, NOTIFY_COMMAND and the NOTIFY_URL requests"),
    setting!("MIN_AGE", Kind::Hours, Some("0"), "hours a new digest must have been seen behind its tag before it is adopted; 0 adopts at once"),
    setting!("UPDATE_WINDOW", Kind::Text, None, "local times a service may be updated in, e.g. `Sat,Sun 01:00-06:00` or `22:00-02:00; Sun 10:00-12:00`; a service's .env may set its own; empty: any time"),
    setting!("TAG_UPDATE", Kind::Choice(TAG_UPDATES), Some("off"), "move a version tag to its newest patch or minor release (off, patch, minor)"),
    setting!("METRICS_FILE", Kind::Path, None, "Prometheus text file written after every check and update (node_exporter textfile collector)"),
    setting!("CONFIG_FILE", Kind::Path, None, "JSON file with settings (keys without the CIPUG_ prefix)"),
];

/// Looks a setting up by name.
pub fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}
