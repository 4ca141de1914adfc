//! Applying a service's planned changes: check the compose tool, snapshot, write the env
//! file, pull, restart and gate on health; or finish an update that a crashed run left.
//! A failed step ends that service's update; the caller goes on with the next service.

use crate::adapters::compose::Compose;
use crate::adapters::runner::{Cmd, Runner};
use crate::adapters::snapper::{Snapper, SnapshotMeta};
use crate::base::failpoint;
use crate::config::{Config, SnapshotWhen};
use crate::error::{Error, Result};
use crate::files::atomic;
use crate::formats::image::reference::Pin;
use crate::pipeline::journal::{Journal, Pending, PendingChange, Stopped};
use crate::pipeline::project::dependents::{restart::TakenDown, Graph};
use crate::pipeline::project::restart::{self, Plan};
use crate::pipeline::service::{apply, describe, Change, Outcome, Service};
use crate::pipeline::undo::rolling_back::{self, Rolling};

mod dry_run;
mod gated;
mod outside;

use gated::{gate_after, Before};

/// Runs the update steps of services, with the settings and tools of one run.
pub struct Updater<'a> {
    config: &'a Config,
    runner: &'a dyn Runner,
    snapper: Snapper<'a>,
    journal: &'a Journal,
    /// Leave the health gate to the caller ([`Updater::start_update`]).
    defer_gate: bool,
    /// Set when a gate was left to the caller in the current update.
    gate_left: bool,
    /// The start left to the caller with the gate.
    start_left: Start,
    /// The dependencies between the run's service folders, when known.
    graph: Option<&'a Graph>,
    /// What the current update did to its dependents in other folders.
    taken: TakenDown,
}

/// A compose start left to the caller: its commands (`up -d ...`), the compose services
/// they start (none: the whole project) and the containers they leave as they are, as
/// they were before the update.
#[derive(Default)]
struct Start {
    cmds: Vec<Cmd>,
    services: Vec<String>,
    before: Before,
}

/// A service whose update is done but for its start and health gate: the caller runs the
/// start ([`Started::start`], watching with [`Started::watch`] for when the next service may
/// go on), waits for the gate ([`Started::gate`], which only looks, so several may wait at
/// once) and hands the verdict to [`Updater::finish`].
pub struct Started {
    changes: Vec<Change>,
    applied: Applied,
    start: Start,
}

/// What [`Updater::start_update`] got to.
pub enum Step {
    /// The update ended (done, failed or rolled back) without a gate left to wait for.
    Done(Outcome),
    /// The service was started on the new pins; its gate is still to pass.
    Started(Started),
}

impl Started {
    /// Runs the start commands, on the new pins. A failure is a restart error, as a failed
    /// gate.
    pub fn start(&self, runner: &dyn Runner) -> Result<()> {
        Plan::run(runner, &self.start.cmds)
    }

    /// What tells that the start of `service` has gone far enough for the next service to
    /// go on.
    pub fn watch(&self, service: &Service) -> restart::StartWatch {
        restart::StartWatch::new(&service.dir.project, &self.start.services)
    }

    /// Waits for the health gate of `service` after its update; the containers it created.
    pub fn gate(
        &self,
        config: &Config,
        runner: &dyn Runner,
        service: &Service,
    ) -> Result<Vec<String>> {
        gate_after(config, runner, service, &self.changes, &self.start.before)
    }
}

/// How far an update got, for the rollback and the journal.
struct Applied {
    snapshot: Option<u64>,
    /// Finishing an interrupted update: snapshot and `.env` are done.
    resumed: bool,
    env_written: bool,
}

impl<'a> Updater<'a> {
    /// An updater for one run.
    pub fn new(config: &'a Config, runner: &'a dyn Runner, journal: &'a Journal) -> Self {
        Updater {
            config,
            runner,
            snapper: Snapper::new(runner),
            journal,
            defer_gate: false,
            gate_left: false,
            start_left: Default::default(),
            graph: None,
            taken: TakenDown::default(),
        }
    }

    /// Updates one service like [`Updater::update`] (or finishes an interrupted update like
    /// [`Updater::resume`]) but leaves the health gate to the caller.
    pub fn start_update(
        &mut self,
        service: &Service,
        changes: Vec<Change>,
        resume: Option<&Pending>,
    ) -> Step {
        self.defer_gate = true;
        self.gate_left = false;
        self.start_left = Default::default();
        self.taken = TakenDown::default();
        let outcome = match resume {
            Some(pending) => self.resume(service, pending),
            None => self.update(service, changes),
        };
        self.defer_gate = false;
        match outcome {
            Outcome::Updated {
                changes, snapshot, ..
            } if self.gate_left => Step::Started(Started {
                changes,
                applied: Applied {
                    snapshot,
                    resumed: false,
                    env_written: true,
                },
                start: std::mem::take(&mut self.start_left),
            }),
            outcome => Step::Done(outcome),
        }
    }

