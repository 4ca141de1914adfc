//! The rollbacks of a run, recorded in the journal before each step ([`journal`]): the one
//! after a failed update, and finishing one that an interrupted run left behind, to the
//! snapshot (or pins) it recorded and from the step it had begun.
//!
//! [`journal`]: crate::pipeline::journal

use crate::adapters::runner::Runner;
use crate::adapters::snapper::Snapper;
use crate::config::Config;
use crate::error::{Error, RestartError};
use crate::pipeline::journal::{Journal, Pending, RollbackStep, RollingBack};
use crate::pipeline::service::{Outcome, Service};
use crate::pipeline::undo::rollback::{undo, Kept, Resume, UndoTarget};

/// What the rollbacks of a run work with.
pub struct Rolling<'a> {
    /// The settings.
    pub config: &'a Config,
    /// The runner.
    pub runner: &'a dyn Runner,
    /// The journal the steps are recorded in.
    pub journal: &'a Journal,
}

/// Rolls `service` back after its update (journalled as `update`) failed with `error`: to
/// the snapshot taken before it, or without one to the previous pins.
pub fn after_failure(
    rolling: &Rolling<'_>,
    snapper: &mut Snapper<'_>,
    service: &Service,
    update: Pending,
    error: Error,
) -> Outcome {
    let changes = update.to_changes();
    let target = match update.snapshot_before {
        Some(number) => UndoTarget::Snapshot(number),
        None => UndoTarget::Pins(
            changes
                .iter()
                .map(|c| (c.entry.clone(), c.old.clone()))
                .collect(),
        ),
    };
    let progress = RollingBack {
        to_snapshot: update.snapshot_before,
        pins: pins_of(&target),
        state_snapshot: None,
        step: RollbackStep::Started,
        why: error.to_string(),
    };
    let why = format!("cipug rollback after failed update: {error}");
    let snapshot = update.snapshot_before;
    let mut record = recorder(rolling.journal, &service.dir.name, update, progress);
    match undo(
        rolling.config,
        rolling.runner,
        snapper,
        (&service.dir, target, &why, Kept::Failed),
        None,
        &mut record,
    ) {
        Ok(failed_snapshot) => Outcome::RolledBack {
            changes,
            error,
            snapshots: (snapshot, failed_snapshot),
        },
        Err(undo_error) => Outcome::Failed {
            changes,
            error: Error::Restart(RestartError::RollbackFailed {
                error: Box::new(error),
                rollback: Box::new(undo_error.error),
            }),
            snapshot,
            failed_snapshot: undo_error.failed_snapshot,
        },
    }
}

/// Finishes the rollback `progress` of `service` that an interrupted run left in the
/// journal entry `pending`.
pub fn finish(
    rolling: &Rolling<'_>,
    snapper: &mut Snapper<'_>,
    service: &Service,
    pending: &Pending,
    progress: &RollingBack,
) -> Outcome {
    let name = &service.dir.name;
    log::warn!(
        "{name}: finishing a rollback an interrupted run left behind (it had begun: {})",
        step_words(progress.step)
    );
    let changes = pending.to_changes();
    // The version being undone: the new pins of the update, whatever the `.env` holds now.
    let mut failed = service.clone();
    for image in &mut failed.images {
        if let Some(c) = changes.iter().find(|c| c.entry == image.entry) {
            image.pinned = Some(c.new.as_str().to_owned());
        }
    }
    let target = match progress.to_snapshot {
        Some(number) => UndoTarget::Snapshot(number),
        None => UndoTarget::Pins(progress.pins.clone()),
    };
    let resume = Resume {
        step: progress.step,
        state_snapshot: progress.state_snapshot,
        failed,
    };
    let why = format!("cipug rollback after failed update: {}", progress.why);
    let error = Error::Restart(RestartError::RollbackFinished {
        why: progress.why.clone(),
    });
    let mut record = recorder(rolling.journal, name, pending.clone(), progress.clone());
    match undo(
        rolling.config,
        rolling.runner,
        snapper,
        (&service.dir, target, &why, Kept::Failed),
        Some(resume),
        &mut record,
    ) {
        Ok(failed_snapshot) => Outcome::RolledBack {
            changes,
            error,
            snapshots: (pending.snapshot_before, failed_snapshot),
        },
        Err(undo_error) => Outcome::Failed {
            changes,
            error: Error::Restart(RestartError::FinishFailed {
                error: Box::new(error),
                rollback: Box::new(undo_error.error),
            }),
            snapshot: pending.snapshot_before,
            failed_snapshot: undo_error.failed_snapshot,
        },
    }
}

