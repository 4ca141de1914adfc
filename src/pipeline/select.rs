//! What a run tries for each service: its changes after tag moves, update policies,
//! held-back digests, the cool-down and the update window, and an update an interrupted run
//! left to finish. The selection is a value ([`Selected`]); it logs what it decides, and
//! what lasts of it (notifications, journal entries dropped, history events, summary rows)
//! is left to [`crate::pipeline::record::selection`].

use chrono::{DateTime, Local};

use crate::config::Config;
use crate::error::Error;
use crate::pipeline::cooldown::{self, Waiting};
use crate::pipeline::first_seen::FirstSeen;
use crate::pipeline::history::{self, Event};
use crate::pipeline::journal::{Journal, Pending};
use crate::pipeline::newer;
use crate::pipeline::plan::{self, Change, Service};
use crate::pipeline::tag_update;
use crate::pipeline::update_policy;
use crate::pipeline::window;
use crate::resolve::Resolutions;

/// One service's work: its changes to try, an interrupted update to finish, and the changes
/// not tried this run (held back, cooling down or outside the update window). `S` is the
/// service: a reference, or its index while the list of services changes.
#[derive(Debug)]
pub struct Work<S> {
    /// The service.
    pub service: S,
    /// The changes to try.
    pub changes: Vec<Change>,
    /// The update (or rollback) an interrupted run left to finish.
    pub resume: Option<Pending>,
    /// The changes not tried: held back, cooling down, waiting for the window.
    pub held: Vec<Change>,
}

/// One service's work with the service itself.
pub type Prepared<'s> = Work<&'s Service>;

impl<S> Work<S> {
    /// The same work for the service `service` names otherwise.
    pub fn with_service<T>(self, service: T) -> Work<T> {
        Work {
            service,
            changes: self.changes,
            resume: self.resume,
            held: self.held,
        }
    }

    /// Whether anything is to be restarted for it: changes to make or an update to finish.
    pub fn restarts(&self) -> bool {
        !self.changes.is_empty() || self.resume.is_some()
    }
}

/// What the selection found for one service.
#[derive(Debug)]
pub struct Selected<'s> {
    /// The service.
    pub service: &'s Service,
    /// The changes to try now.
    pub changes: Vec<Change>,
    /// The update (or rollback) an interrupted run left to finish.
    pub resume: Option<Pending>,
    /// Whether the journal holds an entry of an interrupted run that neither stopped nor
    /// wrote anything: nothing to finish, it is to be removed.
    pub dropped: bool,
    /// New digests of entries set to notify only.
    pub available: Vec<Change>,
    /// Why the entries of the service could not be worked out (then nothing else is set
    /// but `resume`).
    pub failed: Option<Error>,
    /// Digests held back after an earlier failure.
    pub held_back: Vec<Change>,
    /// Changes waiting for their cool-down.
    pub waiting: Vec<Waiting>,
    /// The changes left as they are until the service's update window opens.
    pub window: Option<Closed>,
}

/// The changes of a service outside its update window.
#[derive(Debug, Clone)]
pub struct Closed {
    /// When the window opens.
    pub opens: DateTime<Local>,
    /// The changes that wait for it.
    pub changes: Vec<Change>,
}

impl<'s> Selected<'s> {
    /// Nothing found for `service` yet.
    fn new(service: &'s Service, (resume, dropped): (Option<Pending>, bool)) -> Self {
        Selected {
            service,
            changes: Vec::new(),
            resume,
            dropped,
            available: Vec::new(),
            failed: None,
            held_back: Vec::new(),
            waiting: Vec::new(),
            window: None,
        }
    }

    /// Its work for the update; `None` for a service that failed here with nothing left to
    /// finish.
    pub fn work(self) -> Option<Prepared<'s>> {
        if self.failed.is_some() && self.resume.is_none() {
            return None;
        }
        // Waiting entries have their own row already, as held-back ones do.
        let held = self
            .held_back
            .into_iter()
            .chain(self.waiting.into_iter().map(|w| w.change))
            .chain(self.window.into_iter().flat_map(|w| w.changes))
            .collect();
        Some(Work {
            service: self.service,
            changes: self.changes,
            resume: self.resume,
            held,
        })
    }
}

/// The work of each selected service that has any (see [`Selected::work`]), in order.
pub fn work<'s>(selected: Vec<Selected<'s>>) -> Vec<Prepared<'s>> {
    selected.into_iter().filter_map(Selected::work).collect()
}

/// What the selection reads: the run's resolutions, journal, history and findings, and how
/// it was asked to select.
pub struct Inputs<'a, 'r> {
    /// Every tag resolved.
    pub resolutions: &'a Resolutions,
    /// The journal of updates in progress.
    pub journal: &'a Journal,
    /// The history so far.
    pub past: &'a [Event],
    /// What the run found out (settings, registry client, newer tags, tag moves, time).
    pub features: &'a Features<'a, 'r>,
    /// How the run was asked to select.
    pub options: Selection,
}

