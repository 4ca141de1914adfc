//! Which settings each subcommand reads, so that its `--help` lists only those. Every flag
//! is still accepted everywhere (a settings line in a script keeps working); the others are
//! only hidden from that subcommand's help.

/// Settings every command that loads the settings reads.
const COMMON: &[&str] = &["VERBOSITY", "CONFIG_FILE"];
/// Settings that find the service folders.
const FOLDERS: &[&str] = &[
    "SERVICES_ROOT",
    "SERVICES_FILTER",
    "SERVICES_FILTER_EXCLUDE",
    "COMPOSE_FILE_NAME",
    "ENV_FILE_NAME",
    "TRUSTED_OWNERS",
];
/// Settings that reach registries.
const REGISTRIES: &[&str] = &[
    "CACHE_DURATION",
    "CACHE_LOCATION",
    "RESOLVER",
    "RESOLVE_JOBS",
    "RESOLVE_JOBS_PER_REGISTRY",
    "REGISTRY_TIMEOUT",
    "REGISTRY_CERTS_DIR",
    "INSECURE_REGISTRIES",
];
/// Settings that stop, start and snapshot a service.
const RESTARTS: &[&str] = &[
    "COMPOSE_TOOL",
    "CONTAINER_TOOL",
    "SERVICE_STOP_START",
    "STOP_START_METHOD",
    "SERVICE_SNAPSHOT",
    "HEALTH_TIMEOUT",
    "HEALTH_SETTLE",
    "COMPOSE_TIMEOUT",
    "SNAPPER_TIMEOUT",
    "NOTIFY_TIMEOUT",
    "SNAPPER_CLEANUP",
    "NOTIFY_COMMAND",
    "NOTIFY_URL",
    "STATE_DIR",
];
/// Settings only `update` reads besides those.
const UPDATE_ONLY: &[&str] = &[
    "SERVICE_PULL",
    "PRUNE_IMAGES",
    "AUTO_ROLLBACK",
    "PULL_JOBS",
    "RESTART_SCOPE",
    "SNAPSHOT_WHEN",
    "PULL_TIMEOUT",
    "MIN_AGE",
    "UPDATE_WINDOW",
    "TAG_UPDATE",
    "METRICS_FILE",
];
/// Settings of the snapshot age check.
const SNAPSHOT_AGES: &[&str] = &[
    "SNAPSHOTS_DIR_SNAPPER",
    "SNAPSHOTS_MAX_AGE_SNAPPER",
    "SNAPSHOTS_DIR_BTRBK",
    "SNAPSHOTS_MAX_AGE_BTRBK",
];

/// Whether subcommand `command` reads setting `name`. Subcommands not named here (`config`,
/// and the top level, which is `update`) read all of them.
pub fn uses(command: &str, name: &str) -> bool {
    let groups: &[&[&str]] = match command {
        "update" => &[COMMON, FOLDERS, REGISTRIES, RESTARTS, UPDATE_ONLY],
        "check" => &[COMMON, FOLDERS, REGISTRIES],
        "check-snapshots" => &[COMMON, FOLDERS, SNAPSHOT_AGES],
        "rollback" => &[COMMON, FOLDERS, RESTARTS],
        "history" => &[COMMON, &["STATE_DIR"]],
        "adopt" => &[COMMON, FOLDERS, RESTARTS],
        "doctor" => &[COMMON, FOLDERS, REGISTRIES, RESTARTS, UPDATE_ONLY],
        "completions" | "man" | "help" => &[],
        _ => return true,
    };
    groups.iter().any(|g| g.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::settings::SETTINGS;

    #[test]
    fn every_setting_is_read_by_some_subcommand() {
        let commands = [
            "update",
            "check",
            "check-snapshots",
            "rollback",
            "history",
            "adopt",
            "doctor",
        ];
        for setting in SETTINGS {
            assert!(
                commands.iter().any(|c| uses(c, setting.name)),
                "{} is read by no subcommand",
                setting.name
            );
        }
        assert!(!uses("history", "SERVICE_PULL"));
        assert!(uses("config", "SERVICE_PULL"));
        assert!(!uses("man", "VERBOSITY"));
    }
}
