//! An update of one service as data: its steps, built once from the settings, the restart
//! plan and where the update begins ([`Steps::new`]), then either printed for `--dry-run`
//! ([`Steps::render`]) or taken in order by [`super::Updater`], which journals the step it
//! reached ([`StepName`]) before the stop and before the `.env` is written.

use crate::adapters::compose::Compose;
use crate::adapters::runner::Cmd;
use crate::adapters::snapper::{create_cmd, Snapper};
use crate::config::{Config, SnapshotWhen};
use crate::pipeline::journal::{StepName, Stopped};
use crate::pipeline::project::restart::Plan;
use crate::pipeline::service::{describe, Change, Service};
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
    /// they start (none: the whole project). Left to the caller with the gate, with its
    /// commands built again once the `.env` is written (they carry what it holds).
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

#[cfg(test)]
mod tests {
    //! The step lists of each restart plan kind, without running anything.
    use super::*;

    /// The settings and folder of a service, the snapshot taken `when`, with snapshots or
    /// without.
    fn settings(when: SnapshotWhen, snapshots: bool) -> (tempfile::TempDir, Config, ServiceDir) {
        let (root, mut config, dir) = crate::pipeline::fixture::service("r.io/app@sha256:1");
        config.snapshot_when = when;
        config.service_snapshot = snapshots;
        (root, config, dir)
    }

    /// Every kind of restart plan, by name.
    fn plans() -> [(&'static str, Plan); 7] {
        let services = Plan::Services {
            services: vec!["app".into()],
            containers: vec!["c1".into()],
            dependents: Vec::new(),
            stop_secs: Some(10),
            unchanged: Vec::new(),
            one_shots: Vec::new(),
        };
        [
            ("services", services),
            ("project", Plan::Project),
            ("unit", Plan::Unit),
            ("fresh", Plan::Fresh),
            ("already running", Plan::AlreadyRunning),
            ("not running", Plan::NotRunning),
            ("nothing", Plan::Nothing),
        ]
    }

    /// The steps' names, in order.
    fn names(steps: &Steps) -> Vec<&'static str> {
        steps
            .list
            .iter()
            .map(|s| match s {
                Step::JournalStopping(_) => "journal-stopping",
                Step::TakeDownOutside => "take-down",
                Step::Stop(_) => "stop",
                Step::Snapshot => "snapshot",
                Step::Journal(_) => "journal",
                Step::WriteEnv => "write",
                Step::PinOnly => "pin-only",
                Step::Restart { .. } => "restart",
                Step::Start { .. } => "start",
                Step::Gate(_) => "gate",
            })
            .collect()
    }

