//! Pulling the new pins before anything is touched: every image a run will switch to is
//! pulled by digest (`<CONTAINER_TOOL> pull <name>@sha256:…`), all at once through a pool of
//! `PULL_JOBS` workers, with a progress bar on a terminal. A service whose pull failed is
//! then left alone: no snapshot, no `.env` write, no restart. A pull the container tool's
//! signature policy refused is reported as such.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;

use crate::adapters::container::{policy_refusal, pull_cmd};
use crate::adapters::runner::{RunError, Runner};
use crate::base::parallel::parallel_map;
use crate::config::Config;
use crate::error::PinPullError;

/// Pulls each distinct pin once; the result per pin is `Err(what went wrong)` for a failed
/// pull, shared by the services that switch to the pin.
pub fn pull_all(
    config: &Config,
    runner: &dyn Runner,
    pins: &[String],
) -> BTreeMap<String, Result<(), Arc<PinPullError>>> {
    let mut todo: Vec<&String> = pins.iter().collect();
    todo.sort();
    todo.dedup();
    let bar = progress_bar(todo.len());
    let results = parallel_map(&todo, config.pull_jobs, |pin| {
        let result = runner
            .run(&pull_cmd(config, pin))
            .map(|_| ())
            .map_err(|e| Arc::new(pull_error(pin, e)));
        bar.inc(1);
        result
    });
    bar.finish_and_clear();
    todo.into_iter().cloned().zip(results).collect()
}

/// What went wrong pulling `pin`: a refusal of the container tool's signature policy is
/// said as such, with the tool's words and where to look; any other failure as it came.
fn pull_error(pin: &str, error: RunError) -> PinPullError {
    let refused = match &error {
        RunError::Failed { stderr, .. } => policy_refusal(stderr).map(str::to_owned),
        _ => None,
    };
    let pin = pin.to_owned();
    match refused {
        Some(why) => PinPullError::Refused { pin, why, error },
        None => PinPullError::Failed { pin, error },
    }
}

/// A progress bar on standard error when it is a terminal; hidden otherwise.
fn progress_bar(len: usize) -> indicatif::ProgressBar {
    if len < 2 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("pulling {bar:30} {pos}/{len} {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::runner::Cmd;

    fn failed(stderr: &str) -> RunError {
        RunError::Failed {
            cmd: Box::new(Cmd::new("podman").args(["pull", "r/s/app@sha256:1"])),
            status: "exited with status 125".into(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn a_pull_the_signature_policy_refused_says_so() {
        let refused = failed(
            "Error: Source image rejected: A signature was required, but no signature exists\n",
        );
        let text = pull_error("r/s/app@sha256:1", refused).to_string();
        assert!(
            text.starts_with("r/s/app@sha256:1: refused by the signature policy: A signature was required, but no signature exists; `cipug doctor`"),
            "{text}"
        );
        let other = pull_error("r/s/app@sha256:1", failed("Error: manifest unknown\n")).to_string();
        assert!(
            other.starts_with("r/s/app@sha256:1: pull failed: `podman pull r/s/app@sha256:1` exited with status 125: Error: manifest unknown"),
            "{other}"
        );
    }

    #[test]
    fn each_distinct_pin_is_pulled_once_and_a_failure_is_its_own() {
        use crate::adapters::recording::Recording;
        let (_root, mut config, _dir) = crate::pipeline::fixture::service("r.io/a@sha256:1");
        config.pull_jobs = 2;
        let runner = Recording::new().fail("r.io/b@", "Error: manifest unknown");
        let pins = ["r.io/a@sha256:1", "r.io/b@sha256:2", "r.io/a@sha256:1"].map(String::from);
        let results = pull_all(&config, &runner, &pins);
        assert_eq!(results.len(), 2);
        assert!(matches!(results.get("r.io/a@sha256:1"), Some(Ok(()))));
        let failed = results
            .get("r.io/b@sha256:2")
            .unwrap()
            .as_ref()
            .unwrap_err()
            .to_string();
        assert!(
            failed.starts_with("r.io/b@sha256:2: pull failed: "),
            "{failed}"
        );
        assert_eq!(runner.count(" pull "), 2, "{:#?}", runner.calls());
        assert!(pull_all(&config, &runner, &[]).is_empty());
        assert_eq!(runner.calls().len(), 2, "nothing to pull runs nothing");
    }
}
