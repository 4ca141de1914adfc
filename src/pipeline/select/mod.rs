//! What a run tries for each service: its changes after tag moves, update policies,
//! held-back digests, the cool-down and the update window, and an update an interrupted run
//! left to finish.

pub mod cooldown;
pub mod first_seen;
pub mod newer;
pub mod status;
pub mod tag_update;
pub mod update_policy;
pub mod window;

use crate::adapters::notify::{Notification, Notifier};
use crate::config::Config;
use crate::pipeline::history::event;
use crate::pipeline::history::{self, Event};
use crate::pipeline::journal::{Journal, Pending};
use crate::pipeline::record::summary::{short, Row};
use crate::pipeline::select::first_seen::FirstSeen;
use crate::pipeline::service::{self, Change, Service};

/// One service's work after resolution: its changes to try, an interrupted update to
/// finish, and the changes held back.
pub type Prepared<'s> = (&'s Service, Vec<Change>, Option<Pending>, Vec<Change>);

/// Works out each service's changes, finishes or drops journal entries, and holds back
/// digests that failed before (reported in `rows`, recorded in `events`).
pub fn prepare<'s>(
    loaded: &'s [Service],
    resolutions: &crate::resolve::Resolutions,
    (journal, past, notifier): (&Journal, &[Event], &Notifier<'_>),
    (features, seen): (&Features<'_, '_>, &mut FirstSeen),
    options: Selection,
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
        // What an interrupted run left is finished whatever this run's resolution says.
        let resume = pending_update(service, journal, options.dry_run);
        let split = service::changes(service, resolutions)
            .map(|changes| tag_update::apply(service, changes, features.moves, resolutions))
            .and_then(|changes| crate::pipeline::select::update_policy::split(service, changes))
            .and_then(|split| Ok((split, window_opens(features, service, options)?)));
        let (changes, opens) = match split {
            Ok(((changes, available), opens)) => {
                let notify = (!options.dry_run).then_some(notifier);
                rows.extend(crate::pipeline::select::update_policy::report(
                    name, &available, notify,
                ));
                (changes, opens)
            }
            Err(error) => {
                report_failed(
                    name,
                    &error,
                    (!options.dry_run).then_some(notifier),
                    (codes, rows),
                );
                if let Some(pending) = resume {
                    // A rollback or an update an interrupted run left: finished all the same
                    // (it resolves nothing).
                    prepared.push((service, Vec::new(), Some(pending), Vec::new()));
                }
                continue;
            }
        };
        let (changes, mut held) = hold_back(service, changes, past, options.retry_failed);
        let (changes, waiting) = cool_down(features, service, changes, (seen, past), options, rows);
        let notify = (!options.dry_run).then_some(notifier);
        report_held(name, &held, past, notify, (rows, events));
        // Waiting entries have their own row already, as held-back ones do.
        held.extend(waiting.into_iter().map(|w| w.change));
        // Outside its window nothing of the service is touched; what an interrupted run
        // left is still finished, as it would be after a failure.
        let changes = match opens {
            Some(opens) => {
                window::report(name, &changes, &opens, rows);
                held.extend(changes);
                Vec::new()
            }
            None => changes,
        };
        prepared.push((service, changes, resume, held));
    }
    prepared
}

/// The cool-down of `changes` (none for a rollout of tested pins): those to try now, an
/// older digest adopted where the newest cools down (logged), and those that wait (a row
/// each).
fn cool_down(
    features: &Features<'_, '_>,
    service: &Service,
    changes: Vec<Change>,
    (seen, past): (&mut FirstSeen, &[Event]),
    options: Selection,
    rows: &mut Vec<Row>,
) -> (Vec<Change>, Vec<cooldown::Waiting>) {
    let (name, now) = (&service.dir.name, features.now);
    let fallback = cooldown::Fallback {
        served: &|pin| features.native.serves(pin),
        held: &|entry, pin| {
            !options.retry_failed && history::is_held(past, name, entry, pin.as_str())
        },
    };
    let (changes, waiting) = if options.rollout {
        (changes, Vec::new())
    } else {
        cooldown::split(features.config, service, changes, (seen, &fallback), now)
    };
    for change in &changes {
        if let Some(older) = &change.older {
            log::info!(
                "{name}: {} adopting {} seen {} h ago; the tag moved on to {} {} h ago",
                change.entry,
                short(Some(change.new.as_str())),
                cooldown::hours(older.seen_ago),
                short(Some(&older.newest)),
                cooldown::hours(older.newest_ago)
            );
        }
    }
    for w in &waiting {
        log::info!(
            "{name}: {} {} is {}",
            w.change.entry,
            w.change.new,
            w.label(now)
        );
        rows.push(Row::waiting(name, w, now));
    }
    (changes, waiting)
}

