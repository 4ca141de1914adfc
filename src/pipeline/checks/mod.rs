//! What is checked once for the whole run before any service is touched: the compose tool
//! works, each env file lies inside the folder its snapshots hold, and every new pin pulled;
//! a service either fails here untouched or goes on.

pub mod pull;
pub mod readiness;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::adapters::compose::Compose;
use crate::adapters::runner::{RunError, Runner};
use crate::config::Config;
use crate::error::{ComposeError, Error, PinPullError, PullError};
use crate::pipeline::journal::Pending;
use crate::pipeline::select::Prepared;
use crate::pipeline::service::Change;

/// What was checked once for the whole run before any service is touched: the compose
/// tool, where each env file lies, and the pull of every new pin.
#[derive(Default)]
pub struct Checks {
    /// Why the compose tool does not work, if it does not (said to every service).
    pub compose_broken: Option<Arc<RunError>>,
    /// Why a service's env file is outside its snapshots, by service (snapshots on only).
    pub outside: BTreeMap<String, String>,
    /// Why a service's project is not ready for an update, by service
    /// ([`crate::pipeline::checks::readiness`]).
    pub not_ready: BTreeMap<String, String>,
    /// The result of each pin's pull.
    pub pulls: BTreeMap<String, Result<(), Arc<PinPullError>>>,
}

