//! `cipug doctor`: checks the whole setup and says what to fix: the services root, the tools,
//! each service folder (a btrfs subvolume with a snapper config, an env file that parses, a
//! compose file that uses the HASHED variables), the registries and the signature policy
//! for them, and the privacy of the cache and state folders.

pub mod finding;
pub mod policy;
pub mod registries;
pub mod tools;

use crate::adapters::btrfs::is_subvolume;

use std::io::Write;
use std::path::Path;

use crate::adapters::runner::Runner;
use crate::adapters::snapper::Snapper;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::pipeline::prepare::required_tools;
use crate::pipeline::service::{self, Service};
use crate::services::{self, ServiceDir};

pub use crate::commands::doctor::finding::Finding;
use crate::commands::doctor::finding::{fail, note, ok};

/// A cache file or state folder that others can change: a planted cache or state is then
/// possible. Checked as `update` opens it (see [`crate::files::private_dir`]).
fn private(path: &Path, what: &str, kind: Private) -> Finding {
    use crate::files::private_dir::{Create, PrivateDir, Untrusted};
    let (folder, file) = match kind {
        Private::Folder => (path, None),
        Private::File => (
            path.parent().unwrap_or(Path::new("/")),
            path.file_name().and_then(|n| n.to_str()),
        ),
    };
    let opened = PrivateDir::open(folder, Create::No).and_then(|dir| match file {
        Some(name) => dir.read(name).map(|_| ()),
        None => Ok(()),
    });
    match opened {
        Ok(()) => ok(format!("{what} {} is private", path.display())),
        Err(Untrusted::Missing(_)) => ok(format!(
            "{what} {} will be created privately",
            path.display()
        )),
        Err(e) => fail(format!("{what} {}: {e}", path.display())),
    }
}

/// What [`private`] checks.
#[derive(Debug, Clone, Copy)]
enum Private {
    Folder,
    File,
}

/// The compose tool is fine only when it runs: `docker` is installed on many servers whose
/// `docker compose` plugin is not, so `<COMPOSE_TOOL> version` must succeed.
fn compose_tool_works(config: &Config, runner: &dyn Runner) -> Finding {
    let cmd = crate::adapters::compose::Compose::new(config).version();
    let tool = config.compose_tool.join(" ");
    match runner.run(&cmd) {
        Ok(out) => {
            // podman-compose 1.0 prints podman's command line first.
            let lines = || out.stdout.lines().map(str::trim);
            let version = lines()
                .find(|l| l.to_ascii_lowercase().contains("compose"))
                .or_else(|| lines().next())
                .unwrap_or("");
            ok(format!("tool {tool}: {version}"))
        }
        Err(e) => fail(format!(
            "tool {tool} does not work: {e}; install it or set COMPOSE_TOOL"
        )),
    }
}

/// Runs every check; returns the findings in order.
pub fn findings(config: &Config, runner: &dyn Runner) -> Vec<Finding> {
    let mut found = tool_findings(config, runner);
    let dirs = match services::discover(config) {
        Ok(dirs) => {
            found.push(ok(format!(
                "services root {} has {} service(s)",
                config.services_root.display(),
                dirs.len()
            )));
            dirs
        }
        Err(e) => {
            found.push(fail(format!("services root: {e}; set SERVICES_ROOT to the folder holding one folder per service")));
            return found;
        }
    };
    if let Some(warning) = crate::files::space::nearly_full(&config.services_root) {
        found.push(note(warning));
    }
    let mut snapper = Snapper::new(runner);
    let mut loaded = Vec::new();
    for dir in &dirs {
        let untrusted = dir.trust_problems();
        if !untrusted.is_empty() {
            found.extend(
                untrusted
                    .into_iter()
                    .map(|refused| fail(format!("{}: not trusted: {refused}", dir.name))),
            );
            continue;
        }
        if config.service_snapshot {
            found.extend(snapshot_findings(&mut snapper, dir));
        }
        match service::load(dir).and_then(crate::pipeline::select::update_policy::without_off) {
            Ok(service) => {
                found.extend(compose_findings(config, runner, &service));
                loaded.push(service);
            }
            Err(e) => found.push(fail(format!("{}: {e}{}", dir.name, env_fix(dir, &e)))),
        }
    }
    let graph = crate::pipeline::project::dependents::Graph::find(config, runner, &loaded);
    found.extend(
        graph
            .lines()
            .into_iter()
            .map(|l| ok(format!("dependents: {l}"))),
    );
    found.extend(crate::commands::doctor::registries::findings(
        config, runner, &loaded,
    ));
    found.extend(crate::commands::doctor::policy::findings(config, &loaded));
    if config.cache_duration > 0 {
        found.push(private(&config.cache_location, "cache", Private::File));
    }
    found.push(private(&config.state_dir, "state folder", Private::Folder));
    if let Some(path) = &config.metrics_file {
        found.push(output_folder(path, "METRICS_FILE"));
    }
    found
}

