//! The one seam through which cipug runs external programs.
//!
//! A [`Cmd`] is a plain value (program, arguments, working folder) with a shell-quoted
//! `Display`, used alike in logs, errors and dry runs. A [`Runner`] executes it;
//! [`SystemRunner`] is the real one and the only user of `std::process` in the crate.
//!
//! Every command runs in a process group of its own with a time limit by its
//! [`ToolKind`]; when the limit passes, the whole group is killed, so nothing it started
//! lingers.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub use crate::base::timeouts::{Timeouts, ToolKind};
pub use wait::OUTPUT_LIMIT;

mod wait;

use wait::{wait_within, Waited};

/// A command line to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// The program, looked up on `PATH`.
    pub program: String,
    /// Its arguments, passed as a vector: never through a shell.
    pub args: Vec<String>,
    /// The folder to run it in, or the current one.
    pub cwd: Option<PathBuf>,
    /// Text for its standard input (none: standard input is empty). Never shown.
    pub stdin: Option<String>,
    /// Extra environment variables. Not shown in `Display`.
    pub env: Vec<(String, String)>,
    /// Whether the command gets an environment clean for the pins: without any
    /// `SERVICE_<X>_IMAGE_<...>` variable and without the names in `env_remove`.
    pub pin_env: bool,
    /// Variables removed from the inherited environment (with `pin_env`).
    pub env_remove: Vec<String>,
    /// Which time limit applies.
    pub kind: ToolKind,
    /// Its standard output holds secrets: never logged.
    pub secret_output: bool,
    /// A time limit of its own, in place of its kind's (a hook's `UPDATE_COMMAND_TIMEOUT`,
    /// what is left of a run's notification deadline).
    pub limit: Option<Duration>,
}

impl Cmd {
    /// A command running `program` with no arguments.
    pub fn new(program: impl Into<String>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            stdin: None,
            env: Vec::new(),
            pin_env: false,
            env_remove: Vec::new(),
            kind: ToolKind::default(),
            secret_output: false,
            limit: None,
        }
    }

    /// Runs the command in an environment clean for the pins: no `SERVICE_<X>_IMAGE_<...>`
    /// variable and none of `names` (the variables a TAGGED value interpolates), so that
    /// the compose tool reads the pins from the `.env`, not from cipug's environment.
    pub fn pin_env<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.pin_env = true;
        self.env_remove.extend(names.into_iter().map(Into::into));
        self
    }

    /// Sets the kind of command, which chooses its time limit.
    pub fn kind(mut self, kind: ToolKind) -> Self {
        self.kind = kind;
        self
    }

    /// Gives the command a time limit of its own instead of its kind's.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Marks the standard output as secret: it is never logged.
    pub fn secret_output(mut self) -> Self {
        self.secret_output = true;
        self
    }

    /// A command from a tool setting that may hold several words (`docker compose`).
    pub fn from_words(words: &[String]) -> Self {
        let mut cmd = Cmd::new(words.first().cloned().unwrap_or_default());
        cmd.args.extend(words.iter().skip(1).cloned());
        cmd
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Keeps the variables `names` of cipug's own environment away from the command.
    pub fn env_remove<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.env_remove.extend(names.into_iter().map(Into::into));
        self
    }

    /// Feeds `text` to the command's standard input.
    pub fn stdin(mut self, text: impl Into<String>) -> Self {
        self.stdin = Some(text.into());
        self
    }

    /// Runs the command in `dir`.
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = std::iter::once(&self.program).chain(&self.args);
        f.write_str(&shell_words::join(words))?;
        if let Some(cwd) = &self.cwd {
            write!(f, " (in {})", cwd.display())?;
        }
        Ok(())
    }
}