/// Works out each service's selection. It records when each resolved digest was first seen
/// in `seen` and logs what it decides; it sends, removes and writes nothing.
pub fn prepare<'s>(
    loaded: &'s [Service],
    inputs: &Inputs<'_, '_>,
    seen: &mut FirstSeen,
) -> Vec<Selected<'s>> {
    loaded
        .iter()
        .map(|service| select(service, inputs, seen))
        .collect()
}

/// The selection of one service.
fn select<'s>(service: &'s Service, inputs: &Inputs<'_, '_>, seen: &mut FirstSeen) -> Selected<'s> {
    let (features, options) = (inputs.features, inputs.options);
    let name = &service.dir.name;
    cooldown::record(service, inputs.resolutions, seen, features.now);
    // What an interrupted run left is finished whatever this run's resolution says.
    let left = left_by_interrupted(service, inputs.journal, options.dry_run);
    let mut selected = Selected::new(service, left);
    let split = plan::changes(service, inputs.resolutions)
        .map(|changes| tag_update::apply(service, changes, features.moves, inputs.resolutions))
        .and_then(|changes| update_policy::split(service, changes))
        .and_then(|split| Ok((split, window_opens(features, service, options)?)));
    let ((changes, available), opens) = match split {
        Ok(split) => split,
        Err(error) => {
            // A rollback or an update an interrupted run left is finished all the same (it
            // resolves nothing).
            log::error!("{name}: {error}");
            selected.failed = Some(error);
            return selected;
        }
    };
    update_policy::log_available(name, &available);
    selected.available = available;
    let (changes, held) = hold_back(service, changes, inputs.past, options.retry_failed);
    let (changes, waiting) = cool_down(inputs, service, changes, seen);
    log_held(name, &held, inputs.past);
    // Outside its window nothing of the service is touched; what an interrupted run left is
    // still finished, as it would be after a failure.
    let changes = match opens {
        Some(opens) if !changes.is_empty() => {
            window::report(name, &changes, &opens);
            selected.window = Some(Closed { opens, changes });
            Vec::new()
        }
        _ => changes,
    };
    selected.changes = changes;
    selected.held_back = held;
    selected.waiting = waiting;
    selected
}

/// The cool-down of `changes` (none for a rollout of tested pins): those to try now, an
/// older digest adopted where the newest cools down, and those that wait (each logged).
fn cool_down(
    inputs: &Inputs<'_, '_>,
    service: &Service,
    changes: Vec<Change>,
    seen: &mut FirstSeen,
) -> (Vec<Change>, Vec<Waiting>) {
    let (features, options, past) = (inputs.features, inputs.options, inputs.past);
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
    let short = |pin: &str| crate::formats::image_ref::short_pin(Some(pin));
    for change in &changes {
        if let Some(older) = &change.older {
            log::info!(
                "{name}: {} adopting {} seen {} h ago; the tag moved on to {} {} h ago",
                change.entry,
                short(change.new.as_str()),
                cooldown::hours(older.seen_ago),
                short(&older.newest),
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
    }
    (changes, waiting)
}

/// Logs the digests of `name` held back after an earlier failure.
fn log_held(name: &str, held: &[Change], past: &[Event]) {
    for change in held {
        let why = history::why_held(past, name, &change.entry, change.new.as_str());
        log::warn!(
            "{name}: {} {} {why} and is held back (--retry-failed tries it)",
            change.entry,
            change.new
        );
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
) -> crate::error::Result<Option<DateTime<Local>>> {
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
    pub moves: &'a [(String, String, crate::formats::retag::Retag)],
    /// The time of the run (seconds since the epoch).
    pub now: f64,
}

/// The update (or rollback) an interrupted run left for `service`: a rollback, an update
/// whose `.env` already holds the new pins, or one that stopped services before it died;
/// and whether its entry is one that neither wrote nor stopped anything, to be dropped.
/// A dry run finishes and drops nothing.
pub fn left_by_interrupted(
    service: &Service,
    journal: &Journal,
    dry_run: bool,
) -> (Option<Pending>, bool) {
    if dry_run {
        return (None, false);
    }
    let Some(pending) = journal.get(&service.dir.name) else {
        return (None, false);
    };
    // An interrupted rollback is finished whatever the `.env` holds now; an update that
    // wrote is finished, and what one stopped is started again on the old pins first.
    if pending.rollback.is_some() || pending.written(service) || pending.stopped.is_some() {
        return (Some(pending), false);
    }
    // The run died before it stopped or wrote anything: nothing to finish.
    (None, true)
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
