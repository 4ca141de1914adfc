//! What lasts of a run: of its selection, the notifications, the journal entries dropped,
//! the history events and summary rows; of an update's outcome, its history events, log
//! lines, notifications and the what-changed note of each entry.

pub mod summary;
pub mod what_changed;

use crate::adapters::notify::{Notification, Notifier};
use crate::error::{exit, Error};
use crate::pipeline::history::event;
use crate::pipeline::history::{self, Event};
use crate::pipeline::record::summary::Row;
use crate::pipeline::select::first_seen::FirstSeen;
use crate::pipeline::select::{already_recorded_held, Features, Inputs, Selected};
use crate::pipeline::service::{Change, Outcome, Service};

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
            crate::pipeline::select::newer::announce(
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
                notifier.send(&crate::pipeline::select::update_policy::notification(
                    name, change,
                ));
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
            log::error!("{}", error.of_service(name));
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

#[cfg(test)]
mod tests {
    //! What a run records of its selection and of each outcome, over the recording runner
    //! (notifications by a command it records).
    use super::*;
    use crate::adapters::recording::Recording;
    use crate::config::Config;
    use crate::pipeline::fixture::{NEW, OLD};
    use crate::pipeline::journal::{Journal, Pending};
    use crate::pipeline::select::Selection;

    fn change() -> Change {
        // No old pin: the what-changed note reads no labels.
        crate::pipeline::fixture::change("APP", None, NEW)
    }

    /// The fixture service, its settings with a notification command, and the journal.
    fn service() -> (tempfile::TempDir, Config, Service, Journal) {
        let (root, mut config, dir) = crate::pipeline::fixture::service(OLD);
        config.notify_command = Some(vec!["notify-me".into()]);
        let service = crate::pipeline::service::load(&dir).unwrap();
        let journal = Journal::new(&config.state_dir);
        (root, config, service, journal)
    }

    fn selected(service: &Service) -> Selected<'_> {
        Selected {
            service,
            changes: Vec::new(),
            resume: None,
            dropped: false,
            available: Vec::new(),
            failed: None,
            held_back: Vec::new(),
            waiting: Vec::new(),
            window: None,
        }
    }

    /// Records `s` as a run (`dry_run` or not) with `past` would; what it recorded and the
    /// notifications sent.
    fn record_selection(
        (config, journal): (&Config, &Journal),
        s: &Selected<'_>,
        past: &[Event],
        dry_run: bool,
    ) -> (Recorded, usize) {
        let runner = Recording::new();
        let registries = crate::pipeline::prepare::Registries::new(config, &runner);
        let newer = crate::pipeline::select::newer::NewerTags::new();
        let features = Features {
            config,
            native: registries.native(),
            newer: &newer,
            moves: &[],
            now: 0.0,
        };
        let resolutions = crate::resolve::Resolutions::new();
        let inputs = Inputs {
            resolutions: &resolutions,
            journal,
            past,
            features: &features,
            options: Selection {
                dry_run,
                retry_failed: false,
                rollout: false,
                ignore_windows: false,
            },
        };
        let notifier = Notifier::new(config, &runner);
        let mut seen = FirstSeen::load(&config.state_dir);
        let recorded = selection(std::slice::from_ref(s), &inputs, &notifier, &mut seen);
        notifier.flush();
        (recorded, runner.count("notify-me"))
    }

    fn pending() -> Pending {
        Pending {
            snapshot_before: None,
            changes: Vec::new(),
            rollback: None,
            stopped: None,
            reached: None,
        }
    }

    #[test]
    fn a_selection_is_recorded_only_when_the_run_is_not_dry() {
        // (dry run, notifications, events, journal entry kept)
        for (dry_run, sent, events, kept) in [(false, 2, 1, false), (true, 0, 0, true)] {
            let (_root, config, service, journal) = service();
            journal.put("svc", &pending()).unwrap();
            let mut s = selected(&service);
            s.dropped = true;
            s.available = vec![change()];
            s.held_back = vec![change()];
            let (recorded, notified) = record_selection((&config, &journal), &s, &[], dry_run);
            assert_eq!(notified, sent, "dry run {dry_run}");
            assert_eq!(recorded.events.len(), events, "dry run {dry_run}");
            assert_eq!(journal.get("svc").is_some(), kept, "dry run {dry_run}");
            let outcomes: Vec<&str> = recorded.rows.iter().map(|r| r.outcome.as_str()).collect();
            assert_eq!(outcomes, ["available", "held back"], "dry run {dry_run}");
            assert!(recorded.codes.is_empty());
            if let Some(event) = recorded.events.first() {
                assert_eq!(event.outcome, history::Outcome::HeldBack);
                assert_eq!(event.new.as_deref(), Some(NEW));
            }
        }
    }

    #[test]
    fn a_digest_held_back_before_is_not_announced_again() {
        let (_root, config, service, journal) = service();
        let mut s = selected(&service);
        s.held_back = vec![change()];
        let past = [event(
            "svc",
            &change(),
            history::Outcome::HeldBack,
            (None, None),
            None,
        )];
        let (recorded, notified) = record_selection((&config, &journal), &s, &past, false);
        assert_eq!((recorded.events.len(), notified), (0, 0));
        assert_eq!(recorded.rows.len(), 1, "its row all the same");
    }

    #[test]
    fn a_service_that_failed_gets_its_code_row_and_one_notification() {
        let (_root, config, service, journal) = service();
        let mut s = selected(&service);
        s.failed = Some(Error::Env("svc/.env:3: bad".into()));
        let (recorded, notified) = record_selection((&config, &journal), &s, &[], false);
        assert_eq!(recorded.codes, [32]);
        assert_eq!(notified, 1);
        assert_eq!(recorded.rows.len(), 1);
        assert_eq!(recorded.rows[0].outcome, "failed (32)");
        assert!(recorded.events.is_empty());
    }

    #[test]
    fn each_outcome_gives_its_events_code_and_notifications() {
        let outcomes = [
            (Outcome::Current, None, None),
            (
                Outcome::Updated {
                    changes: vec![change()],
                    snapshot: Some(3),
                    recreated: Vec::new(),
                },
                Some((history::Outcome::Updated, Some(3), None)),
                None,
            ),
            (
                Outcome::RolledBack {
                    changes: vec![change()],
                    error: Error::Restart("unhealthy".into()),
                    snapshots: (Some(3), Some(4)),
                },
                Some((history::Outcome::RolledBack, Some(3), Some(4))),
                Some(exit::RESTART_ERROR),
            ),
            (
                Outcome::Failed {
                    changes: vec![change()],
                    error: Error::Pull("manifest unknown".into()),
                    snapshot: None,
                    failed_snapshot: None,
                },
                Some((history::Outcome::PullFailed, None, None)),
                Some(33),
            ),
        ];
        for (outcome, want, code) in outcomes {
            let (_root, config, service, _) = service();
            let runner = Recording::new();
            let registries = crate::pipeline::prepare::Registries::new(&config, &runner);
            let newer = crate::pipeline::select::newer::NewerTags::new();
            let features = Features {
                config: &config,
                native: registries.native(),
                newer: &newer,
                moves: &[],
                now: 0.0,
            };
            let notifier = Notifier::new(&config, &runner);
            let mut codes = Vec::new();
            let (events, notes) = record(&service, &outcome, &notifier, &features, &mut codes);
            notifier.flush();
            let got = events
                .first()
                .map(|e| (e.outcome, e.snapshot_before, e.snapshot_failed));
            assert_eq!(got, want, "{outcome:?}");
            assert_eq!(codes.first().copied(), code, "{outcome:?}");
            assert_eq!(runner.count("notify-me"), events.len(), "{outcome:?}");
            assert_eq!(notes.len(), events.len(), "{outcome:?}");
            assert_eq!(outcome_changes(&outcome).len(), events.len());
        }
    }
}
