//! `cipug update`: one run over all services. Takes the run lock, resolves every entry,
//! holds back digests that failed before, updates each service whose pins moved, records
//! history, sends notifications, prunes, and prints the summary.

pub mod plan;
pub mod rollout;
mod tally;

use tally::Tally;

use std::io::Write;

use crate::adapters::compose::Compose;
use crate::adapters::notify::Notifier;
use crate::adapters::runner::Runner;
use crate::commands::metrics;
use crate::commands::report;
use crate::commands::update::plan::{
    by_index, detect_for_restarts, in_dependency_order, print_plans, targets, Flavour,
};
use crate::config::Config;
use crate::error::{exit, Result};
use crate::pipeline::apply::{Progress, Started, Updater};
use crate::pipeline::checks::{attempted, prepared_failure, Checks};
use crate::pipeline::gate::slots::GateSlots;
use crate::pipeline::history::{Event, History};
use crate::pipeline::journal::{Journal, Pending};
use crate::pipeline::lock::{RunLock, Wait};
use crate::pipeline::prepare::{load_services, Registries};
use crate::pipeline::project::dependents::restart::bring_up;
use crate::pipeline::project::dependents::Graph;
use crate::pipeline::record::summary::Row;
use crate::pipeline::select::first_seen::FirstSeen;
use crate::pipeline::select::newer::NewerTags;
use crate::pipeline::select::{prepare, Features, Inputs, Prepared, Selection};
use crate::pipeline::service::{Change, Outcome, Service};
use crate::services;

/// How `update` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Print what would be done; change nothing.
    pub dry_run: bool,
    /// Try held-back digests again.
    pub retry_failed: bool,
    /// Wait for another run instead of failing.
    pub wait: Wait,
    /// Print the summary as JSON.
    pub json: bool,
    /// Roll out these pins instead of resolving tags (`--pins FILE`, `-` for standard
    /// input): see [`crate::commands::update::rollout`].
    pub pins: Option<String>,
    /// Update services outside their update window too.
    pub ignore_windows: bool,
}

/// Runs the update command.
pub fn run(
    config: &Config,
    runner: &dyn Runner,
    options: &Options,
    out: &mut dyn Write,
) -> Result<()> {
    // Whether the compose tool passes an ENV_FILE_NAME other than .env only its version
    // says: asked first then, since the answer can stop the run before anything changed.
    // Otherwise it is asked once a service is to be restarted, and not at all when nothing
    // changes.
    if config.env_file_name == ".env" {
        return update(config, runner, options, out, Flavour::WhenRestarting);
    }
    match crate::commands::with_compose_flavour(config, runner)? {
        Some(detected) => update(&detected, runner, options, out, Flavour::Known),
        None => update(config, runner, options, out, Flavour::Known),
    }
}

/// The update of every service, with the compose tool's flavour known or not yet.
fn update(
    config: &Config,
    runner: &dyn Runner,
    options: &Options,
    out: &mut dyn Write,
    flavour: Flavour,
) -> Result<()> {
    let _lock = (!options.dry_run)
        .then(|| RunLock::acquire(&config.state_dir, options.wait))
        .transpose()?;
    let pins = options.pins.as_deref().map(rollout::read).transpose()?;
    let dirs = services::discover(config)?;
    let mut tally = Tally::default();
    let (mut all_loaded, failed) = load_services(&dirs, &mut tally.codes);
    tally.rows = failed.iter().map(|(n, e)| Row::failed(n, "", e)).collect();
    let registries = Registries::new(config, runner);
    let native = registries.native();
    let (mut loaded, resolutions, newer, moves) = targets(
        config,
        &registries,
        (&all_loaded, pins.as_ref()),
        !options.dry_run,
        &mut tally.rows,
    );
    let history = History::new(&config.state_dir);
    let past = past_events(&history);
    let journal = Journal::new(&config.state_dir);
    let notifier = Notifier::new(config, runner);
    let mut seen = FirstSeen::load(&config.state_dir);
    let features = Features {
        config,
        native,
        newer: &newer,
        moves: &moves,
        now: crate::pipeline::prepare::now(),
    };
    let inputs = Inputs {
        resolutions: &resolutions,
        journal: &journal,
        past: &past,
        features: &features,
        options: Selection {
            dry_run: options.dry_run,
            retry_failed: options.retry_failed,
            rollout: pins.is_some(),
            ignore_windows: options.ignore_windows,
        },
    };
    let prepared = select(&loaded, &inputs, (&notifier, &mut seen), &mut tally);
    let work = by_index(&loaded, prepared);
    let detected = detect_for_restarts(config, runner, (flavour, &work), &mut loaded)?;
    let config = detected.as_ref().unwrap_or(config);
    reread_projects(detected.as_ref(), &mut all_loaded);
    let features = Features { config, ..features };
    let (graph, work) = in_dependency_order(config, runner, &all_loaded, &loaded, work);
    let prepared: Vec<Prepared<'_>> = work
        .into_iter()
        .filter_map(|w| loaded.get(w.service).map(|s| w.with_service(s)))
        .collect();
    let mut updater = Updater::new(config, runner, &journal).knowing(&graph);
    if options.dry_run {
        print_plans((config, &mut updater), &graph, &prepared, out)?;
        return tally.result(options);
    }
    let checks = Checks::run(config, runner, &prepared);
    let context = Context {
        config,
        runner,
        journal: &journal,
        notifier: &notifier,
        features: &features,
        graph: &graph,
        services: &all_loaded,
    };
    update_all(&mut updater, &context, &checks, prepared, &mut tally);
    seen.save();
    record_and_prune(config, runner, (&history, &notifier), &mut tally);
    report_run(config, (&dirs, &all_loaded, &newer), &tally, options, out)
}

