//! Undoing a service's update: back to the snapshot (pins and data together) or to the
//! previous pins, then pull, restart and gate on health again.

use crate::adapters::compose::Compose;
use crate::adapters::runner::Runner;
use crate::adapters::snapper::{Snapper, SnapshotMeta};
use crate::base::failpoint;
use crate::config::Config;
use crate::error::{EnvError, Error, Result};
use crate::files::atomic;
use crate::pipeline::journal::RollbackStep;
use crate::pipeline::service::{load, Service};
use crate::pipeline::undo::undo_checks;
use crate::services::ServiceDir;

/// What to put a service back to.
pub enum UndoTarget {
    /// Snapper snapshot: the `.env` pin and the data together.
    Snapshot(u64),
    /// Only these pins (`<X>`, old pin; none: remove nothing, keep as is) when snapshots are off.
    Pins(Vec<(String, Option<String>)>),
}

/// What the snapshot a rollback takes first keeps: the failed state of an update the health
/// gate refused (userdata `cipug=failed`), or the state before a `cipug rollback`
/// (`cipug=before-rollback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// The state of a failed update.
    Failed,
    /// The state a rollback on request replaced.
    BeforeRollback,
}

impl Kept {
    /// The `cipug=` userdata of the snapshot.
    pub fn userdata(self) -> &'static str {
        match self {
            Kept::Failed => "failed",
            Kept::BeforeRollback => "before-rollback",
        }
    }

    /// How messages name what the snapshot keeps.
    pub fn label(self) -> &'static str {
        match self {
            Kept::Failed => "the failed state",
            Kept::BeforeRollback => "the state before the rollback",
        }
    }
}

/// Where an undo starts when an interrupted run left one unfinished: the step it had begun,
/// the state snapshot it had taken, and the pins of the version being undone (the `.env`
/// may hold the restored ones already).
pub struct Resume {
    /// The step the interrupted undo had begun.
    pub step: RollbackStep,
    /// The snapshot of the state before the rollback, if it was taken.
    pub state_snapshot: Option<u64>,
    /// The version being undone, with its pins.
    pub failed: Service,
}

/// Stops the service and makes sure none of its containers is left, puts it back (after a
/// snapshot of the failed state), starts it and checks with the health gate that the
/// restored pins run. Returns the number of the failed-state snapshot, if taken. Nothing is
/// restored while a container of the service still exists. That snapshot is described as
/// `why`; `kept` says which state it keeps (a rollback on request: the state before it).
///
/// `record` is told each step (and the state snapshot once taken) before the step is
/// taken, so that the journal can finish an interrupted undo ([`Resume`]). When the
/// failed-state snapshot cannot be taken (a full file system), the service is restored all
/// the same: the way back comes before keeping the failed state, which is then said lost.
pub fn undo(
    config: &Config,
    runner: &dyn Runner,
    snapper: &mut Snapper<'_>,
    (dir, target, why, kept): (&ServiceDir, UndoTarget, &str, Kept),
    resume: Option<Resume>,
    record: &mut dyn FnMut(RollbackStep, Option<u64>),
) -> std::result::Result<Option<u64>, UndoError> {
    let mut failed_snapshot = resume.as_ref().and_then(|r| r.state_snapshot);
    let steps = Steps {
        config,
        runner,
        dir,
        why,
        kept,
    };
    match steps.run(snapper, target, resume, record, &mut failed_snapshot) {
        Ok(()) => Ok(failed_snapshot),
        Err(error) => Err(UndoError {
            error,
            failed_snapshot,
        }),
    }
}

/// A rollback that failed, and the snapshot of the failed state it took before, if any (so
/// that the history records it).
#[derive(Debug)]
pub struct UndoError {
    /// What went wrong.
    pub error: Error,
    /// The snapshot of the failed state, if it was taken.
    pub failed_snapshot: Option<u64>,
}

impl std::fmt::Display for UndoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// What one rollback works with.
struct Steps<'a> {
    config: &'a Config,
    runner: &'a dyn Runner,
    dir: &'a ServiceDir,
    why: &'a str,
    kept: Kept,
}

