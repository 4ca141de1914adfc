//! The record of an update's outcome: history events, log lines, notifications and the
//! what-changed note of each entry.

pub mod summary;
pub mod what_changed;

use crate::adapters::notify::{Notification, Notifier};
use crate::error::{exit, Error};
use crate::pipeline::history::event;
use crate::pipeline::history::{self, Event};
use crate::pipeline::select::Features;
use crate::pipeline::service::{Change, Outcome, Service};

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
