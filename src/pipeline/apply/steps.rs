//! An update of one service as data: its steps, built once from the settings, the restart
//! plan and where the update begins ([`Steps::new`]), then either printed for `--dry-run`
//! ([`Steps::render`]) or taken in order by [`super::Updater`], which journals the step it
//! reached ([`StepName`]) before the stop and before the `.env` is written.

use crate::adapters::compose::Compose;
use crate::adapters::runner::Cmd;
use crate::adapters::snapper::{create_cmd, Snapper};
use crate::config::{Config, SnapshotWhen};
use crate::pipeline::journal::{StepName, Stopped};
use crate::pipeline::plan::{describe, Change, Service};
use crate::pipeline::restart::Plan;
use crate::services::ServiceDir;

use super::gated::Before;

/// One step of an update, with what it needs to be printed and taken.
#[derive(Debug, Clone)]
pub(super) enum Step {
    /// Journal what is about to stop (for a snapshot at rest): a run that dies before the
    /// `.env` is written leaves what the next run starts again on the old pins.
    JournalStopping(Stopped),
    /// Remove the containers of other folders that joined what stops.
    TakeDownOutside,
    /// Stop what changes ([`Plan::stop`]); these are its commands as printed
    /// ([`Plan::stop_cmds`]).
    Stop(Vec<Cmd>),
    /// Snapshot the folder.
    Snapshot,
    /// Journal the update with its snapshot and what stopped, before the `.env` is
    /// written.
    Journal(Option<Stopped>),
    /// Write the new pins (and moved tags) to the `.env`.
    WriteEnv,
    /// The containers already run the new images: the pins are written, nothing restarts.
    PinOnly,
    /// Restart the systemd unit in one command (`cmds`); printed as its stop and start
    /// (`printed`), as `--dry-run` always showed it.
    Restart {
        /// What runs.
        cmds: Vec<Cmd>,
        /// What `--dry-run` prints.
        printed: Vec<Cmd>,
    },
    /// Start what the plan stopped, on the new pins: the commands and the compose services
    /// they start (none: the whole project). Left to the caller with the gate.
    Start {
        /// The start commands (`up -d ...`).
        cmds: Vec<Cmd>,
        /// The compose services they start.
        services: Vec<String>,
    },
    /// Wait for the health gate, judged against what the project was before.
    Gate(Before),
}

/// Where an update's steps begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Begin {
    /// A new update: nothing is done yet.
    Fresh,
    /// An interrupted run took the snapshot and wrote the `.env` (its journal entry
    /// reached [`StepName::WriteEnv`], or is older than the steps): stop and start again.
    Written,
}

/// The steps of one service's update and the restart plan they follow.
#[derive(Debug, Clone)]
pub(super) struct Steps {
    /// What the update restarts.
    pub(super) plan: Plan,
    /// The steps in order.
    pub(super) list: Vec<Step>,
}

impl Step {
    /// The name the journal records for the step about to be taken, for those the journal
    /// is written before.
    pub(super) fn name(&self) -> Option<StepName> {
        match self {
            Step::JournalStopping(_) => Some(StepName::Stop),
            Step::Journal(_) => Some(StepName::WriteEnv),
            _ => None,
        }
    }
}