impl Checks {
    /// Checks the compose tool and pulls every new pin, when any service has work.
    pub fn run(config: &Config, runner: &dyn Runner, prepared: &[Prepared<'_>]) -> Checks {
        let has_work = prepared.iter().any(Prepared::restarts);
        if !has_work {
            return Checks::default();
        }
        if config.service_snapshot {
            if let Some(warning) = crate::files::space::nearly_full(&config.services_root) {
                log::warn!("{warning}");
            }
        }
        let outside = outside_snapshots(config, prepared);
        let not_ready = crate::pipeline::checks::readiness::not_ready(config, runner, prepared);
        // A flavour this run read from the tool's `version` says already that it starts.
        let compose_broken = match config.compose_flavour.kind {
            crate::formats::compose::version::ComposeKind::Unknown => {
                check_compose_tool(config, runner)
            }
            _ => None,
        };
        let pulls = if config.service_pull {
            // A service refused for where its env file lies pulls nothing.
            let pins: Vec<String> = prepared
                .iter()
                .filter(|work| {
                    !outside.contains_key(&work.service.dir.name)
                        && !not_ready.contains_key(&work.service.dir.name)
                })
                .flat_map(|work| new_pins(&work.changes, work.resume.as_ref()))
                .collect();
            pull::pull_all(config, runner, &pins)
        } else {
            BTreeMap::new()
        };
        Checks {
            compose_broken,
            outside,
            not_ready,
            pulls,
        }
    }
}

/// The services with new pins to write whose env file is outside the folder their
/// snapshots hold, with why, when snapshots are on: a rollback to the snapshot could not
/// restore such a pin. With snapshots off a rollback writes the pins back into the file
/// itself, wherever it lies. An interrupted update is finished: its pins are written already.
pub fn outside_snapshots(config: &Config, prepared: &[Prepared<'_>]) -> BTreeMap<String, String> {
    if !config.service_snapshot {
        return BTreeMap::new();
    }
    prepared
        .iter()
        .filter(|work| !work.changes.is_empty() && work.resume.is_none())
        .filter_map(|work| {
            let dir = &work.service.dir;
            crate::files::env_place::outside_snapshots(&dir.path, &dir.env_file)
                .map(|why| (dir.name.clone(), why))
        })
        .collect()
}

/// Why a service cannot be updated after the preparation (its env file outside its
/// snapshots: exit 32, compose tool broken, a pull failed), before anything of it was
/// touched.
pub fn prepared_failure(
    name: &str,
    changes: &[Change],
    resume: Option<&Pending>,
    checks: &Checks,
) -> Option<Error> {
    if changes.is_empty() && resume.is_none() {
        return None;
    }
    if let Some(why) = checks.outside.get(name) {
        return Some(Error::Env(why.clone().into()));
    }
    if let Some(why) = checks.not_ready.get(name) {
        return Some(Error::Restart(why.clone().into()));
    }
    if let Some(error) = &checks.compose_broken {
        return Some(Error::Compose(ComposeError::Broken(Arc::clone(error))));
    }
    let failed: Vec<Arc<PinPullError>> = new_pins(changes, resume)
        .iter()
        .filter_map(|pin| match checks.pulls.get(pin) {
            Some(Err(e)) => Some(Arc::clone(e)),
            _ => None,
        })
        .collect();
    // Pulled before anything was touched: the service and its `.env` are as they were.
    (!failed.is_empty()).then(|| Error::Pull(PullError::Pins(failed)))
}

/// Checks once per run that the compose tool starts; the error, if it does not.
pub fn check_compose_tool(config: &Config, runner: &dyn Runner) -> Option<Arc<RunError>> {
    let compose = Compose::new(config);
    if !compose.needed() {
        return None;
    }
    runner.run(&compose.version()).err().map(Arc::new)
}

/// The pins a service's update switches to.
pub fn new_pins(changes: &[Change], resume: Option<&Pending>) -> Vec<String> {
    match resume {
        // Finishing a rollback pulls nothing: the restored images ran before.
        Some(pending) if pending.rollback.is_some() => Vec::new(),
        Some(pending) => pending.changes.iter().map(|c| c.new.clone()).collect(),
        None => changes.iter().map(|c| c.new.as_str().to_owned()).collect(),
    }
}

/// The changes an update would have made, for the report of one that could not start.
pub fn attempted(changes: Vec<Change>, resume: Option<&Pending>) -> Vec<Change> {
    match resume {
        Some(pending) => pending.to_changes(),
        None => changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::recording::Recording;
    use crate::adapters::runner::Cmd;
    use crate::pipeline::fixture::NEW;

    fn failed(tool: &str) -> RunError {
        RunError::Failed {
            cmd: Box::new(Cmd::new(tool)),
            status: "exited with status 125".into(),
            stderr: String::new(),
        }
    }

    fn change() -> Change {
        crate::pipeline::fixture::change("APP", None, NEW)
    }

    #[test]
    fn the_first_reason_a_service_cannot_start_wins_in_this_order() {
        let mut checks = Checks::default();
        let changes = [change()];
        assert!(
            prepared_failure("svc", &[], None, &checks).is_none(),
            "nothing to do"
        );
        assert!(prepared_failure("svc", &changes, None, &checks).is_none());
        checks.pulls.insert(
            NEW.into(),
            Err(Arc::new(PinPullError::Failed {
                pin: NEW.into(),
                error: failed("podman"),
            })),
        );
        let code = |checks: &Checks| {
            prepared_failure("svc", &changes, None, checks)
                .unwrap()
                .exit_code()
        };
        assert_eq!(code(&checks), 33);
        checks.compose_broken = Some(Arc::new(failed("podman-compose")));
        assert_eq!(code(&checks), 30);
        checks
            .not_ready
            .insert("svc".into(), "db is unhealthy".into());
        assert_eq!(code(&checks), 34);
        checks
            .outside
            .insert("svc".into(), "the .env is a link".into());
        assert_eq!(code(&checks), 32);
    }

    #[test]
    fn a_run_without_work_checks_nothing_and_one_with_work_pulls_each_new_pin() {
        let (_root, mut config, dir) = crate::pipeline::fixture::service(NEW);
        config.service_snapshot = false;
        let service = crate::pipeline::service::load(&dir).unwrap();
        let runner = Recording::new();
        let work = |changes| Prepared {
            service: &service,
            changes,
            resume: None,
            held: Vec::new(),
        };
        let idle = vec![work(Vec::new())];
        let checks = Checks::run(&config, &runner, &idle);
        assert!(checks.pulls.is_empty() && runner.calls().is_empty());
        let busy = vec![work(vec![change()])];
        let checks = Checks::run(&config, &runner, &busy);
        assert!(matches!(checks.pulls.get(NEW), Some(Ok(()))));
        assert!(
            runner
                .calls()
                .iter()
                .any(|c| c.contains("pull") && c.contains(NEW)),
            "{:#?}",
            runner.calls()
        );
        assert!(checks.compose_broken.is_none());
    }
}
