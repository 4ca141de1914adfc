//! The per-service update: read the env file, compare pins, and where a digest moved (the
//! new images already pulled by the run): stop what changes, snapshot, write the env file,
//! start, health gate. A failed step ends that service's update (a stopped service is
//! started again on its old pins); the caller goes on with the next service.

use std::path::Path;

use crate::atomic;
use crate::compose::{project_name, Compose};
use crate::config::{Config, SnapshotWhen};
use crate::envfile::EnvFile;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::health;
use crate::image_ref::Pin;
use crate::journal::{Journal, Pending, PendingChange};
use crate::pins::{image_entries, ImageEntry};
use crate::pull::pull_cmd;
use crate::resolve::Resolutions;
use crate::restart::{self, Plan};
use crate::runner::Runner;
use crate::services::ServiceDir;
use crate::snapshot::{create_cmd, Snapper, SnapshotMeta};
use crate::undo_checks;

/// A service with its parsed env file and image entries.
#[derive(Debug, Clone)]
pub struct Service {
    /// The folder.
    pub dir: ServiceDir,
    /// The env file exactly as read.
    pub env: EnvFile,
    /// Its image entries.
    pub images: Vec<ImageEntry>,
}

impl Service {
    /// The variables its TAGGED values interpolate, each once.
    pub fn uses(&self) -> Vec<String> {
        let mut names: Vec<String> = self.images.iter().flat_map(|i| i.uses.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// One pin that changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The `<X>` of the entry.
    pub entry: String,
    /// The pin before, if any.
    pub old: Option<String>,
    /// The new pin.
    pub new: Pin,
    /// The version tag that moves with the pin (`TAG_UPDATE`), if any.
    pub retag: Option<crate::tag_update::Retag>,
}

/// What happened to a service.
#[derive(Debug)]
pub enum Outcome {
    /// Every pin was current (or held back).
    Current,
    /// Pins changed and every step succeeded.
    Updated {
        /// The changes.
        changes: Vec<Change>,
        /// The snapshot taken before, if any.
        snapshot: Option<u64>,
    },
    /// The restart or health gate failed and the update was undone.
    RolledBack {
        /// The changes that were undone.
        changes: Vec<Change>,
        /// Why the update failed.
        error: Error,
        /// The snapshot the service was put back to, and the one of the failed state.
        snapshots: (Option<u64>, Option<u64>),
    },
    /// A step failed; the error says which.
    Failed {
        /// The changes that were attempted (empty if resolution or parsing failed).
        changes: Vec<Change>,
        /// What went wrong.
        error: Error,
        /// The snapshot taken before the failed step, if one was.
        snapshot: Option<u64>,
    },
}

/// The largest env file cipug reads (1 MiB): anything bigger is not a hand-written `.env`.
pub const ENV_FILE_LIMIT: u64 = 1 << 20;

/// Reads and parses a service's env file. Errors (exit 32) name the file and line.
pub fn load(dir: &ServiceDir) -> Result<Service> {
    let env_error = |msg: String| Error::Env(format!("{}: {msg}", dir.env_file.display()));
    // Temporary files are made beside the file written: the link's target for a symlinked
    // env file.
    let written = std::fs::canonicalize(&dir.env_file).unwrap_or_else(|_| dir.env_file.clone());
    let folder = written.parent().unwrap_or(&dir.path);
    match atomic::remove_stale_temps(folder, &file_name(&written)) {
        Ok(0) => {}
        Ok(n) => log::info!(
            "{}: removed {n} temporary file(s) left by an interrupted run",
            dir.name
        ),
        Err(e) => log::warn!(
            "{}: could not look for stale temporary files: {e}",
            folder.display()
        ),
    }
    let size = std::fs::metadata(&dir.env_file)
        .map_err(|e| env_error(e.to_string()))?
        .len();
    if size > ENV_FILE_LIMIT {
        return Err(env_error(format!(
            "{size} bytes is more than an env file holds (limit {ENV_FILE_LIMIT}); not read"
        )));
    }
    let bytes = std::fs::read(&dir.env_file).map_err(|e| env_error(e.to_string()))?;
    let env = EnvFile::parse(&bytes).map_err(|e| env_error(e.to_string()))?;
    let images =
        image_entries(&env).map_err(|(line, msg)| env_error(format!("line {line}: {msg}")))?;
    Ok(Service {
        dir: dir.clone(),
        env,
        images,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The changes for `service` given the run's resolutions, or the first resolution error.
pub fn changes(service: &Service, resolutions: &Resolutions) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for image in &service.images {
        match resolutions.get(&image.tagged) {
            Some(Ok(pin)) if image.pinned.as_deref() == Some(pin.as_str()) => {}
            Some(Ok(pin)) => changes.push(Change {
                entry: image.entry.clone(),
                old: image.pinned.clone(),
                new: pin.clone(),
                retag: None,
            }),
            Some(Err(msg)) => {
                return Err(Error::Resolve {
                    image: image.tagged.clone(),
                    msg: msg.clone(),
                })
            }
            None => {
                return Err(Error::Resolve {
                    image: image.tagged.clone(),
                    msg: "was not resolved".into(),
                })
            }
        }
    }
    Ok(changes)
}

/// The snapshot description: which entries change, from which digest to which.
pub fn describe(changes: &[Change]) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|c| {
            let old = c
                .old
                .as_deref()
                .and_then(|o| Pin::parse(o).ok())
                .map_or_else(|| "unpinned".to_owned(), |p| p.digest().to_owned());
            format!("{}: {old} -> {}", c.entry, c.new.digest())
        })
        .collect();
    format!("cipug update {}", parts.join("; "))
}

/// The new env file text with `changes` applied.
pub fn apply(service: &Service, changes: &[Change]) -> EnvFile {
    let mut env = service.env.clone();
    for change in changes {
        let image = service.images.iter().find(|i| i.entry == change.entry);
        let tagged_key = image.map(ImageEntry::tagged_key);
        let hashed_key = image.map_or_else(
            || format!("SERVICE_{}_IMAGE_HASHED", change.entry),
            ImageEntry::hashed_key,
        );
        env.set(&hashed_key, change.new.as_str(), tagged_key.as_deref());
        if let (Some(retag), Some(key)) = (&change.retag, &tagged_key) {
            match crate::tag_update::rewrite(&env, key, retag) {
                Some(moved) => env = moved,
                None => log::warn!("{key}: the tag could not be moved to {}", retag.to),
            }
        }
    }
    env
}

/// Runs the update steps of services, with the settings and tools of one run.
pub struct Updater<'a> {
    config: &'a Config,
    runner: &'a dyn Runner,
    snapper: Snapper<'a>,
    journal: &'a Journal,
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
        }
    }

    /// Finishes an update that an interrupted run left in the journal (its `.env` already
    /// holds the new pins): pull, restart, health gate, rollback if that fails.
    pub fn resume(&mut self, service: &Service, pending: &Pending) -> Outcome {
        log::warn!(
            "{}: finishing an update an interrupted run left behind",
            service.dir.name
        );
        let changes: Vec<Change> = pending
            .changes
            .iter()
            .filter_map(|c| {
                Some(Change {
                    entry: c.entry.clone(),
                    old: c.old.clone(),
                    new: Pin::parse(&c.new).ok()?,
                    retag: None,
                })
            })
            .collect();
        let applied = Applied {
            snapshot: pending.snapshot_before,
            resumed: true,
            env_written: true,
        };
        self.run_steps(service, changes, applied)
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
                }
            }
            Err(error) => error,
        };
        let restart_failed = matches!(error, Error::Restart(_));
        if !(restart_failed && self.config.auto_rollback && applied.env_written) {
            return Outcome::Failed {
                changes,
                error,
                snapshot: applied.snapshot,
            };
        }
        log::warn!("{}: {error}; rolling back", service.dir.name);
        let target = match applied.snapshot {
            Some(number) => UndoTarget::Snapshot(number),
            None => UndoTarget::Pins(
                changes
                    .iter()
                    .map(|c| (c.entry.clone(), c.old.clone()))
                    .collect(),
            ),
        };
        let why = format!("cipug rollback after failed update: {error}");
        match undo(
            self.config,
            self.runner,
            &mut self.snapper,
            &service.dir,
            target,
            &why,
        ) {
            Ok(failed_snapshot) => Outcome::RolledBack {
                changes,
                error,
                snapshots: (applied.snapshot, failed_snapshot),
            },
            Err(undo_error) => Outcome::Failed {
                changes,
                error: Error::Restart(format!("{error}; the rollback failed too: {undo_error}")),
                snapshot: applied.snapshot,
            },
        }
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
            Plan::run(self.runner, &plan.stop_cmds(self.config, &service.dir))?;
            return self.start(service, &plan, changes);
        }
        let stopped_first = plan.stops() && self.config.snapshot_when == SnapshotWhen::Stopped;
        let stopped = if stopped_first {
            log::debug!("{name}: stopping for a snapshot at rest");
            Plan::run(self.runner, &plan.stop_cmds(self.config, &service.dir))
        } else {
            Ok(())
        };
        if let Err(error) = stopped.and_then(|()| self.record(service, changes, applied)) {
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
        if !stopped_first {
            if plan == Plan::Unit {
                // One `systemctl restart` of the unit.
                let compose = Compose::new(self.config).using(pin_uses(&service.dir));
                Plan::run(self.runner, &compose.restart(&service.dir))?;
                return self.gate(service, changes);
            }
            Plan::run(self.runner, &plan.stop_cmds(self.config, &service.dir))?;
        }
        self.start(service, &plan, changes)
    }

    /// Snapshot, journal entry and `.env` write.
    fn record(
        &mut self,
        service: &Service,
        changes: &[Change],
        applied: &mut Applied,
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
        let pending = Pending {
            snapshot_before: applied.snapshot,
            changes: changes
                .iter()
                .map(|c| PendingChange {
                    entry: c.entry.clone(),
                    old: c.old.clone(),
                    new: c.new.as_str().to_owned(),
                })
                .collect(),
        };
        self.journal.put(name, &pending)?;
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
        Plan::run(self.runner, &cmds)?;
        self.gate(service, changes)
    }

    /// The health gate, expecting the new pins' images to run and the old ones no longer.
    fn gate(&self, service: &Service, changes: &[Change]) -> Result<()> {
        let name = &service.dir.name;
        let mut expected = expected(changes);
        let entries: Vec<&str> = changes.iter().map(|c| c.entry.as_str()).collect();
        expected.services = restart::services_using(self.config, &service.dir, &entries);
        health::wait(self.config, self.runner, name, &expected)
            .map_err(|e| Error::Restart(format!("health gate: {e}")))?;
        log::info!("{name}: restarted");
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
        crate::dialects::check_edit(service.env.render(), env.render(), &pins)
            .map_err(|(line, msg)| env_error(format!("line {line}: {msg}; not written")))?;
        atomic::write_with(path, env.render().as_bytes(), 0o600, || {
            failpoint::hit("env-write")
        })
        .map_err(|e| env_error(format!("could not write: {e}")))
    }

    /// The `.env` change and every command an update of `service` would run, for
    /// `--dry-run`.
    pub fn plan(&mut self, service: &Service, changes: &[Change]) -> Vec<String> {
        let mut lines = Vec::new();
        let before = service.env.render();
        let after = apply(service, changes);
        lines.push(format!("{}:", service.dir.env_file.display()));
        lines.extend(line_diff(before, after.render()));
        if self.config.service_pull {
            for c in changes {
                lines.push(format!("run: {}", pull_cmd(self.config, c.new.as_str())));
            }
        }
        let plan = match restart::plan(self.config, self.runner, &service.dir, changes) {
            Ok(plan) => plan,
            Err(e) => {
                lines.push(format!("would fail: {e}"));
                Plan::Nothing
            }
        };
        let stopped_first = plan.stops() && self.config.snapshot_when == SnapshotWhen::Stopped;
        if stopped_first {
            for cmd in plan.stop_cmds(self.config, &service.dir) {
                lines.push(format!("run: {cmd}"));
            }
        }
        if self.config.service_snapshot {
            let config = match self.snapper.config_for(&service.dir.path) {
                Ok(c) => c.config,
                Err(e) => {
                    lines.push(format!("would fail: {e}"));
                    "<config>".to_owned()
                }
            };
            lines.push(format!(
                "run: {}",
                create_cmd(&config, &describe(changes), &self.meta(service, changes))
            ));
        }
        lines.push(format!(
            "write: {} (atomically)",
            service.dir.env_file.display()
        ));
        if !matches!(plan, Plan::Nothing | Plan::AlreadyRunning) {
            let mut cmds = if stopped_first {
                Vec::new()
            } else {
                plan.stop_cmds(self.config, &service.dir)
            };
            cmds.extend(plan.start_cmds(self.config, &service.dir));
            for cmd in cmds {
                lines.push(format!("run: {cmd}"));
            }
            lines.push(format!(
                "wait: up to {}s for the containers of project {} to run the new images and be healthy, then {}s with none restarting{}",
                self.config.health_timeout,
                project_name(&service.dir.name),
                self.config.health_settle,
                if self.config.auto_rollback {
                    " (else roll back)"
                } else {
                    ""
                }
            ));
        }
        lines
    }
}

