//! A service's own commands around its update, set in its `.env`: `PRE_UPDATE_COMMAND` runs
//! before the snapshot (so a database dump it writes into the folder is in the snapshot), and
//! a failing one cancels that service's update; `POST_UPDATE_COMMAND` runs after the health
//! gate passed. Each runs with `sh -c` in the service folder (redirections work, as in the
//! compose file's own commands) under `timeout`, `UPDATE_COMMAND_TIMEOUT` seconds (default
//! 300), with `CIPUG_SERVICE` and `CIPUG_HOOK` (`pre` / `post`) in its environment.

use crate::adapters::runner::{Cmd, Runner};
use crate::error::{Error, Result};
use crate::formats::env_keys;
use crate::formats::envfile::EnvFile;
use crate::services::ServiceDir;

/// The `.env` key of the command run before an update.
pub const PRE: &str = env_keys::PRE_UPDATE_COMMAND.name;
/// The `.env` key of the command run after a successful update.
pub const POST: &str = env_keys::POST_UPDATE_COMMAND.name;
/// The `.env` key of the seconds each may take.
pub const TIMEOUT: &str = env_keys::UPDATE_COMMAND_TIMEOUT.name;
/// The seconds a hook may take when `UPDATE_COMMAND_TIMEOUT` is not set.
pub const DEFAULT_TIMEOUT: u64 = 300;

/// The command for hook `key` of the service in `dir` whose `.env` is `env`, if it sets one.
pub fn command(env: &EnvFile, dir: &ServiceDir, key: &str) -> Result<Option<Cmd>> {
    let Some(entry) = env.get(key).filter(|e| !e.value.trim().is_empty()) else {
        return Ok(None);
    };
    let timeout = match env.get(TIMEOUT) {
        None => DEFAULT_TIMEOUT,
        Some(t) => t
            .value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Error::Env(
                    format!(
                        "{}:{}: {TIMEOUT}=`{}`: must be a whole number of seconds above 0",
                        dir.env_file.display(),
                        t.line,
                        t.value
                    )
                    .into(),
                )
            })?,
    };
    let hook = if key == PRE { "pre" } else { "post" };
    Ok(Some(
        Cmd::new("timeout")
            .args([
                "--kill-after=10",
                &timeout.to_string(),
                "sh",
                "-c",
                &entry.value,
            ])
            .env("CIPUG_SERVICE", &dir.name)
            .env("CIPUG_HOOK", hook)
            // timeout's own limit, its kill after 10 s, and the runner's bound on top.
            .limit(std::time::Duration::from_secs(timeout + 15))
            .current_dir(&dir.path),
    ))
}

/// Runs hook `key` of the service in `dir`, if its `.env` (`env`) sets one. Its failure
/// (exit 30) names the hook; a timeout says so.
pub fn run(runner: &dyn Runner, env: &EnvFile, dir: &ServiceDir, key: &str) -> Result<()> {
    let Some(cmd) = command(env, dir, key)? else {
        return Ok(());
    };
    log::info!("{}: running {key}", dir.name);
    runner.run(&cmd).map(|_| ()).map_err(|e| {
        let timed_out =
            matches!(&e, crate::adapters::runner::RunError::Failed { status, .. } if status.contains("124"));
        let what = if timed_out { "timed out" } else { "failed" };
        Error::Hook {
            key: key.to_owned(),
            what,
            source: Box::new(e),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_default_timeout_is_the_one_used() {
        let documented = env_keys::UPDATE_COMMAND_TIMEOUT.default;
        assert_eq!(documented, Some(DEFAULT_TIMEOUT.to_string().as_str()));
    }
}
