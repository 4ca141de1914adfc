//! `cipug rollback <service> [--to N] [--dry-run] [--pins-only]`: the undo on request. With
//! snapshots on, the service goes back to the snapshot cipug took before its latest update
//! (or snapshot N, which must belong to the service's snapper config): pins and data
//! together, after a snapshot of the state it replaces (`cipug=before-rollback`), whose
//! number the way back names. First it says what it reverts: the files of the service
//! folder that differ from the snapshot (`snapper status N..0`, every compose service of
//! the folder) and the pins that move. `--dry-run` only says so, and takes no lock: it reads
//! and changes nothing an update running meanwhile works on. `--pins-only` puts back the
//! pins of the snapshot's `.env` and keeps the data. With snapshots off, the pins of the
//! latest update are put back, and the data is not restored.

use std::io::Write;

use crate::adapters::notify::{Notification, Notifier};
use crate::adapters::runner::Runner;
use crate::adapters::snapper::{FileChange, Snapper};
use crate::commands::report::printable;
use crate::config::Config;
use crate::error::{Error, RestartError, Result};
use crate::formats::pins::ImageEntry;
use crate::pipeline::history::{self, Event, History};
use crate::pipeline::journal::{Journal, Pending, RollbackStep, RollingBack};
use crate::pipeline::lock::{RunLock, Wait};
use crate::pipeline::service;
use crate::pipeline::undo::rollback::{undo, Kept, UndoTarget};
use crate::pipeline::undo::rollback_preview::{self, pin_changes, PinChange};
use crate::pipeline::undo::rolling_back;
use crate::services::{self, ServiceDir};

/// How many changed files the rollback itself lists (the dry run lists them all).
const FILES_SHOWN: usize = 10;

/// How `cipug rollback` runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The snapshot to go back to, instead of the one before the latest update.
    pub to: Option<u64>,
    /// Only say what would change.
    pub dry_run: bool,
    /// Put back the pins only and keep the data.
    pub pins_only: bool,
    /// Whether to wait for a running cipug.
    pub wait: Wait,
}

/// What one rollback does, found before it does anything.
struct Plan {
    /// Where it goes.
    target: UndoTarget,
    /// The snapshot it goes back to, or takes the pins from.
    number: Option<u64>,
    /// How to say where it goes (history, notifications).
    note: String,
    /// The files it puts back; none when the data is kept.
    files: Option<Vec<FileChange>>,
    /// The pins it moves.
    pins: Vec<PinChange>,
}

fn say(out: &mut dyn Write, line: &str) -> Result<()> {
    writeln!(out, "{line}").map_err(|e| Error::io("standard output", e))
}

/// Runs `cipug rollback <name>` with `options`.
pub fn run(
    config: &Config,
    runner: &dyn Runner,
    name: &str,
    options: &Options,
    out: &mut dyn Write,
) -> Result<()> {
    // The dry run takes no lock: it neither waits for a running update nor keeps one from
    // starting, and reads without writing (not even the stale temporary files an
    // interrupted update left are removed, as loading a service otherwise does).
    let _lock = match options.dry_run {
        true => None,
        false => Some(RunLock::acquire(&config.state_dir, options.wait)?),
    };
    let dir = services::discover(config)?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::DirNotFound(config.services_root.join(name)))?;
    let live = match options.dry_run {
        true => rollback_preview::live_entries(&dir)?,
        false => service::load(&dir)?.images,
    };
    let history = History::new(&config.state_dir);
    let past = history.events()?;
    let mut snapper = Snapper::new(runner);
    let plan = if config.service_snapshot {
        to_snapshot(&mut snapper, &dir, options, &live, &past)?
    } else {
        to_pins(&dir, &live, options.to, &past)?
    };
    print_plan(out, name, &plan, options.dry_run)?;
    if options.dry_run {
        return say(out, "dry run: nothing was changed");
    }
    if options.pins_only && plan.pins.is_empty() {
        return say(out, &format!("{name}: nothing to put back"));
    }
    let outcome = undo_and_record(config, runner, &mut snapper, &dir, &live, plan, out);
    history.append(&outcome?)
}