/// What to put a service back to.
pub enum UndoTarget {
    /// Snapper snapshot: the `.env` pin and the data together.
    Snapshot(u64),
    /// Only these pins (`<X>`, old pin; none: remove nothing, keep as is) when snapshots are off.
    Pins(Vec<(String, Option<String>)>),
}

/// What the health gate expects after `changes`: the new pins run, the old ones no longer.
fn expected(changes: &[Change]) -> health::Expected {
    health::Expected {
        run: changes.iter().map(|c| c.new.as_str().to_owned()).collect(),
        replaced: changes.iter().filter_map(|c| c.old.clone()).collect(),
        services: Vec::new(),
    }
}

/// Stops the service and makes sure none of its containers is left, puts it back (after a
/// snapshot of the failed state), starts it and checks with the health gate that the
/// restored pins run. Returns the number of the failed-state snapshot, if taken. Nothing is
/// restored while a container of the service still exists.
pub fn undo(
    config: &Config,
    runner: &dyn Runner,
    snapper: &mut Snapper<'_>,
    dir: &ServiceDir,
    target: UndoTarget,
    why: &str,
) -> Result<Option<u64>> {
    let name = &dir.name;
    let compose = Compose::new(config).using(pin_uses(dir));
    let failed_version = load(dir).ok();
    if let Err(e) = runner.run(&compose.stop(dir)) {
        log::warn!("{name}: stopping before the rollback failed: {e}");
    }
    undo_checks::ensure_no_container(config, runner, dir, failed_version.as_ref())?;
    let (failed_snapshot, restored) = match target {
        UndoTarget::Snapshot(number) => {
            let snapper_config = snapper.config_for(&dir.path)?;
            let meta = SnapshotMeta {
                cleanup: config.snapper_cleanup.clone(),
                userdata: vec![
                    ("cipug".into(), "failed".into()),
                    ("service".into(), name.clone()),
                ],
            };
            let failed = snapper.create(&snapper_config.config, why, &meta)?;
            log::info!("{name}: snapshot {failed} keeps the state before the rollback");
            snapper.undochange(&snapper_config.config, number)?;
            log::info!("{name}: files put back to snapshot {number}");
            let restored = format!(
                "files put back to snapshot {number} (the failed state is in snapshot {failed})"
            );
            (Some(failed), restored)
        }
        UndoTarget::Pins(pins) => {
            let service = load(dir)?;
            let mut env = service.env.clone();
            for (entry, old) in &pins {
                let image = service.images.iter().find(|i| &i.entry == entry);
                if let (Some(image), Some(old)) = (image, old) {
                    env.set(&image.hashed_key(), old, Some(&image.tagged_key()));
                }
            }
            atomic::write(&dir.env_file, env.render().as_bytes(), 0o600).map_err(|e| {
                Error::Env(format!("{}: could not write: {e}", dir.env_file.display()))
            })?;
            log::info!("{name}: previous pins written back (no snapshot: data not restored)");
            (
                None,
                "previous pins written back (data not restored)".to_owned(),
            )
        }
    };
    let now = load(dir)?;
    let restored = format!("{restored}, pins: {}", undo_checks::pins(&now));
    let mut expected = undo_checks::expected_between(failed_version.as_ref(), &now);
    let entries: Vec<&str> = now
        .images
        .iter()
        .filter(|i| {
            let before = failed_version
                .as_ref()
                .and_then(|f| f.images.iter().find(|b| b.entry == i.entry));
            before.map(|b| &b.pinned) != Some(&i.pinned)
        })
        .map(|i| i.entry.as_str())
        .collect();
    expected.services = restart::services_using(config, dir, &entries);
    undo_checks::start_and_verify(config, runner, dir, &restored, &expected)?;
    Ok(failed_snapshot)
}

