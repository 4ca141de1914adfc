//! Exit codes, as documented in the README, and the table of what each means.

/// Everything went fine.
pub const OK: u8 = 0;
/// A required tool is missing.
pub const TOOL_MISSING: u8 = 10;
/// Another cipug run holds the lock.
pub const BUSY: u8 = 11;
/// `doctor` found problems.
pub const DOCTOR: u8 = 12;
/// A file was not found.
pub const FILE_NOT_FOUND: u8 = 20;
/// A directory was not found.
pub const DIR_NOT_FOUND: u8 = 21;
/// A file is not in a format cipug understands.
pub const UNKNOWN_FORMAT: u8 = 22;
/// A file has an unexpected structure (unknown key, not an object).
pub const UNKNOWN_STRUCTURE: u8 = 23;
/// A setting has the wrong type.
pub const TYPE_ERROR: u8 = 24;
/// A setting has a value out of range or is missing.
pub const VALUE_ERROR: u8 = 25;
/// An external tool (or the registry) failed.
pub const TOOL_ERROR: u8 = 30;
/// Taking a snapshot failed.
pub const SNAPSHOT_ERROR: u8 = 31;
/// Reading or writing an env file failed, or it lies outside its service's snapshots.
pub const ENV_ERROR: u8 = 32;
/// Pulling images failed.
pub const PULL_ERROR: u8 = 33;
/// Restarting a service failed.
pub const RESTART_ERROR: u8 = 34;
/// Snapshots are missing or too old.
pub const SNAPSHOTS_TOO_OLD: u8 = 40;
/// `check --fail-outdated` found outdated or unpinned entries.
pub const OUTDATED: u8 = 41;
/// Several different errors happened in one run.
pub const SEVERAL: u8 = 255;

/// Every exit code with what it means: the README's table and the man page's EXIT STATUS
/// (text between backquotes is a name: code in the README, bold in the man page).
pub const EXIT_CODES: &[(u8, &str)] = &[
    (OK, "everything went fine"),
    (TOOL_MISSING, "a required tool is missing"),
    (BUSY, "another cipug run is going on (see `--wait`)"),
    (DOCTOR, "`doctor` found problems"),
    (FILE_NOT_FOUND, "file not found (the config file)"),
    (DIR_NOT_FOUND, "directory not found (`SERVICES_ROOT`)"),
    (
        UNKNOWN_FORMAT,
        "unknown file format (the config file is not JSON, the settings file not `KEY=value` lines)",
    ),
    (
        UNKNOWN_STRUCTURE,
        "unknown data structure (the config file is not a JSON object)",
    ),
    (TYPE_ERROR, "type error (a setting of the wrong type)"),
    (
        VALUE_ERROR,
        "value error (an unknown setting, a value out of range, `SERVICES_ROOT` missing, an \
         `ENV_FILE_NAME` the compose tool cannot pass; a service whose files another user \
         could change, or a settings or config file another user could change)",
    ),
    (
        TOOL_ERROR,
        "tool or registry error (the compose tool check failed, a tag could not be resolved, \
         a `PRE_UPDATE_COMMAND` or `POST_UPDATE_COMMAND` failed)",
    ),
    (SNAPSHOT_ERROR, "snapshot error"),
    (
        ENV_ERROR,
        "env error (a `.env` could not be parsed or written, or lies outside its service's \
         snapshots)",
    ),
    (
        PULL_ERROR,
        "image pull error (nothing of that service was touched)",
    ),
    (
        RESTART_ERROR,
        "service restart error (also when the update was rolled back, and when a project was \
         not well before its update: not ready, nothing touched)",
    ),
    (SNAPSHOTS_TOO_OLD, "snapshots missing or too old"),
    (
        OUTDATED,
        "`check --fail-outdated`: entries are outdated or unpinned (held-back and waiting ones \
         do not count)",
    ),
    (SEVERAL, "several different errors in one run"),
];
