//! The error type of cipug and the exit codes it maps to.
//!
//! The numbers are those of the Python cipug, so scripts and monitoring that read its exit
//! status keep working.

use std::path::PathBuf;
use std::sync::Arc;

use crate::adapters::runner::RunError;

/// Result with cipug's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub mod exit;

pub use exit::EXIT_CODES;

/// Everything that can go wrong in cipug.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tool that this run needs is not installed.
    #[error(
        "required tool `{0}` not found on PATH; install it or change the settings that need it"
    )]
    ToolMissing(String),
    /// Another run holds the lock file `lock`.
    #[error(
        "another cipug run holds {}; wait for it to end or pass --wait",
        lock.display()
    )]
    Busy {
        /// The lock file.
        lock: PathBuf,
    },
    /// `doctor` found problems.
    #[error("{problems} problem(s) to fix")]
    Doctor {
        /// How many.
        problems: usize,
    },
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
    #[error(transparent)]
    Compose(ComposeError),
    /// Taking a snapshot failed.
    #[error(transparent)]
    Snapshot(SnapshotError),
    /// An env file could not be read, parsed or written, or lies outside the snapshots of
    /// its service folder (so it is refused for updating).
    #[error(transparent)]
    Env(EnvError),
    /// Pulling the new images failed.
    #[error(transparent)]
    Pull(PullError),
    /// Restarting the service failed.
    #[error(transparent)]
    Restart(RestartError),
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
    /// Snapshots are missing or too old: what is missing, one description each.
    #[error("snapshots are missing or too old: {}", .0.join(", "))]
    SnapshotsTooOld(Vec<String>),
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

/// An error of a layer that the base cannot name (the container tool's, the compose
/// project's), kept as the source.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why restarting a service failed, its health gate included, or why undoing a failed
/// update failed.
#[derive(Debug, thiserror::Error)]
pub enum RestartError {
    /// A stop or start command failed.
    #[error("{0}")]
    Run(#[source] Box<RunError>),
    /// Stopping or removing the containers failed (as the container tool says it).
    #[error("{0}")]
    Containers(#[source] Cause),
    /// Removing the containers of other folders that joined the service failed.
    #[error("removing its dependents in other folders: {0}")]
    RemoveDependents(#[source] Box<RunError>),
    /// A dependent in another folder: its containers could not be read.
    #[error("cannot read its containers: {0}")]
    DependentContainers(#[source] Cause),
    /// A dependent in another folder did not start again.
    #[error("failed to start: {0}")]
    DependentStart(#[source] Box<RunError>),
    /// The health gate failed; what failed, as the gate says it.
    #[error("health gate: {0}")]
    Gate(String),
    /// A dependent's health gate failed; what failed, as the gate says it.
    #[error("failed its gate: {0}")]
    DependentGate(String),
    /// A container of the project could not be removed before the rollback: nothing was
    /// restored.
    #[error(
        "{service}: not rolled back, nothing was restored: {why}; the files still hold the \
         failed version (pins: {pins})"
    )]
    NotRolledBack {
        /// The service.
        service: String,
        /// Why the container stays.
        #[source]
        why: Cause,
        /// The failed version's pins (`X=<pin>, ...`).
        pins: String,
    },
    /// The files were put back (`restored` says how), but starting the service failed.
    #[error("{service}: {restored}, but starting failed: {error}; {state}")]
    RestoredNotStarted {
        /// The service.
        service: String,
        /// What was put back.
        restored: String,
        /// The start.
        #[source]
        error: Box<RunError>,
        /// What runs now.
        state: String,
    },
    /// The files were put back and the service started, but its gate failed.
    #[error(
        "{service}: {restored}, but the health gate failed after the rollback: {why}; {state}"
    )]
    RestoredUnhealthy {
        /// The service.
        service: String,
        /// What was put back.
        restored: String,
        /// What failed, as the gate says it.
        why: String,
        /// What runs now.
        state: String,
    },
    /// The update failed, and rolling it back failed too.
    #[error("{error}; the rollback failed too: {rollback}")]
    RollbackFailed {
        /// The update's failure.
        error: Box<Error>,
        /// The rollback's.
        #[source]
        rollback: Box<Error>,
    },
    /// A rollback an interrupted run left was finished; `why`: what it rolled back.
    #[error("rollback interrupted, finished: {why}")]
    RollbackFinished {
        /// The failure the rollback was for.
        why: String,
    },
    /// Finishing a rollback an interrupted run left failed.
    #[error("{error}; finishing it failed: {rollback}")]
    FinishFailed {
        /// What the rollback was for ([`RestartError::RollbackFinished`]).
        error: Box<Error>,
        /// Why finishing it failed.
        #[source]
        rollback: Box<Error>,
    },
    /// A rollback on request found an update or rollback an interrupted run left.
    #[error(
        "{service}: an interrupted update or rollback of it is unfinished; `cipug update` \
         finishes it first"
    )]
    Unfinished {
        /// The service.
        service: String,
    },
    /// Said in a sentence.
    #[error("{0}")]
    Message(String),
}