impl Steps {
    /// The steps of an update of `dir` that restarts as `plan` says, from `begin` on.
    pub(super) fn new(config: &Config, dir: &ServiceDir, plan: Plan, begin: Begin) -> Steps {
        let mut list = Vec::new();
        let stop = Step::Stop(plan.stop_cmds(config, dir));
        if begin == Begin::Written {
            list.extend([Step::TakeDownOutside, stop]);
            return Steps::started(config, dir, plan, list);
        }
        let stops_first = plan.stops() && config.snapshot_when == SnapshotWhen::Stopped;
        let stopping = stops_first.then(|| Stopped {
            services: compose_services(&plan),
        });
        if let Some(stopping) = &stopping {
            list.extend([
                Step::JournalStopping(stopping.clone()),
                Step::TakeDownOutside,
                stop.clone(),
            ]);
        }
        if config.service_snapshot {
            list.push(Step::Snapshot);
        }
        list.extend([Step::Journal(stopping), Step::WriteEnv]);
        match &plan {
            Plan::AlreadyRunning => list.push(Step::PinOnly),
            Plan::NotRunning => {}
            Plan::Unit if !stops_first => {
                let mut printed = plan.stop_cmds(config, dir);
                printed.extend(plan.start_cmds(config, dir));
                let cmds = Compose::new(config).restart(dir);
                list.extend([
                    Step::TakeDownOutside,
                    Step::Restart { cmds, printed },
                    Step::Gate(Before::default()),
                ]);
            }
            _ if !stops_first => {
                list.extend([Step::TakeDownOutside, stop]);
                return Steps::started(config, dir, plan, list);
            }
            _ => return Steps::started(config, dir, plan, list),
        }
        Steps { plan, list }
    }

    /// `list` and then the start and gate of `plan`, when it starts anything.
    fn started(config: &Config, dir: &ServiceDir, plan: Plan, mut list: Vec<Step>) -> Steps {
        let cmds = plan.start_cmds(config, dir);
        if !cmds.is_empty() {
            list.push(Step::Start {
                cmds,
                services: compose_services(&plan),
            });
            list.push(Step::Gate(Before::of(&plan)));
        }
        Steps { plan, list }
    }

    /// Whether the update stops what changes before its snapshot: a failure before the
    /// `.env` is written then starts it again on the old pins.
    pub(super) fn stops_first(&self) -> bool {
        self.list
            .iter()
            .any(|s| matches!(s, Step::JournalStopping(_)))
    }

    /// The lines `--dry-run` prints for the steps of an update of `service` with `changes`
    /// (`snapper` finds the folder's snapper config).
    pub(super) fn render(
        &self,
        config: &Config,
        snapper: &mut Snapper<'_>,
        (service, changes): (&Service, &[Change]),
    ) -> Vec<String> {
        let run = |cmds: &[Cmd]| cmds.iter().map(|c| format!("run: {c}")).collect();
        let mut lines = Vec::new();
        for step in &self.list {
            let shown: Vec<String> = match step {
                Step::JournalStopping(_)
                | Step::TakeDownOutside
                | Step::Journal(_)
                | Step::PinOnly => Vec::new(),
                Step::Stop(cmds) | Step::Start { cmds, .. } => run(cmds),
                Step::Restart { printed, .. } => run(printed),
                Step::Snapshot => {
                    let snapper_config = match snapper.config_for(&service.dir.path) {
                        Ok(c) => c.config,
                        Err(e) => {
                            lines.push(format!("would fail: {e}"));
                            "<config>".to_owned()
                        }
                    };
                    let meta = super::meta(config, service, changes);
                    let cmd = create_cmd(&snapper_config, &describe(changes), &meta);
                    vec![format!("run: {cmd}")]
                }
                Step::WriteEnv => vec![format!(
                    "write: {} (atomically)",
                    service.dir.env_file.display()
                )],
                Step::Gate(_) => vec![wait_line(config, &service.dir.project)],
            };
            lines.extend(shown);
        }
        lines
    }
}

/// The compose services `plan` recreates (none: the whole project).
fn compose_services(plan: &Plan) -> Vec<String> {
    match plan {
        Plan::Services { services, .. } => services.clone(),
        _ => Vec::new(),
    }
}

/// What `--dry-run` says of the health gate of compose project `project`.
fn wait_line(config: &Config, project: &str) -> String {
    format!(
        "wait: up to {}s for the containers of project {project} to run the new images and be healthy, then {}s with none restarting{}",
        config.health_timeout,
        config.health_settle,
        if config.auto_rollback {
            " (else roll back)"
        } else {
            ""
        }
    )
}
