//! `cipug adopt --subvolume <folder>`: turns an ordinary service folder on btrfs into a btrfs
//! subvolume with a snapper config of its own, which cipug needs to snapshot it. The steps:
//! stop the service (when it runs), create a new subvolume beside the folder, reflink-copy
//! the folder into it (`cp -a --reflink=always`: no data is duplicated on disk), swap the two
//! (the old folder is kept under `.cipug-adopt-backup/` of the parent), create the snapper
//! config, and start the service again. `--dry-run` prints the steps and changes nothing.
//! [`make_ready`] is what every `cipug adopt` does first: a folder `cipug update` could not
//! snapshot is refused, made a subvolume (`--subvolume`), or given its snapper config.

use std::io::Write;
use std::path::PathBuf;

use crate::adapters::compose::Compose;
use crate::adapters::runner::{Cmd, Runner};
use crate::adapters::{btrfs, snapper};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::services::ServiceDir;

/// One step of the conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Stop the running service.
    Stop(Cmd),
    /// A command that makes the subvolume, the copy or the snapper config.
    Run(Cmd),
    /// Rename a folder.
    Rename(PathBuf, PathBuf),
    /// Start the service again.
    Start(Cmd),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Stop(cmd) | Step::Run(cmd) | Step::Start(cmd) => write!(f, "{cmd}"),
            Step::Rename(from, to) => write!(f, "mv {} {}", from.display(), to.display()),
        }
    }
}

/// The snapper config name for a folder name: snapper takes letters, digits, `_`, `-`, `.`.
pub fn config_name(folder_name: &str) -> String {
    folder_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The steps that turn `folder` into a subvolume; `running` adds the stop and start.
pub fn plan(config: &Config, dir: &ServiceDir, running: bool) -> Result<Vec<Step>> {
    let folder = &dir.path;
    let parent = folder.parent().ok_or_else(|| {
        Error::Snapshot(format!("{}: has no parent folder", folder.display()).into())
    })?;
    let fresh = parent.join(format!(".{}.cipug-new", dir.name));
    let backup = parent.join(".cipug-adopt-backup").join(&dir.name);
    if backup.exists() || fresh.exists() {
        return Err(Error::Snapshot(
            format!(
                "{}: {} or {} exists from an earlier try; remove it first",
                folder.display(),
                fresh.display(),
                backup.display()
            )
            .into(),
        ));
    }
    let compose = Compose::new(config);
    let mut steps = Vec::new();
    if running {
        steps.push(Step::Stop(compose.stop(dir)));
    }
    steps.push(Step::Run(btrfs::subvolume_create_cmd(&fresh)));
    steps.push(Step::Run(btrfs::reflink_copy_cmd(folder, &fresh)));
    steps.push(Step::Rename(folder.clone(), backup));
    steps.push(Step::Rename(fresh, folder.clone()));
    steps.push(Step::Run(snapper::create_config_cmd(
        &config_name(&dir.name),
        folder,
    )));
    if running {
        steps.push(Step::Start(compose.start(dir)));
    }
    Ok(steps)
}

/// What `cipug adopt` does with a folder that is not a btrfs subvolume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// Refuse it: nothing is changed (plain `cipug adopt`).
    AsItIs,
    /// Make it one ([`run`]; `cipug adopt --subvolume`).
    MakeSubvolume,
}