/// What the warning says when the data is kept.
const KEPT_DATA: &str = "only the pins are put back, the data is kept: the older version may \
     not read data that a newer one migrated (a database schema, say)";

/// Runs the undo of `plan` and says how to undo it in turn; returns the history events.
fn undo_and_record(
    config: &Config,
    runner: &dyn Runner,
    snapper: &mut Snapper<'_>,
    dir: &ServiceDir,
    live: &[ImageEntry],
    plan: Plan,
    out: &mut dyn Write,
) -> Result<Vec<Event>> {
    let name = &dir.name;
    let why = match plan.number {
        Some(n) => format!("cipug: state before rollback of {name} to snapshot {n}"),
        None => format!("cipug: state before rollback of {name}"),
    };
    let kept = match journalled_undo(
        config,
        runner,
        snapper,
        (dir, plan.target, &why),
        plan.number,
    ) {
        Ok(kept) => kept,
        Err(e) => {
            if let Some(kept) = e.failed_snapshot {
                way_back(out, name, kept)?;
            }
            return Err(e.error);
        }
    };
    let events = events(
        config,
        runner,
        dir,
        live,
        (plan.number, kept),
        &plan.note,
        out,
    )?;
    if let Some(kept) = kept {
        way_back(out, name, kept)?;
    }
    Ok(events)
}

/// Says which snapshot keeps the state the rollback replaced, ending with the command that
/// puts it back.
fn way_back(out: &mut dyn Write, name: &str, kept: u64) -> Result<()> {
    say(
        out,
        &format!(
            "{}: snapshot {kept} keeps the state before the rollback; to undo the rollback, run:",
            printable(name)
        ),
    )?;
    say(
        out,
        &format!("cipug rollback {} --to {kept}", shell_words::quote(name)),
    )
}

/// Prints what the rollback changes (would change, in a dry run): the files with snapper's
/// letters (the first [`FILES_SHOWN`] of them unless a dry run) and the pins.
fn print_plan(out: &mut dyn Write, name: &str, plan: &Plan, dry_run: bool) -> Result<()> {
    let name = printable(name);
    let verb = if dry_run { "would change" } else { "changes" };
    match &plan.files {
        Some(files) if files.is_empty() => say(
            out,
            &format!("{name}: the rollback {} changes no file", plan.note),
        )?,
        Some(files) => {
            say(
                out,
                &format!(
                    "{name}: the rollback {} {verb} {} file(s) in the service folder:",
                    plan.note,
                    files.len()
                ),
            )?;
            let shown = if dry_run { files.len() } else { FILES_SHOWN };
            for file in files.iter().take(shown) {
                let path = printable(&file.path.display().to_string());
                say(out, &format!("  {} {path}", file.letters))?;
            }
            if files.len() > shown {
                say(out, &format!("  ... and {} more", files.len() - shown))?;
            }
        }
        None => say(out, &format!("{name}: the rollback {}", plan.note))?,
    }
    if plan.files.is_none() {
        say(out, &format!("warning: {KEPT_DATA}"))?;
    }
    if plan.pins.is_empty() {
        return say(out, &format!("{name}: the rollback {verb} no pin"));
    }
    say(out, &format!("{name}: pins the rollback {verb}:"))?;
    for pin in &plan.pins {
        let shown = |p: &Option<String>| printable(p.as_deref().unwrap_or("(unpinned)"));
        say(
            out,
            &format!(
                "  {}: {} -> {}",
                printable(&pin.entry),
                shown(&pin.now),
                shown(&pin.then)
            ),
        )?;
    }
    Ok(())
}