    /// The outcome of a started update once its gate said `gate`: updated, or (when the gate
    /// failed and AUTO_ROLLBACK is on) rolled back.
    pub fn finish(
        &mut self,
        service: &Service,
        started: Started,
        gate: Result<Vec<String>>,
    ) -> Outcome {
        let Started {
            changes, applied, ..
        } = started;
        match gate {
            Ok(recreated) => {
                log::info!(
                    "{}: restarted{}",
                    service.dir.name,
                    if recreated.is_empty() {
                        String::new()
                    } else {
                        format!(" (recreated {})", recreated.join(", "))
                    }
                );
                Outcome::Updated {
                    changes,
                    snapshot: applied.snapshot,
                    recreated,
                }
            }
            Err(error) => self.fail(service, changes, applied, error),
        }
    }

    /// Finishes an update that an interrupted run left in the journal (its `.env` already
    /// holds the new pins): pull, restart, health gate, rollback if that fails.
    pub fn resume(&mut self, service: &Service, pending: &Pending) -> Outcome {
        if let Some(progress) = &pending.rollback {
            let rolling = Rolling {
                config: self.config,
                runner: self.runner,
                journal: self.journal,
            };
            return rolling_back::finish(&rolling, &mut self.snapper, service, pending, progress);
        }
        log::warn!(
            "{}: finishing an update an interrupted run left behind",
            service.dir.name
        );
        let changes = pending.to_changes();
        let applied = Applied {
            snapshot: pending.snapshot_before,
            resumed: true,
            env_written: true,
        };
        self.run_steps(service, changes, applied)
    }

    /// Starts again, on the old pins, what an update an interrupted run left (`pending`,
    /// whose `.env` was not written) had stopped; a failure is logged (the update that may
    /// follow in this run stops and starts it anyway).
    pub fn start_stopped(&self, service: &Service, pending: &Pending) {
        let Some(stopped) = &pending.stopped else {
            return;
        };
        let name = &service.dir.name;
        log::warn!(
            "{name}: an interrupted run stopped it before it wrote the new pins; starting it again on the old ones"
        );
        let compose = Compose::new(self.config);
        let cmd = if stopped.services.is_empty() {
            compose.start(&service.dir)
        } else {
            compose.up_services(&service.dir, &stopped.services)
        };
        if let Err(e) = self.runner.run(&cmd) {
            log::error!("{name}: starting it again on the old pins failed: {e}");
        }
    }

    /// Updates one service whose pins are `changes` (none: nothing to do).
    pub fn update(&mut self, service: &Service, changes: Vec<Change>) -> Outcome {
        if changes.is_empty() {
            return Outcome::Current;
        }
        let applied = Applied {
            snapshot: None,
            resumed: false,
            env_written: false,
        };
        self.run_steps(service, changes, applied)
    }

    fn run_steps(
        &mut self,
        service: &Service,
        changes: Vec<Change>,
        mut applied: Applied,
    ) -> Outcome {
        let error = match self.steps(service, &changes, &mut applied) {
            Ok(()) => {
                return Outcome::Updated {
                    changes,
                    snapshot: applied.snapshot,
                    recreated: Vec::new(),
                }
            }
            Err(error) => error,
        };
        self.fail(service, changes, applied, error)
    }

    /// A failed update: rolled back when the restart or its gate failed after the `.env` was
    /// written and AUTO_ROLLBACK is on, else reported as it is.
    fn fail(
        &mut self,
        service: &Service,
        changes: Vec<Change>,
        applied: Applied,
        error: Error,
    ) -> Outcome {
        let restart_failed = matches!(error, Error::Restart(_));
        if !(restart_failed && self.config.auto_rollback && applied.env_written) {
            return Outcome::Failed {
                changes,
                error,
                snapshot: applied.snapshot,
                failed_snapshot: None,
            };
        }
        log::warn!("{}: {error}; rolling back", service.dir.name);
        let rolling = Rolling {
            config: self.config,
            runner: self.runner,
            journal: self.journal,
        };
        rolling_back::after_failure(
            &rolling,
            &mut self.snapper,
            service,
            journalled(applied.snapshot, &changes),
            error,
        )
    }