/// What a finished command printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Its standard output, lossily decoded.
    pub stdout: String,
    /// Its standard error, lossily decoded.
    pub stderr: String,
}

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started (missing, not executable, ...).
    #[error("could not start `{cmd}`: {source}")]
    NotStarted {
        /// The command line.
        cmd: Box<Cmd>,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The program ran and exited non-zero or was killed.
    #[error("`{cmd}` {status}{}", stderr_suffix(.stderr))]
    Failed {
        /// The command line.
        cmd: Box<Cmd>,
        /// How it ended, e.g. "exited with status 1".
        status: String,
        /// What it printed on standard error.
        stderr: String,
    },
    /// The program ran past its time limit and was killed with everything it started.
    #[error("`{cmd}` did not finish within {} s ({setting}); stopped it and the processes it started{}", .limit.as_secs(), stderr_suffix(.stderr))]
    TimedOut {
        /// The command line.
        cmd: Box<Cmd>,
        /// The limit that passed.
        limit: Duration,
        /// The setting holding the limit.
        setting: &'static str,
        /// What it printed on standard error until then.
        stderr: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(": {trimmed}")
    }
}

/// Runs commands. Passed in explicitly, so tests can use a recording or failing one.
pub trait Runner: Sync {
    /// Runs `cmd` to completion and captures its output.
    fn run(&self, cmd: &Cmd) -> Result<Output, RunError>;
}

/// The real runner: spawns the program in a process group of its own and waits for it, at
/// most as long as [`Timeouts`] allows for its kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRunner {
    timeouts: Timeouts,
}

impl SystemRunner {
    /// A runner with these time limits.
    pub fn new(timeouts: Timeouts) -> Self {
        SystemRunner { timeouts }
    }
}

impl Runner for SystemRunner {
    fn run(&self, cmd: &Cmd) -> Result<Output, RunError> {
        log::trace!("running {cmd}");
        let not_started = |source| RunError::NotStarted {
            cmd: Box::new(cmd.clone()),
            source,
        };
        let mut command = Command::new(&cmd.program);
        for name in &cmd.env_remove {
            command.env_remove(name);
        }
        command
            .args(&cmd.args)
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(cwd) = &cmd.cwd {
            command.current_dir(cwd);
        }
        if cmd.pin_env {
            for name in removed_from_env(cmd, std::env::vars_os().map(|(k, _)| k)) {
                command.env_remove(&name);
            }
        }
        // After the removals: a value cipug sets itself is kept.
        command.envs(cmd.env.iter().map(|(k, v)| (k, v)));
        let running = crate::base::interrupt::Running::start();
        let mut child = command.spawn().map_err(not_started)?;
        if let (Some(text), Some(mut input)) = (cmd.stdin.clone(), child.stdin.take()) {
            // In a thread: a program that does not read its input must not block the wait.
            // A program that exits without reading it is not an error here.
            std::thread::spawn(move || {
                let _ = input.write_all(text.as_bytes());
            });
        }
        let limit = cmd.limit.unwrap_or_else(|| self.timeouts.of(cmd.kind));
        let waited = wait_within(&mut child, limit).map_err(not_started)?;
        drop(running);
        log_waited(cmd, &waited, limit);
        let status = waited.status;
        let output = Output {
            stdout: String::from_utf8_lossy(&waited.stdout.bytes).into_owned(),
            stderr: String::from_utf8_lossy(&waited.stderr.bytes).into_owned(),
        };
        log_output(cmd, &output);
        let Some(status) = status else {
            return Err(RunError::TimedOut {
                cmd: Box::new(cmd.clone()),
                limit,
                setting: limit_setting(cmd),
                stderr: output.stderr,
            });
        };
        if status.success() {
            Ok(output)
        } else {
            let status = match status.code() {
                Some(code) => format!("exited with status {code}"),
                None => format!("was killed ({status})"),
            };
            Err(RunError::Failed {
                cmd: Box::new(cmd.clone()),
                status,
                stderr: output.stderr,
            })
        }
    }
}

/// Warns about what a command left behind or printed beyond the limit.
fn log_waited(cmd: &Cmd, waited: &Waited, limit: Duration) {
    if waited.lingered {
        log::warn!(
            "`{}` left processes behind that kept its output open past {} s ({}); stopped them",
            cmd.program,
            limit.as_secs_f64(),
            limit_setting(cmd)
        );
    }
    for (stream, cut) in [
        ("output", waited.stdout.cut),
        ("error output", waited.stderr.cut),
    ] {
        if cut > 0 {
            log::warn!(
                "`{}` printed {cut} bytes of {stream} beyond the {} MiB cipug keeps; the rest was dropped",
                cmd.program,
                OUTPUT_LIMIT >> 20
            );
        }
    }
}

