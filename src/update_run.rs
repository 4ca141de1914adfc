//! `cipug update`: one run over all services. Takes the run lock, resolves every entry,
//! holds back digests that failed before, updates each service whose pins moved, records
//! history, sends notifications, prunes, and prints the summary.

use std::io::Write;

use crate::app::{load_services, resolve_services};
use crate::compose::Compose;
use crate::config::Config;
use crate::cooldown;
use crate::error::{exit, Error, Result};
use crate::first_seen::FirstSeen;
use crate::history::{self, Event, History};
use crate::journal::Journal;
use crate::lock::{RunLock, Wait};
use crate::metrics;
use crate::newer;
use crate::notify::{Notification, Notifier};
use crate::report::{self, Row};
use crate::runner::Runner;
use crate::services;
use crate::tag_update;
use crate::update::{self, Change, Outcome, Service, Updater};
use crate::what_changed;

/// How `update` was asked to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Print what would be done; change nothing.
    pub dry_run: bool,
    /// Try held-back digests again.
    pub retry_failed: bool,
    /// Wait for another run instead of failing.
    pub wait: Wait,
    /// Print the summary as JSON.
    pub json: bool,
}

/// Runs the update command.
pub fn run(
    config: &Config,
    runner: &dyn Runner,
    options: &Options,
    out: &mut dyn Write,
) -> Result<()> {
    let _lock = if options.dry_run {
        None
    } else {
        Some(RunLock::acquire(&config.state_dir, options.wait)?)
    };
    let dirs = services::discover(config)?;
    let mut codes: Vec<u8> = Vec::new();
    let (loaded, failed) = load_services(&dirs, &mut codes);
    let mut rows: Vec<Row> = failed
        .iter()
        .map(|(name, e)| Row::failed(name, "", e))
        .collect();
    let mut resolutions = resolve_services(config, runner, &loaded, !options.dry_run);
    let native = crate::app::native(config, runner);
    let newer = newer::find(&native, &loaded, &resolutions, config.resolve_jobs);
    let moves = tag_update::plan(config, &loaded, &newer);
    let save = !options.dry_run;
    tag_update::resolve(config, runner, &moves, &mut resolutions, save);
    let history = History::new(&config.state_dir);
    let past = history.events().unwrap_or_else(|e| {
        log::warn!("{e}; held-back digests are not known in this run");
        Vec::new()
    });
    let journal = Journal::new(&config.state_dir);
    let mut updater = Updater::new(config, runner, &journal);
    let notifier = Notifier::new(config, runner);
    let mut events = Vec::new();
    let mut updated = 0;
    let now = crate::app::now();
    let mut seen = FirstSeen::load(&config.state_dir);
    for service in &loaded {
        cooldown::record(service, &resolutions, &mut seen, now);
        if !options.dry_run {
            newer::announce(service, &newer, &mut seen, now, &notifier);
        }
        let name = &service.dir.name;
        let changes = match update::changes(service, &resolutions) {
            Ok(changes) => tag_update::apply(service, changes, &moves, &resolutions),
            Err(error) => {
                log::error!("{name}: {error}");
                codes.push(error.exit_code());
                rows.push(Row::failed(name, "", &error));
                continue;
            }
        };
        let pending = if options.dry_run {
            None
        } else {
            journal.get(name)
        };
        let resume = pending.filter(|p| {
            let written = p.changes.iter().all(|c| {
                service
                    .images
                    .iter()
                    .any(|i| i.entry == c.entry && i.pinned.as_deref() == Some(c.new.as_str()))
            });
            if !written {
                // The run died before the `.env` was written: nothing to finish.
                journal.remove(name);
            }
            written
        });
        let (changes, mut held) = hold_back(service, changes, &past, options.retry_failed);
        let (changes, waiting) = cooldown::split(config, service, changes, &mut seen, now);
        for w in &waiting {
            log::info!(
                "{name}: {} {} is {}",
                w.change.entry,
                w.change.new,
                w.label(now)
            );
            rows.push(Row::waiting(name, w, now));
        }
        for change in &held {
            log::warn!(
                "{name}: {} {} failed before and is held back (--retry-failed tries it)",
                change.entry,
                change.new
            );
            rows.push(Row::change(name, change, "held back"));
            if !already_recorded_held(&past, name, change) && !options.dry_run {
                events.push(event(
                    name,
                    change,
                    history::Outcome::HeldBack,
                    (None, None),
                    None,
                ));
            }
        }
        if options.dry_run {
            if !changes.is_empty() {
                writeln!(out, "{name}: would update")
                    .map_err(|e| Error::io("standard output", e))?;
                for line in updater.plan(service, &changes) {
                    writeln!(out, "  {line}").map_err(|e| Error::io("standard output", e))?;
                }
            }
            continue;
        }
        let outcome = match &resume {
            Some(pending) => updater.resume(service, pending),
            None => updater.update(service, changes),
        };
        match &outcome {
            // The `.env` holds the new pins but the containers may not: finish next time.
            Outcome::Failed {
                error: Error::Pull(_) | Error::Restart(_),
                ..
            } => {}
            // Nothing was journalled for a service that was already current.
            Outcome::Current => {}
            _ => journal.remove(name),
        }
        let (kind, snapshots, message) = match &outcome {
            Outcome::Current => {
                log::debug!("{name}: up to date");
                // Held-back and waiting entries have their own row already.
                held.extend(waiting.into_iter().map(|w| w.change));
                rows.extend(
                    Row::from_outcome(service, &outcome)
                        .into_iter()
                        .filter(|r| !held.iter().any(|h| h.entry == r.entry)),
                );
                continue;
            }
            Outcome::Updated { snapshot, .. } => {
                updated += 1;
                (history::Outcome::Updated, (*snapshot, None), None)
            }
            Outcome::RolledBack {
                error, snapshots, ..
            } => {
                codes.push(exit::RESTART_ERROR);
                (
                    history::Outcome::RolledBack,
                    *snapshots,
                    Some(error.to_string()),
                )
            }
            Outcome::Failed { error, .. } => {
                log::error!("{name}: {error}");
                codes.push(error.exit_code());
                (
                    history::Outcome::Failed,
                    (None, None),
                    Some(error.to_string()),
                )
            }
        };
        if let Outcome::RolledBack { changes, .. } = &outcome {
            for c in changes {
                log::error!(
                    "rolled back {name} to {}",
                    c.old.as_deref().unwrap_or("(unpinned)")
                );
            }
        }
        let mut notes = Vec::new();
        for change in outcome_changes(&outcome) {
            let note = what_changed::of_change(&native, service, change, &newer);
            let message = what_changed::message(message.as_deref(), &note);
            events.push(event(name, change, kind, snapshots, message.clone()));
            notifier.send(&Notification::new(
                name,
                &change.entry,
                change.old.as_deref(),
                Some(change.new.as_str()),
                kind.as_str(),
                message.as_deref().unwrap_or(""),
            ));
            notes.push((change.entry.clone(), note));
        }
        let first = rows.len();
        rows.extend(Row::from_outcome(service, &outcome));
        what_changed::annotate(&mut rows[first..], name, &notes);
    }
    if !options.dry_run {
        seen.save();
    }
    if let Err(e) = history.append(&events) {
        log::error!("could not record history: {e}");
        codes.push(e.exit_code());
    }
    if config.prune_images && updated > 0 && !options.dry_run {
        if let Err(e) = runner.run(&Compose::new(config).prune()) {
            log::error!("pruning images: {e}");
            codes.push(exit::TOOL_ERROR);
        }
    }
    if !options.dry_run {
        report::summary(&rows, options.json, out)?;
    }
    if !options.dry_run {
        let entries = metrics::from_update(&rows, &loaded, &newer);
        metrics::record(config, entries, crate::error::combine(&codes));
    }
    if codes.is_empty() {
        if !options.dry_run {
            log::info!("Updated services successfully");
        }
        Ok(())
    } else {
        log::error!("Encountered errors during updating!");
        Err(Error::Several(codes))
    }
}

