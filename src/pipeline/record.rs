//! What lasts of a run: of its selection, the notifications, the journal entries dropped,
//! the history events and summary rows; of an update's outcome, its history events, log
//! lines, notifications and the what-changed note of each entry.

use crate::adapters::notify::{Notification, Notifier};
use crate::error::{exit, Error};
use crate::pipeline::first_seen::FirstSeen;
use crate::pipeline::history::event;
use crate::pipeline::history::{self, Event};
use crate::pipeline::plan::{Change, Outcome, Service};
use crate::pipeline::select::{already_recorded_held, Features, Inputs, Selected};
use crate::pipeline::summary::{self, Row};
use crate::pipeline::what_changed;

/// What the selection of a run leaves for its exit code, summary and history.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The exit codes of the services that failed.
    pub codes: Vec<u8>,
    /// The summary rows of what is not tried (failed, available, waiting, held back).
    pub rows: Vec<Row>,
    /// The history events: digests held back the first time.
    pub events: Vec<Event>,
}

/// Records what the selection found, service by service in its order, as the selection left
/// it: newer version tags announced (in `seen`), a journal entry that left nothing to finish
/// removed, notify-only digests, a failure, digests held back (a notification and a history
/// event the first time). A dry run sends, removes and records nothing; it gets the codes
/// and rows all the same.
pub fn selection(
    selected: &[Selected<'_>],
    inputs: &Inputs<'_, '_>,
    notifier: &Notifier<'_>,
    seen: &mut FirstSeen,
) -> Recorded {
    let features = inputs.features;
    let live = !inputs.options.dry_run;
    let mut recorded = Recorded::default();
    for s in selected {
        let name = &s.service.dir.name;
        if live {
            crate::pipeline::newer::announce(
                s.service,
                features.newer,
                seen,
                features.now,
                notifier,
            );
            if s.dropped {
                inputs.journal.remove(name);
            }
        }
        recorded.rows.extend(summary::of_selection(s, features.now));
        if let Some(error) = &s.failed {
            recorded.codes.push(error.exit_code());
            if live {
                let message = error.to_string();
                notifier.send(&Notification::new(name, "", None, None, "failed", &message));
            }
            continue;
        }
        if live {
            for change in &s.available {
                notifier.send(&crate::pipeline::update_policy::notification(name, change));
            }
            recorded
                .events
                .extend(held_back(name, &s.held_back, inputs.past, notifier));
        }
    }
    recorded
}

/// Notifies the digests of `name` held back the first time (not already recorded so in
/// `past`), and their history events.
fn held_back(name: &str, held: &[Change], past: &[Event], notifier: &Notifier<'_>) -> Vec<Event> {
    let mut events = Vec::new();
    for change in held {
        if already_recorded_held(past, name, change) {
            continue;
        }
        let why = history::why_held(past, name, &change.entry, change.new.as_str());
        notifier.send(&Notification::new(
            name,
            &change.entry,
            change.old.as_deref(),
            Some(change.new.as_str()),
            "held back",
            &format!("{why}; `cipug update --retry-failed` tries it again"),
        ));
        events.push(event(
            name,
            change,
            history::Outcome::HeldBack,
            (None, None),
            None,
        ));
    }
    events
}

/// The history events of an update's outcome (one per change) and the what-changed note of
/// each entry; its exit code, its log lines and notifications.
pub fn record(
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
            error,
            snapshot,
            failed_snapshot,
            ..
        } => {
            log::error!("{name}: {error}");
            codes.push(error.exit_code());
            let kind = if matches!(error, Error::Pull(_)) {
                history::Outcome::PullFailed
            } else {
                history::Outcome::Failed
            };
            (kind, (*snapshot, *failed_snapshot), Some(error.to_string()))
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

/// The changes an outcome is about.
pub fn outcome_changes(outcome: &Outcome) -> &[Change] {
    match outcome {
        Outcome::Current => &[],
        Outcome::Updated { changes, .. }
        | Outcome::RolledBack { changes, .. }
        | Outcome::Failed { changes, .. } => changes,
    }
}