/// The summary printed and the metrics file written at the end of a run; its result.
fn report_run(
    config: &Config,
    (dirs, loaded, newer): (&[services::ServiceDir], &[Service], &NewerTags),
    tally: &Tally,
    options: &Options,
    out: &mut dyn Write,
) -> Result<()> {
    report::summary(&tally.rows, options.json, out)?;
    let entries = metrics::from_update(&tally.rows, loaded, newer);
    metrics::record(config, dirs, entries, crate::error::combine(&tally.codes));
    tally.result(options)
}

/// Each service's work as the selection found it; what lasts of the selection (its
/// notifications, journal entries dropped, history events, rows and codes) recorded first.
fn select<'s>(
    loaded: &'s [Service],
    inputs: &Inputs<'_, '_>,
    (notifier, seen): (&Notifier<'_>, &mut FirstSeen),
    tally: &mut Tally,
) -> Vec<Prepared<'s>> {
    let selected = prepare(loaded, inputs, seen);
    let recorded = crate::pipeline::record::selection(&selected, inputs, notifier, seen);
    tally.codes.extend(recorded.codes);
    tally.rows.extend(recorded.rows);
    tally.events.extend(recorded.events);
    crate::pipeline::select::work(selected)
}

/// The history so far; empty (with a warning) when it cannot be read.
fn past_events(history: &History) -> Vec<Event> {
    history.events().unwrap_or_else(|e| {
        log::warn!("{e}; held-back digests are not known in this run");
        Vec::new()
    })
}

/// Each service's project name read again as the compose tool `detected` derives it.
fn reread_projects(detected: Option<&Config>, services: &mut [Service]) {
    for service in services.iter_mut() {
        if let Some(detected) = detected {
            service.dir.read_project(detected);
        }
    }
}

/// After the updates: appends the run's events to the history, sends the notifications and
/// prunes images when something was updated; a failure counts in the run's exit code.
fn record_and_prune(
    config: &Config,
    runner: &dyn Runner,
    (history, notifier): (&History, &Notifier),
    tally: &mut Tally,
) {
    if let Err(e) = history.append(&tally.events) {
        log::error!("could not record history: {e}");
        tally.codes.push(e.exit_code());
    }
    notifier.flush();
    prune(config, runner, tally);
}

/// Removes unused images after a run that updated something (`PRUNE_IMAGES`).
fn prune(config: &Config, runner: &dyn Runner, tally: &mut Tally) {
    if config.prune_images && tally.updated > 0 {
        if let Err(e) = runner.run(&Compose::new(config).prune()) {
            log::error!("pruning images: {e}");
            tally.codes.push(exit::TOOL_ERROR);
        }
    }
}