/// Splits `changes` into those to try and those held back after an earlier failure.
fn hold_back(
    service: &Service,
    changes: Vec<Change>,
    past: &[Event],
    retry: bool,
) -> (Vec<Change>, Vec<Change>) {
    if retry {
        return (changes, Vec::new());
    }
    changes
        .into_iter()
        .partition(|c| !history::is_held(past, &service.dir.name, &c.entry, c.new.as_str()))
}

/// Whether the newest event of this entry already says this digest is held back.
fn already_recorded_held(past: &[Event], service: &str, change: &Change) -> bool {
    past.iter()
        .rev()
        .find(|e| e.service == service && e.entry == change.entry)
        .is_some_and(|e| {
            e.outcome == history::Outcome::HeldBack && e.new.as_deref() == Some(change.new.as_str())
        })
}

fn outcome_changes(outcome: &Outcome) -> &[Change] {
    match outcome {
        Outcome::Current => &[],
        Outcome::Updated { changes, .. }
        | Outcome::RolledBack { changes, .. }
        | Outcome::Failed { changes, .. } => changes,
    }
}

fn event(
    service: &str,
    change: &Change,
    outcome: history::Outcome,
    snapshots: (Option<u64>, Option<u64>),
    message: Option<String>,
) -> Event {
    Event {
        time: history::now(),
        service: service.to_owned(),
        entry: change.entry.clone(),
        old: change.old.clone(),
        new: Some(change.new.as_str().to_owned()),
        outcome,
        snapshot_before: snapshots.0,
        snapshot_failed: snapshots.1,
        message,
    }
}