    fn steps(
        &mut self,
        service: &Service,
        changes: &[Change],
        applied: &mut Applied,
    ) -> Result<()> {
        let name = &service.dir.name;
        for change in changes {
            log::info!(
                "{name}: {} {} -> {}",
                change.entry,
                change.old.as_deref().unwrap_or("(unpinned)"),
                change.new
            );
        }
        let plan = restart::plan(self.config, self.runner, &service.dir, changes)?;
        if applied.resumed {
            // An interrupted run already took the snapshot and wrote the `.env`.
            self.stop(service, &plan)?;
            return self.start(service, &plan, changes);
        }
        let stopped_first = plan.stops() && self.config.snapshot_when == SnapshotWhen::Stopped;
        // Recorded before the stop: a run that dies before the `.env` is written leaves
        // what the next run must start again on the old pins.
        let stopping = stopped_first.then(|| Stopped {
            services: match &plan {
                Plan::Services { services, .. } => services.clone(),
                _ => Vec::new(),
            },
        });
        let stopped = match &stopping {
            Some(what) => {
                log::debug!("{name}: stopping for a snapshot at rest");
                let entry = Pending {
                    stopped: Some(what.clone()),
                    ..journalled(None, changes)
                };
                self.journal
                    .put(name, &entry)
                    .and_then(|()| self.stop(service, &plan))
            }
            None => Ok(()),
        };
        let recorded =
            stopped.and_then(|()| self.record(service, changes, applied, stopping.as_ref()));
        if let Err(error) = recorded {
            if stopped_first {
                // Nothing was written: the old pins start again.
                if let Err(e) = Plan::run(self.runner, &plan.start_cmds(self.config, &service.dir))
                {
                    log::error!("{name}: starting again on the old pins failed: {e}");
                }
            }
            return Err(error);
        }
        if plan == Plan::AlreadyRunning {
            log::info!(
                "{name}: the containers already run the new image; pin written, not restarted"
            );
            return Ok(());
        }
        if plan == Plan::NotRunning {
            return Ok(());
        }
        if !stopped_first {
            if plan == Plan::Unit {
                // One `systemctl restart` of the unit.
                let compose = Compose::new(self.config);
                self.take_down_outside(service, &plan)?;
                Plan::run(self.runner, &compose.restart(&service.dir))?;
                return self.gate_or_leave(service, changes, &Before::default());
            }
            self.stop(service, &plan)?;
        }
        self.start(service, &plan, changes)
    }

    /// Snapshot, journal entry and `.env` write.
    fn record(
        &mut self,
        service: &Service,
        changes: &[Change],
        applied: &mut Applied,
        stopped: Option<&Stopped>,
    ) -> Result<()> {
        let name = &service.dir.name;
        failpoint::hit("before-snapshot");
        if self.config.service_snapshot {
            let config = self.snapper.config_for(&service.dir.path)?;
            let number = self.snapper.create(
                &config.config,
                &describe(changes),
                &self.meta(service, changes),
            )?;
            log::info!(
                "{name}: snapshot {number} of snapper config {}",
                config.config
            );
            applied.snapshot = Some(number);
        }
        let entry = Pending {
            stopped: stopped.cloned(),
            ..journalled(applied.snapshot, changes)
        };
        self.journal.put(name, &entry)?;
        failpoint::hit("after-snapshot");
        self.write_env(service, changes)?;
        applied.env_written = true;
        failpoint::hit("after-env-write");
        Ok(())
    }

    /// Starts what the plan stopped, on the new pins, and waits for the health gate.
    fn start(&mut self, service: &Service, plan: &Plan, changes: &[Change]) -> Result<()> {
        let cmds = plan.start_cmds(self.config, &service.dir);
        if cmds.is_empty() {
            return Ok(());
        }
        failpoint::hit("during-restart");
        if self.defer_gate {
            // The caller starts it, and goes on with the next service once the containers
            // run: podman-compose 1.0 waits a second after starting each container.
            let services = match plan {
                Plan::Services { services, .. } => services.clone(),
                _ => Vec::new(),
            };
            self.start_left = Start {
                cmds,
                services,
                before: Before::of(plan),
            };
            self.gate_left = true;
            return Ok(());
        }
        Plan::run(self.runner, &cmds)?;
        self.gate_or_leave(service, changes, &Before::of(plan))
    }

    /// The health gate, expecting the new pins' images to run and the old ones no longer,
    /// and the `unchanged` containers no worse than before: now, or left to the caller of
    /// [`Updater::start_update`].
    fn gate_or_leave(
        &mut self,
        service: &Service,
        changes: &[Change],
        before: &Before,
    ) -> Result<()> {
        if self.defer_gate {
            self.gate_left = true;
            return Ok(());
        }
        let recreated = gate_after(self.config, self.runner, service, changes, before)?;
        log::info!(
            "{}: restarted (recreated {})",
            service.dir.name,
            recreated.join(", ")
        );
        Ok(())
    }

