//! The run of `cipug update` before its updates: what it tries (every entry resolved, or the
//! pins of `--pins`), in what order (providers before the folders that depend on them), with
//! the compose tool's flavour once something is to be restarted, and what `--dry-run` prints.

use std::io::Write;

use crate::adapters::runner::Runner;
use crate::commands::update::rollout;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::formats::image::retag::Retag;
use crate::pipeline::apply::Updater;
use crate::pipeline::prepare::{resolve_services, Registries};
use crate::pipeline::project::dependents::Graph;
use crate::pipeline::record::summary::Row;
use crate::pipeline::select::newer::{self, NewerTags};
use crate::pipeline::select::tag_update;
use crate::pipeline::select::{Prepared, Work};
use crate::pipeline::service::{Change, Service};
use crate::resolve::Resolutions;

/// Whether the run knows the compose tool's flavour already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flavour {
    /// Asked at the start (or not needed).
    Known,
    /// To be asked once a service is to be restarted.
    WhenRestarting,
}

/// The dependencies between the service folders (looked for only when something is to be
/// restarted: a run with nothing to change asks the container tool nothing), and `work` with
/// providers before their dependents.
pub(super) fn in_dependency_order(
    config: &Config,
    runner: &dyn Runner,
    all: &[Service],
    loaded: &[Service],
    mut work: Vec<Indexed>,
) -> (Graph, Vec<Indexed>) {
    let restarts = work.iter().any(Work::restarts);
    if !restarts {
        return (Graph::default(), work);
    }
    let graph = Graph::find(config, runner, all);
    let order: Vec<String> = graph
        .order(loaded.to_vec())
        .into_iter()
        .map(|s| s.dir.name)
        .collect();
    let rank = |i: usize| {
        loaded
            .get(i)
            .and_then(|s| order.iter().position(|n| *n == s.dir.name))
            .unwrap_or(usize::MAX)
    };
    work.sort_by_key(|w| rank(w.service));
    (graph, work)
}

/// What the run tries: with `pins`, the entries they name, each resolved to its pin (and a
/// `not in pins` row in `rows` for each other entry); otherwise every entry of `loaded`,
/// resolved, with the newer version tags and the tag moves they allow.
pub(super) fn targets(
    config: &Config,
    registries: &Registries<'_>,
    (loaded, pins): (&[Service], Option<&crate::formats::pins_file::Pins>),
    save_cache: bool,
    rows: &mut Vec<Row>,
) -> (
    Vec<Service>,
    Resolutions,
    NewerTags,
    Vec<(String, String, Retag)>,
) {
    match pins {
        Some(pins) => {
            let (kept, left) = rollout::select(loaded, pins);
            rows.extend(left);
            (
                kept,
                rollout::resolutions(pins),
                NewerTags::new(),
                Vec::new(),
            )
        }
        None => {
            let (resolutions, newer, moves) = resolve_all(config, registries, loaded, save_cache);
            (loaded.to_vec(), resolutions, newer, moves)
        }
    }
}

/// A service's preparation by the index of the service in `loaded`, so that `loaded` can be
/// changed after it.
pub(super) type Indexed = Work<usize>;

/// `prepared` by the index of each service in `loaded`.
pub(super) fn by_index(loaded: &[Service], prepared: Vec<Prepared<'_>>) -> Vec<Indexed> {
    prepared
        .into_iter()
        .filter_map(|work| {
            let i = loaded.iter().position(|s| std::ptr::eq(s, work.service))?;
            Some(work.with_service(i))
        })
        .collect()
}

/// The settings with the compose tool's flavour for a run that restarts (`None` when it is
/// known already, nothing in `work` restarts, or the run does not drive the compose tool),
/// and the project name of each of `loaded` read again as that tool derives it.
pub(super) fn detect_for_restarts(
    config: &Config,
    runner: &dyn Runner,
    (flavour, work): (Flavour, &[Indexed]),
    loaded: &mut [Service],
) -> Result<Option<Config>> {
    let restarts = work.iter().any(Work::restarts);
    if flavour == Flavour::Known || !restarts {
        return Ok(None);
    }
    let detected = crate::commands::with_compose_flavour(config, runner)?;
    if let Some(detected) = &detected {
        for service in loaded.iter_mut() {
            service.dir.read_project(detected);
        }
    }
    Ok(detected)
}

/// Resolves every tag of `loaded` once, finds newer version tags and resolves the tag moves
/// they allow, all through the run's registry clients.
pub(super) fn resolve_all(
    config: &Config,
    registries: &Registries<'_>,
    loaded: &[Service],
    save_cache: bool,
) -> (Resolutions, NewerTags, Vec<(String, String, Retag)>) {
    let resolver = registries.resolver(config);
    let mut resolutions = resolve_services(config, &*resolver, loaded, save_cache);
    let newer = newer::find(
        registries.native(),
        loaded,
        &resolutions,
        config.resolve_jobs,
    );
    let moves = tag_update::plan(config, loaded, &newer);
    tag_update::resolve(config, &*resolver, &moves, &mut resolutions, save_cache);
    (resolutions, newer, moves)
}

/// `--dry-run`: what the update of each of `prepared` would change and run.
pub(super) fn print_plans(
    (config, updater): (&Config, &mut Updater<'_>),
    graph: &Graph,
    prepared: &[Prepared<'_>],
    out: &mut dyn Write,
) -> Result<()> {
    let outside = crate::pipeline::checks::outside_snapshots(config, prepared);
    for Work {
        service, changes, ..
    } in prepared
    {
        let refused = outside.get(&service.dir.name).map(String::as_str);
        let after = graph.lines_of(&service.dir.name);
        print_plan(updater, (service, changes), (refused, after), out)?;
    }
    Ok(())
}

/// `--dry-run`: what an update of `service` would change and run, or why it would be
/// refused (`refused`: its env file is outside its snapshots), and the dependents in other
/// folders it would restart after it (`after`).
pub(super) fn print_plan(
    updater: &mut Updater<'_>,
    (service, changes): (&Service, &[Change]),
    (refused, after): (Option<&str>, Vec<String>),
    out: &mut dyn Write,
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let io = |e| Error::io("standard output", e);
    if let Some(why) = refused {
        writeln!(out, "{}: would be refused (32): {why}", service.dir.name).map_err(io)?;
        return Ok(());
    }
    writeln!(out, "{}: would update", service.dir.name).map_err(io)?;
    let hook = |key| {
        crate::adapters::hooks::command(&service.env, &service.dir, key)
            .ok()
            .flatten()
            .map(|c| format!("{key}: {c}"))
    };
    let plan = updater.plan(service, changes);
    let lines = hook(crate::adapters::hooks::PRE)
        .into_iter()
        .chain(plan)
        .chain(hook(crate::adapters::hooks::POST))
        .chain(after.into_iter().map(|d| format!("then restarts {d}")));
    for line in lines {
        writeln!(out, "  {line}").map_err(io)?;
    }
    Ok(())
}
