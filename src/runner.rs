//! The one seam through which cipug runs external programs.
//!
//! A [`Cmd`] is a plain value (program, arguments, working folder) with a shell-quoted
//! `Display`, used alike in logs, errors and dry runs. A [`Runner`] executes it;
//! [`SystemRunner`] is the real one and the only user of `std::process` in the crate.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

/// The real runner: spawns the program and waits for it.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, cmd: &Cmd) -> Result<Output, RunError> {
        log::trace!("running {cmd}");
        let not_started = |source| RunError::NotStarted {
            cmd: Box::new(cmd.clone()),
            source,
        };
        let mut command = Command::new(&cmd.program);
        command
            .args(&cmd.args)
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
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
        let mut child = command.spawn().map_err(not_started)?;
        if let (Some(text), Some(mut input)) = (&cmd.stdin, child.stdin.take()) {
            // A program that exits without reading its input is not an error here.
            let _ = input.write_all(text.as_bytes());
        }
        let out = child.wait_with_output().map_err(not_started)?;
        let output = Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if !output.stdout.trim().is_empty() {
            log::trace!("stdout of `{}`:\n{}", cmd.program, output.stdout.trim_end());
        }
        if !output.stderr.trim().is_empty() {
            log::trace!("stderr of `{}`:\n{}", cmd.program, output.stderr.trim_end());
        }
        if out.status.success() {
            Ok(output)
        } else {
            let status = match out.status.code() {
                Some(code) => format!("exited with status {code}"),
                None => format!("was killed ({})", out.status),
            };
            Err(RunError::Failed {
                cmd: Box::new(cmd.clone()),
                status,
                stderr: output.stderr,
            })
        }
    }
}

/// The inherited variables `cmd` does not get, warning once per variable and run.
fn removed_from_env(cmd: &Cmd, inherited: impl Iterator<Item = std::ffi::OsString>) -> Vec<String> {
    static WARNED: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
    let removed: Vec<String> = inherited
        .filter_map(|name| name.into_string().ok())
        .filter(|name| crate::pins::is_pin_variable(name) || cmd.env_remove.contains(name))
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let out = SystemRunner
            .run(&Cmd::new("cat").stdin("server.io\n"))
            .unwrap();
        assert_eq!(out.stdout, "server.io\n");
    }

    #[test]
    fn failure_names_command_and_stderr() {
        let err = SystemRunner
            .run(&Cmd::new("sh").args(["-c", "echo boom >&2; exit 3"]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sh -c 'echo boom >&2; exit 3'` exited with status 3: boom"
        );
        let err = SystemRunner
            .run(&Cmd::new("/nonexistent/tool"))
            .unwrap_err();
        assert!(matches!(err, RunError::NotStarted { .. }), "{err}");
    }
}