    /// The names of the steps of each plan kind (in the order of [`plans`]), from `begin`.
    fn steps_of(when: SnapshotWhen, snapshots: bool, begin: Begin) -> Vec<Vec<&'static str>> {
        let (_root, config, dir) = settings(when, snapshots);
        plans()
            .into_iter()
            .map(|(_, plan)| names(&Steps::new(&config, &dir, plan, begin)))
            .collect()
    }

    #[test]
    fn with_the_snapshot_at_rest_what_changes_stops_before_the_snapshot() {
        let at_rest = [
            "journal-stopping",
            "take-down",
            "stop",
            "snapshot",
            "journal",
            "write",
            "start",
            "gate",
        ];
        let written = ["snapshot", "journal", "write"];
        let wanted: [&[&str]; 7] = [
            &at_rest,
            &at_rest,
            &at_rest,
            &[
                "snapshot",
                "journal",
                "write",
                "take-down",
                "stop",
                "start",
                "gate",
            ],
            &["snapshot", "journal", "write", "pin-only"],
            &written,
            &["snapshot", "journal", "write", "take-down", "stop"],
        ];
        let got = steps_of(SnapshotWhen::Stopped, true, Begin::Fresh);
        for (((name, _), got), wanted) in plans().iter().zip(got).zip(wanted) {
            assert_eq!(got, wanted, "{name}");
        }
    }

    #[test]
    fn with_the_snapshot_while_running_what_changes_stops_after_the_write() {
        let restart = [
            "snapshot",
            "journal",
            "write",
            "take-down",
            "stop",
            "start",
            "gate",
        ];
        let wanted: [&[&str]; 7] = [
            &restart,
            &restart,
            &[
                "snapshot",
                "journal",
                "write",
                "take-down",
                "restart",
                "gate",
            ],
            &restart,
            &["snapshot", "journal", "write", "pin-only"],
            &["snapshot", "journal", "write"],
            &["snapshot", "journal", "write", "take-down", "stop"],
        ];
        let got = steps_of(SnapshotWhen::Running, true, Begin::Fresh);
        for (((name, _), got), wanted) in plans().iter().zip(got).zip(wanted) {
            assert_eq!(got, wanted, "{name}");
        }
    }

    #[test]
    fn without_snapshots_the_steps_are_the_same_but_the_snapshot() {
        for when in [SnapshotWhen::Stopped, SnapshotWhen::Running] {
            let with = steps_of(when, true, Begin::Fresh);
            let without = steps_of(when, false, Begin::Fresh);
            for ((name, _), (with, without)) in plans().iter().zip(with.into_iter().zip(without)) {
                let expected: Vec<&str> = with.into_iter().filter(|s| *s != "snapshot").collect();
                assert_eq!(without, expected, "{name} {when:?}");
            }
        }
    }

    #[test]
    fn an_update_resumed_after_its_write_only_stops_and_starts_again() {
        for when in [SnapshotWhen::Stopped, SnapshotWhen::Running] {
            let got = steps_of(when, true, Begin::Written);
            let restart: &[&str] = &["take-down", "stop", "start", "gate"];
            let wanted: [&[&str]; 7] = [
                restart,
                restart,
                restart,
                restart,
                &["take-down", "stop"],
                &["take-down", "stop"],
                &["take-down", "stop"],
            ];
            for (((name, _), got), wanted) in plans().iter().zip(got).zip(wanted) {
                assert_eq!(got, wanted, "{name} {when:?}");
            }
        }
    }

    #[test]
    fn the_journal_names_the_stop_and_the_write_and_what_stopped_first() {
        let (_root, config, dir) = settings(SnapshotWhen::Stopped, true);
        let [(_, services), ..] = plans();
        let steps = Steps::new(&config, &dir, services, Begin::Fresh);
        assert!(steps.stops_first());
        let named: Vec<StepName> = steps.list.iter().filter_map(Step::name).collect();
        assert_eq!(named, [StepName::Stop, StepName::WriteEnv]);
        let Step::JournalStopping(stopping) = &steps.list[0] else {
            panic!("{:?}", steps.list);
        };
        assert_eq!(stopping.services, ["app"]);
        assert!(matches!(&steps.list[4], Step::Journal(Some(s)) if s.services == ["app"]));
        // The whole project stops: no compose service named.
        let steps = Steps::new(&config, &dir, Plan::Project, Begin::Fresh);
        assert!(matches!(&steps.list[0], Step::JournalStopping(s) if s.services.is_empty()));
        // Nothing stops before the snapshot: nothing to start again on the old pins.
        for (name, plan) in plans().into_iter().skip(3) {
            let steps = Steps::new(&config, &dir, plan, Begin::Fresh);
            assert!(!steps.stops_first(), "{name}");
            assert!(matches!(steps.list[1], Step::Journal(None)), "{name}");
        }
    }

    #[test]
    fn a_unit_restarts_in_one_command_printed_as_its_stop_and_start() {
        let (_root, mut config, dir) = settings(SnapshotWhen::Running, false);
        config.stop_start_method = crate::config::StopStartMethod::SystemdUser;
        let steps = Steps::new(&config, &dir, Plan::Unit, Begin::Fresh);
        let Some(Step::Restart { cmds, printed }) = steps.list.get(3) else {
            panic!("{:?}", steps.list);
        };
        let shown = |cmds: &[Cmd]| cmds.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(shown(cmds), ["systemctl --user restart podman-compose@svc"]);
        assert_eq!(
            shown(printed),
            [
                "systemctl --user stop podman-compose@svc",
                "systemctl --user start podman-compose@svc"
            ]
        );
        assert!(matches!(steps.list.last(), Some(Step::Gate(before)) if before.ids.is_empty()));
    }

    #[test]
    fn the_start_names_the_compose_services_it_starts_and_the_gate_what_was_before() {
        let (_root, config, dir) = settings(SnapshotWhen::Running, true);
        let [(_, services), (_, project), ..] = plans();
        let steps = Steps::new(&config, &dir, services, Begin::Fresh);
        let n = steps.list.len();
        assert!(
            matches!(&steps.list[n - 2], Step::Start { services, cmds } if services == &["app"] && cmds.len() == 1)
        );
        assert!(matches!(&steps.list[n - 1], Step::Gate(before) if before.ids == ["c1"]));
        let steps = Steps::new(&config, &dir, project, Begin::Fresh);
        let n = steps.list.len();
        assert!(matches!(&steps.list[n - 2], Step::Start { services, .. } if services.is_empty()));
    }

    #[test]
    fn the_gate_says_it_rolls_back_only_with_auto_rollback() {
        let (_root, mut config, _dir) = settings(SnapshotWhen::Running, true);
        config.health_timeout = 60;
        config.health_settle = 5;
        config.auto_rollback = true;
        assert_eq!(
            wait_line(&config, "svc"),
            "wait: up to 60s for the containers of project svc to run the new images and be healthy, then 5s with none restarting (else roll back)"
        );
        config.auto_rollback = false;
        assert!(!wait_line(&config, "svc").contains("roll back"));
    }
}
