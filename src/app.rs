//! The commands: load the settings, check the tools, run the action, collect exit codes.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::check::{check_service, CheckReport, ServiceCheck, Status};
use crate::cli::{Action, Cli};
use crate::compose::Compose;
use crate::config::{Config, ResolverKind, Sources, StopStartMethod};
use crate::error::{exit, Error, Result};
use crate::report;
use crate::resolve::native::transport::{self, TransportSettings};
use crate::resolve::native::Native;
use crate::resolve::{self, skopeo::Skopeo, Cache, Resolve};
use crate::runner::{Runner, SystemRunner};
use crate::services::{self, ServiceDir};
use crate::snapcheck;
use crate::update::{self, Service};
use std::time::Duration;

/// Runs the command line `cli`, writing results to `out`.
pub fn run(cli: &Cli, out: &mut dyn Write) -> Result<()> {
    crate::interrupt::install();
    // These need no settings.
    match cli.action() {
        Action::Man => return crate::docgen::man(out),
        Action::Completions { shell } => return crate::docgen::completions(shell, out),
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
            Config::load(&crate::adopt_cmd::sources_without_root(&sources, &folder))?
        }
        (loaded, _) => loaded?,
    };
    config.verbosity = (i16::from(config.verbosity) + i16::from(cli.verbose) - i16::from(cli.quiet))
        .clamp(0, 3) as u8;
    crate::logging::init(config.verbosity);
    let runner = SystemRunner::new(config.timeouts);
    match cli.action() {
        Action::PrintConfig { format } => report::config(&config, format, out),
        Action::CheckSnapshots { json } => snapcheck::run(&config, json, out),
        Action::Check {
            json,
            fail_outdated,
        } => run_check(&config, &runner, json, fail_outdated, out),
        Action::Update {
            dry_run,
            retry_failed,
            json,
        } => {
            check_tools(&config)?;
            detect_compose(&mut config, &runner)?;
            let options = crate::update_run::Options {
                dry_run,
                retry_failed,
                wait: wait(cli),
                json,
            };
            crate::update_run::run(&config, &runner, &options, out)
        }
        Action::Rollback { service, to } => {
            check_tools(&config)?;
            detect_compose(&mut config, &runner)?;
            crate::rollback::run(&config, &runner, &service, to, wait(cli), out)
        }
        Action::Doctor => crate::doctor::run(&config, &runner, out),
        Action::Man | Action::Completions { .. } => Ok(()),
        Action::Adopt {
            folder,
            dry_run,
            subvolume,
        } => {
            if subvolume {
                crate::adopt_cmd::subvolume(&config, &runner, &folder, dry_run, out)?;
            }
            crate::adopt_cmd::run(&config, &folder, dry_run, out)
        }
        Action::History { service, json } => {
            let events = crate::history::History::new(&config.state_dir).events()?;
            let events: Vec<_> = events
                .into_iter()
                .filter(|e| service.as_ref().is_none_or(|s| &e.service == s))
                .collect();
            report::history(&events, json, out)
        }
    }
}

fn wait(cli: &Cli) -> crate::lock::Wait {
    if cli.wait {
        crate::lock::Wait::Yes
    } else {
        crate::lock::Wait::No
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
    if config.prune_images || config.service_stop_start || config.service_pull {
        tools.push(config.container_tool[0].clone());
    }
    tools
}

/// Detects the compose tool once for this run, where the run drives it directly.
fn detect_compose(config: &mut Config, runner: &dyn Runner) -> Result<()> {
    if Compose::new(config).needed() || config.stop_start_method == StopStartMethod::Compose {
        config.compose_flavour = crate::compose_flavour::detect(config, runner)?;
    }
    Ok(())
}

/// Fails with exit 10 naming the first tool of [`required_tools`] not on `PATH`.
pub fn check_tools(config: &Config) -> Result<()> {
    for tool in required_tools(config) {
        if which::which(&tool).is_err() {
            return Err(Error::ToolMissing(tool));
        }
    }
    Ok(())
}

/// The current Unix time in seconds.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The resolver the settings choose.
pub fn resolver<'a>(config: &Config, runner: &'a dyn Runner) -> Box<dyn Resolve + 'a> {
    match config.resolver {
        ResolverKind::Skopeo => Box::new(Skopeo::new(runner, &config.insecure_registries)),
        ResolverKind::Native => {
            let env = &config.registry_env;
            let conf_paths = transport::registries_conf_paths(env.registries_conf.as_deref());
            let rules = crate::registries_conf::load(&conf_paths);
            Box::new(crate::resolve::mirrored::Mirrored::new(
                Box::new(native(config, runner)),
                rules,
            ))
        }
    }
}