/// Why the compose tool or a compose project failed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The compose tool does not start (checked once per run, shared by its services).
    #[error("the compose tool does not work: {0}")]
    Broken(#[source] Arc<RunError>),
    /// The compose project cannot be read.
    #[error("{0}")]
    Project(#[source] Cause),
    /// The container list of the project cannot be read.
    #[error("cannot read the container list: {0}")]
    ContainerList(#[source] Cause),
    /// Said in a sentence.
    #[error("{0}")]
    Message(String),
}

/// Why a snapshot could not be taken, listed or put back.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// snapper (or the command that takes it) failed.
    #[error("{0}")]
    Run(#[source] Box<RunError>),
    /// Said in a sentence.
    #[error("{0}")]
    Message(String),
}

/// Why an env file could not be read, parsed or written, or is refused.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// Reading the file failed.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing the file failed.
    #[error("{}: could not write: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// What is wrong with the file (`msg` may begin with a line number: `3: ...`).
    #[error("{}: {msg}", path.display())]
    At {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// Said in a sentence.
    #[error("{0}")]
    Message(String),
}

/// Why the new images of a service were not pulled.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The pulls of these pins failed (pulled once per run, shared by the services).
    #[error("{}", join(.0, "; "))]
    Pins(Vec<Arc<PinPullError>>),
    /// Said in a sentence.
    #[error("{0}")]
    Message(String),
}

/// Why a pin was not pulled; the container tool's error is kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum PinPullError {
    /// The container tool's signature policy refused the image.
    #[error(
        "{pin}: refused by the signature policy: {why}; `cipug doctor` shows the policy in \
         force for its registry: sign the image, or change the policy if it should not apply"
    )]
    Refused {
        /// The pin.
        pin: String,
        /// The tool's words about the policy.
        why: String,
        /// The failed pull.
        #[source]
        error: RunError,
    },
    /// The pull failed otherwise.
    #[error("{pin}: pull failed: {error}")]
    Failed {
        /// The pin.
        pin: String,
        /// The failed pull.
        #[source]
        error: RunError,
    },
}

/// The items of `list`, shown, between `sep`.
fn join<T: std::fmt::Display>(list: &[T], sep: &str) -> String {
    let shown: Vec<String> = list.iter().map(T::to_string).collect();
    shown.join(sep)
}

/// `From<String>` and `From<&str>` for payloads with a `Message` variant, and `From` the
/// payload for [`Error`].
macro_rules! payload {
    ($($payload:ident => $variant:ident),* $(,)?) => {$(
        impl From<String> for $payload {
            fn from(message: String) -> Self {
                $payload::Message(message)
            }
        }

        impl From<&str> for $payload {
            fn from(message: &str) -> Self {
                $payload::Message(message.to_owned())
            }
        }

        impl From<$payload> for Error {
            fn from(error: $payload) -> Self {
                Error::$variant(error)
            }
        }
    )*};
}

impl From<RunError> for RestartError {
    fn from(error: RunError) -> Self {
        RestartError::Run(Box::new(error))
    }
}

impl From<RunError> for SnapshotError {
    fn from(error: RunError) -> Self {
        SnapshotError::Run(Box::new(error))
    }
}

payload!(
    RestartError => Restart,
    ComposeError => Compose,
    SnapshotError => Snapshot,
    EnvError => Env,
    PullError => Pull,
);

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::ToolMissing(_) => exit::TOOL_MISSING,
            Error::Busy { .. } => exit::BUSY,
            Error::Doctor { .. } => exit::DOCTOR,
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

    /// This error as the failure of `service`: `<service>: <error>`, the name said once, for
    /// the logs of an update that goes on with the next service.
    pub fn of_service<'e>(&'e self, service: &'e str) -> OfService<'e> {
        OfService {
            service,
            error: self,
        }
    }
}

/// The failure of one service, named once: see [`Error::of_service`].
#[derive(Debug)]
pub struct OfService<'e> {
    service: &'e str,
    error: &'e Error,
}

