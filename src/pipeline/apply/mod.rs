//! Applying a service's planned changes: check the compose tool, snapshot, write the env
//! file, pull, restart and gate on health; or finish an update that a crashed run left.
//! The update is a list of [`steps::Step`]s built once ([`steps::Steps`]), printed for
//! `--dry-run` ([`Updater::plan`]) or taken in order here, up to the start and the gate,
//! which are left to the caller ([`Started`]). A failed step ends that service's update;
//! the caller goes on with the next service.

use crate::adapters::compose::Compose;
use crate::adapters::runner::{Cmd, Runner};
use crate::adapters::snapper::{Snapper, SnapshotMeta};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::files::atomic;
use crate::formats::image_ref::Pin;
use crate::pipeline::dependents::{restart::TakenDown, Graph};
use crate::pipeline::journal::{Journal, Pending, PendingChange};
use crate::pipeline::plan::{apply, describe, Change, Outcome, Service};
use crate::pipeline::restart::{self, Plan};
use crate::pipeline::rolling_back::{self, Rolling};

mod dry_run;
mod gated;
mod outside;
mod steps;

use gated::{gate_after, Before};
use steps::{Begin, Steps};

/// Runs the update steps of services, with the settings and tools of one run.
pub struct Updater<'a> {
    config: &'a Config,
    runner: &'a dyn Runner,
    snapper: Snapper<'a>,
    journal: &'a Journal,
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