    /// Userdata and cleanup for the snapshot before an update.
    fn meta(&self, service: &Service, changes: &[Change]) -> SnapshotMeta {
        let mut userdata = vec![
            ("cipug".to_owned(), "update".to_owned()),
            ("service".to_owned(), service.dir.name.clone()),
        ];
        for c in changes {
            let old = c.old.as_deref().and_then(|o| Pin::parse(o).ok());
            userdata.push((
                c.entry.clone(),
                format!(
                    "{}>{}",
                    old.as_ref().map_or("unpinned", |p| p.digest()),
                    c.new.digest()
                ),
            ));
        }
        SnapshotMeta {
            cleanup: self.config.snapper_cleanup.clone(),
            userdata,
        }
    }

    fn write_env(&self, service: &Service, changes: &[Change]) -> Result<()> {
        let path = &service.dir.env_file;
        let env_error = |msg: String| Error::Env(format!("{}: {msg}", path.display()));
        // Refuse to overwrite edits made since the file was read.
        let now = std::fs::read(path).map_err(|e| env_error(e.to_string()))?;
        if now != service.env.render().as_bytes() {
            return Err(env_error(
                "changed while cipug ran; not written, run again".into(),
            ));
        }
        let env = apply(service, changes);
        let mut pins: Vec<(String, String)> = changes
            .iter()
            .map(|c| {
                (
                    crate::formats::env_keys::HASHED.key(&c.entry),
                    c.new.as_str().to_owned(),
                )
            })
            .collect();
        // A moved tag is the other value the edit changes: every tool must read the new one.
        for c in changes {
            let image = service.images.iter().find(|i| i.entry == c.entry);
            if let (Some(retag), Some(image)) = (&c.retag, image) {
                pins.push((image.tagged_key(), retag.reference.clone()));
            }
        }
        crate::formats::dialects::check_edit(service.env.render(), env.render(), &pins)
            .map_err(|(line, msg)| env_error(format!("line {line}: {msg}; not written")))?;
        atomic::write_with(path, env.render().as_bytes(), 0o600, || {
            failpoint::hit("env-write")
        })
        .map_err(|e| env_error(format!("could not write: {e}")))
    }
}

/// The journal entry of an update of `changes` after `snapshot`.
pub fn journalled(snapshot: Option<u64>, changes: &[Change]) -> Pending {
    Pending {
        snapshot_before: snapshot,
        changes: changes
            .iter()
            .map(|c| PendingChange {
                entry: c.entry.clone(),
                old: c.old.clone(),
                new: c.new.as_str().to_owned(),
            })
            .collect(),
        rollback: None,
        stopped: None,
    }
}

#[cfg(test)]
mod tests {
    //! An update's steps over the recording runner: their order, what the journal says
    //! before each, and a failure at each step with what runs after it.
    use super::*;
    use crate::adapters::recording::Recording;

    const OLD: &str =
        "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str =
        "r.io/app@sha256:2222222222222222222222222222222222222222222222222222222222222222";

    /// A service pinned to OLD, the settings of one run (state in the same folder).
    fn service() -> (tempfile::TempDir, Config, Service) {
        let (root, config, dir) = crate::pipeline::fixture::service(OLD);
        let service = crate::pipeline::service::load(&dir).unwrap();
        (root, config, service)
    }

    /// The tools of an update that goes well: one running app container on the old image.
    fn tools(service: &Service) -> Recording {
        let app = serde_json::json!([{
            "Id": "c1", "Name": "svc_app_1", "Image": "sha256:old", "RestartCount": 0,
            "State": {"Status": "running", "StartedAt": "t0", "ExitCode": 0},
            "Config": {"Labels": {"com.docker.compose.service": "app"}}
        }]);
        let configs =
            serde_json::json!({"configs": [{"config": "svc", "subvolume": service.dir.path}]});
        Recording::new()
            .answer("ps -a", "c1\n")
            .answer("container inspect", &app.to_string())
            .answer("image inspect", "sha256:new\n")
            .answer("list-configs", &configs.to_string())
            .answer(" create ", "5\n")
    }

    fn change() -> Change {
        crate::pipeline::fixture::change("APP", Some(OLD), NEW)
    }

    fn pinned(service: &Service) -> bool {
        std::fs::read_to_string(&service.dir.env_file)
            .unwrap()
            .contains(NEW)
    }