impl std::fmt::Display for OfService<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.service, self.error)
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
            Error::Busy {
                lock: PathBuf::new(),
            },
            Error::Doctor { problems: 1 },
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
            Error::Compose(text().into()),
            Error::from(RunError::Failed {
                cmd: Box::new(crate::adapters::runner::Cmd::new("x")),
                status: text(),
                stderr: text(),
            }),
            Error::Snapshot(text().into()),
            Error::Env(text().into()),
            Error::Pull(text().into()),
            Error::Restart(text().into()),
            Error::Hook {
                key: text(),
                what: "failed",
                source: Box::new(RunError::Failed {
                    cmd: Box::new(crate::adapters::runner::Cmd::new("x")),
                    status: text(),
                    stderr: text(),
                }),
            },
            Error::SnapshotsTooOld(vec![text()]),
            Error::io("x", std::io::Error::other("x")),
            Error::Outdated(text()),
            Error::Several(vec![30, 31]),
        ];
        for error in &all {
            match error {
                Error::ToolMissing(_)
                | Error::Busy { .. }
                | Error::Doctor { .. }
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

    fn failed_run(cmd: &str, stderr: &str) -> RunError {
        RunError::Failed {
            cmd: Box::new(crate::adapters::runner::Cmd::new(cmd)),
            status: "exited with status 1".into(),
            stderr: stderr.into(),
        }
    }

    /// The payloads read as the sentences they replaced.
    #[test]
    fn typed_payloads_read_as_the_sentences_before_them() {
        let run = || Box::new(failed_run("up", "boom\n"));
        let cases: Vec<(Error, &str)> =
            vec![
            (Error::Restart(RestartError::Run(run())), "`up` exited with status 1: boom"),
            (
                Error::Restart(RestartError::RemoveDependents(run())),
                "removing its dependents in other folders: `up` exited with status 1: boom",
            ),
            (
                Error::Restart(RestartError::DependentStart(run())),
                "failed to start: `up` exited with status 1: boom",
            ),
            (
                Error::Restart(RestartError::Gate("app exited".into())),
                "health gate: app exited",
            ),
            (
                Error::Restart(RestartError::NotRolledBack {
                    service: "app".into(),
                    why: "1 container(s) still exist".into(),
                    pins: "APP=r@sha256:2".into(),
                }),
                "app: not rolled back, nothing was restored: 1 container(s) still exist; the \
                 files still hold the failed version (pins: APP=r@sha256:2)",
            ),
            (
                Error::Restart(RestartError::RollbackFailed {
                    error: Box::new(Error::Restart("health gate: x".into())),
                    rollback: Box::new(Error::Restart(RestartError::RestoredNotStarted {
                        service: "app".into(),
                        restored: "files put back to snapshot 3".into(),
                        error: run(),
                        state: "no container of project app exists".into(),
                    })),
                }),
                "health gate: x; the rollback failed too: app: files put back to snapshot 3, \
                 but starting failed: `up` exited with status 1: boom; no container of project \
                 app exists",
            ),
            (
                Error::Restart(RestartError::RollbackFinished { why: "x".into() }),
                "rollback interrupted, finished: x",
            ),
            (
                Error::Compose(ComposeError::Broken(Arc::new(failed_run("docker", "")))),
                "the compose tool does not work: `docker` exited with status 1",
            ),
            (
                Error::Env(EnvError::Write {
                    path: "/srv/app/.env".into(),
                    source: std::io::Error::other("full"),
                }),
                "/srv/app/.env: could not write: full",
            ),
            (
                Error::Pull(PullError::Pins(vec![
                    Arc::new(PinPullError::Failed {
                        pin: "r/a@sha256:1".into(),
                        error: failed_run("podman", ""),
                    }),
                    Arc::new(PinPullError::Failed {
                        pin: "r/b@sha256:2".into(),
                        error: failed_run("podman", ""),
                    }),
                ])),
                "r/a@sha256:1: pull failed: `podman` exited with status 1; r/b@sha256:2: pull \
                 failed: `podman` exited with status 1",
            ),
            (
                Error::Busy {
                    lock: "/var/lib/cipug/lock".into(),
                },
                "another cipug run holds /var/lib/cipug/lock; wait for it to end or pass --wait",
            ),
            (Error::Doctor { problems: 2 }, "2 problem(s) to fix"),
            (
                Error::SnapshotsTooOld(vec!["a (hourly)".into(), "b (daily)".into()]),
                "snapshots are missing or too old: a (hourly), b (daily)",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn a_service_is_named_once() {
        let error = Error::Restart("health gate: x".into());
        assert_eq!(error.of_service("app").to_string(), "app: health gate: x");
    }

    #[test]
    fn combine_codes() {
        assert_eq!(combine(&[]), 0);
        assert_eq!(combine(&[34]), 34);
        assert_eq!(combine(&[31, 31]), 31);
        assert_eq!(combine(&[31, 34]), 255);
    }
}
