//! The error type of cipug and the exit codes it maps to.
//!
//! The numbers are those of the Python cipug, so scripts and monitoring that read its exit
//! status keep working.

use std::path::PathBuf;

use crate::adapters::runner::RunError;

/// Result with cipug's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Exit codes, as documented in the README.
pub mod exit {
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
}

/// Every exit code with what it means: the README's table and the man page's EXIT STATUS
/// (text between backquotes is a name: code in the README, bold in the man page).
pub const EXIT_CODES: &[(u8, &str)] = &[
    (exit::OK, "everything went fine"),
    (exit::TOOL_MISSING, "a required tool is missing"),
    (exit::BUSY, "another cipug run is going on (see `--wait`)"),
    (exit::DOCTOR, "`doctor` found problems"),
    (exit::FILE_NOT_FOUND, "file not found (the config file)"),
    (exit::DIR_NOT_FOUND, "directory not found (`SERVICES_ROOT`)"),
    (
        exit::UNKNOWN_FORMAT,
        "unknown file format (the config file is not JSON, the settings file not `KEY=value` lines)",
    ),
    (
        exit::UNKNOWN_STRUCTURE,
        "unknown data structure (the config file is not a JSON object)",
    ),
    (exit::TYPE_ERROR, "type error (a setting of the wrong type)"),
    (
        exit::VALUE_ERROR,
        "value error (an unknown setting, a value out of range, `SERVICES_ROOT` missing, an \
         `ENV_FILE_NAME` the compose tool cannot pass; a service whose files another user \
         could change, or a settings or config file another user could change)",
    ),
    (
        exit::TOOL_ERROR,
        "tool or registry error (the compose tool check failed, a tag could not be resolved, \
         a `PRE_UPDATE_COMMAND` or `POST_UPDATE_COMMAND` failed)",
    ),
    (exit::SNAPSHOT_ERROR, "snapshot error"),
    (
        exit::ENV_ERROR,
        "env error (a `.env` could not be parsed or written, or lies outside its service's \
         snapshots)",
    ),
    (
        exit::PULL_ERROR,
        "image pull error (nothing of that service was touched)",
    ),
    (
        exit::RESTART_ERROR,
        "service restart error (also when the update was rolled back, and when a project was \
         not well before its update: not ready, nothing touched)",
    ),
    (exit::SNAPSHOTS_TOO_OLD, "snapshots missing or too old"),
    (
        exit::OUTDATED,
        "`check --fail-outdated`: entries are outdated or unpinned (held-back and waiting ones \
         do not count)",
    ),
    (exit::SEVERAL, "several different errors in one run"),
];

/// Everything that can go wrong in cipug.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tool that this run needs is not installed.
    #[error(
        "required tool `{0}` not found on PATH; install it or change the settings that need it"
    )]
    ToolMissing(String),
    /// Another run holds the lock.
    #[error("{0}")]
    Busy(String),
    /// `doctor` found problems.
    #[error("{0}")]
    Doctor(String),
    /// A file named by the settings does not exist.
    #[error("{}: file not found", .0.display())]
    FileNotFound(PathBuf),
    /// A directory named by the settings does not exist.
    #[error("{}: directory not found", .0.display())]
    DirNotFound(PathBuf),
    /// A file cipug must read is not in the expected format.
    #[error("{}: {msg}", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A settings source has an unexpected structure.
    #[error("{0}")]
    UnknownStructure(String),
    /// A setting has the wrong type.
    #[error("{0}")]
    Type(String),
    /// A setting has a wrong value.
    #[error("{0}")]
    Value(String),
    /// An external program failed.
    #[error(transparent)]
    Run(Box<RunError>),
    /// Resolving an image failed.
    #[error("{image}: {msg}")]
    Resolve {
        /// The image reference as written in the env file.
        image: String,
        /// What went wrong.
        msg: String,
    },
    /// A compose file cannot be read, or the compose tool does not work.
    #[error("{0}")]
    Compose(String),
    /// Taking a snapshot failed.
    #[error("{0}")]
    Snapshot(String),
    /// An env file could not be read, parsed or written, or lies outside the snapshots of
    /// its service folder (so it is refused for updating).
    #[error("{0}")]
    Env(String),
    /// Pulling the new images failed.
    #[error("{0}")]
    Pull(String),
    /// Restarting the service failed.
    #[error("{0}")]
    Restart(String),
    /// A service's own PRE_UPDATE_COMMAND or POST_UPDATE_COMMAND failed.
    #[error("{key} {what}: {source}")]
    Hook {
        /// The hook's key (`PRE_UPDATE_COMMAND`, `POST_UPDATE_COMMAND`).
        key: String,
        /// `failed`, or `timed out`.
        what: &'static str,
        /// The hook's run.
        source: Box<RunError>,
    },
    /// Snapshots are missing or too old.
    #[error("{0}")]
    SnapshotsTooOld(String),
    /// An I/O error outside the cases above.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `check --fail-outdated` found entries to update.
    #[error("{0}")]
    Outdated(String),
    /// Several errors were collected during one run; each was reported already.
    #[error("{} errors in this run", .0.len())]
    Several(Vec<u8>),
}

