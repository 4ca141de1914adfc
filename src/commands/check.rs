//! `cipug check`: every entry's pinned and latest digest side by side. Changes nothing.

use crate::adapters::runner::Runner;
use crate::commands::report;
use crate::config::{Config, ResolverKind};
use crate::error::{exit, Error, Result};
use crate::pipeline::history::History;
use crate::pipeline::prepare::{load_services, now, resolve_services, Registries};
use crate::pipeline::select::status::{
    check_service, mark_held, CheckReport, ServiceCheck, Status,
};
use crate::services::{self};
use std::io::Write;

/// Runs `cipug check`: every entry's pinned and latest digest.
pub fn run_check(
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
    let registries = Registries::new(config, runner);
    let resolutions = resolve_services(config, &*registries.resolver(config), &loaded, true);
    let mut report = CheckReport::default();
    let now = now();
    let mut seen = crate::pipeline::select::first_seen::FirstSeen::load(&config.state_dir);
    // The digests `update` holds back after a rollback are held back here too.
    let past = History::new(&config.state_dir)
        .events()
        .unwrap_or_else(|e| {
            log::warn!("{e}; held-back digests are not known in this check");
            Vec::new()
        });
    let newer = crate::pipeline::select::newer::find(
        registries.native(),
        &loaded,
        &resolutions,
        config.resolve_jobs,
    );
    for service in &loaded {
        crate::pipeline::select::cooldown::record(service, &resolutions, &mut seen, now);
        let mut checked = check_service(service, &resolutions);
        mark_held(&mut checked, &past);
        crate::pipeline::select::cooldown::mark_waiting(
            config,
            service,
            &mut checked,
            &mut seen,
            now,
        );
        crate::pipeline::select::newer::mark(&mut checked, &newer);
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
    conclude(config, &dirs, &report, &codes, fail_outdated)
}

/// The check's exit: the metrics file written, then a failure for errors or (with
/// `--fail-outdated`) for entries to update.
fn conclude(
    config: &Config,
    dirs: &[crate::services::ServiceDir],
    report: &CheckReport,
    codes: &[u8],
    fail_outdated: bool,
) -> Result<()> {
    let code = match crate::error::combine(codes) {
        0 if fail_outdated && report.has_pending() => exit::OUTDATED,
        code => code,
    };
    let entries = crate::commands::metrics::from_check(report);
    crate::commands::metrics::record(config, dirs, entries, code);
    if !codes.is_empty() {
        return Err(Error::Several(codes.to_vec()));
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