/// A file root writes into a folder that may not be its own: fine when no one else can
/// write the folder; otherwise the file is still written safely (a planted link is
/// replaced, never followed), but whoever can write there can replace what cipug wrote.
fn output_folder(path: &Path, setting: &str) -> Finding {
    match crate::files::output::others_can_write(path) {
        Ok(None) => ok(format!("{setting} {}: only root can write its folder", path.display())),
        Ok(Some(who)) => fail(format!(
            "{setting} {}: {who}, who can then replace the file; cipug never writes through a link there, \
             but make the folder root's and not writable by others (`chown root: {folder} && chmod go-w {folder}`) \
             or write the file to a folder of root's",
            path.display(),
            folder = path.parent().unwrap_or(Path::new(".")).display()
        )),
        Err(e) => fail(format!(
            "{setting} {}: its folder: {e}; create the folder (root's, not writable by others) or set {setting} to a file in another",
            path.display()
        )),
    }
}

/// The tools a run needs, and whether the compose and container tools go together.
fn tool_findings(config: &Config, runner: &dyn Runner) -> Vec<Finding> {
    let mut found = Vec::new();
    for tool in required_tools(config) {
        found.push(match which::which(&tool) {
            Ok(_) if tool == config.compose_tool[0] => compose_tool_works(config, runner),
            Ok(path) => ok(format!("tool {tool}: {}", path.display())),
            Err(_) => fail(format!("tool {tool} is not installed (or not on PATH); install it or change the settings that need it")),
        });
    }
    match crate::commands::doctor::tools::combination(config, runner) {
        Some(Ok(text)) => found.push(ok(text)),
        Some(Err(text)) => found.push(fail(text)),
        None => {}
    }
    found
}

/// Whether the service folder is a subvolume with a snapper config, and its env file inside
/// the folder's snapshots.
fn snapshot_findings(snapper: &mut Snapper<'_>, dir: &ServiceDir) -> Vec<Finding> {
    let name = &dir.name;
    let mut found = vec![if is_subvolume(&dir.path) {
        ok(format!("{name}: a btrfs subvolume"))
    } else {
        fail(format!("{name}: {} is not a btrfs subvolume, so it cannot be snapshotted; `cipug adopt --subvolume {}` makes it one (or set SERVICE_SNAPSHOT=false to update without snapshots)", dir.path.display(), dir.path.display()))
    }];
    if which::which("snapper").is_ok() {
        found.push(match snapper.config_for(&dir.path) {
            Ok(c) => ok(format!("{name}: snapper config {}", c.config)),
            Err(e) if e.to_string().contains("create-config") => fail(format!("{name}: {e}")),
            Err(e) => fail(format!(
                "{name}: {e}; snapper talks to snapperd over the system D-Bus: check that `snapper list-configs` runs"
            )),
        });
    }
    if let Some(why) = crate::files::env_place::outside_snapshots(&dir.path, &dir.env_file) {
        found.push(fail(format!(
            "{name}: {why}; `cipug update` refuses it (exit 32)"
        )));
    }
    found
}

