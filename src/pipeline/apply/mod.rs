//! Applying a service's planned changes: check the compose tool, snapshot, write the env
//! file, pull, restart and gate on health; or finish an update that a crashed run left.
//! The update is a list of [`steps::Step`]s built once ([`steps::Steps`]), printed for
//! `--dry-run` ([`Updater::plan`]) or taken in order here, up to the start and the gate,
//! which are left to the caller ([`Started`]). A failed step ends that service's update;
//! the caller goes on with the next service.

use crate::adapters::compose::Compose;
use crate::adapters::runner::{Cmd, Runner};
use crate::adapters::snapper::{Snapper, SnapshotMeta};
use crate::base::failpoint;
use crate::config::Config;
use crate::error::{EnvError, Error, Result};
use crate::files::atomic;
use crate::formats::image::reference::Pin;
use crate::pipeline::journal::{Journal, Pending, PendingChange};
use crate::pipeline::project::dependents::{restart::TakenDown, Graph};
use crate::pipeline::project::restart::{self, Plan};
use crate::pipeline::service::{apply, describe, Change, Outcome, Service};
use crate::pipeline::undo::rolling_back::{self, Rolling};

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
pub enum Progress {
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
    ) -> Progress {
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
                    return Progress::Done(done);
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
            None if changes.is_empty() => return Progress::Done(Outcome::Current),
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
            Err(error) => Progress::Done(self.fail(service, changes, applied, error)),
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
    ) -> Progress {
        let stops_first = steps.stops_first();
        let Steps { plan, list } = steps;
        let mut list = list.into_iter();
        while let Some(step) = list.next() {
            if let steps::Step::Start { .. } | steps::Step::Gate(_) = step {
                if let steps::Step::Start { .. } = step {
                    failpoint::hit("during-restart");
                }
                let mut start = Start::left(std::iter::once(step).chain(list));
                if !start.cmds.is_empty() {
                    // Built again now that the `.env` holds the new pins: a compose command
                    // carries what the `.env` says when it is built (before the first pin,
                    // the tag as the image variable's fallback).
                    start.cmds = plan.start_cmds(self.config, &service.dir);
                }
                return Progress::Started(Started {
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
            return Progress::Done(self.fail(service, changes, applied, error));
        }
        Progress::Done(Outcome::Updated {
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
        // The journal entry written before this step.
        let entry = |snapshot, stopped: &Option<_>| Pending {
            stopped: stopped.clone(),
            reached: step.name(),
            ..journalled(snapshot, changes)
        };
        match step {
            steps::Step::JournalStopping(stopping) => {
                log::debug!("{name}: stopping for a snapshot at rest");
                self.journal
                    .put(name, &entry(None, &Some(stopping.clone())))
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
                self.journal.put(name, &entry(applied.snapshot, stopped))?;
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
        log::warn!("{}; rolling back", error.of_service(&service.dir.name));
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
        let env_error = |msg: String| {
            Error::Env(EnvError::At {
                path: path.clone(),
                msg,
            })
        };
        // Refuse to overwrite edits made since the file was read.
        let now = std::fs::read(path).map_err(|source| {
            Error::Env(EnvError::Read {
                path: path.clone(),
                source,
            })
        })?;
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
        .map_err(|source| {
            Error::Env(EnvError::Write {
                path: path.clone(),
                source,
            })
        })
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
    use crate::config::SnapshotWhen;
    use crate::pipeline::fixture::{NEW, OLD};

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
    fn the_first_pin_starts_on_the_pin_not_on_the_tag() {
        // Before the first pin the `.env` has no HASHED value, and a compose command built
        // then carries the tag as the image variable's fallback: the start must be built
        // once the pin is written.
        let (_root, config, service) = service();
        std::fs::write(
            &service.dir.env_file,
            "SERVICE_APP_IMAGE_TAGGED=r.io/app:1\n",
        )
        .unwrap();
        let service = crate::pipeline::service::load(&service.dir).unwrap();
        let runner = tools(&service);
        let journal = Journal::new(&config.state_dir);
        let mut updater = Updater::new(&config, &runner, &journal);
        let first = crate::pipeline::fixture::change("APP", None, NEW);
        let Progress::Started(started) = updater.start_update(&service, vec![first], None) else {
            panic!("not started: {:#?}", runner.calls());
        };
        assert!(pinned(&service));
        assert!(!started.start.cmds.is_empty());
        for cmd in &started.start.cmds {
            assert!(
                !cmd.env.iter().any(|(k, _)| k == "SERVICE_APP_IMAGE_HASHED"),
                "{cmd}: {:?}",
                cmd.env
            );
        }
    }

    #[test]
    fn stop_snapshot_journal_write_then_start_in_this_order() {
        let (_root, config, service) = service();
        let runner = tools(&service);
        let journal = Journal::new(&config.state_dir);
        let mut updater = Updater::new(&config, &runner, &journal);
        let Progress::Started(started) = updater.start_update(&service, vec![change()], None)
        else {
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
                Progress::Done(outcome) => outcome,
                Progress::Started(started) => {
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

    /// The kinds of restart plan an update can follow (`restart::Plan`), as the settings
    /// and the tools lead `restart::plan` to them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Services,
        Project,
        Unit,
        Fresh,
        AlreadyRunning,
        NotRunning,
        Nothing,
    }

    const KINDS: [Kind; 7] = [
        Kind::Services,
        Kind::Project,
        Kind::Unit,
        Kind::Fresh,
        Kind::AlreadyRunning,
        Kind::NotRunning,
        Kind::Nothing,
    ];

    const WHEN: [SnapshotWhen; 2] = [SnapshotWhen::Stopped, SnapshotWhen::Running];

    /// A container `id` of compose service `compose` on `image`, as `container inspect`
    /// shows it.
    fn container(id: &str, compose: &str, image: &str) -> serde_json::Value {
        serde_json::json!({
            "Id": id, "Name": format!("svc_{compose}_1"), "Image": image, "RestartCount": 0,
            "State": {"Status": "running", "StartedAt": "t0", "ExitCode": 0},
            "Config": {"Labels": {"com.docker.compose.service": compose}}
        })
    }

    /// The tools of an update: `ps` lists `ids`, `container inspect` shows `containers`,
    /// the new pin's image is `image`.
    fn tools_with(
        service: &Service,
        ids: &str,
        containers: &[serde_json::Value],
        image: &str,
    ) -> Recording {
        let configs =
            serde_json::json!({"configs": [{"config": "svc", "subvolume": service.dir.path}]});
        Recording::new()
            .answer("ps -a", ids)
            .answer(
                "container inspect",
                &serde_json::json!(containers).to_string(),
            )
            .answer("image inspect", image)
            .answer("list-configs", &configs.to_string())
            .answer(" create ", "5\n")
    }

    /// A service, its settings and tools whose update follows a restart plan of `kind`,
    /// with the snapshot taken `when`, or no snapshot.
    fn setup(
        kind: Kind,
        when: SnapshotWhen,
        snapshots: bool,
    ) -> (tempfile::TempDir, Config, Service, Recording) {
        let (root, mut config, service) = service();
        config.snapshot_when = when;
        config.service_snapshot = snapshots;
        config.auto_rollback = true;
        let app = [container("c1", "app", "sha256:old")];
        let runner = match kind {
            Kind::Fresh => tools_with(&service, "", &[], "sha256:new\n"),
            Kind::AlreadyRunning => tools_with(&service, "c1\n", &app, "sha256:old\n"),
            Kind::NotRunning => {
                std::fs::write(
                    service.dir.path.join("compose.yml"),
                    "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    profiles: [extra]\n  db:\n    image: r.io/db:1\n",
                )
                .unwrap();
                let db = [container("c9", "db", "sha256:db")];
                tools_with(&service, "c9\n", &db, "sha256:new\n")
            }
            _ => tools_with(&service, "c1\n", &app, "sha256:new\n"),
        };
        match kind {
            Kind::Project => config.restart_scope = crate::config::RestartScope::Project,
            Kind::Unit => config.stop_start_method = crate::config::StopStartMethod::SystemdSystem,
            Kind::Nothing => config.service_stop_start = false,
            _ => {}
        }
        (root, config, service, runner)
    }

    /// The commands that change something, leaving out those that only look (the container
    /// list, inspections, snapper's configs).
    fn acting(calls: &[String]) -> Vec<String> {
        let looks = [
            "ps -a",
            "container inspect",
            "image inspect",
            "list-configs",
        ];
        calls
            .iter()
            .filter(|c| !looks.iter().any(|l| c.contains(l)))
            .cloned()
            .collect()
    }

    /// Updates `service` through `updater` as a run does: its start and gate (whose
    /// verdict is `gate`, or what the start gave) when it got that far.
    fn run_through(
        updater: &mut Updater<'_>,
        runner: &Recording,
        service: &Service,
        resume: Option<&Pending>,
        gate: Result<Vec<String>>,
    ) -> (Outcome, bool) {
        let changes = if resume.is_some() {
            Vec::new()
        } else {
            vec![change()]
        };
        match updater.start_update(service, changes, resume) {
            Progress::Done(outcome) => (outcome, false),
            Progress::Started(started) => {
                let verdict = started.start(runner).and(gate);
                (updater.finish(service, started, verdict), true)
            }
        }
    }

    /// The commands an update of `kind` changes things with, in order, and whether it
    /// leaves a start and gate to the caller.
    fn expected(kind: Kind, when: SnapshotWhen) -> (&'static [&'static str], bool) {
        let first = when == SnapshotWhen::Stopped;
        match (kind, first) {
            (Kind::Services, true) => {
                (&["rm -f -t 10 c1", " create ", "up -d --no-deps app"], true)
            }
            (Kind::Services, false) => {
                (&[" create ", "rm -f -t 10 c1", "up -d --no-deps app"], true)
            }
            (Kind::Project, true) => (&["compose down", " create ", "compose up -d"], true),
            (Kind::Project, false) => (&[" create ", "compose down", "compose up -d"], true),
            (Kind::Unit, true) => (&["systemctl stop", " create ", "systemctl start"], true),
            (Kind::Unit, false) => (&[" create ", "systemctl restart"], true),
            (Kind::Fresh, _) => (&[" create ", "compose up -d"], true),
            (Kind::AlreadyRunning | Kind::NotRunning | Kind::Nothing, _) => (&[" create "], false),
        }
    }

    fn assert_ran(calls: &[String], wanted: &[&str], what: &str) {
        assert_eq!(calls.len(), wanted.len(), "{what}: {calls:#?}");
        for (call, word) in calls.iter().zip(wanted) {
            assert!(call.contains(word), "{what}: {word} in {calls:#?}");
        }
    }

    #[test]
    fn each_restart_plan_kind_runs_its_commands_in_order_with_the_snapshot_at_rest_or_not() {
        for kind in KINDS {
            for when in WHEN {
                let (_root, config, service, runner) = setup(kind, when, true);
                let journal = Journal::new(&config.state_dir);
                let mut updater = Updater::new(&config, &runner, &journal);
                let (outcome, started) =
                    run_through(&mut updater, &runner, &service, None, Ok(Vec::new()));
                let what = format!("{kind:?} {when:?}");
                assert!(
                    matches!(outcome, Outcome::Updated { .. }),
                    "{what}: {outcome:?}"
                );
                let (wanted, starts) = expected(kind, when);
                assert_eq!(started, starts, "{what}");
                assert_ran(&acting(&runner.calls()), wanted, &what);
                assert!(pinned(&service), "{what}");
            }
        }
    }

    #[test]
    fn without_snapshots_the_same_commands_run_but_the_snapshot() {
        for kind in KINDS {
            for when in WHEN {
                let (_root, config, service, runner) = setup(kind, when, false);
                let journal = Journal::new(&config.state_dir);
                let mut updater = Updater::new(&config, &runner, &journal);
                let (outcome, _) =
                    run_through(&mut updater, &runner, &service, None, Ok(Vec::new()));
                let what = format!("{kind:?} {when:?}");
                let Outcome::Updated { snapshot, .. } = outcome else {
                    panic!("{what}: {outcome:?}");
                };
                assert_eq!(snapshot, None, "{what}");
                let wanted: Vec<&str> = expected(kind, when)
                    .0
                    .iter()
                    .copied()
                    .filter(|w| *w != " create ")
                    .collect();
                assert_ran(&acting(&runner.calls()), &wanted, &what);
                assert_eq!(journal.get("svc").unwrap().snapshot_before, None, "{what}");
            }
        }
    }

    #[test]
    fn the_dry_run_prints_the_commands_the_update_runs() {
        for kind in KINDS {
            for when in WHEN {
                let what = format!("{kind:?} {when:?}");
                let (_root, config, service, runner) = setup(kind, when, true);
                let journal = Journal::new(&config.state_dir);
                let printed = Updater::new(&config, &runner, &journal).plan(&service, &[change()]);
                let pull = format!("run: podman pull {NEW}");
                let printed: Vec<String> = printed
                    .iter()
                    .filter(|l| l.starts_with("run: ") && **l != pull)
                    .map(|l| {
                        let line = l.trim_start_matches("run: ");
                        line.split(" (in ").next().unwrap_or(line).to_owned()
                    })
                    .collect();
                let (_root, config, service, runner) = setup(kind, when, true);
                let mut updater = Updater::new(&config, &runner, &journal);
                run_through(&mut updater, &runner, &service, None, Ok(Vec::new()));
                let ran = acting(&runner.calls());
                if (kind, when) == (Kind::Unit, SnapshotWhen::Running) {
                    // The unit's one restart, printed as its stop and start.
                    assert_eq!(
                        printed[1..],
                        [
                            "systemctl stop podman-compose@svc",
                            "systemctl start podman-compose@svc"
                        ],
                        "{what}"
                    );
                    assert_eq!(ran[1..], ["systemctl restart podman-compose@svc"], "{what}");
                    assert_eq!(printed[0], ran[0], "{what}");
                } else {
                    assert_eq!(printed, ran, "{what}");
                }
            }
        }
    }

    #[test]
    fn the_dry_run_prints_the_change_the_pulls_and_a_plan_that_would_fail() {
        let (_root, config, service, runner) = setup(Kind::Services, SnapshotWhen::Stopped, true);
        let journal = Journal::new(&config.state_dir);
        let lines = Updater::new(&config, &runner, &journal).plan(&service, &[change()]);
        assert_eq!(lines[0], format!("{}:", service.dir.env_file.display()));
        assert!(
            lines[1..3]
                .iter()
                .any(|l| l.starts_with("- ") && l.contains(OLD)),
            "{lines:#?}"
        );
        assert!(
            lines[1..3]
                .iter()
                .any(|l| l.starts_with("+ ") && l.contains(NEW)),
            "{lines:#?}"
        );
        assert_eq!(lines[3], format!("run: podman pull {NEW}"));
        assert!(lines
            .last()
            .unwrap()
            .starts_with("wait: up to 0s for the containers of project svc"));
        // A compose file that does not parse: said, then the snapshot and the write only.
        std::fs::write(service.dir.path.join("compose.yml"), "services: [").unwrap();
        let lines = Updater::new(&config, &runner, &journal).plan(&service, &[change()]);
        let tail: Vec<&str> = lines[4..]
            .iter()
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        assert_eq!(tail, ["would", "run:", "write:"], "{lines:#?}");
        assert!(lines[4].starts_with("would fail: "), "{lines:#?}");
    }

    #[test]
    fn a_restart_plan_that_cannot_be_made_fails_the_update_before_it_touches_anything() {
        let (_root, config, service, runner) = setup(Kind::Services, SnapshotWhen::Stopped, true);
        std::fs::write(service.dir.path.join("compose.yml"), "services: [").unwrap();
        let journal = Journal::new(&config.state_dir);
        let mut updater = Updater::new(&config, &runner, &journal);
        let (outcome, started) = run_through(&mut updater, &runner, &service, None, Ok(Vec::new()));
        let Outcome::Failed {
            error, snapshot, ..
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        assert_eq!(
            (error.exit_code(), snapshot, started),
            (30, None, false),
            "{error}"
        );
        assert!(runner.calls().is_empty(), "{:#?}", runner.calls());
        assert!(journal.get("svc").is_none());
        assert!(!pinned(&service));
    }

    #[test]
    fn nothing_to_change_is_current_and_runs_nothing() {
        let (_root, config, service, runner) = setup(Kind::Services, SnapshotWhen::Stopped, true);
        let journal = Journal::new(&config.state_dir);
        let mut updater = Updater::new(&config, &runner, &journal);
        let step = updater.start_update(&service, Vec::new(), None);
        assert!(matches!(step, Progress::Done(Outcome::Current)));
        assert!(runner.calls().is_empty());
    }

    /// How a step is made to fail: a command that fails, the journal that cannot be
    /// written, or a `.env` edited while the update ran.
    #[derive(Debug, Clone, Copy)]
    enum Fault {
        Command(&'static str),
        Journal,
        EnvEdited,
    }

    /// The update of a Services plan whose snapshot is taken `when`, with `fault`, the
    /// container list answering `listed` after the first look: its outcome, the commands
    /// that change something after the failing one (all of them for a fault that is no
    /// command), and whether the new pins were written.
    fn failing(
        when: SnapshotWhen,
        fault: Fault,
        (auto_rollback, listed): (bool, &[&str]),
    ) -> (Outcome, Vec<String>, bool) {
        let (root, mut config, service, mut runner) = setup(Kind::Services, when, true);
        config.auto_rollback = auto_rollback;
        let journal = match fault {
            Fault::Journal => {
                let file = root.path().join("not-a-folder");
                std::fs::write(&file, "").unwrap();
                Journal::new(&file)
            }
            _ => Journal::new(&config.state_dir),
        };
        if let Fault::EnvEdited = fault {
            std::fs::write(&service.dir.env_file, "SERVICE_APP_IMAGE_HASHED=edited\n").unwrap();
        }
        if let Fault::Command(pattern) = fault {
            runner = runner.fail(pattern, "boom");
        }
        for ids in listed {
            runner = runner.answer("ps -a", ids);
        }
        let mut updater = Updater::new(&config, &runner, &journal);
        let (outcome, _) = run_through(&mut updater, &runner, &service, None, Ok(Vec::new()));
        let calls = runner.calls();
        let after = match fault {
            Fault::Command(pattern) => {
                let at = calls.iter().position(|c| c.contains(pattern)).unwrap();
                acting(&calls[at + 1..])
            }
            _ => acting(&calls),
        };
        let written = std::fs::read_to_string(&service.dir.env_file)
            .unwrap()
            .contains(NEW);
        (outcome, after, written)
    }

    #[test]
    fn a_failure_before_the_env_is_written_starts_again_what_stopped_for_the_snapshot() {
        // (fault, what runs after it when the snapshot is taken at rest)
        let cases: [(Fault, &[&str]); 5] = [
            (Fault::Journal, &["up -d --no-deps app"]),
            (Fault::Command("rm -f -t 10"), &["up -d --no-deps app"]),
            (
                Fault::Command("--jsonout list-configs"),
                &["up -d --no-deps app"],
            ),
            (Fault::Command("-c svc create"), &["up -d --no-deps app"]),
            (
                Fault::EnvEdited,
                &["rm -f -t 10 c1", " create ", "up -d --no-deps app"],
            ),
        ];
        for (fault, after) in cases {
            let (outcome, ran, written) = failing(SnapshotWhen::Stopped, fault, (true, &[]));
            assert!(
                matches!(outcome, Outcome::Failed { .. }),
                "{fault:?}: {outcome:?}"
            );
            assert!(!written, "{fault:?}");
            let ran: Vec<String> = ran
                .into_iter()
                .filter(|c| !c.contains("list-configs"))
                .collect();
            assert_ran(&ran, after, &format!("{fault:?}"));
            if let Fault::Command("rm -f -t 10") = fault {
                // While running, the stop comes after the write.
                continue;
            }
            // While running, nothing stopped before the failure: nothing starts.
            let (outcome, ran, written) = failing(SnapshotWhen::Running, fault, (true, &[]));
            assert!(
                matches!(outcome, Outcome::Failed { .. }),
                "{fault:?}: {outcome:?}"
            );
            assert!(!written, "{fault:?}");
            assert!(
                !ran.iter().any(|c| c.contains("up -d")),
                "{fault:?}: {ran:#?}"
            );
        }
    }

    #[test]
    fn a_failure_after_the_env_is_written_rolls_back_with_auto_rollback_only() {
        // (snapshot taken, failing command, the container list after the first look): the
        // stop after the write (the container still runs; the rollback finds it gone, then
        // the restored one), the start.
        let cases: [(SnapshotWhen, &str, &[&str]); 3] = [
            (SnapshotWhen::Running, "rm -f -t 10", &["c1\n", "", "c1\n"]),
            (SnapshotWhen::Running, "up -d --no-deps", &["", "c1\n"]),
            (SnapshotWhen::Stopped, "up -d --no-deps", &["", "c1\n"]),
        ];
        for (when, pattern, listed) in cases {
            let what = format!("{when:?} {pattern}");
            let (outcome, after, written) = failing(when, Fault::Command(pattern), (true, listed));
            let (Outcome::RolledBack { error, .. } | Outcome::Failed { error, .. }) = &outcome
            else {
                panic!("{what}: {outcome:?}");
            };
            assert_eq!(error.exit_code(), 34, "{what}: {error}");
            assert!(written, "{what}");
            assert!(
                after.iter().any(|c| c.contains("undochange 5..0")),
                "{what}: {after:#?}"
            );
            let (outcome, after, written_too) =
                failing(when, Fault::Command(pattern), (false, listed));
            assert!(
                matches!(outcome, Outcome::Failed { .. }),
                "{what}: {outcome:?}"
            );
            assert!(
                after.is_empty(),
                "{what}: nothing runs after it: {after:#?}"
            );
            assert!(written_too, "{what}: the new pins stay");
        }
    }

    #[test]
    fn a_failed_unit_restart_or_gate_rolls_back_to_the_snapshot() {
        let (_root, config, service, runner) = setup(Kind::Unit, SnapshotWhen::Running, true);
        let runner = runner.fail("systemctl restart", "boom").answer("ps -a", "");
        let journal = Journal::new(&config.state_dir);
        let mut updater = Updater::new(&config, &runner, &journal);
        let (outcome, started) = run_through(&mut updater, &runner, &service, None, Ok(Vec::new()));
        assert!(!started, "the restart failed before the gate");
        assert!(!matches!(outcome, Outcome::Updated { .. }), "{outcome:?}");
        assert!(
            runner.count("undochange 5..0") == 1,
            "{:#?}",
            runner.calls()
        );

        let (_root, config, service, runner) = setup(Kind::Services, SnapshotWhen::Stopped, true);
        let runner = runner.answer("ps -a", "").answer("ps -a", "c1\n");
        let journal = Journal::new(&config.state_dir);
        let mut updater = Updater::new(&config, &runner, &journal);
        let gate = Err(Error::Restart("health gate: app exited".into()));
        let (outcome, started) = run_through(&mut updater, &runner, &service, None, gate);
        assert!(started);
        let (Outcome::RolledBack { error, .. } | Outcome::Failed { error, .. }) = &outcome else {
            panic!("{outcome:?}");
        };
        assert!(error.to_string().contains("app exited"), "{error}");
        assert_eq!(runner.count("undochange 5..0"), 1, "{:#?}", runner.calls());
    }

    #[test]
    fn the_journal_names_the_step_the_update_reached() {
        use crate::pipeline::journal::StepName;
        // (snapshot taken, fault, step reached, what it says stopped)
        let cases: [(SnapshotWhen, Fault, Option<StepName>, Option<&[&str]>); 4] = [
            (
                SnapshotWhen::Stopped,
                Fault::Command("-c svc create"),
                Some(StepName::Stop),
                Some(&["app"]),
            ),
            (
                SnapshotWhen::Stopped,
                Fault::EnvEdited,
                Some(StepName::WriteEnv),
                Some(&["app"]),
            ),
            (
                SnapshotWhen::Running,
                Fault::EnvEdited,
                Some(StepName::WriteEnv),
                None,
            ),
            (
                SnapshotWhen::Running,
                Fault::Command("up -d"),
                Some(StepName::WriteEnv),
                None,
            ),
        ];
        for (when, fault, reached, stopped) in cases {
            let (root, config, service, runner) = setup(Kind::Services, when, true);
            if let Fault::EnvEdited = fault {
                std::fs::write(&service.dir.env_file, "SERVICE_APP_IMAGE_HASHED=edited\n").unwrap();
            }
            let runner = match fault {
                Fault::Command(pattern) => runner.fail(pattern, "boom"),
                _ => runner,
            };
            let mut config = config;
            config.auto_rollback = false;
            let journal = Journal::new(&config.state_dir);
            let mut updater = Updater::new(&config, &runner, &journal);
            run_through(&mut updater, &runner, &service, None, Ok(Vec::new()));
            let entry = journal.get("svc").unwrap();
            assert_eq!(entry.reached, reached, "{when:?} {fault:?}");
            let services = entry.stopped.map(|s| s.services);
            let wanted = stopped.map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(services, wanted, "{when:?} {fault:?}");
            drop(root);
        }
    }

    /// The journal entry an interrupted update of `service` left after it wrote the new
    /// pins (`reached` none: an entry older than the steps), and the service as the next run
    /// reads it.
    fn interrupted(
        service: &Service,
        reached: Option<crate::pipeline::journal::StepName>,
    ) -> (Pending, Service) {
        let entry = Pending {
            stopped: Some(crate::pipeline::journal::Stopped {
                services: vec!["app".into()],
            }),
            reached,
            ..journalled(Some(5), &[change()])
        };
        let env = apply(service, &[change()]);
        std::fs::write(&service.dir.env_file, env.render()).unwrap();
        let service = crate::pipeline::service::load(&service.dir).unwrap();
        (entry, service)
    }

    #[test]
    fn an_update_left_with_its_env_written_stops_and_starts_again_for_each_plan_kind() {
        use crate::pipeline::journal::StepName;
        for kind in KINDS {
            for reached in [Some(StepName::WriteEnv), None] {
                let what = format!("{kind:?} {reached:?}");
                let (_root, config, service, runner) = setup(kind, SnapshotWhen::Stopped, true);
                let (entry, service) = interrupted(&service, reached);
                assert!(entry.written(&service));
                let journal = Journal::new(&config.state_dir);
                let mut updater = Updater::new(&config, &runner, &journal);
                let (outcome, started) = run_through(
                    &mut updater,
                    &runner,
                    &service,
                    Some(&entry),
                    Ok(Vec::new()),
                );
                let Outcome::Updated {
                    snapshot, changes, ..
                } = outcome
                else {
                    panic!("{what}: {outcome:?}");
                };
                assert_eq!((snapshot, changes.len()), (Some(5), 1), "{what}");
                let wanted: &[&str] = match kind {
                    Kind::Services => &["rm -f -t 10 c1", "up -d --no-deps app"],
                    Kind::Project => &["compose down", "compose up -d"],
                    Kind::Unit => &["systemctl stop", "systemctl start"],
                    Kind::Fresh => &["compose up -d"],
                    _ => &[],
                };
                assert_eq!(started, !wanted.is_empty(), "{what}");
                assert_ran(&acting(&runner.calls()), wanted, &what);
            }
        }
    }

    #[test]
    fn an_update_left_with_its_env_written_rolls_back_to_its_snapshot_when_the_gate_fails() {
        let (_root, config, service, runner) = setup(Kind::Services, SnapshotWhen::Stopped, true);
        let (entry, service) =
            interrupted(&service, Some(crate::pipeline::journal::StepName::WriteEnv));
        let runner = runner.answer("ps -a", "").answer("ps -a", "c1\n");
        let journal = Journal::new(&config.state_dir);
        let mut updater = Updater::new(&config, &runner, &journal);
        let gate = Err(Error::Restart("health gate: app exited".into()));
        let (outcome, _) = run_through(&mut updater, &runner, &service, Some(&entry), gate);
        assert!(!matches!(outcome, Outcome::Updated { .. }), "{outcome:?}");
        assert_eq!(runner.count("undochange 5..0"), 1, "{:#?}", runner.calls());
        assert_eq!(
            runner.count(" create --description 'cipug update"),
            0,
            "no new snapshot"
        );
    }

    #[test]
    fn what_an_update_left_stopped_before_its_env_was_written_starts_again_on_the_old_pins() {
        // (what the entry says stopped, the command that starts it again)
        let cases: [(Option<&[&str]>, Option<&str>); 3] = [
            (Some(&["app"]), Some("podman-compose up -d --no-deps app")),
            (Some(&[]), Some("podman-compose up -d")),
            (None, None),
        ];
        for (stopped, start) in cases {
            let (_root, config, service, runner) =
                setup(Kind::Services, SnapshotWhen::Stopped, true);
            let entry = Pending {
                stopped: stopped.map(|s| crate::pipeline::journal::Stopped {
                    services: s.iter().map(|s| s.to_string()).collect(),
                }),
                reached: Some(crate::pipeline::journal::StepName::Stop),
                ..journalled(None, &[change()])
            };
            assert!(!entry.written(&service));
            let journal = Journal::new(&config.state_dir);
            Updater::new(&config, &runner, &journal).start_stopped(&service, &entry);
            let calls = runner.calls();
            assert_eq!(
                calls.iter().map(String::as_str).collect::<Vec<_>>(),
                Vec::from_iter(start),
                "{stopped:?}"
            );
            assert!(!pinned(&service));
        }
    }

    #[test]
    fn a_rollback_left_in_the_journal_is_finished_not_updated_again() {
        use crate::pipeline::journal::{RollbackStep, RollingBack};
        let (_root, config, service, runner) = setup(Kind::Services, SnapshotWhen::Stopped, true);
        let runner = runner.answer("ps -a", "").answer("ps -a", "c1\n");
        let entry = Pending {
            rollback: Some(RollingBack {
                to_snapshot: Some(5),
                pins: Vec::new(),
                state_snapshot: Some(6),
                step: RollbackStep::Started,
                why: "health gate: app exited".into(),
            }),
            ..journalled(Some(5), &[change()])
        };
        let journal = Journal::new(&config.state_dir);
        let mut updater = Updater::new(&config, &runner, &journal);
        let step = updater.start_update(&service, Vec::new(), Some(&entry));
        assert!(matches!(step, Progress::Done(_)));
        assert_eq!(runner.count("undochange 5..0"), 1, "{:#?}", runner.calls());
        assert_eq!(runner.count("up -d --no-deps"), 0, "{:#?}", runner.calls());
    }
}
