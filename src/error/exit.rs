//! Exit codes, as documented in the README.

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