/// Updates each service in turn, all but the health gates; each started service's gate is
/// waited for in a thread of its own meanwhile ([`GateSlots`] lets a few look at a time).
/// Then each outcome is finished (rolled back if its gate failed) and recorded in `tally`,
/// in the order of `prepared`.
fn update_all(
    updater: &mut Updater<'_>,
    context: &Context<'_>,
    checks: &Checks,
    prepared: Vec<Prepared<'_>>,
    tally: &mut Tally,
) {
    let slots = GateSlots::default();
    std::thread::scope(|scope| {
        let mut steps = Vec::new();
        for Prepared {
            service,
            changes,
            resume,
            held,
        } in prepared
        {
            let step = match apply(updater, context, checks, service, changes, resume) {
                Progress::Done(outcome) => Waiting::Done(outcome),
                Progress::Started(started) if has_dependents(context, service) => {
                    // Its dependents in other folders start once it passed its gate, before
                    // the next service goes on.
                    let verdict = started.start(context.runner).and_then(|()| {
                        slots.run(|| started.gate(context.config, context.runner, service))
                    });
                    Waiting::Done(updater.finish(service, started, verdict))
                }
                Progress::Started(started) => {
                    // The start runs in the gate's thread; the next service goes on once
                    // the containers run (or the start ended).
                    let watch = started.watch(service);
                    let (ended, end) = std::sync::mpsc::channel();
                    let slots = &slots;
                    let gate = scope.spawn(move || {
                        let start = started.start(context.runner);
                        let _ = ended.send(());
                        let verdict = start.and_then(|()| {
                            slots.run(|| started.gate(context.config, context.runner, service))
                        });
                        (started, verdict)
                    });
                    watch.wait(context.config, context.runner, &end);
                    Waiting::Gate(gate)
                }
            };
            let taken = updater.taken_down();
            let restarted = if has_dependents(context, service) {
                let (config, runner) = (context.config, context.runner);
                let (graph, all) = (context.graph, context.services);
                bring_up(config, runner, graph, all, &service.dir.name, &taken)
            } else {
                Vec::new()
            };
            steps.push((service, held, step, restarted));
        }
        for (service, held, step, restarted) in steps {
            let outcome = match step {
                Waiting::Done(outcome) => outcome,
                Waiting::Gate(handle) => match handle.join() {
                    Ok((started, verdict)) => updater.finish(service, started, verdict),
                    Err(panic) => std::panic::resume_unwind(panic),
                },
            };
            tally.add(context, service, &outcome, &held);
            tally.add_restarted(&restarted);
        }
    });
}

/// Whether other folders depend on `service`.
fn has_dependents(context: &Context<'_>, service: &Service) -> bool {
    !context.graph.dependents(&service.dir.name).is_empty()
}

/// A service's update as the run goes: ended, or waiting for its gate in a thread.
enum Waiting<'s> {
    Done(Outcome),
    Gate(std::thread::ScopedJoinHandle<'s, (Started, Result<Vec<String>>)>),
}

/// What every service's update shares.
struct Context<'a> {
    config: &'a Config,
    runner: &'a dyn Runner,
    journal: &'a Journal,
    notifier: &'a Notifier<'a>,
    features: &'a Features<'a, 'a>,
    /// The dependencies between the service folders.
    graph: &'a Graph,
    /// Every service of the run, in its order.
    services: &'a [Service],
}