impl From<RunError> for Error {
    fn from(error: RunError) -> Self {
        Error::Run(Box::new(error))
    }
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::ToolMissing(_) => exit::TOOL_MISSING,
            Error::Busy(_) => exit::BUSY,
            Error::Doctor(_) => exit::DOCTOR,
            Error::FileNotFound(_) => exit::FILE_NOT_FOUND,
            Error::DirNotFound(_) => exit::DIR_NOT_FOUND,
            Error::UnknownFormat { .. } => exit::UNKNOWN_FORMAT,
            Error::UnknownStructure(_) => exit::UNKNOWN_STRUCTURE,
            Error::Type(_) => exit::TYPE_ERROR,
            Error::Value(_) => exit::VALUE_ERROR,
            Error::Run(_)
            | Error::Resolve { .. }
            | Error::Io { .. }
            | Error::Hook { .. }
            | Error::Compose(_) => exit::TOOL_ERROR,
            Error::Snapshot(_) => exit::SNAPSHOT_ERROR,
            Error::Env(_) => exit::ENV_ERROR,
            Error::Pull(_) => exit::PULL_ERROR,
            Error::Restart(_) => exit::RESTART_ERROR,
            Error::SnapshotsTooOld(_) => exit::SNAPSHOTS_TOO_OLD,
            Error::Outdated(_) => exit::OUTDATED,
            Error::Several(codes) => combine(codes),
        }
    }

    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The exit code of a run that saw the error codes `codes`: 0 for none, the code itself
/// when all are the same, 255 when they differ.
pub fn combine(codes: &[u8]) -> u8 {
    match codes.split_first() {
        None => exit::OK,
        Some((first, rest)) if rest.iter().all(|c| c == first) => *first,
        Some(_) => exit::SEVERAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind (a new kind fails to compile here until it is added).
    fn one_of_each() -> Vec<Error> {
        let text = String::new;
        let all = vec![
            Error::ToolMissing(text()),
            Error::Busy(text()),
            Error::Doctor(text()),
            Error::FileNotFound(PathBuf::new()),
            Error::DirNotFound(PathBuf::new()),
            Error::UnknownFormat {
                path: PathBuf::new(),
                msg: text(),
            },
            Error::UnknownStructure(text()),
            Error::Type(text()),
            Error::Value(text()),
            Error::Resolve {
                image: text(),
                msg: text(),
            },
            Error::Compose(text()),
            Error::from(RunError::Failed {
                cmd: Box::new(crate::adapters::runner::Cmd::new("x")),
                status: text(),
                stderr: text(),
            }),
            Error::Snapshot(text()),
            Error::Env(text()),
            Error::Pull(text()),
            Error::Restart(text()),
            Error::Hook {
                key: text(),
                what: "failed",
                source: Box::new(RunError::Failed {
                    cmd: Box::new(crate::adapters::runner::Cmd::new("x")),
                    status: text(),
                    stderr: text(),
                }),
            },
            Error::SnapshotsTooOld(text()),
            Error::io("x", std::io::Error::other("x")),
            Error::Outdated(text()),
            Error::Several(vec![30, 31]),
        ];
        for error in &all {
            match error {
                Error::ToolMissing(_)
                | Error::Busy(_)
                | Error::Doctor(_)
                | Error::FileNotFound(_)
                | Error::DirNotFound(_)
                | Error::UnknownFormat { .. }
                | Error::UnknownStructure(_)
                | Error::Type(_)
                | Error::Value(_)
                | Error::Run(_)
                | Error::Resolve { .. }
                | Error::Compose(_)
                | Error::Snapshot(_)
                | Error::Env(_)
                | Error::Pull(_)
                | Error::Restart(_)
                | Error::Hook { .. }
                | Error::SnapshotsTooOld(_)
                | Error::Io { .. }
                | Error::Outdated(_)
                | Error::Several(_) => {}
            }
        }
        all
    }

    #[test]
    fn every_exit_code_is_in_the_table_once() {
        for error in one_of_each() {
            let code = error.exit_code();
            assert!(
                EXIT_CODES.iter().any(|(c, _)| *c == code),
                "exit code {code} ({error:?}) is not in EXIT_CODES"
            );
        }
        let mut codes: Vec<u8> = EXIT_CODES.iter().map(|(c, _)| *c).collect();
        codes.dedup();
        assert_eq!(
            codes.len(),
            EXIT_CODES.len(),
            "listed twice, or out of order"
        );
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "in ascending order");
    }

    #[test]
    fn combine_codes() {
        assert_eq!(combine(&[]), 0);
        assert_eq!(combine(&[34]), 34);
        assert_eq!(combine(&[31, 31]), 31);
        assert_eq!(combine(&[31, 34]), 255);
    }
}