    #[test]
    fn stop_snapshot_journal_write_then_start_in_this_order() {
        let (_root, config, service) = service();
        let runner = tools(&service);
        let journal = Journal::new(&config.state_dir);
        let mut updater = Updater::new(&config, &runner, &journal);
        let Step::Started(started) = updater.start_update(&service, vec![change()], None) else {
            panic!("not started: {:#?}", runner.calls());
        };
        assert!(pinned(&service));
        let entry = journal.get("svc").unwrap();
        assert_eq!(entry.snapshot_before, Some(5));
        assert_eq!(entry.stopped.unwrap().services, ["app"]);
        started.start(&runner).unwrap();
        let calls = runner.calls();
        let at = |w: &str| calls.iter().position(|c| c.contains(w)).unwrap();
        assert!(at("rm -f -t 10 c1") < at(" create "), "{calls:#?}");
        assert!(at(" create ") < at("up -d --no-deps app"), "{calls:#?}");
    }

    #[test]
    fn the_gate_names_what_it_recreated_and_fails_on_a_container_left_on_the_old_image() {
        let (_root, config, service) = service();
        let container = |id: &str, name: &str, image: &str, compose: &str| {
            serde_json::json!({
                "Id": id, "Name": name, "Image": image, "RestartCount": 0,
                "State": {"Status": "running", "StartedAt": "t1", "ExitCode": 0},
                "Config": {"Labels": {"com.docker.compose.service": compose}}
            })
        };
        let app = container("c2", "svc_app_2", "sha256:new", "app");
        // A compose service the model does not know, still on the replaced image.
        let worker = container("c3", "svc_worker_1", "sha256:old", "worker");
        let before = Before {
            unchanged: Vec::new(),
            one_shots: None,
            ids: vec!["c1".into()],
        };
        let tools = |list: &str, inspect: serde_json::Value| {
            Recording::new()
                .answer("ps -a", list)
                .answer("container inspect", &inspect.to_string())
                .answer(OLD, "sha256:old\n")
                .answer(NEW, "sha256:new\n")
        };
        let runner = tools("c2\n", serde_json::json!([app]));
        let recreated = gate_after(&config, &runner, &service, &[change()], &before).unwrap();
        assert_eq!(recreated, ["svc_app_2"]);

        let runner = tools("c2\nc3\n", serde_json::json!([app, worker]));
        let error = gate_after(&config, &runner, &service, &[change()], &before)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("svc_worker_1 still runs")
                && error.contains("`worker` was not recreated"),
            "{error}"
        );
    }

    #[test]
    fn a_failure_at_each_step_and_what_runs_after_it() {
        // (failing command, exit code, pins written, runs after it)
        let cases: [(&str, u8, bool, &[&str]); 3] = [
            // The stop fails for real (the container still runs): nothing is written and
            // what may have stopped starts again on the old pins.
            ("rm -f -t 10", 34, false, &["up -d --no-deps app"]),
            // No snapshot: nothing written, the old pins start again.
            ("-c svc create", 31, false, &["up -d --no-deps app"]),
            // The start fails: the update is rolled back to the snapshot.
            ("up -d --no-deps", 34, true, &["undochange 5..0"]),
        ];
        for (failing, code, written, after) in cases {
            let (_root, config, service) = service();
            let mut runner = tools(&service).fail(failing, "boom");
            if failing.starts_with("up") {
                // The rollback finds the project's containers gone, then the restored one.
                runner = runner.answer("ps -a", "").answer("ps -a", "c1\n");
            }
            let journal = Journal::new(&config.state_dir);
            let mut updater = Updater::new(&config, &runner, &journal);
            let outcome = match updater.start_update(&service, vec![change()], None) {
                Step::Done(outcome) => outcome,
                Step::Started(started) => {
                    let verdict = started.start(&runner).map(|()| Vec::new());
                    updater.finish(&service, started, verdict)
                }
            };
            let error = match &outcome {
                Outcome::Failed { error, .. } | Outcome::RolledBack { error, .. } => error,
                other => panic!("{failing}: {other:?}"),
            };
            assert_eq!(error.exit_code(), code, "{failing}: {error}");
            if !written {
                assert!(!pinned(&service), "{failing}: the .env was written");
            }
            let calls = runner.calls();
            let first = calls.iter().position(|c| c.contains(failing)).unwrap();
            for word in after {
                assert!(
                    calls[first + 1..].iter().any(|c| c.contains(word)),
                    "{failing}: {word} did not run after it: {calls:#?}"
                );
            }
        }
    }
}