/// What records each step of a rollback of `service` in its journal entry (`base` with
/// `progress` updated); a failed write is logged, and the rollback goes on: the way back
/// comes first.
pub fn recorder<'j>(
    journal: &'j Journal,
    service: &'j str,
    base: Pending,
    mut progress: RollingBack,
) -> impl FnMut(RollbackStep, Option<u64>) + 'j {
    move |step, state| {
        progress.step = step;
        progress.state_snapshot = state;
        let entry = Pending {
            rollback: Some(progress.clone()),
            ..base.clone()
        };
        if let Err(e) = journal.put(service, &entry) {
            log::error!("{service}: could not record the rollback's progress: {e}");
        }
    }
}

/// The pins a pins-only target writes back (none for a snapshot).
pub fn pins_of(target: &UndoTarget) -> Vec<(String, Option<String>)> {
    match target {
        UndoTarget::Pins(pins) => pins.clone(),
        UndoTarget::Snapshot(_) => Vec::new(),
    }
}

/// A step in words, for the log.
fn step_words(step: RollbackStep) -> &'static str {
    match step {
        RollbackStep::Started => "stopping the service",
        RollbackStep::Restoring => "putting the files back",
        RollbackStep::Restored => "starting the restored version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::fixture::NEW;

    #[test]
    fn each_step_is_recorded_with_the_state_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        let base = Pending {
            snapshot_before: Some(3),
            changes: Vec::new(),
            rollback: None,
            stopped: None,
            reached: None,
        };
        let progress = RollingBack {
            to_snapshot: Some(3),
            pins: Vec::new(),
            state_snapshot: None,
            step: RollbackStep::Started,
            why: "gate".into(),
        };
        let mut record = recorder(&journal, "svc", base, progress);
        record(RollbackStep::Started, None);
        assert_eq!(
            journal.get("svc").unwrap().rollback.unwrap().step,
            RollbackStep::Started
        );
        record(RollbackStep::Restoring, Some(7));
        let entry = journal.get("svc").unwrap();
        let rollback = entry.rollback.unwrap();
        assert_eq!(
            (
                rollback.step,
                rollback.state_snapshot,
                entry.snapshot_before
            ),
            (RollbackStep::Restoring, Some(7), Some(3))
        );
    }

    /// The tools answering a rollback that goes well (as in `pipeline::undo::rollback`'s tests):
    /// snapper knows the folder, no container is left after the stop, one runs after the
    /// start.
    fn tools(dir: &crate::services::ServiceDir) -> crate::adapters::recording::Recording {
        let running = serde_json::json!([{
            "Id": "c1", "Name": "svc_app_1", "Image": "sha256:1", "RestartCount": 0,
            "State": {"Status": "running", "StartedAt": "t0", "ExitCode": 0},
            "Config": {"Labels": {"com.docker.compose.service": "app"}}
        }]);
        let configs = serde_json::json!({"configs": [{"config": "svc", "subvolume": dir.path}]});
        crate::adapters::recording::Recording::new()
            .answer("list-configs", &configs.to_string())
            .answer(" create ", "7\n")
            .answer("ps -a", "")
            .answer("ps -a", "c1\n")
            .answer("container inspect", &running.to_string())
    }

    #[test]
    fn an_interrupted_rollback_is_finished_from_each_journalled_step() {
        use RollbackStep::*;
        // (the step journalled, the failed state's snapshot, takes a snapshot of it, runs
        // undochange, the failed state's snapshot after)
        let cases = [
            (Started, None, true, true, Some(7)),
            (Started, Some(5), false, true, Some(5)),
            (Restoring, Some(5), false, true, Some(5)),
            (Restored, Some(5), false, false, Some(5)),
        ];
        for (step, state, takes, restores, kept) in cases {
            let (_root, config, dir) = crate::pipeline::fixture::service(NEW);
            let service = crate::pipeline::service::load(&dir).unwrap();
            let runner = tools(&dir);
            let journal = Journal::new(&config.state_dir);
            let progress = RollingBack {
                to_snapshot: Some(3),
                pins: Vec::new(),
                state_snapshot: state,
                step,
                why: "health gate: app exited".into(),
            };
            let pending = Pending {
                snapshot_before: Some(3),
                changes: Vec::new(),
                rollback: Some(progress.clone()),
                stopped: None,
                reached: None,
            };
            journal.put("svc", &pending).unwrap();
            let rolling = Rolling {
                config: &config,
                runner: &runner,
                journal: &journal,
            };
            let mut snapper = Snapper::new(&runner);
            let outcome = finish(&rolling, &mut snapper, &service, &pending, &progress);
            let calls = runner.calls();
            let Outcome::RolledBack {
                snapshots, error, ..
            } = outcome
            else {
                panic!("{step:?}: {outcome:?}\n{calls:#?}");
            };
            assert_eq!(snapshots, (Some(3), kept), "{step:?}");
            assert!(error.to_string().contains("rollback interrupted, finished"));
            let ran = |w: &str| calls.iter().any(|c| c.contains(w));
            assert_eq!(ran(" create "), takes, "{step:?}: {calls:#?}");
            assert_eq!(ran("undochange 3..0"), restores, "{step:?}: {calls:#?}");
            assert!(ran("up -d"), "{step:?}: {calls:#?}");
            let left = journal.get("svc").and_then(|p| p.rollback).map(|r| r.step);
            assert_eq!(left, Some(Restored), "{step:?}: the last step journalled");
        }
    }

    #[test]
    fn without_a_snapshot_a_failed_update_writes_the_old_pins_back() {
        let old =
            "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let (_root, mut config, dir) = crate::pipeline::fixture::service(NEW);
        config.service_snapshot = false;
        let service = crate::pipeline::service::load(&dir).unwrap();
        // The restored pin's image is the one that runs.
        let runner = tools(&dir).answer("image inspect", "sha256:1\n");
        let journal = Journal::new(&config.state_dir);
        let update = Pending {
            snapshot_before: None,
            changes: vec![crate::pipeline::journal::PendingChange {
                entry: "APP".into(),
                old: Some(old.into()),
                new: NEW.into(),
            }],
            rollback: None,
            stopped: None,
            reached: None,
        };
        let rolling = Rolling {
            config: &config,
            runner: &runner,
            journal: &journal,
        };
        let mut snapper = Snapper::new(&runner);
        let error = Error::Restart("health gate: app exited".into());
        let outcome = after_failure(&rolling, &mut snapper, &service, update, error);
        assert!(matches!(outcome, Outcome::RolledBack { .. }), "{outcome:?}");
        let env = std::fs::read_to_string(&dir.env_file).unwrap();
        assert!(env.contains(old) && !env.contains(NEW), "{env}");
        assert_eq!(runner.count("undochange"), 0);
        let rollback = journal.get("svc").and_then(|p| p.rollback).unwrap();
        assert_eq!(rollback.pins, [("APP".to_owned(), Some(old.to_owned()))]);
        assert_eq!(rollback.step, RollbackStep::Restored);
    }
}