/// Reports the digests of `name` held back after an earlier failure: logged, a row each,
/// and (unless `notifier` is `None`, a dry run) a notification and a history event the first
/// time.
fn report_held(
    name: &str,
    held: &[Change],
    past: &[Event],
    notifier: Option<&Notifier<'_>>,
    (rows, events): (&mut Vec<Row>, &mut Vec<Event>),
) {
    for change in held {
        let why = history::why_held(past, name, &change.entry, change.new.as_str());
        log::warn!(
            "{name}: {} {} {why} and is held back (--retry-failed tries it)",
            change.entry,
            change.new
        );
        rows.push(Row::change(name, change, "held back"));
        if let (false, Some(notifier)) = (already_recorded_held(past, name, change), notifier) {
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
    }
}

/// Reports a service whose entries could not be worked out: logged, its code and row, and
/// a notification unless `notifier` is `None` (dry run).
fn report_failed(
    name: &str,
    error: &crate::error::Error,
    notifier: Option<&Notifier<'_>>,
    (codes, rows): (&mut Vec<u8>, &mut Vec<Row>),
) {
    log::error!("{name}: {error}");
    codes.push(error.exit_code());
    rows.push(Row::failed(name, "", error));
    if let Some(notifier) = notifier {
        let message = error.to_string();
        notifier.send(&Notification::new(name, "", None, None, "failed", &message));
    }
}

/// How the run was asked to select.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    /// Nothing is changed, recorded or notified.
    pub dry_run: bool,
    /// Held-back digests are tried again.
    pub retry_failed: bool,
    /// The pins come from another host's tested run (`update --pins`): no cool-down.
    pub rollout: bool,
    /// Update windows are ignored (`--now`).
    pub ignore_windows: bool,
}

/// When the window of `service` opens, or `None` when it is open now or windows are
/// ignored; a bad `UPDATE_WINDOW` in its `.env` is the error.
fn window_opens(
    features: &Features<'_, '_>,
    service: &Service,
    options: Selection,
) -> crate::error::Result<Option<chrono::DateTime<chrono::Local>>> {
    let opens = window::opens(features.config, service, features.now)?;
    Ok(opens.filter(|_| !options.ignore_windows))
}

/// What the run found out for cool-down, tag moves and what-changed notes.
pub struct Features<'a, 'r> {
    /// The settings.
    pub config: &'a Config,
    /// The registry client for tag lists and labels.
    pub native: &'a crate::resolve::native::Native<'r>,
    /// The newer version tags found per entry.
    pub newer: &'a newer::NewerTags,
    /// The tag moves planned: (service, entry, move).
    pub moves: &'a [(String, String, crate::formats::image::retag::Retag)],
    /// The time of the run (seconds since the epoch).
    pub now: f64,
}

/// The update (or rollback) an interrupted run left for `service`: a rollback, an update
/// whose `.env` already holds the new pins, or one that stopped services before it died;
/// an entry that neither wrote nor stopped anything is dropped.
pub fn pending_update(service: &Service, journal: &Journal, dry_run: bool) -> Option<Pending> {
    if dry_run {
        return None;
    }
    journal.get(&service.dir.name).filter(|p| {
        if p.rollback.is_some() {
            // An interrupted rollback is finished whatever the `.env` holds now.
            return true;
        }
        if p.written(service) || p.stopped.is_some() {
            // Finished; or what it stopped is started again on the old pins first.
            return true;
        }
        // The run died before it stopped or wrote anything: nothing to finish.
        journal.remove(&service.dir.name);
        false
    })
}

/// Splits `changes` into those to try and those held back after an earlier failure.
pub fn hold_back(
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
pub fn already_recorded_held(past: &[Event], service: &str, change: &Change) -> bool {
    past.iter()
        .rev()
        .find(|e| e.service == service && e.entry == change.entry)
        .is_some_and(|e| {
            e.outcome == history::Outcome::HeldBack && e.new.as_deref() == Some(change.new.as_str())
        })
}