/// What to do about a service whose env file did not load: write it with `cipug adopt`
/// when it is missing, else fix what the error names. Trust refusals name their fix.
fn env_fix(dir: &ServiceDir, error: &Error) -> String {
    match error {
        Error::Env(_) if !dir.env_file.exists() => format!(
            "; `cipug adopt {}` writes it from the compose file",
            dir.path.display()
        ),
        Error::Env(_) => {
            "; fix the file (KEY=value lines, as compose reads them; `cipug adopt` writes the entries)"
                .to_owned()
        }
        _ => String::new(),
    }
}

/// Whether the service has entries, its compose file uses them, and which bind mounts are
/// outside its folder (and so outside its snapshots).
fn compose_findings(config: &Config, runner: &dyn Runner, service: &Service) -> Vec<Finding> {
    let (name, dir) = (&service.dir.name, &service.dir);
    let compose_name = crate::services::compose_files::name(config, &dir.path).unwrap_or_default();
    let mut found = Vec::new();
    if service.images.is_empty() {
        found.push(fail(format!(
            "{name}: {} has no {} entry; run `cipug adopt {}`",
            dir.env_file.display(),
            crate::formats::env_keys::TAGGED.shown(),
            dir.path.display()
        )));
    }
    let model = match crate::pipeline::project::compose_model::load(config, dir) {
        Ok(mut model) => {
            crate::pipeline::project::compose_model::confirm(config, runner, dir, &mut model);
            model
        }
        Err(e) => {
            found.push(fail(format!(
                "{name}: {e}; fix the compose file (`{} config` in {} shows how the compose tool reads it)",
                config.compose_tool.join(" "),
                dir.path.display()
            )));
            return found;
        }
    };
    for image in &service.images {
        let var = image.hashed_key();
        let users = model.services_using(&[image.entry.as_str()]);
        found.push(if users.is_empty() {
            fail(format!(
                "{name}: {compose_name} does not use ${{{var}}} for an image (nor a file it merges or includes): write `image: ${{{var}}}` for it"
            ))
        } else {
            ok(format!(
                "{name}: compose service {} uses ${{{var}}}",
                users.join(", ")
            ))
        });
    }
    found.extend(model.outside_volumes(&dir.path).into_iter().map(|v| {
        note(format!(
            "{name}: {v}: not in the snapshot, a rollback does not put it back"
        ))
    }));
    found.extend(model.unsure().iter().map(|why| {
        note(format!(
            "{name}: {why}: cipug cannot tell which compose services use a pin, so an update restarts the whole project"
        ))
    }));
    found
}

/// Prints the findings; fails with exit 12 when any check failed.
pub fn run(config: &Config, runner: &dyn Runner, out: &mut dyn Write) -> Result<()> {
    let found = findings(config, runner);
    let io = |e| Error::io("standard output", e);
    let good = anstyle::AnsiColor::Green.on_default();
    let bad = anstyle::AnsiColor::Red.on_default().bold();
    let notice = anstyle::AnsiColor::Yellow.on_default();
    for f in &found {
        if f.note {
            writeln!(out, "{notice}note{notice:#}  {}", f.text).map_err(io)?;
        } else if f.ok {
            writeln!(out, "{good}ok{good:#}    {}", f.text).map_err(io)?;
        } else {
            writeln!(out, "{bad}FIX{bad:#}   {}", f.text).map_err(io)?;
        }
    }
    let problems = found.iter().filter(|f| !f.ok).count();
    if problems == 0 {
        writeln!(out, "everything looks right").map_err(io)?;
        Ok(())
    } else {
        Err(Error::Doctor { problems })
    }
}
