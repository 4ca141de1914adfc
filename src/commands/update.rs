//! `cipug update`: one run over all services. Takes the run lock, resolves every entry,
//! holds back digests that failed before, updates each service whose pins moved, records
//! history, sends notifications, prunes, and prints the summary.

use std::collections::BTreeMap;
use std::io::Write;

use crate::adapters::compose::Compose;
use crate::adapters::notify::{Notification, Notifier};
use crate::adapters::runner::Runner;
use crate::commands::metrics;
use crate::commands::report;
use crate::config::Config;
use crate::error::{exit, Error, Result};
use crate::pipeline::apply::Updater;
use crate::pipeline::cooldown;
use crate::pipeline::first_seen::FirstSeen;
use crate::pipeline::history::{self, Event, History};
use crate::pipeline::journal::{Journal, Pending};
use crate::pipeline::lock::{RunLock, Wait};
use crate::pipeline::newer;
use crate::pipeline::plan::{self, Change, Outcome, Service};
use crate::pipeline::prepare::{load_services, resolve_services};
use crate::pipeline::pull;
use crate::pipeline::summary::Row;
use crate::pipeline::tag_update;
use crate::pipeline::what_changed;
use crate::services;

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
    let native = crate::pipeline::prepare::native(config, runner);
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
    let now = crate::pipeline::prepare::now();
    let mut seen = FirstSeen::load(&config.state_dir);
    let features = Features {
        config,
        native: &native,
        newer: &newer,
        moves: &moves,
        now,
    };
    let prepared = prepare(
        &loaded,
        &resolutions,
        (&journal, &past, &notifier),
        (&features, &mut seen),
        options,
        (&mut codes, &mut rows, &mut events),
    );
    let has_work = prepared
        .iter()
        .any(|(_, changes, resume, _)| !changes.is_empty() || resume.is_some());
    let compose_broken = if has_work && !options.dry_run {
        check_compose_tool(config, runner)
    } else {
        None
    };
    let pulls = if has_work && !options.dry_run && config.service_pull {
        let pins: Vec<String> = prepared
            .iter()
            .flat_map(|(_, changes, resume, _)| new_pins(changes, resume.as_ref()))
            .collect();
        pull::pull_all(config, runner, &pins)
    } else {
        BTreeMap::new()
    };
    for (service, changes, resume, held) in prepared {
        let name = &service.dir.name;
        if options.dry_run {
            if !changes.is_empty() {
                writeln!(out, "{name}: would update")
                    .map_err(|e| Error::io("standard output", e))?;
                let hook = |key| {
                    crate::adapters::hooks::command(&service.env, &service.dir, key)
                        .ok()
                        .flatten()
                };
                let pre = hook(crate::adapters::hooks::PRE)
                    .map(|c| format!("{}: {c}", crate::adapters::hooks::PRE));
                let post = hook(crate::adapters::hooks::POST)
                    .map(|c| format!("{}: {c}", crate::adapters::hooks::POST));
                let plan = updater.plan(service, &changes);
                for line in pre.into_iter().chain(plan).chain(post) {
                    writeln!(out, "  {line}").map_err(|e| Error::io("standard output", e))?;
                }
            }
            continue;
        }
        let outcome =
            match prepared_failure(name, &changes, resume.as_ref(), &compose_broken, &pulls) {
                Some(error) => Outcome::Failed {
                    changes: attempted(changes, resume.as_ref()),
                    error,
                    snapshot: None,
                },
                None => match &resume {
                    Some(pending) => updater.resume(service, pending),
                    None if changes.is_empty() => updater.update(service, changes),
                    // The service's own pre-update command first (after the pulls, before
                    // anything is touched); its failure cancels the update.
                    None => match crate::adapters::hooks::run(
                        runner,
                        &service.env,
                        &service.dir,
                        crate::adapters::hooks::PRE,
                    ) {
                        Ok(()) => updater.update(service, changes),
                        Err(error) => Outcome::Failed {
                            changes,
                            error,
                            snapshot: None,
                        },
                    },
                },
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
        if let Outcome::Current = outcome {
            log::debug!("{name}: up to date");
            // Held-back and notify-only entries have their own row already.
            let current: Vec<Row> = Row::from_outcome(service, &outcome)
                .into_iter()
                .filter(|r| !held.iter().any(|h| h.entry == r.entry))
                .filter(|r| {
                    !rows
                        .iter()
                        .any(|x| x.service == r.service && x.entry == r.entry)
                })
                .collect();
            rows.extend(current);
            continue;
        }
        if let Outcome::Updated { .. } = outcome {
            updated += 1;
            if let Err(e) = crate::adapters::hooks::run(
                runner,
                &service.env,
                &service.dir,
                crate::adapters::hooks::POST,
            ) {
                log::error!("{name}: {e}");
                codes.push(e.exit_code());
            }
        }
        let (recorded, notes) = record(service, &outcome, &notifier, &features, &mut codes);
        events.extend(recorded);
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

/// One service's work after resolution: its changes to try, an interrupted update to
/// finish, and the changes held back.
type Prepared<'s> = (&'s Service, Vec<Change>, Option<Pending>, Vec<Change>);

/// Works out each service's changes, finishes or drops journal entries, and holds back
/// digests that failed before (reported in `rows`, recorded in `events`).
fn prepare<'s>(
    loaded: &'s [Service],
    resolutions: &crate::resolve::Resolutions,
    (journal, past, notifier): (&Journal, &[Event], &Notifier<'_>),
    (features, seen): (&Features<'_, '_>, &mut FirstSeen),
    options: &Options,
    (codes, rows, events): (&mut Vec<u8>, &mut Vec<Row>, &mut Vec<Event>),
) -> Vec<Prepared<'s>> {
    let now = features.now;
    let mut prepared = Vec::new();
    for service in loaded {
        let name = &service.dir.name;
        cooldown::record(service, resolutions, seen, now);
        if !options.dry_run {
            newer::announce(service, features.newer, seen, now, notifier);
        }
        let split = plan::changes(service, resolutions)
            .map(|changes| tag_update::apply(service, changes, features.moves, resolutions))
            .and_then(|changes| crate::pipeline::update_policy::split(service, changes));
        let changes = match split {
            Ok((changes, available)) => {
                let notify = (!options.dry_run).then_some(notifier);
                rows.extend(crate::pipeline::update_policy::report(
                    name, &available, notify,
                ));
                changes
            }
            Err(error) => {
                log::error!("{name}: {error}");
                codes.push(error.exit_code());
                rows.push(Row::failed(name, "", &error));
                if !options.dry_run {
                    let message = error.to_string();
                    notifier.send(&Notification::new(name, "", None, None, "failed", &message));
                }
                continue;
            }
        };
        let resume = pending_update(service, journal, options.dry_run);
        let (changes, mut held) = hold_back(service, changes, past, options.retry_failed);
        let (changes, waiting) = cooldown::split(features.config, service, changes, seen, now);
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
            if !already_recorded_held(past, name, change) && !options.dry_run {
                notifier.send(&Notification::new(
                    name,
                    &change.entry,
                    change.old.as_deref(),
                    Some(change.new.as_str()),
                    "held back",
                    "failed before; `cipug update --retry-failed` tries it again",
                ));
                events.push(event(
                    name,
                    change,
                    history::Outcome::HeldBack,
                    (None, None),
                    None,
                ));
            }
        }
        // Waiting entries have their own row already, as held-back ones do.
        held.extend(waiting.into_iter().map(|w| w.change));
        prepared.push((service, changes, resume, held));
    }
    prepared
}