/// Logs what a command printed (at the most verbose level; secrets never).
fn log_output(cmd: &Cmd, output: &Output) {
    if !output.stdout.trim().is_empty() {
        if cmd.secret_output {
            log::trace!("stdout of `{}`: (not shown, it holds secrets)", cmd.program);
        } else {
            log::trace!("stdout of `{}`:\n{}", cmd.program, output.stdout.trim_end());
        }
    }
    if !output.stderr.trim().is_empty() {
        log::trace!("stderr of `{}`:\n{}", cmd.program, output.stderr.trim_end());
    }
}

/// The inherited variables `cmd` does not get, warning once per variable and run.
fn removed_from_env(cmd: &Cmd, inherited: impl Iterator<Item = std::ffi::OsString>) -> Vec<String> {
    static WARNED: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
    let removed: Vec<String> = inherited
        .filter_map(|name| name.into_string().ok())
        .filter(|name| crate::formats::pins::is_pin_variable(name) || cmd.env_remove.contains(name))
        .collect();
    if let Ok(mut warned) = WARNED.lock() {
        for name in &removed {
            if warned.insert(name.clone()) {
                log::warn!(
                    "{name} is set in cipug's environment: not passed on to the compose and \
                     container tools, which read the pins from the .env"
                );
            }
        }
    }
    removed
}

/// The setting a command's time limit comes from, for messages.
fn limit_setting(cmd: &Cmd) -> &'static str {
    match (cmd.limit, cmd.kind) {
        (Some(_), ToolKind::Notify) => "NOTIFY_TIMEOUT, for all notifications of the run",
        (Some(_), ToolKind::Compose) => "UPDATE_COMMAND_TIMEOUT",
        (_, kind) => kind.setting(),
    }
}

#[cfg(test)]
mod tests {
    use super::wait::DRAIN_AFTER_KILL;
    use super::*;
    use std::time::Instant;

    #[test]
    fn display_quotes_words_and_names_folder() {
        let cmd = Cmd::from_words(&["docker".into(), "compose".into()])
            .args(["up", "-d"])
            .arg("my service")
            .current_dir(Path::new("/srv/a"));
        assert_eq!(
            cmd.to_string(),
            "docker compose up -d 'my service' (in /srv/a)"
        );
    }

    #[test]
    fn pin_env_removes_pin_variables_and_named_ones() {
        let cmd = Cmd::new("env").pin_env(["REG".to_string()]);
        let inherited = [
            "PATH",
            "SERVICE_APP_IMAGE_HASHED",
            "SERVICE_X_IMAGE_TAGGED",
            "REG",
            "SERVICE_IMAGE_X",
        ];
        let removed = removed_from_env(&cmd, inherited.iter().map(Into::into));
        assert_eq!(
            removed,
            ["SERVICE_APP_IMAGE_HASHED", "SERVICE_X_IMAGE_TAGGED", "REG"]
        );
    }

    #[test]
    fn stdin_is_fed() {
        let out = SystemRunner::default()
            .run(&Cmd::new("cat").stdin("server.io\n"))
            .unwrap();
        assert_eq!(out.stdout, "server.io\n");
    }