impl Start {
    /// The start and gate among the steps left once the update reached its start.
    fn left(rest: impl Iterator<Item = steps::Step>) -> Start {
        let mut start = Start::default();
        for step in rest {
            match step {
                steps::Step::Start { cmds, services } => {
                    start.cmds = cmds;
                    start.services = services;
                }
                steps::Step::Gate(before) => start.before = before,
                // Nothing else comes after the start (see `Steps::new`).
                _ => {}
            }
        }
        start
    }
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
            graph: None,
            taken: TakenDown::default(),
        }
    }

    /// Updates one service whose pins are `changes` (none: nothing to do), or finishes the
    /// update an interrupted run left in the journal (`resume`; its `.env` already holds the
    /// new pins, or it is a rollback in progress), all but its start and health gate, which
    /// are left to the caller.
    pub fn start_update(
        &mut self,
        service: &Service,
        changes: Vec<Change>,
        resume: Option<&Pending>,
    ) -> Step {
        self.taken = TakenDown::default();
        let (changes, applied, begin) = match resume {
            Some(pending) => {
                if let Some(progress) = &pending.rollback {
                    let rolling = Rolling {
                        config: self.config,
                        runner: self.runner,
                        journal: self.journal,
                    };
                    let snapper = &mut self.snapper;
                    let done = rolling_back::finish(&rolling, snapper, service, pending, progress);
                    return Step::Done(done);
                }
                log::warn!(
                    "{}: finishing an update an interrupted run left behind",
                    service.dir.name
                );
                let applied = Applied {
                    snapshot: pending.snapshot_before,
                    env_written: true,
                };
                (pending.to_changes(), applied, Begin::Written)
            }
            None if changes.is_empty() => return Step::Done(Outcome::Current),
            None => {
                let applied = Applied {
                    snapshot: None,
                    env_written: false,
                };
                (changes, applied, Begin::Fresh)
            }
        };
        let name = &service.dir.name;
        for change in &changes {
            log::info!(
                "{name}: {} {} -> {}",
                change.entry,
                change.old.as_deref().unwrap_or("(unpinned)"),
                change.new
            );
        }
        match restart::plan(self.config, self.runner, &service.dir, &changes) {
            Ok(plan) => {
                let steps = Steps::new(self.config, &service.dir, plan, begin);
                self.take(service, changes, steps, applied)
            }
            Err(error) => Step::Done(self.fail(service, changes, applied, error)),
        }
    }

    /// Takes `steps` in order up to the start (or the gate), which it leaves to the caller.
    /// A failure before the `.env` is written starts again on the old pins what was stopped
    /// for the snapshot; one after it is rolled back ([`Updater::fail`]).
    fn take(
        &mut self,
        service: &Service,
        changes: Vec<Change>,
        steps: Steps,
        mut applied: Applied,
    ) -> Step {
        let stops_first = steps.stops_first();
        let Steps { plan, list } = steps;
        let mut list = list.into_iter();
        while let Some(step) = list.next() {
            if let steps::Step::Start { .. } | steps::Step::Gate(_) = step {
                if let steps::Step::Start { .. } = step {
                    failpoint::hit("during-restart");
                }
                let start = Start::left(std::iter::once(step).chain(list));
                return Step::Started(Started {
                    changes,
                    applied,
                    start,
                });
            }
            let Err(error) = self.take_step(service, (&changes, &plan), &step, &mut applied) else {
                continue;
            };
            if stops_first && !applied.env_written {
                // Nothing was written: the old pins start again.
                let cmds = plan.start_cmds(self.config, &service.dir);
                if let Err(e) = Plan::run(self.runner, &cmds) {
                    log::error!(
                        "{}: starting again on the old pins failed: {e}",
                        service.dir.name
                    );
                }
            }
            return Step::Done(self.fail(service, changes, applied, error));
        }
        Step::Done(Outcome::Updated {
            changes,
            snapshot: applied.snapshot,
            recreated: Vec::new(),
        })
    }

    /// Takes one step (all but the start and the gate) of an update of `service` with
    /// `changes` that restarts as `plan` says.
    fn take_step(
        &mut self,
        service: &Service,
        (changes, plan): (&[Change], &Plan),
        step: &steps::Step,
        applied: &mut Applied,
    ) -> Result<()> {
        let name = &service.dir.name;
        let journalled = |snapshot, stopped: &Option<_>| Pending {
            stopped: stopped.clone(),
            reached: step.name(),
            ..journalled(snapshot, changes)
        };
        match step {
            steps::Step::JournalStopping(stopping) => {
                log::debug!("{name}: stopping for a snapshot at rest");
                let entry = journalled(None, &Some(stopping.clone()));
                self.journal.put(name, &entry)
            }
            steps::Step::TakeDownOutside => self.take_down_outside(service, plan),
            steps::Step::Stop(_) => plan.stop(self.config, self.runner, &service.dir),
            steps::Step::Snapshot => {
                failpoint::hit("before-snapshot");
                applied.snapshot = Some(self.snapshot(service, changes)?);
                Ok(())
            }
            steps::Step::Journal(stopped) => {
                if !self.config.service_snapshot {
                    failpoint::hit("before-snapshot");
                }
                self.journal
                    .put(name, &journalled(applied.snapshot, stopped))?;
                failpoint::hit("after-snapshot");
                Ok(())
            }
            steps::Step::WriteEnv => {
                self.write_env(service, changes)?;
                applied.env_written = true;
                failpoint::hit("after-env-write");
                Ok(())
            }
            steps::Step::PinOnly => {
                log::info!(
                    "{name}: the containers already run the new image; pin written, not restarted"
                );
                Ok(())
            }
            steps::Step::Restart { cmds, .. } => Plan::run(self.runner, cmds),
            // Left to the caller (see `take`).
            steps::Step::Start { .. } | steps::Step::Gate(_) => Ok(()),
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

    /// Takes the snapshot before an update of `service` with `changes`: its number.
    fn snapshot(&mut self, service: &Service, changes: &[Change]) -> Result<u64> {
        let config = self.snapper.config_for(&service.dir.path)?;
        let meta = meta(self.config, service, changes);
        let number = self
            .snapper
            .create(&config.config, &describe(changes), &meta)?;
        log::info!(
            "{}: snapshot {number} of snapper config {}",
            service.dir.name,
            config.config
        );
        Ok(number)
    }

    /// Writes the new pins (and moved tags) of `changes` to the `.env` of `service`, unless
    /// it changed since it was read or the edit would not read alike in every compose tool.
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
                    format!("SERVICE_{}_IMAGE_HASHED", c.entry),
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
        reached: None,
    }
}

/// Userdata and cleanup for the snapshot before an update of `service` with `changes`.
fn meta(config: &Config, service: &Service, changes: &[Change]) -> SnapshotMeta {
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
        cleanup: config.snapper_cleanup.clone(),
        userdata,
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
        let service = crate::pipeline::plan::load(&dir).unwrap();
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
