//! Pulling the new pins before anything is touched: every image a run will switch to is
//! pulled by digest (`<CONTAINER_TOOL> pull <name>@sha256:…`), all at once through a pool of
//! `PULL_JOBS` workers, with a progress bar on a terminal. A service whose pull failed is
//! then left alone: no snapshot, no `.env` write, no restart.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::adapters::container::pull_cmd;
use crate::adapters::runner::Runner;
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
                    .map_err(|e| format!("{pin}: pull failed: {e}"));
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
