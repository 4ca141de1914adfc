//! What a run tries for each service: its changes after tag moves, update policies,
//! held-back digests, the cool-down and the update window, and an update an interrupted run
//! left to finish. The selection is a value ([`Selected`]); it logs what it decides, and
//! what lasts of it (notifications, journal entries dropped, history events, summary rows)
//! is left to [`crate::pipeline::record::selection`].

pub mod cooldown;
pub mod first_seen;
pub mod newer;
pub mod status;
pub mod tag_update;
pub mod update_policy;
pub mod window;

use chrono::{DateTime, Local};

use crate::config::Config;
use crate::error::Error;
use crate::pipeline::history::{self, Event};
use crate::pipeline::journal::{Journal, Pending};
use crate::pipeline::select::cooldown::Waiting;
use crate::pipeline::select::first_seen::FirstSeen;
use crate::pipeline::service::{self, Change, Service};
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
    let split = service::changes(service, inputs.resolutions)
        .map(|changes| tag_update::apply(service, changes, features.moves, inputs.resolutions))
        .and_then(|changes| update_policy::split(service, changes))
        .and_then(|split| Ok((split, window_opens(features, service, options)?)));
    let ((changes, available), opens) = match split {
        Ok(split) => split,
        Err(error) => {
            // A rollback or an update an interrupted run left is finished all the same (it
            // resolves nothing).
            log::error!("{}", error.of_service(name));
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
    let short = |pin: &str| crate::formats::image::reference::short_pin(Some(pin));
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
    pub moves: &'a [(String, String, crate::formats::image::retag::Retag)],
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

#[cfg(test)]
mod tests {
    //! The selection of one service over the recording runner: each reason a change is not
    //! tried, what an interrupted run left, and a dry run.
    use super::*;
    use crate::adapters::recording::Recording;
    use crate::formats::image::reference::Pin;
    use crate::formats::image::retag::Retag;
    use crate::pipeline::fixture::{NEW, OLD};
    use crate::pipeline::journal::{PendingChange, RollingBack};

    const MOVED: &str =
        "r.io/app@sha256:3333333333333333333333333333333333333333333333333333333333333333";
    /// 2026-05-06 12:00 UTC, a Wednesday in every time zone.
    const NOW: f64 = 1_778_068_800.0;

    /// How one selection is set up.
    struct Setup<'a> {
        /// Lines added to the `.env` (pinned to OLD, its tag `r.io/app:1`).
        env: &'a str,
        /// What the tag resolved to: a pin, or the registry's error.
        resolved: Result<&'a str, &'a str>,
        past: Vec<Event>,
        journal: Option<Pending>,
        moves: Vec<(String, String, Retag)>,
        options: Selection,
    }

    const RUN: Selection = Selection {
        dry_run: false,
        retry_failed: false,
        rollout: false,
        ignore_windows: false,
    };

    impl Default for Setup<'_> {
        fn default() -> Self {
            Setup {
                env: "",
                resolved: Ok(NEW),
                past: Vec::new(),
                journal: None,
                moves: Vec::new(),
                options: RUN,
            }
        }
    }

    /// What a selection found, in counts and flags.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    struct Found {
        changes: usize,
        available: usize,
        held_back: usize,
        waiting: usize,
        window: usize,
        failed: Option<u8>,
        resume: bool,
        dropped: bool,
        /// Changes not tried, as the update gets them (`None`: no work at all).
        held: Option<usize>,
    }

    /// Selects the fixture service as `setup` says; what it found, the changes to try, and
    /// whether its journal entry is still there.
    fn select_with(setup: Setup<'_>) -> (Found, Vec<Change>, bool) {
        let (_root, config, dir) = crate::pipeline::fixture::service(OLD);
        let text = std::fs::read_to_string(&dir.env_file).unwrap();
        std::fs::write(&dir.env_file, format!("{text}{}", setup.env)).unwrap();
        let service = service::load(&dir).unwrap();
        let journal = Journal::new(&config.state_dir);
        if let Some(pending) = &setup.journal {
            journal.put("svc", pending).unwrap();
        }
        let runner = Recording::new();
        let registries = crate::pipeline::prepare::Registries::new(&config, &runner);
        let newer = newer::NewerTags::new();
        let features = Features {
            config: &config,
            native: registries.native(),
            newer: &newer,
            moves: &setup.moves,
            now: NOW,
        };
        let mut resolutions = Resolutions::new();
        let resolved = setup
            .resolved
            .map(|p| Pin::parse(p).unwrap())
            .map_err(|e| crate::resolve::native::RegistryError::from(e.to_owned()).into());
        resolutions.insert("r.io/app:1".into(), resolved);
        resolutions.insert("r.io/app:2".into(), Ok(Pin::parse(MOVED).unwrap()));
        let inputs = Inputs {
            resolutions: &resolutions,
            journal: &journal,
            past: &setup.past,
            features: &features,
            options: setup.options,
        };
        let mut seen = FirstSeen::load(&config.state_dir);
        let mut all = prepare(std::slice::from_ref(&service), &inputs, &mut seen);
        assert_eq!(all.len(), 1);
        let selected = all.remove(0);
        let changes = selected.changes.clone();
        let mut found = Found {
            changes: selected.changes.len(),
            available: selected.available.len(),
            held_back: selected.held_back.len(),
            waiting: selected.waiting.len(),
            window: selected.window.as_ref().map_or(0, |w| w.changes.len()),
            failed: selected.failed.as_ref().map(Error::exit_code),
            resume: selected.resume.is_some(),
            dropped: selected.dropped,
            held: None,
        };
        found.held = selected.work().map(|w| w.held.len());
        // The selection itself removes nothing.
        (found, changes, journal.get("svc").is_some())
    }

    fn rolled_back(new: &str) -> Event {
        let change = crate::pipeline::fixture::change("APP", Some(OLD), new);
        history::event(
            "svc",
            &change,
            history::Outcome::RolledBack,
            (None, None),
            None,
        )
    }

    /// A journal entry of an update from OLD to `new`.
    fn pending(new: &str) -> Pending {
        Pending {
            snapshot_before: Some(4),
            changes: vec![PendingChange {
                entry: "APP".into(),
                old: Some(OLD.into()),
                new: new.into(),
            }],
            rollback: None,
            stopped: None,
            reached: None,
        }
    }

    #[test]
    fn each_reason_a_change_is_not_tried() {
        let tried = Found {
            changes: 1,
            held: Some(0),
            ..Found::default()
        };
        let cases: Vec<(&str, Setup<'_>, Found)> = vec![
            ("a moved digest is tried", Setup::default(), tried),
            (
                "the pin is current",
                Setup {
                    resolved: Ok(OLD),
                    ..Setup::default()
                },
                Found {
                    held: Some(0),
                    ..Found::default()
                },
            ),
            (
                "a digest rolled back before is held back",
                Setup {
                    past: vec![rolled_back(NEW)],
                    ..Setup::default()
                },
                Found {
                    held_back: 1,
                    held: Some(1),
                    ..Found::default()
                },
            ),
            (
                "--retry-failed tries it",
                Setup {
                    past: vec![rolled_back(NEW)],
                    options: Selection {
                        retry_failed: true,
                        ..RUN
                    },
                    ..Setup::default()
                },
                tried,
            ),
            (
                "another digest rolled back holds nothing",
                Setup {
                    past: vec![rolled_back(MOVED)],
                    ..Setup::default()
                },
                tried,
            ),
            (
                "a digest first seen now waits for its cool-down",
                Setup {
                    env: "SERVICE_APP_IMAGE_MIN_AGE=24\n",
                    ..Setup::default()
                },
                Found {
                    waiting: 1,
                    held: Some(1),
                    ..Found::default()
                },
            ),
            (
                "a rollout of tested pins does not cool down",
                Setup {
                    env: "SERVICE_APP_IMAGE_MIN_AGE=24\n",
                    options: Selection {
                        rollout: true,
                        ..RUN
                    },
                    ..Setup::default()
                },
                tried,
            ),
            (
                "a notify-only entry is only reported",
                Setup {
                    env: "SERVICE_APP_IMAGE_UPDATE=notify\n",
                    ..Setup::default()
                },
                Found {
                    available: 1,
                    held: Some(0),
                    ..Found::default()
                },
            ),
            (
                "outside its window the change waits",
                Setup {
                    env: "UPDATE_WINDOW=Sat 01:00-02:00\n",
                    ..Setup::default()
                },
                Found {
                    window: 1,
                    held: Some(1),
                    ..Found::default()
                },
            ),
            (
                "--now ignores the window",
                Setup {
                    env: "UPDATE_WINDOW=Sat 01:00-02:00\n",
                    options: Selection {
                        ignore_windows: true,
                        ..RUN
                    },
                    ..Setup::default()
                },
                tried,
            ),
            (
                "a bad window fails the service",
                Setup {
                    env: "UPDATE_WINDOW=Someday 01:00-02:00\n",
                    ..Setup::default()
                },
                Found {
                    failed: Some(32),
                    ..Found::default()
                },
            ),
            (
                "a tag that did not resolve fails the service",
                Setup {
                    resolved: Err("manifest unknown"),
                    ..Setup::default()
                },
                Found {
                    failed: Some(30),
                    ..Found::default()
                },
            ),
        ];
        for (what, setup, want) in cases {
            let (found, _, _) = select_with(setup);
            assert_eq!(found, want, "{what}");
        }
    }

    #[test]
    fn a_held_back_digest_outside_the_window_is_held_back_not_waiting() {
        let (found, _, _) = select_with(Setup {
            env: "UPDATE_WINDOW=Sat 01:00-02:00\n",
            past: vec![rolled_back(NEW)],
            ..Setup::default()
        });
        assert_eq!((found.held_back, found.window), (1, 0), "{found:?}");
    }

    #[test]
    fn a_tag_move_takes_the_place_of_the_pin_change() {
        let retag = Retag {
            from: "1".into(),
            to: "2".into(),
            reference: "r.io/app:2".into(),
        };
        let moves = vec![("svc".to_owned(), "APP".to_owned(), retag.clone())];
        let (found, changes, _) = select_with(Setup {
            moves,
            ..Setup::default()
        });
        assert_eq!(found.changes, 1);
        assert_eq!(changes[0].new.as_str(), MOVED);
        assert_eq!(changes[0].retag, Some(retag.clone()));
        // A move of another service's entry changes nothing here.
        let moves = vec![("other".to_owned(), "APP".to_owned(), retag)];
        let (_, changes, _) = select_with(Setup {
            moves,
            ..Setup::default()
        });
        assert_eq!((changes[0].new.as_str(), &changes[0].retag), (NEW, &None));
    }

    #[test]
    fn what_an_interrupted_run_left_is_finished_or_dropped() {
        let stopped = Pending {
            stopped: Some(crate::pipeline::journal::Stopped {
                services: vec!["app".into()],
            }),
            ..pending(NEW)
        };
        let rollback = Pending {
            rollback: Some(RollingBack {
                to_snapshot: Some(4),
                pins: Vec::new(),
                state_snapshot: None,
                step: crate::pipeline::journal::RollbackStep::Restoring,
                why: "gate".into(),
            }),
            ..pending(NEW)
        };
        // (what, entry, resolution, dry run, resumed, dropped)
        let cases = [
            (
                "the .env holds its pins",
                pending(OLD),
                Ok(NEW),
                false,
                true,
                false,
            ),
            ("it stopped services", stopped, Ok(NEW), false, true, false),
            (
                "it did nothing yet",
                pending(NEW),
                Ok(NEW),
                false,
                false,
                true,
            ),
            (
                "a rollback, whatever resolved",
                rollback.clone(),
                Err("down"),
                false,
                true,
                false,
            ),
            (
                "a dry run finishes nothing",
                rollback,
                Ok(NEW),
                true,
                false,
                false,
            ),
        ];
        for (what, entry, resolved, dry_run, resumed, dropped) in cases {
            let (found, _, kept) = select_with(Setup {
                resolved,
                journal: Some(entry),
                options: Selection { dry_run, ..RUN },
                ..Setup::default()
            });
            assert_eq!((found.resume, found.dropped), (resumed, dropped), "{what}");
            assert!(kept, "{what}: the selection removed the journal entry");
            if resumed {
                assert!(found.held.is_some(), "{what}: no work to finish it");
            }
        }
    }

    #[test]
    fn a_failed_service_has_no_work_unless_a_rollback_is_left() {
        let (found, _, _) = select_with(Setup {
            resolved: Err("down"),
            ..Setup::default()
        });
        assert_eq!(found.held, None);
    }

    #[test]
    fn held_changes_come_held_back_then_waiting_then_outside_the_window() {
        let (_root, _config, dir) = crate::pipeline::fixture::service(OLD);
        let service = service::load(&dir).unwrap();
        let change = |entry: &str| crate::pipeline::fixture::change(entry, Some(OLD), NEW);
        let mut selected = Selected::new(&service, (None, false));
        selected.held_back = vec![change("A")];
        selected.waiting = vec![Waiting {
            change: change("B"),
            adopt_after: NOW,
        }];
        selected.window = Some(Closed {
            opens: Local::now(),
            changes: vec![change("C")],
        });
        let work = selected.work().unwrap();
        let entries: Vec<&str> = work.held.iter().map(|c| c.entry.as_str()).collect();
        assert_eq!(entries, ["A", "B", "C"]);
        assert!(!work.restarts());
    }
}