/// The native registry client with the settings' transport, credentials and limits (also
/// used for tag lists and image labels, whichever resolver resolves tags).
pub fn native<'a>(config: &Config, runner: &'a dyn Runner) -> Native<'a> {
    let env = &config.registry_env;
    let conf_paths = transport::registries_conf_paths(env.registries_conf.as_deref());
    let mut insecure = config.insecure_registries.clone();
    insecure.extend(transport::insecure_from_registries_conf(&conf_paths));
    insecure.extend(crate::registries_conf::insecure_mirrors(
        &crate::registries_conf::load(&conf_paths),
    ));
    let settings = TransportSettings {
        insecure,
        certs_dirs: config.registry_certs_dir.clone(),
        timeout: Duration::from_secs(config.registry_timeout),
        proxy: env.https_proxy.clone(),
        no_proxy: env.no_proxy.clone(),
    };
    Native::new(
        settings,
        env.auth_files.clone(),
        runner,
        config.resolve_jobs,
        config.resolve_jobs_per_registry,
    )
}

/// Resolves every image entry of `services` through the cache.
pub fn resolve_services(
    config: &Config,
    runner: &dyn Runner,
    services: &[Service],
    save_cache: bool,
) -> resolve::Resolutions {
    let images = services
        .iter()
        .flat_map(|s| s.images.iter().map(|i| i.tagged.as_str()));
    resolve_references(config, runner, images, save_cache)
}

/// Resolves `images` through the cache.
pub fn resolve_references<'i>(
    config: &Config,
    runner: &dyn Runner,
    images: impl IntoIterator<Item = &'i str>,
    save_cache: bool,
) -> resolve::Resolutions {
    let resolver = resolver(config, runner);
    let mut cache = Cache::load(&config.cache_location, config.cache_duration);
    if !save_cache {
        cache.set_read_only();
    }
    resolve::resolve_all(
        resolver.as_ref(),
        images,
        &mut cache,
        now(),
        config.verbosity > 0,
    )
}

/// Loads every service's env file; failures are logged and their codes collected.
pub fn load_services(
    dirs: &[ServiceDir],
    codes: &mut Vec<u8>,
) -> (Vec<Service>, Vec<(String, Error)>) {
    let mut loaded = Vec::new();
    let mut failed = Vec::new();
    for dir in dirs {
        match update::load(dir).and_then(crate::update_policy::without_off) {
            Ok(service) => loaded.push(service),
            Err(e) => {
                log::error!("{}: {e}", dir.name);
                codes.push(e.exit_code());
                failed.push((dir.name.clone(), e));
            }
        }
    }
    (loaded, failed)
}

fn run_check(
    config: &Config,
    runner: &dyn Runner,
    json: bool,
    fail_outdated: bool,
    out: &mut dyn Write,
) -> Result<()> {
    if config.resolver == ResolverKind::Skopeo && which::which("skopeo").is_err() {
        return Err(Error::ToolMissing("skopeo".into()));
    }
    let dirs = services::discover(config)?;
    let mut codes = Vec::new();
    let (loaded, failed) = load_services(&dirs, &mut codes);
    let resolutions = resolve_services(config, runner, &loaded, true);
    let mut report = CheckReport::default();
    let now = now();
    let mut seen = crate::first_seen::FirstSeen::load(&config.state_dir);
    let newer = crate::newer::find(
        &native(config, runner),
        &loaded,
        &resolutions,
        config.resolve_jobs,
    );
    for service in &loaded {
        crate::cooldown::record(service, &resolutions, &mut seen, now);
        let mut checked = check_service(service, &resolutions);
        crate::cooldown::mark_waiting(config, service, &mut checked, &mut seen, now);
        crate::newer::mark(&mut checked, &newer);
        for image in checked.images.iter().filter(|i| i.status == Status::Error) {
            log::error!(
                "{}: {}: {}",
                service.dir.name,
                image.tagged,
                image.error.as_deref().unwrap_or("")
            );
            codes.push(exit::TOOL_ERROR);
        }
        report.services.push(checked);
    }
    // Services whose env file failed to parse are listed without entries.
    for (name, _) in failed {
        report.services.push(ServiceCheck {
            name,
            images: Vec::new(),
        });
    }
    report.services.sort_by(|a, b| a.name.cmp(&b.name));
    seen.save();
    report::check(&report, json, out)?;
    let code = match crate::error::combine(&codes) {
        0 if fail_outdated && report.has_pending() => exit::OUTDATED,
        code => code,
    };
    crate::metrics::record(config, crate::metrics::from_check(&report), code);
    if !codes.is_empty() {
        return Err(Error::Several(codes));
    }
    if fail_outdated && report.has_pending() {
        let n = report
            .entries()
            .filter(|i| matches!(i.status, Status::Outdated | Status::Unpinned))
            .count();
        return Err(Error::Outdated(format!(
            "{n} entr{} to update",
            if n == 1 { "y" } else { "ies" }
        )));
    }
    Ok(())
}
