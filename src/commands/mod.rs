//! The commands: load the settings, check the tools, run the action, collect exit codes.

pub mod adopt;
pub mod check;
pub mod check_snapshots;
pub mod completion_services;
pub mod docgen;
pub mod doctor;
pub mod metrics;
pub mod report;
pub mod rollback;
pub mod update;

use crate::commands::check::run_check;
use crate::pipeline::prepare::check_tools;

use std::io::Write;

use crate::adapters::compose::Compose;
use crate::adapters::runner::{Runner, SystemRunner};
use crate::cli::{Action, Cli};
use crate::config::{Config, Sources, StopStartMethod};
use crate::error::{Error, Result};

/// Runs the command line `cli`, writing results to `out`.
pub fn run(cli: &Cli, out: &mut dyn Write) -> Result<()> {
    crate::base::interrupt::install();
    // These need no settings.
    match cli.action() {
        Action::Man => return crate::commands::docgen::man(out),
        Action::Completions { shell } => return crate::commands::docgen::completions(shell, out),
        _ => {}
    }
    let mut flags = cli.settings.0.clone();
    if cli.no_cache {
        flags.insert("CACHE_DURATION", "0".into());
    }
    let sources = Sources::from_process(flags)?;
    let mut config = match (Config::load(&sources), cli.action()) {
        (Err(Error::Value(msg)), Action::Adopt { folder, .. })
            if msg.starts_with("SERVICES_ROOT is not set") =>
        {
            Config::load(&crate::commands::adopt::sources_without_root(
                &sources, &folder,
            ))?
        }
        (loaded, _) => loaded?,
    };
    config.verbosity = (i16::from(config.verbosity) + i16::from(cli.verbose) - i16::from(cli.quiet))
        .clamp(0, 3) as u8;
    crate::base::logging::init(config.verbosity);
    let runner = SystemRunner::new(config.timeouts);
    match cli.action() {
        Action::PrintConfig { format } => report::config(&config, format, out),
        Action::CheckSnapshots { json } => check_snapshots::run(&config, json, out),
        Action::Check {
            json,
            fail_outdated,
        } => run_check(&config, &runner, json, fail_outdated, out),
        Action::Update {
            dry_run,
            retry_failed,
            json,
            pins,
            now,
        } => {
            check_tools(&config)?;
            let options = crate::commands::update::Options {
                dry_run,
                retry_failed,
                wait: wait(cli),
                json,
                pins,
                ignore_windows: now,
            };
            crate::commands::update::run(&config, &runner, &options, out)
        }
        rollback @ Action::Rollback { .. } => run_rollback(config, &runner, rollback, cli, out),
        Action::Doctor => crate::commands::doctor::run(&config, &runner, out),
        Action::Man | Action::Completions { .. } => Ok(()),
        Action::Adopt {
            folder,
            dry_run,
            subvolume,
        } => {
            let how = if subvolume {
                crate::commands::adopt::subvolume::Folder::MakeSubvolume
            } else {
                crate::commands::adopt::subvolume::Folder::AsItIs
            };
            crate::commands::adopt::run(&config, &runner, &folder, how, dry_run, out)
        }
        Action::History { service, json } => {
            let events = crate::pipeline::history::History::new(&config.state_dir).events()?;
            let events: Vec<_> = events
                .into_iter()
                .filter(|e| service.as_ref().is_none_or(|s| &e.service == s))
                .collect();
            report::history(&events, json, out)
        }
    }
}

fn wait(cli: &Cli) -> crate::pipeline::lock::Wait {
    if cli.wait {
        crate::pipeline::lock::Wait::Yes
    } else {
        crate::pipeline::lock::Wait::No
    }
}

/// Runs `cipug rollback` (`action` is an [`Action::Rollback`]).
fn run_rollback(
    mut config: Config,
    runner: &dyn Runner,
    action: Action,
    cli: &Cli,
    out: &mut dyn Write,
) -> Result<()> {
    let Action::Rollback {
        service,
        to,
        dry_run,
        pins_only,
    } = action
    else {
        return Ok(());
    };
    check_tools(&config)?;
    // A dry run starts nothing: it does not need to know the compose tool.
    if !dry_run {
        if let Some(detected) = with_compose_flavour(&config, runner)? {
            config = detected;
        }
    }
    let options = crate::commands::rollback::Options {
        to,
        dry_run,
        pins_only,
        wait: wait(cli),
    };
    crate::commands::rollback::run(&config, runner, &service, &options, out)
}

/// The settings with the compose tool's flavour, asked from the tool once
/// (`<COMPOSE_TOOL> version`), when the run drives the compose tool directly; `None` when
/// it does not. Project names read before are to be read again
/// ([`crate::services::ServiceDir::read_project`]).
pub(crate) fn with_compose_flavour(config: &Config, runner: &dyn Runner) -> Result<Option<Config>> {
    if !Compose::new(config).needed() && config.stop_start_method != StopStartMethod::Compose {
        return Ok(None);
    }
    let mut detected = config.clone();
    detected.compose_flavour = crate::adapters::compose_flavour::detect(config, runner)?;
    Ok(Some(detected))
}