    #[test]
    fn failure_names_command_and_stderr() {
        let err = SystemRunner::default()
            .run(&Cmd::new("sh").args(["-c", "echo boom >&2; exit 3"]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sh -c 'echo boom >&2; exit 3'` exited with status 3: boom"
        );
        let err = SystemRunner::default()
            .run(&Cmd::new("/nonexistent/tool"))
            .unwrap_err();
        assert!(matches!(err, RunError::NotStarted { .. }), "{err}");
    }

    #[test]
    fn a_hung_command_is_killed_with_everything_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let runner = SystemRunner::new(Timeouts {
            pull: Duration::from_millis(500),
            ..Timeouts::default()
        });
        let script = format!("sleep 60 & echo $! > {}; wait", pid_file.display());
        let started = Instant::now();
        let err = runner
            .run(&Cmd::new("sh").args(["-c", &script]).kind(ToolKind::Pull))
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(err, RunError::TimedOut { .. }), "{err}");
        assert!(err.to_string().contains("(PULL_TIMEOUT)"), "{err}");
        let child = std::fs::read_to_string(&pid_file).unwrap();
        let proc_dir = format!("/proc/{}", child.trim());
        // Killed, and reaped by init once orphaned: gone or a zombie at most.
        crate::adapters::runner::tests::gone_soon(&proc_dir);
    }

    fn gone_soon(proc_dir: &str) {
        for _ in 0..100 {
            let state = std::fs::read_to_string(format!("{proc_dir}/stat")).unwrap_or_default();
            if state.is_empty() || state.contains(") Z") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{proc_dir} still runs");
    }

    /// A runner whose notification limit is `limit`.
    fn notify_within(limit: Duration) -> SystemRunner {
        SystemRunner::new(Timeouts {
            notify: limit,
            ..Timeouts::default()
        })
    }

    #[test]
    fn a_lingering_child_holding_the_output_is_stopped_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let script = format!("sleep 40 & echo $! > {}; echo notified", pid_file.display());
        let started = Instant::now();
        let out = notify_within(Duration::from_secs(1))
            .run(&Cmd::new("sh").args(["-c", &script]).kind(ToolKind::Notify))
            .unwrap();
        // The command itself succeeded; what it left behind was stopped at the limit.
        assert_eq!(out.stdout, "notified\n");
        assert!(
            started.elapsed() < Duration::from_secs(1) + DRAIN_AFTER_KILL + Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let child = std::fs::read_to_string(&pid_file).unwrap();
        gone_soon(&format!("/proc/{}", child.trim()));
    }

    #[test]
    fn a_child_that_left_the_group_cannot_hold_the_run() {
        // setsid: out of reach of the group kill; its pipe is given up instead.
        let started = Instant::now();
        let out = notify_within(Duration::from_secs(1))
            .run(
                &Cmd::new("sh")
                    .args(["-c", "setsid sleep 30 & echo ok"])
                    .kind(ToolKind::Notify),
            )
            .unwrap();
        assert_eq!(out.stdout, "ok\n");
        assert!(
            started.elapsed() < Duration::from_secs(1) + DRAIN_AFTER_KILL + Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let _ = std::process::Command::new("pkill")
            .args(["-f", "^sleep 30$"])
            .status();
    }

    #[test]
    fn output_beyond_the_limit_is_cut_and_the_command_not_blocked() {
        let out = notify_within(Duration::from_secs(20))
            .run(
                &Cmd::new("sh")
                    .args([
                        "-c",
                        "head -c 10485760 /dev/zero | tr '\\0' a; echo done >&2",
                    ])
                    .kind(ToolKind::Notify),
            )
            .unwrap();
        assert_eq!(out.stdout.len(), OUTPUT_LIMIT);
        assert!(out.stdout.bytes().all(|b| b == b'a'));
        assert_eq!(out.stderr, "done\n");
    }

    #[test]
    fn a_command_limit_of_its_own_replaces_its_kinds() {
        let started = Instant::now();
        let err = SystemRunner::default()
            .run(
                &Cmd::new("sleep")
                    .arg("30")
                    .kind(ToolKind::Notify)
                    .limit(Duration::from_millis(300)),
            )
            .unwrap_err();
        assert!(matches!(err, RunError::TimedOut { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            err.to_string().contains("for all notifications of the run"),
            "{err}"
        );
    }

    #[test]
    fn secret_output_is_still_returned() {
        let out = SystemRunner::default()
            .run(&Cmd::new("echo").arg("s3cret").secret_output())
            .unwrap();
        assert_eq!(out.stdout, "s3cret\n");
    }
}
