//! `cipug rollback <service> [--to N]`: the undo on request. With snapshots on, the service
//! goes back to the snapshot cipug took before its latest update (or snapshot N, which must
//! belong to the service's snapper config): pins and data together. With snapshots off, the
//! pins of the latest update are put back, and the data is not restored.

use std::io::Write;

use crate::adapters::notify::{Notification, Notifier};
use crate::adapters::runner::Runner;
use crate::adapters::snapper::Snapper;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::pipeline::history::{self, Event, History};
use crate::pipeline::journal::{Journal, Pending, RollbackStep, RollingBack};
use crate::pipeline::lock::{RunLock, Wait};
use crate::pipeline::plan::{self, Service};
use crate::pipeline::rollback::{undo, UndoTarget};
use crate::pipeline::rolling_back;
use crate::services::{self, ServiceDir};

/// Runs `cipug rollback <name> [--to N]`.
pub fn run(
    config: &Config,
    runner: &dyn Runner,
    name: &str,
    to: Option<u64>,
    wait: Wait,
    out: &mut dyn Write,
) -> Result<()> {
    let _lock = RunLock::acquire(&config.state_dir, wait)?;
    let dir = services::discover(config)?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::DirNotFound(config.services_root.join(name)))?;
    let before = plan::load(&dir)?;
    let history = History::new(&config.state_dir);
    let past = history.events()?;
    let mut snapper = Snapper::new(runner);
    let (target, number, note) = if config.service_snapshot {
        to_snapshot(&mut snapper, &dir, to, &past)?
    } else {
        to_pins(&before, to, &past)?
    };
    let why = format!("cipug rollback of {name} {note}");
    let failed = journalled_undo(config, runner, &mut snapper, (&dir, target, &why), number)
        .map_err(|e| e.error)?;
    let after = plan::load(&dir)?;
    let notifier = Notifier::new(config, runner);
    let mut events = Vec::new();
    for image in &after.images {
        let old = before
            .images
            .iter()
            .find(|i| i.entry == image.entry)
            .and_then(|i| i.pinned.clone());
        if old == image.pinned {
            continue;
        }
        let line = format!(
            "rolled back {name} {} to {}",
            image.entry,
            image.pinned.as_deref().unwrap_or("(unpinned)")
        );
        writeln!(out, "{line}").map_err(|e| Error::io("standard output", e))?;
        events.push(Event {
            time: history::now(),
            service: name.to_owned(),
            entry: image.entry.clone(),
            old: old.clone(),
            new: image.pinned.clone(),
            outcome: history::Outcome::Rollback,
            snapshot_before: number,
            snapshot_failed: failed,
            message: Some(note.clone()),
        });
        notifier.send(&Notification::new(
            name,
            &image.entry,
            old.as_deref(),
            image.pinned.as_deref(),
            "rollback",
            &note,
        ));
    }
    if events.is_empty() {
        writeln!(out, "{name}: pins unchanged by the rollback {note}")
            .map_err(|e| Error::io("standard output", e))?;
    }
    if number.is_none() {
        log::warn!("{name}: {note}");
    }
    history.append(&events)
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
) -> std::result::Result<Option<u64>, crate::pipeline::rollback::UndoError> {
    let journal = Journal::new(&config.state_dir);
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
    };
    let mut record = rolling_back::recorder(&journal, &dir.name, base, progress);
    let result = undo(
        config,
        runner,
        snapper,
        (dir, target, why),
        None,
        &mut record,
    );
    journal.remove(&dir.name);
    result
}

/// Where a rollback goes, the snapshot number if any, and how to say it.
type Target = (UndoTarget, Option<u64>, String);

/// The newest `updated` event of `name` (of `entry`, when given).
fn latest_update<'e>(past: &'e [Event], name: &str, entry: Option<&str>) -> Option<&'e Event> {
    past.iter().rev().find(|e| {
        e.service == name
            && e.outcome == history::Outcome::Updated
            && entry.is_none_or(|x| e.entry == x)
    })
}

/// With snapshots: snapshot `to`, else the one before the newest update; it must belong to
/// the service's snapper config.
fn to_snapshot(
    snapper: &mut Snapper<'_>,
    dir: &ServiceDir,
    to: Option<u64>,
    past: &[Event],
) -> Result<Target> {
    let name = &dir.name;
    let snapper_config = snapper.config_for(&dir.path)?;
    let number = match to {
        Some(n) => n,
        None => latest_update(past, name, None)
            .and_then(|e| e.snapshot_before)
            .ok_or_else(|| {
                Error::Snapshot(format!(
                    "{name}: no update with a snapshot in the history; pass --to <snapshot number>"
                ))
            })?,
    };
    if !snapper.numbers(&snapper_config.config)?.contains(&number) {
        return Err(Error::Snapshot(format!(
            "snapshot {number} is not a snapshot of {name}'s snapper config {}; refusing",
            snapper_config.config
        )));
    }
    Ok((
        UndoTarget::Snapshot(number),
        Some(number),
        format!("to snapshot {number}"),
    ))
}

/// Without snapshots: each entry's pin before its newest update (data is not restored).
fn to_pins(before: &Service, to: Option<u64>, past: &[Event]) -> Result<Target> {
    let name = &before.dir.name;
    if to.is_some() {
        return Err(Error::Value(
            "--to needs snapshots (SERVICE_SNAPSHOT is off)".into(),
        ));
    }
    let pins: Vec<(String, Option<String>)> = before
        .images
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
    Ok((
        UndoTarget::Pins(pins),
        None,
        "to the previous pins only: data was not restored (SERVICE_SNAPSHOT is off)".to_owned(),
    ))
}