/// `<CONTAINER_TOOL> image inspect --format {{.Id}} <pin>`.
/// The variables the pins in `dir`'s `.env` use, to keep out of the compose tool's
/// environment; none when the file cannot be read (the pin variables are removed anyway).
pub fn pin_uses(dir: &ServiceDir) -> Vec<String> {
    load(dir).map(|s| s.uses()).unwrap_or_default()
}

/// `-`/`+` lines for the lines that differ between two texts.
pub fn line_diff(before: &str, after: &str) -> Vec<String> {
    similar::TextDiff::from_lines(before, after)
        .iter_all_changes()
        .filter_map(|change| {
            let sign = match change.tag() {
                similar::ChangeTag::Equal => return None,
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
            };
            Some(format!(
                "{sign} {}",
                change.value().trim_end_matches(['\n', '\r'])
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn service(text: &str) -> Service {
        let env = EnvFile::parse(text.as_bytes()).unwrap();
        let images = image_entries(&env).unwrap();
        Service {
            dir: ServiceDir {
                name: "svc".into(),
                path: "/nonexistent".into(),
                env_file: "/nonexistent/.env".into(),
            },
            env,
            images,
        }
    }

    #[test]
    fn changes_and_apply() {
        let svc = service(&format!(
            "# c\nSERVICE_A_IMAGE_TAGGED=a\nSERVICE_A_IMAGE_HASHED=docker.io/library/a@{A}\nSERVICE_B_IMAGE_TAGGED=b # x\nTAIL=1\n"
        ));
        let mut res = Resolutions::new();
        res.insert(
            "a".into(),
            Ok(Pin::parse(&format!("docker.io/library/a@{A}")).unwrap()),
        );
        res.insert(
            "b".into(),
            Ok(Pin::parse(&format!("docker.io/library/b@{B}")).unwrap()),
        );
        let changes = changes(&svc, &res).unwrap();
        assert_eq!(changes.len(), 1, "a is current");
        assert_eq!(changes[0].entry, "B");
        assert_eq!(
            describe(&changes),
            format!("cipug update B: unpinned -> {B}")
        );
        assert_eq!(
            apply(&svc, &changes).render(),
            format!("# c\nSERVICE_A_IMAGE_TAGGED=a\nSERVICE_A_IMAGE_HASHED=docker.io/library/a@{A}\nSERVICE_B_IMAGE_TAGGED=b # x\nSERVICE_B_IMAGE_HASHED=docker.io/library/b@{B}\nTAIL=1\n")
        );
        res.insert("a".into(), Err("404 manifest unknown".into()));
        let err = super::changes(&svc, &res).unwrap_err();
        assert_eq!(err.to_string(), "a: 404 manifest unknown");
    }
}