/// Says and notifies which pins the rollback moved; returns their history events.
fn events(
    config: &Config,
    runner: &dyn Runner,
    dir: &ServiceDir,
    before: &[ImageEntry],
    (number, kept): (Option<u64>, Option<u64>),
    note: &str,
    out: &mut dyn Write,
) -> Result<Vec<Event>> {
    let name = &dir.name;
    let after = service::load(dir)?;
    let notifier = Notifier::new(config, runner);
    let mut events = Vec::new();
    for image in &after.images {
        let old = before
            .iter()
            .find(|i| i.entry == image.entry)
            .and_then(|i| i.pinned.clone());
        if old == image.pinned {
            continue;
        }
        say(
            out,
            &format!(
                "rolled back {name} {} to {}",
                image.entry,
                image.pinned.as_deref().unwrap_or("(unpinned)")
            ),
        )?;
        events.push(Event {
            time: history::now(),
            service: name.to_owned(),
            entry: image.entry.clone(),
            old: old.clone(),
            new: image.pinned.clone(),
            outcome: history::Outcome::Rollback,
            snapshot_before: number,
            snapshot_failed: kept,
            message: Some(note.to_owned()),
        });
        notifier.send(&Notification::new(
            name,
            &image.entry,
            old.as_deref(),
            image.pinned.as_deref(),
            "rollback",
            note,
        ));
    }
    if events.is_empty() {
        say(
            out,
            &format!("{name}: pins unchanged by the rollback {note}"),
        )?;
    }
    Ok(events)
}

/// The newest `updated` event of `name` (of `entry`, when given).
fn latest_update<'e>(past: &'e [Event], name: &str, entry: Option<&str>) -> Option<&'e Event> {
    past.iter().rev().find(|e| {
        e.service == name
            && e.outcome == history::Outcome::Updated
            && entry.is_none_or(|x| e.entry == x)
    })
}

/// With snapshots: snapshot `--to`, else the one before the newest update; it must belong to
/// the service's snapper config. The whole folder goes back (the files `snapper status`
/// lists, the `.env` with its pins among them), or with `--pins-only` the pins of the
/// snapshot's `.env` only.
fn to_snapshot(
    snapper: &mut Snapper<'_>,
    dir: &ServiceDir,
    options: &Options,
    live: &[ImageEntry],
    past: &[Event],
) -> Result<Plan> {
    let name = &dir.name;
    let snapper_config = snapper.config_for(&dir.path)?;
    let number = match options.to {
        Some(n) => n,
        None => latest_update(past, name, None)
            .and_then(|e| e.snapshot_before)
            .ok_or_else(|| {
                Error::Snapshot(
                    format!(
                    "{name}: no update with a snapshot in the history; pass --to <snapshot number>"
                )
                    .into(),
                )
            })?,
    };
    if !snapper.numbers(&snapper_config.config)?.contains(&number) {
        return Err(Error::Snapshot(
            format!(
                "snapshot {number} is not a snapshot of {name}'s snapper config {}; refusing",
                snapper_config.config
            )
            .into(),
        ));
    }
    let then = rollback_preview::snapshot_pins(&snapper_config, dir, number);
    if options.pins_only {
        let then = then?;
        return Ok(Plan {
            pins: pin_changes(live, &then, true),
            target: UndoTarget::Pins(then),
            number: Some(number),
            note: format!("to the pins of snapshot {number} only (data kept)"),
            files: None,
        });
    }
    let pins = match then {
        Ok(then) => pin_changes(live, &then, false),
        Err(e) => {
            log::warn!("{name}: {e}; the pins the rollback puts back are not listed");
            Vec::new()
        }
    };
    Ok(Plan {
        target: UndoTarget::Snapshot(number),
        number: Some(number),
        note: format!("to snapshot {number}"),
        files: Some(snapper.status(&snapper_config, number)?),
        pins,
    })
}

