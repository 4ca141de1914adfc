//! The commands: load the settings, check the tools, run the action, collect exit codes.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::{Action, Cli};
use crate::compose::Compose;
use crate::config::{Config, ResolverKind, Sources, StopStartMethod};
use crate::error::{exit, Error, Result};
use crate::report;
use crate::resolve::{self, skopeo::Skopeo, Cache, Resolve};
use crate::runner::{Runner, SystemRunner};
use crate::services;
use crate::snapcheck;
use crate::update::{self, Outcome, Updater};

/// Runs the command line `cli`, writing results to `out`.
pub fn run(cli: &Cli, out: &mut dyn Write) -> Result<()> {
    let sources = Sources::from_process(cli.settings.0.clone())?;
    let mut config = Config::load(&sources)?;
    config.verbosity = (i16::from(config.verbosity) + i16::from(cli.verbose) - i16::from(cli.quiet))
        .clamp(0, 3) as u8;
    crate::logging::init(config.verbosity);
    let runner = SystemRunner;
    match cli.action() {
        Action::PrintConfig { json } => report::config(&config, json, out),
        Action::CheckSnapshots => snapcheck::run(&config, out),
        Action::Update => run_update(&config, &runner, out),
    }
}

/// The tools an update with `config` needs.
pub fn required_tools(config: &Config) -> Vec<String> {
    let mut tools = Vec::new();
    if config.resolver == ResolverKind::Skopeo {
        tools.push("skopeo".to_owned());
    }
    if Compose::new(config).needed() {
        tools.push(config.compose_tool[0].clone());
    }
    if config.service_stop_start && config.stop_start_method != StopStartMethod::Compose {
        tools.push("systemctl".to_owned());
    }
    if config.service_snapshot {
        tools.push("snapper".to_owned());
    }
    if config.prune_images || Compose::new(config).needed() {
        tools.push(config.container_tool[0].clone());
    }
    tools
}

fn check_tools(config: &Config) -> Result<()> {
    for tool in required_tools(config) {
        if which::which(&tool).is_err() {
            return Err(Error::ToolMissing(tool));
        }
    }
    Ok(())
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn run_update(config: &Config, runner: &dyn Runner, out: &mut dyn Write) -> Result<()> {
    check_tools(config)?;
    let dirs = services::discover(config)?;
    let mut codes: Vec<u8> = Vec::new();
    let mut loaded = Vec::new();
    let mut rows = Vec::new();
    for dir in &dirs {
        match update::load(dir) {
            Ok(service) => loaded.push(service),
            Err(e) => {
                log::error!("{}: {e}", dir.name);
                codes.push(e.exit_code());
                rows.push(report::Row::failed(&dir.name, "", &e));
            }
        }
    }
    let resolver: Box<dyn Resolve + '_> = match config.resolver {
        ResolverKind::Skopeo | ResolverKind::Native => {
            Box::new(Skopeo::new(runner, &config.insecure_registries))
        }
    };
    let mut cache = Cache::load(&config.cache_location, config.cache_duration);
    let images = loaded
        .iter()
        .flat_map(|s| s.images.iter().map(|i| i.tagged.as_str()));
    let resolutions = resolve::resolve_all(resolver.as_ref(), images, &mut cache, now());
    let mut updater = Updater::new(config, runner);
    let mut updated = 0;
    for service in &loaded {
        let name = &service.dir.name;
        let outcome = match update::changes(service, &resolutions) {
            Ok(changes) => updater.update(service, changes),
            Err(error) => Outcome::Failed {
                changes: Vec::new(),
                error,
            },
        };
        match &outcome {
            Outcome::Current => log::debug!("{name}: up to date"),
            Outcome::Updated { .. } => updated += 1,
            Outcome::Failed { error, .. } => {
                log::error!("{name}: {error}");
                codes.push(error.exit_code());
            }
        }
        rows.extend(report::Row::from_outcome(service, &outcome));
    }
    if config.prune_images && updated > 0 {
        if let Err(e) = runner.run(&Compose::new(config).prune()) {
            log::error!("pruning images: {e}");
            codes.push(exit::TOOL_ERROR);
        }
    }
    report::summary(&rows, out)?;
    if codes.is_empty() {
        log::info!("Updated services successfully");
        Ok(())
    } else {
        log::error!("Encountered errors during updating!");
        Err(Error::Several(codes))
    }
}