/// Makes `dir` what `cipug update` snapshots (a btrfs subvolume with a snapper config), or
/// refuses it (exit 25) before anything changed, so that adopt never ends in a service whose
/// first update cannot snapshot. With `SERVICE_SNAPSHOT=false` nothing is needed.
pub fn make_ready(
    config: &Config,
    runner: &dyn Runner,
    dir: &ServiceDir,
    folder: Folder,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<()> {
    if !config.service_snapshot {
        return Ok(());
    }
    let path = &dir.path;
    if !btrfs::on_btrfs(path) {
        return Err(Error::Value(format!(
            "{}: not adopted: not on a btrfs file system, so `cipug update` cannot snapshot it; \
             move the service to btrfs, or set SERVICE_SNAPSHOT=false to update it without snapshots",
            path.display()
        )));
    }
    match folder {
        Folder::MakeSubvolume => run(config, runner, dir, dry_run, out),
        Folder::AsItIs if btrfs::is_subvolume(path) => {
            ensure_snapper_config(runner, dir, dry_run, out)
        }
        Folder::AsItIs => Err(Error::Value(format!(
            "{}: not adopted: not a btrfs subvolume, so `cipug update` cannot snapshot it; \
             `cipug adopt --subvolume {}` makes it one (a reflink copy; the old folder is kept)",
            path.display(),
            path.display()
        ))),
    }
}

/// Gives the subvolume `dir` a snapper config (named as [`config_name`] says) when no config
/// has it as its subvolume; with `dry_run`, prints the command instead.
pub fn ensure_snapper_config(
    runner: &dyn Runner,
    dir: &ServiceDir,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let io = |e| Error::io("standard output", e);
    if which::which("snapper").is_err() {
        return Err(Error::ToolMissing("snapper".into()));
    }
    let listed = runner
        .run(&snapper::list_configs_cmd())
        .map_err(|e| Error::Snapshot(e.into()))?;
    let configs = snapper::parse_configs(&listed.stdout).map_err(|e| Error::Snapshot(e.into()))?;
    let folder = &dir.path;
    if let Some(found) = snapper::config_for(&configs, folder) {
        writeln!(out, "{}: snapper config {}", folder.display(), found.config).map_err(io)?;
        return Ok(());
    }
    let name = config_name(&dir.name);
    if let Some(taken) = configs.iter().find(|c| c.config == name) {
        return Err(Error::Value(format!(
            "{}: not adopted: it has no snapper config, and the name {name} is taken by {}'s; \
             create one by hand: `snapper -c <another name> create-config {}`",
            folder.display(),
            taken.subvolume.display(),
            folder.display()
        )));
    }
    let cmd = snapper::create_config_cmd(&name, folder);
    if dry_run {
        writeln!(out, "{}: would run:\n  {cmd}", folder.display()).map_err(io)?;
        return Ok(());
    }
    log::info!("{}: {cmd}", dir.name);
    runner.run(&cmd).map_err(|e| Error::Snapshot(e.into()))?;
    writeln!(out, "{}: created snapper config {name}", folder.display()).map_err(io)?;
    Ok(())
}

/// Whether the service's compose project has a running container.
fn running(config: &Config, runner: &dyn Runner, dir: &ServiceDir) -> bool {
    crate::adapters::container::list(config, runner, &dir.project)
        .is_ok_and(|list| list.iter().any(|c| c.state.status == "running"))
}

/// Converts `folder` (or, with `dry_run`, prints how). A folder that already is a subvolume
/// is left alone but for a snapper config it lacks ([`ensure_snapper_config`]).
pub fn run(
    config: &Config,
    runner: &dyn Runner,
    dir: &ServiceDir,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let io = |e| Error::io("standard output", e);
    let folder = &dir.path;
    if !crate::adapters::btrfs::on_btrfs(folder) {
        return Err(Error::Snapshot(
            format!(
                "{}: not on a btrfs file system; move the services to btrfs first",
                folder.display()
            )
            .into(),
        ));
    }
    if crate::adapters::btrfs::is_subvolume(folder) {
        writeln!(out, "{}: already a btrfs subvolume", folder.display()).map_err(io)?;
        return ensure_snapper_config(runner, dir, dry_run, out);
    }
    let steps = plan(config, dir, running(config, runner, dir))?;
    if dry_run {
        writeln!(out, "{}: would run:", folder.display()).map_err(io)?;
        for step in &steps {
            writeln!(out, "  {step}").map_err(io)?;
        }
        return Ok(());
    }
    for (i, step) in steps.iter().enumerate() {
        log::info!("{}: {step}", dir.name);
        if let Err(e) = execute(runner, step) {
            // Before the swap nothing changed but a new, partial subvolume: undo that.
            let swapped = steps[..i].iter().any(|s| matches!(s, Step::Rename(..)));
            if !swapped {
                undo_before_swap(runner, &steps[..i], &steps);
            }
            return Err(e);
        }
    }
    writeln!(
        out,
        "{}: now a btrfs subvolume with snapper config {}; the old folder is in {}",
        folder.display(),
        config_name(&dir.name),
        folder
            .parent()
            .unwrap_or(folder)
            .join(".cipug-adopt-backup")
            .join(&dir.name)
            .display()
    )
    .map_err(io)?;
    Ok(())
}

fn execute(runner: &dyn Runner, step: &Step) -> Result<()> {
    match step {
        Step::Stop(cmd) | Step::Start(cmd) => runner
            .run(cmd)
            .map(|_| ())
            .map_err(|e| Error::Restart(e.into())),
        Step::Run(cmd) => runner
            .run(cmd)
            .map(|_| ())
            .map_err(|e| Error::Snapshot(e.into())),
        Step::Rename(from, to) => {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            std::fs::rename(from, to).map_err(|e| Error::io(from, e))
        }
    }
}

/// Removes the new subvolume and starts the service again after a failed copy: `done` are
/// the steps that ran, `all` the whole plan (its start step).
fn undo_before_swap(runner: &dyn Runner, done: &[Step], all: &[Step]) {
    for step in done.iter().rev() {
        let undo = match step {
            Step::Run(cmd) if cmd.program == "btrfs" => {
                let mut cmd = cmd.clone();
                cmd.args[1] = "delete".into();
                cmd
            }
            Step::Stop(_) => match all.iter().find(|s| matches!(s, Step::Start(_))) {
                Some(Step::Start(cmd)) => cmd.clone(),
                _ => continue,
            },
            _ => continue,
        };
        if let Err(e) = runner.run(&undo) {
            log::error!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::recording::Recording;

    fn words(steps: &[Step]) -> Vec<String> {
        steps.iter().map(Step::to_string).collect()
    }

    #[test]
    fn a_snapper_config_name_keeps_only_what_snapper_takes() {
        let cases = [
            ("app", "app"),
            ("my-app_2.0", "my-app_2.0"),
            ("my app", "my_app"),
            ("café+db", "caf__db"),
        ];
        for (folder, want) in cases {
            assert_eq!(config_name(folder), want, "{folder}");
        }
    }

    #[test]
    fn the_steps_stop_and_start_only_a_running_service_and_swap_in_this_order() {
        let (_root, config, dir) = crate::pipeline::fixture::service("r.io/app@sha256:1");
        let idle = words(&plan(&config, &dir, false).unwrap());
        assert_eq!(idle.len(), 5, "{idle:#?}");
        assert!(idle[0].starts_with("btrfs subvolume create "), "{idle:#?}");
        assert!(idle[1].starts_with("cp -a '--reflink=always'"), "{idle:#?}");
        assert!(
            idle[2].contains(".cipug-adopt-backup"),
            "the old folder kept: {idle:#?}"
        );
        assert!(idle[3].starts_with("mv ") && idle[3].contains(".svc.cipug-new"));
        assert!(idle[4].contains("create-config"), "{idle:#?}");
        let running = words(&plan(&config, &dir, true).unwrap());
        assert_eq!(running.len(), 7);
        assert_eq!(
            &running[1..6],
            &idle[..],
            "the same steps between stop and start"
        );
        // What an earlier try left is not overwritten.
        let fresh = dir.path.parent().unwrap().join(".svc.cipug-new");
        std::fs::create_dir(&fresh).unwrap();
        let e = plan(&config, &dir, false).unwrap_err();
        assert!(e.to_string().contains("remove it first"), "{e}");
    }

    #[test]
    fn a_failed_copy_deletes_the_new_subvolume_and_starts_the_service_again() {
        let (_root, config, dir) = crate::pipeline::fixture::service("r.io/app@sha256:1");
        let steps = plan(&config, &dir, true).unwrap();
        let runner = Recording::new();
        // The stop and the create ran; the copy failed.
        undo_before_swap(&runner, &steps[..2], &steps);
        let calls = runner.calls();
        assert_eq!(calls.len(), 2, "{calls:#?}");
        assert!(
            calls[0].starts_with("btrfs subvolume delete "),
            "{calls:#?}"
        );
        assert!(
            words(&steps[6..])[0].starts_with(&calls[1]) && calls[1].ends_with("up -d"),
            "the plan's start: {calls:#?}"
        );
    }
}