impl Steps<'_> {
    /// The rollback; `failed_snapshot` gets the failed state's snapshot as soon as it exists.
    fn run(
        &self,
        snapper: &mut Snapper<'_>,
        target: UndoTarget,
        resume: Option<Resume>,
        record: &mut dyn FnMut(RollbackStep, Option<u64>),
        failed_snapshot: &mut Option<u64>,
    ) -> Result<()> {
        let (config, runner, dir) = (self.config, self.runner, self.dir);
        let name = &dir.name;
        let from = resume.as_ref().map_or(RollbackStep::Started, |r| r.step);
        let failed_version = match resume {
            Some(resume) => Some(resume.failed),
            None => load(dir).ok(),
        };
        // As far as it got: a resumed undo never steps back.
        record(from, *failed_snapshot);
        failpoint::hit("rollback-started");
        if let Err(e) = runner.run(&Compose::new(config).stop(dir)) {
            log::warn!("{name}: stopping before the rollback failed: {e}");
        }
        // Also what an interrupted start of the restored version left.
        undo_checks::ensure_no_container(config, runner, dir, failed_version.as_ref())?;
        let restored = if from == RollbackStep::Restored {
            log::info!("{name}: the files were put back by the interrupted run");
            "files and pins put back by an interrupted rollback".to_owned()
        } else {
            self.restore(snapper, target, record, failed_snapshot)?
        };
        let now = load(dir)?;
        let restored = format!("{restored}, pins: {}", undo_checks::pins(&now));
        let expected = undo_checks::expected_between(config, failed_version.as_ref(), &now);
        undo_checks::start_and_verify(config, runner, dir, &restored, &expected)
    }

    /// Puts the files (or only the pins) back, after a snapshot of the failed state unless
    /// an interrupted run took it already; says what it did.
    fn restore(
        &self,
        snapper: &mut Snapper<'_>,
        target: UndoTarget,
        record: &mut dyn FnMut(RollbackStep, Option<u64>),
        failed_snapshot: &mut Option<u64>,
    ) -> Result<String> {
        let (dir, name) = (self.dir, &self.dir.name);
        match target {
            UndoTarget::Snapshot(number) => {
                let snapper_config = snapper.config_for(&dir.path)?;
                let kept = match *failed_snapshot {
                    Some(failed) => format!("{} is in snapshot {failed}", self.kept.label()),
                    None => self.keep_failed_state(
                        snapper,
                        &snapper_config.config,
                        record,
                        failed_snapshot,
                    ),
                };
                failpoint::hit("rollback-state-kept");
                record(RollbackStep::Restoring, *failed_snapshot);
                failpoint::hit("rollback-restoring");
                snapper.undochange(&snapper_config.config, number)?;
                record(RollbackStep::Restored, *failed_snapshot);
                log::info!("{name}: files put back to snapshot {number}");
                failpoint::hit("rollback-restored");
                Ok(format!("files put back to snapshot {number} ({kept})"))
            }
            UndoTarget::Pins(pins) => {
                record(RollbackStep::Restoring, None);
                let service = load(dir)?;
                let mut env = service.env.clone();
                for (entry, old) in &pins {
                    let image = service.images.iter().find(|i| &i.entry == entry);
                    if let (Some(image), Some(old)) = (image, old) {
                        env.set(&image.hashed_key(), old, Some(&image.tagged_key()));
                    }
                }
                atomic::write(&dir.env_file, env.render().as_bytes(), 0o600).map_err(|e| {
                    Error::Env(EnvError::Write {
                        path: dir.env_file.clone(),
                        source: e,
                    })
                })?;
                record(RollbackStep::Restored, None);
                log::info!("{name}: previous pins written back (no snapshot: data not restored)");
                Ok("previous pins written back (data not restored)".to_owned())
            }
        }
    }

    /// Takes the snapshot of the failed state; when that fails (a full file system), says
    /// so and goes on: restoring the service matters more.
    fn keep_failed_state(
        &self,
        snapper: &mut Snapper<'_>,
        snapper_config: &str,
        record: &mut dyn FnMut(RollbackStep, Option<u64>),
        failed_snapshot: &mut Option<u64>,
    ) -> String {
        let name = &self.dir.name;
        let meta = SnapshotMeta {
            cleanup: self.config.snapper_cleanup.clone(),
            userdata: vec![
                ("cipug".into(), self.kept.userdata().into()),
                ("service".into(), name.clone()),
            ],
        };
        match snapper.create(snapper_config, self.why, &meta) {
            Ok(failed) => {
                *failed_snapshot = Some(failed);
                record(RollbackStep::Started, Some(failed));
                log::info!("{name}: snapshot {failed} keeps the state before the rollback");
                format!("{} is in snapshot {failed}", self.kept.label())
            }
            Err(e) => {
                let label = self.kept.label();
                log::warn!(
                    "{name}: {label} could not be kept ({e}); rolling back without it: the way back comes first"
                );
                format!("{label} was not kept: {e}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The steps of a rollback over the recording runner: a failure at each command, and
    //! finishing from each journalled step.
    use super::*;
    use crate::adapters::recording::Recording;
    use crate::pipeline::fixture::NEW;

    /// A service folder whose `.env` holds the pin being undone.
    fn service() -> (tempfile::TempDir, Config, ServiceDir) {
        crate::pipeline::fixture::service(NEW)
    }

    /// The tools answering a rollback that goes well: snapper knows the folder, the project
    /// has no container left after the stop and one running after the start.
    fn tools(dir: &ServiceDir) -> Recording {
        let running = serde_json::json!([{
            "Id": "c1", "Name": "svc_app_1", "Image": "sha256:1", "RestartCount": 0,
            "State": {"Status": "running", "StartedAt": "t0", "ExitCode": 0},
            "Config": {"Labels": {"com.docker.compose.service": "app"}}
        }]);
        let configs = serde_json::json!({"configs": [{"config": "svc", "subvolume": dir.path}]});
        Recording::new()
            .answer("list-configs", &configs.to_string())
            .answer(" create ", "7\n")
            .answer("ps -a", "")
            .answer("ps -a", "c1\n")
            .answer("container inspect", &running.to_string())
    }

    /// Runs the undo to snapshot 3 over `runner`; the result, the steps recorded (with the
    /// state snapshot) and the commands run.
    fn rollback(
        runner: &Recording,
        (config, dir): (&Config, &ServiceDir),
        resume: Option<(RollbackStep, Option<u64>)>,
    ) -> (
        Result<Option<u64>, String>,
        Vec<(RollbackStep, Option<u64>)>,
        Vec<String>,
    ) {
        let mut steps = Vec::new();
        let resume = resume.map(|(step, state_snapshot)| Resume {
            step,
            state_snapshot,
            failed: load(dir).unwrap(),
        });
        let mut snapper = Snapper::new(runner);
        let result = undo(
            config,
            runner,
            &mut snapper,
            (dir, UndoTarget::Snapshot(3), "why", Kept::Failed),
            resume,
            &mut |step, state| steps.push((step, state)),
        );
        (result.map_err(|e| e.to_string()), steps, runner.calls())
    }

    fn ran(calls: &[String], words: &str) -> bool {
        calls.iter().any(|c| c.contains(words))
    }

    #[test]
    fn a_rollback_that_goes_well_records_each_step_before_it() {
        let (_root, config, dir) = service();
        let runner = tools(&dir);
        let (result, steps, calls) = rollback(&runner, (&config, &dir), None);
        assert_eq!(result, Ok(Some(7)), "{calls:#?}");
        use RollbackStep::*;
        assert_eq!(
            steps,
            [
                (Started, None),
                (Started, Some(7)),
                (Restoring, Some(7)),
                (Restored, Some(7))
            ]
        );
        let order: Vec<usize> = [" create ", "undochange 3..0", "up -d"]
            .iter()
            .map(|w| calls.iter().position(|c| c.contains(w)).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{calls:#?}");
    }

    #[test]
    fn a_failure_at_each_step_and_what_runs_after_it() {
        use RollbackStep::*;
        // (the failing command, the error it gives, steps recorded, what must not run after)
        let cases: [(&str, Option<&str>, &[RollbackStep], &[&str]); 4] = [
            // A container that will not go away: nothing is restored under it.
            (
                "ps -a -q",
                Some("nothing was restored"),
                &[Started],
                &[" create ", "undochange", "up -d"],
            ),
            // No room for the failed state: restored without it.
            ("-c svc create", None, &[Started, Restoring, Restored], &[]),
            (
                "undochange",
                Some("undochange"),
                &[Started, Started, Restoring],
                &["up -d"],
            ),
            (
                "up -d",
                Some("starting failed"),
                &[Started, Started, Restoring, Restored],
                &[],
            ),
        ];
        for (failing, error, want_steps, not_after) in cases {
            let (_root, config, dir) = service();
            let runner = tools(&dir).fail(failing, "boom");
            let (result, steps, calls) = rollback(&runner, (&config, &dir), None);
            match error {
                Some(words) => {
                    let err = result.unwrap_err();
                    assert!(err.contains(words), "{failing}: {err}");
                }
                None => assert_eq!(result, Ok(None), "{failing}: no state kept"),
            }
            let got: Vec<RollbackStep> = steps.iter().map(|(s, _)| *s).collect();
            assert_eq!(got, want_steps, "{failing}");
            let first = calls.iter().position(|c| c.contains(failing)).unwrap();
            for word in not_after {
                assert!(
                    !calls[first + 1..].iter().any(|c| c.contains(word)),
                    "{failing}: {word} ran after it: {calls:#?}"
                );
            }
        }
    }

    #[test]
    fn an_interrupted_rollback_is_finished_from_its_step() {
        use RollbackStep::*;
        // Killed before `undochange`, the failed state kept: no second snapshot of it.
        let (_root, config, dir) = service();
        let runner = tools(&dir);
        let (result, steps, calls) = rollback(&runner, (&config, &dir), Some((Restoring, Some(5))));
        assert_eq!(result, Ok(Some(5)));
        assert!(
            !ran(&calls, " create ") && ran(&calls, "undochange 3..0"),
            "{calls:#?}"
        );
        assert_eq!(steps.last(), Some(&(Restored, Some(5))));
        // Killed after it: the files are back; only the start and the gate are left.
        let runner = tools(&dir);
        let (result, _, calls) = rollback(&runner, (&config, &dir), Some((Restored, Some(5))));
        assert_eq!(result, Ok(Some(5)));
        assert!(
            !ran(&calls, "undochange") && !ran(&calls, " create "),
            "{calls:#?}"
        );
        assert!(ran(&calls, "up -d"), "{calls:#?}");
        // Killed before the failed state was kept: it is kept now.
        let runner = tools(&dir);
        let (result, _, calls) = rollback(&runner, (&config, &dir), Some((Started, None)));
        assert_eq!(result, Ok(Some(7)));
        assert_eq!(calls.iter().filter(|c| c.contains(" create ")).count(), 1);
    }
}
