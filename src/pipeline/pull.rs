//! Pulling the new pins before anything is touched: every image a run will switch to is
//! pulled by digest (`<CONTAINER_TOOL> pull <name>@sha256:…`), all at once through a pool of
//! `PULL_JOBS` workers, with a progress bar on a terminal. A service whose pull failed is
//! then left alone: no snapshot, no `.env` write, no restart. A pull the container tool's
//! signature policy refused is reported as such.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::adapters::container::{policy_refusal, pull_cmd};
use crate::adapters::runner::{RunError, Runner};
use crate::config::Config;

/// Pulls each distinct pin once; the result per pin is `Err(what went wrong)` for a failed
/// pull.
pub fn pull_all(
    config: &Config,
    runner: &dyn Runner,
    pins: &[String],
) -> BTreeMap<String, Result<(), String>> {
    let mut todo: Vec<&String> = pins.iter().collect();
    todo.sort();
    todo.dedup();
    let bar = progress_bar(todo.len());
    let slots: Vec<Mutex<Option<Result<(), String>>>> =
        todo.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = config.pull_jobs.clamp(1, todo.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(pin) = todo.get(i) else {
                    break;
                };
                let result = runner
                    .run(&pull_cmd(config, pin))
                    .map(|_| ())
                    .map_err(|e| pull_error(pin, &e));
                bar.inc(1);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    bar.finish_and_clear();
    todo.into_iter()
        .zip(slots)
        .map(|(pin, slot)| {
            let result = slot
                .into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(format!("{pin}: pull worker failed")));
            (pin.clone(), result)
        })
        .collect()
}

/// What went wrong pulling `pin`: a refusal of the container tool's signature policy is
/// said as such, with the tool's words and where to look; any other failure as it came.
fn pull_error(pin: &str, error: &RunError) -> String {
    let refused = match error {
        RunError::Failed { stderr, .. } => policy_refusal(stderr),
        _ => None,
    };
    match refused {
        Some(why) => format!(
            "{pin}: refused by the signature policy: {why}; `cipug doctor` shows the policy in \
             force for its registry: sign the image, or change the policy if it should not apply"
        ),
        None => format!("{pin}: pull failed: {error}"),
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
        let text = pull_error("r/s/app@sha256:1", &refused);
        assert!(
            text.starts_with("r/s/app@sha256:1: refused by the signature policy: A signature was required, but no signature exists; `cipug doctor`"),
            "{text}"
        );
        let other = pull_error("r/s/app@sha256:1", &failed("Error: manifest unknown\n"));
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
        assert_eq!(results.get("r.io/a@sha256:1"), Some(&Ok(())));
        let failed = results
            .get("r.io/b@sha256:2")
            .unwrap()
            .as_ref()
            .unwrap_err();
        assert!(
            failed.starts_with("r.io/b@sha256:2: pull failed: "),
            "{failed}"
        );
        assert_eq!(runner.count(" pull "), 2, "{:#?}", runner.calls());
        assert!(pull_all(&config, &runner, &[]).is_empty());
        assert_eq!(runner.calls().len(), 2, "nothing to pull runs nothing");
    }
}
