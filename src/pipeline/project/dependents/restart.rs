//! A provider's dependents in other folders around its update: the containers that joined
//! the ones it stops are removed first ([`take_down`]), and once the provider's update
//! ended (passed its gate, or rolled back) each dependent is started again in its own
//! folder and gated on its own ([`bring_up`]).
//!
//! A joined namespace needs a new container, so a found dependent's compose services are
//! recreated (`up -d --no-deps <svc>...`, their containers being gone); one named in
//! `RESTART_AFTER` restarts as a whole (`down`, `up -d`). Its gate expects what its `.env`
//! pins, its other containers judged against themselves as they were. A dependent's pins
//! did not change before its provider's restart (a run takes providers first), so its
//! failure has nothing to roll back: it is reported, naming the provider, and the provider
//! stays updated.

use crate::adapters::compose::Compose;
use crate::adapters::container::{self, Container};
use crate::adapters::runner::Runner;
use crate::config::Config;
use crate::error::{Error, RestartError, Result};
use crate::pipeline::gate;
use crate::pipeline::project::dependents::{Graph, Link};
use crate::pipeline::service::Service;

/// What a provider's update did to its dependents in other folders.
#[derive(Debug, Default, Clone)]
pub struct TakenDown {
    /// The containers removed before the provider stopped, furthest down first.
    pub removed: Vec<Container>,
    /// Whether the provider was stopped or restarted at all.
    pub restarted: bool,
}

/// One dependent started again after its provider.
#[derive(Debug)]
pub struct Restarted {
    /// The dependent's folder.
    pub dependent: String,
    /// The provider's folder.
    pub provider: String,
    /// The containers it created, or why it failed.
    pub result: Result<Vec<String>>,
}

/// Stops and removes `outside`, the containers of other folders that joined what
/// `provider` is about to stop; a failure is a restart error of the provider.
pub fn take_down(
    config: &Config,
    runner: &dyn Runner,
    provider: &str,
    outside: &[Container],
) -> Result<()> {
    if outside.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = outside.iter().map(Container::name).collect();
    log::info!(
        "{provider}: removing {} first, which joined its containers; started again after it",
        names.join(", ")
    );
    let ids: Vec<String> = outside.iter().map(|c| c.id.clone()).collect();
    for cmd in container::stop_and_remove_cmds(config, container::STOP_GRACE_SECS, &ids) {
        runner
            .run(&cmd)
            .map_err(|e| Error::Restart(RestartError::RemoveDependents(Box::new(e))))?;
    }
    Ok(())
}

/// Starts again, in the order of `services`, each dependent of `provider` that `taken`
/// removed, and each that names it in `RESTART_AFTER` when the provider restarted; each is
/// gated. Logs each result, naming the provider.
pub fn bring_up(
    config: &Config,
    runner: &dyn Runner,
    graph: &Graph,
    services: &[Service],
    provider: &str,
    taken: &TakenDown,
) -> Vec<Restarted> {
    let edges = graph.dependents(provider);
    let mut done = Vec::new();
    for service in services {
        let name = &service.dir.name;
        let removed: Vec<Container> = taken
            .removed
            .iter()
            .filter(|c| c.compose_project() == service.dir.project)
            .cloned()
            .collect();
        let named = edges
            .iter()
            .any(|e| &e.dependent == name && e.link == Link::Named);
        if removed.is_empty() && !(named && taken.restarted) {
            continue;
        }
        let result = restart_one(config, runner, service, &removed, named);
        match &result {
            Ok(_) => log::info!("{name}: restarted after {provider}"),
            Err(e) => log::error!("{name}: restarted after {provider}, {e}"),
        }
        done.push(Restarted {
            dependent: name.clone(),
            provider: provider.to_owned(),
            result,
        });
    }
    done
}

/// Starts `service` again after its `removed` containers were taken down (the whole
/// project: `down`, `up -d`, when `whole` or none were), and waits for its gate.
fn restart_one(
    config: &Config,
    runner: &dyn Runner,
    service: &Service,
    removed: &[Container],
    whole: bool,
) -> Result<Vec<String>> {
    let dir = &service.dir;
    let compose = Compose::new(config);
    let mut services: Vec<String> = removed
        .iter()
        .map(|c| c.compose_service().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    services.sort_unstable();
    services.dedup();
    let (cmds, unchanged) = if whole || services.is_empty() {
        (vec![compose.stop(dir), compose.start(dir)], Vec::new())
    } else {
        let now = container::list(config, runner, &dir.project)
            .map_err(|e| Error::Restart(RestartError::DependentContainers(Box::new(e))))?;
        (vec![compose.up_services(dir, &services)], now)
    };
    for cmd in &cmds {
        runner
            .run(cmd)
            .map_err(|e| Error::Restart(RestartError::DependentStart(Box::new(e))))?;
    }
    let pinned = service
        .images
        .iter()
        .filter_map(|i| i.pinned.clone())
        .collect();
    let mut expected = crate::pipeline::gate::expect::after(config, dir, pinned, &[]);
    expected.one_shots = Some(
        services
            .iter()
            .filter(|s| {
                let before = removed.iter().filter(|c| c.compose_service() == s.as_str());
                before.clone().count() > 0 && before.into_iter().all(Container::finished)
            })
            .cloned()
            .collect(),
    );
    expected.unchanged = unchanged;
    let passed = gate::wait(config, runner, dir, &expected)
        .map_err(|e| Error::Restart(RestartError::DependentGate(e)))?;
    Ok(passed
        .iter()
        .filter(|c| !expected.unchanged.iter().any(|u| u.id == c.id))
        .map(|c| c.name().to_owned())
        .collect())
}