/// What the run found out for cool-down, tag moves and what-changed notes.
struct Features<'a, 'r> {
    config: &'a Config,
    native: &'a crate::resolve::native::Native<'r>,
    newer: &'a newer::NewerTags,
    moves: &'a [(String, String, crate::formats::retag::Retag)],
    now: f64,
}

/// Why a service cannot be updated after the preparation (compose tool broken, a pull
/// failed), before anything of it was touched.
fn prepared_failure(
    name: &str,
    changes: &[Change],
    resume: Option<&Pending>,
    compose_broken: &Option<String>,
    pulls: &BTreeMap<String, Result<(), String>>,
) -> Option<Error> {
    if changes.is_empty() && resume.is_none() {
        return None;
    }
    if let Some(error) = compose_broken {
        return Some(Error::Compose(format!("{name}: {error}")));
    }
    let failed: Vec<&str> = new_pins(changes, resume)
        .iter()
        .filter_map(|pin| match pulls.get(pin) {
            Some(Err(e)) => Some(e.as_str()),
            _ => None,
        })
        .collect();
    // Pulled before anything was touched: the service and its `.env` are as they were.
    (!failed.is_empty()).then(|| Error::Pull(failed.join("; ")))
}

/// The history events of an update's outcome (one per change) and the what-changed note of
/// each entry; its exit code, its log lines and notifications.
fn record(
    service: &Service,
    outcome: &Outcome,
    notifier: &Notifier<'_>,
    features: &Features<'_, '_>,
    codes: &mut Vec<u8>,
) -> (Vec<Event>, Vec<(String, String)>) {
    let name = &service.dir.name;
    let (kind, snapshots, message) = match outcome {
        Outcome::Current => return (Vec::new(), Vec::new()),
        Outcome::Updated { snapshot, .. } => (history::Outcome::Updated, (*snapshot, None), None),
        Outcome::RolledBack {
            error,
            snapshots,
            changes,
        } => {
            codes.push(exit::RESTART_ERROR);
            for c in changes {
                log::warn!(
                    "rolled back {name} to {}",
                    c.old.as_deref().unwrap_or("(unpinned)")
                );
            }
            (
                history::Outcome::RolledBack,
                *snapshots,
                Some(error.to_string()),
            )
        }
        Outcome::Failed {
            error, snapshot, ..
        } => {
            log::error!("{name}: {error}");
            codes.push(error.exit_code());
            let kind = if matches!(error, Error::Pull(_)) {
                history::Outcome::PullFailed
            } else {
                history::Outcome::Failed
            };
            (kind, (*snapshot, None), Some(error.to_string()))
        }
    };
    let mut events = Vec::new();
    let mut notes = Vec::new();
    for change in outcome_changes(outcome) {
        let note = what_changed::of_change(features.native, service, change, features.newer);
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
    (events, notes)
}

/// The update an interrupted run left for `service`, if its `.env` already holds the new
/// pins; an entry whose pins were never written is dropped.
fn pending_update(service: &Service, journal: &Journal, dry_run: bool) -> Option<Pending> {
    if dry_run {
        return None;
    }
    journal.get(&service.dir.name).filter(|p| {
        let written = p.changes.iter().all(|c| {
            service
                .images
                .iter()
                .any(|i| i.entry == c.entry && i.pinned.as_deref() == Some(c.new.as_str()))
        });
        if !written {
            // The run died before the `.env` was written: nothing to finish.
            journal.remove(&service.dir.name);
        }
        written
    })
}

/// Checks once per run that the compose tool starts; the error, if it does not.
fn check_compose_tool(config: &Config, runner: &dyn Runner) -> Option<String> {
    let compose = Compose::new(config);
    if !compose.needed() {
        return None;
    }
    runner
        .run(&compose.version())
        .err()
        .map(|e| format!("the compose tool does not work: {e}"))
}

/// The pins a service's update switches to.
fn new_pins(changes: &[Change], resume: Option<&Pending>) -> Vec<String> {
    match resume {
        Some(pending) => pending.changes.iter().map(|c| c.new.clone()).collect(),
        None => changes.iter().map(|c| c.new.as_str().to_owned()).collect(),
    }
}

/// The changes an update would have made, for the report of one that could not start.
fn attempted(changes: Vec<Change>, resume: Option<&Pending>) -> Vec<Change> {
    match resume {
        Some(pending) => pending
            .changes
            .iter()
            .filter_map(|c| {
                Some(Change {
                    entry: c.entry.clone(),
                    old: c.old.clone(),
                    new: crate::formats::image_ref::Pin::parse(&c.new).ok()?,
                    retag: None,
                })
            })
            .collect(),
        None => changes,
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