/// Without snapshots: each entry's pin before its newest update (data is not restored).
fn to_pins(dir: &ServiceDir, live: &[ImageEntry], to: Option<u64>, past: &[Event]) -> Result<Plan> {
    let name = &dir.name;
    if to.is_some() {
        return Err(Error::Value(
            "--to needs snapshots (SERVICE_SNAPSHOT is off)".into(),
        ));
    }
    let pins: Vec<(String, Option<String>)> = live
        .iter()
        .filter_map(|i| {
            latest_update(past, name, Some(&i.entry)).map(|e| (i.entry.clone(), e.old.clone()))
        })
        .collect();
    if pins.is_empty() {
        return Err(Error::Value(format!(
            "{name}: no update in the history to roll back"
        )));
    }
    Ok(Plan {
        pins: pin_changes(live, &pins, true),
        target: UndoTarget::Pins(pins),
        number: None,
        note: "to the previous pins only: data was not restored (SERVICE_SNAPSHOT is off)"
            .to_owned(),
        files: None,
    })
}

/// The undo, recorded in the journal before each step, so that a run that dies in the
/// middle is finished by the next `update` (to the same snapshot); the entry is removed once
/// the undo returned.
fn journalled_undo(
    config: &Config,
    runner: &dyn Runner,
    snapper: &mut Snapper<'_>,
    (dir, target, why): (&ServiceDir, UndoTarget, &str),
    number: Option<u64>,
) -> std::result::Result<Option<u64>, crate::pipeline::undo::rollback::UndoError> {
    let journal = Journal::new(&config.state_dir);
    if journal.get(&dir.name).is_some() {
        return Err(crate::pipeline::undo::rollback::UndoError {
            error: Error::Restart(RestartError::Unfinished {
                service: dir.name.clone(),
            }),
            failed_snapshot: None,
        });
    }
    let progress = RollingBack {
        to_snapshot: number,
        pins: rolling_back::pins_of(&target),
        state_snapshot: None,
        step: RollbackStep::Started,
        why: why.to_owned(),
    };
    let base = Pending {
        snapshot_before: number,
        changes: Vec::new(),
        rollback: None,
        stopped: None,
        reached: None,
    };
    let mut record = rolling_back::recorder(&journal, &dir.name, base, progress);
    let result = undo(
        config,
        runner,
        snapper,
        (dir, target, why, Kept::BeforeRollback),
        None,
        &mut record,
    );
    // A rollback that failed before the files were back is finished by the next update.
    let restored = journal
        .get(&dir.name)
        .and_then(|p| p.rollback)
        .is_some_and(|r| r.step == RollbackStep::Restored);
    if result.is_ok() || restored {
        journal.remove(&dir.name);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(files: usize) -> Plan {
        Plan {
            target: UndoTarget::Snapshot(4),
            number: Some(4),
            note: "to snapshot 4".into(),
            files: Some(
                (0..files)
                    .map(|i| FileChange {
                        letters: "+.....".into(),
                        path: format!("data/f{i:02}").into(),
                    })
                    .collect(),
            ),
            pins: vec![PinChange {
                entry: "APP".into(),
                now: Some("r@sha256:2".into()),
                then: None,
            }],
        }
    }

    fn printed(plan: &Plan, dry_run: bool) -> String {
        let mut out = Vec::new();
        print_plan(&mut out, "svc", plan, dry_run).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_rollback_shows_the_first_files_and_the_dry_run_all() {
        let real = printed(&plan(12), false);
        assert!(
            real.starts_with("svc: the rollback to snapshot 4 changes 12 file(s)"),
            "{real}"
        );
        assert!(real.contains("  +..... data/f09\n") && !real.contains("data/f10"));
        assert!(real.contains("  ... and 2 more\n"), "{real}");
        assert!(real.contains("  APP: r@sha256:2 -> (unpinned)\n"), "{real}");
        let dry = printed(&plan(12), true);
        assert!(dry.contains("would change 12 file(s)") && dry.contains("data/f11"));
        assert!(!dry.contains("more"), "{dry}");
        assert!(printed(&plan(0), false).contains("changes no file"));
        let mut kept = plan(0);
        kept.files = None;
        assert!(printed(&kept, true).contains("warning: only the pins are put back"));
    }

    #[test]
    fn the_way_back_is_the_last_line_and_quotes_the_name() {
        let mut out = Vec::new();
        way_back(&mut out, "my svc", 12).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.lines().last(),
            Some("cipug rollback 'my svc' --to 12"),
            "{text}"
        );
    }
}