/// Updates one service (or finishes its interrupted update), all but its health gate,
/// unless the run's checks failed for it; its own pre-update command runs first, after the
/// pulls and before anything is touched, and its failure cancels the update.
fn apply(
    updater: &mut Updater<'_>,
    context: &Context<'_>,
    checks: &Checks,
    service: &Service,
    changes: Vec<Change>,
    resume: Option<Pending>,
) -> Progress {
    let name = &service.dir.name;
    // An update that died after it stopped services and before it wrote the new pins: they
    // run on the old pins again before anything else (the changes of this run follow).
    let resume = match resume {
        Some(pending) if pending.rollback.is_none() && !pending.written(service) => {
            updater.start_stopped(service, &pending);
            context.journal.remove(name);
            None
        }
        other => other,
    };
    let failure = prepared_failure(name, &changes, resume.as_ref(), checks);
    if let Some(error) = failure {
        return Progress::Done(Outcome::Failed {
            changes: attempted(changes, resume.as_ref()),
            error,
            snapshot: None,
            failed_snapshot: None,
        });
    }
    if resume.is_some() || changes.is_empty() {
        return updater.start_update(service, changes, resume.as_ref());
    }
    let pre = crate::adapters::hooks::PRE;
    match crate::adapters::hooks::run(context.runner, &service.env, &service.dir, pre) {
        Ok(()) => updater.start_update(service, changes, None),
        Err(error) => Progress::Done(Outcome::Failed {
            changes,
            error,
            snapshot: None,
            failed_snapshot: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::tally::counts;
    use super::*;
    use crate::adapters::recording::Recording;
    use crate::error::Error;

    const OLD: &str =
        "r.invalid/app@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str =
        "r.invalid/app@sha256:2222222222222222222222222222222222222222222222222222222222222222";

    /// A service `svc` following `r.invalid/app:latest`, pinned to `pin`, whose tag skopeo
    /// resolves (through the recording runner) to `latest`; the settings of one run.
    fn service(pin: &str, latest: &str) -> (tempfile::TempDir, Config, Recording) {
        let (root, mut config, dir) = crate::pipeline::fixture::service(pin);
        std::fs::write(
            &dir.env_file,
            format!(
                "SERVICE_APP_IMAGE_TAGGED=r.invalid/app:latest\nSERVICE_APP_IMAGE_HASHED={pin}\n"
            ),
        )
        .unwrap();
        config.resolver = crate::config::ResolverKind::Skopeo;
        config.cache_duration = 0;
        config.cache_location = root.path().join("cache.json");
        let (name, digest) = latest.split_once('@').unwrap();
        let inspect = serde_json::json!({"Name": name, "Digest": digest});
        let runner = Recording::new()
            .answer("skopeo inspect", &inspect.to_string())
            .answer("podman-compose version", "podman-compose version 1.6.0\n");
        (root, config, runner)
    }

    fn update(config: &Config, runner: &Recording, dry_run: bool) -> Result<()> {
        let options = Options {
            dry_run,
            retry_failed: false,
            wait: Wait::No,
            json: false,
            pins: None,
            ignore_windows: false,
        };
        run(config, runner, &options, &mut Vec::new())
    }

    #[test]
    fn a_run_with_nothing_to_change_runs_no_compose_command() {
        for dry_run in [false, true] {
            let (_root, config, runner) = service(OLD, OLD);
            update(&config, &runner, dry_run).unwrap();
            let calls = runner.calls();
            assert!(
                calls.iter().all(|c| c.starts_with("skopeo inspect")),
                "dry run {dry_run}: {calls:#?}"
            );
            assert_eq!(runner.count("skopeo inspect"), 1);
        }
    }

    #[test]
    fn a_run_that_restarts_asks_the_compose_tool_once_before_it_uses_it() {
        let (_root, mut config, runner) = service(OLD, NEW);
        // No snapshot, so that the update goes on to the compose tool's start.
        config.service_snapshot = false;
        let _ = update(&config, &runner, false);
        let calls = runner.calls();
        assert_eq!(runner.count("podman-compose version"), 1, "{calls:#?}");
        let asked = calls
            .iter()
            .position(|c| c.contains("podman-compose version"))
            .unwrap();
        let used = calls
            .iter()
            .position(|c| c.starts_with("podman-compose") && !c.contains("podman-compose version"))
            .unwrap();
        assert!(asked < used, "{calls:#?}");
    }

    #[test]
    fn a_project_named_in_the_env_is_read_once_the_tool_is_known() {
        let (root, config, runner) = service(OLD, NEW);
        let env = root.path().join("svc/.env");
        let text = std::fs::read_to_string(&env).unwrap();
        std::fs::write(&env, format!("COMPOSE_PROJECT_NAME=custom\n{text}")).unwrap();
        let _ = update(&config, &runner, false);
        let calls = runner.calls();
        let listed = |project: &str| {
            let label = format!("label=com.docker.compose.project={project}");
            calls.iter().any(|c| c.contains(&label))
        };
        // podman-compose 1.6 names the project after COMPOSE_PROJECT_NAME.
        assert!(listed("custom"), "{calls:#?}");
        assert!(!listed("svc"), "{calls:#?}");
    }

    #[test]
    fn an_env_file_name_the_tool_cannot_pass_stops_the_run_before_anything() {
        let (_root, mut config, _) = service(OLD, OLD);
        config.env_file_name = "app.env".into();
        let runner =
            Recording::new().answer("podman-compose version", "podman-composer version  1.0.3\n");
        let err = update(&config, &runner, false).unwrap_err();
        assert_eq!(err.exit_code(), exit::VALUE_ERROR, "{err}");
        assert_eq!(runner.calls().len(), 1, "{:#?}", runner.calls());
    }

    #[test]
    fn the_last_line_counts_what_happened() {
        let row = |outcome: &str| Row {
            outcome: outcome.to_owned(),
            ..Row::failed("svc", "APP", &Error::Value(String::new()))
        };
        let rows = [
            "updated",
            "current",
            "waiting (3 h left)",
            "waiting for window (opens Sat 01:00)",
            "failed (33)",
            "rolled back (34)",
            "held back",
        ]
        .map(row);
        assert_eq!(
            counts(&rows),
            "1 updated, 3 unchanged, 2 failed, 1 held back"
        );
        assert_eq!(counts(&[]), "0 updated, 0 unchanged, 0 failed, 0 held back");
    }
}
