//! Which compose tool and container tool a run drives: the compose tool is asked for its
//! version once per run that restarts a service with it (`<COMPOSE_TOOL> version`, read by
//! [`crate::formats::compose::version`]), and by `doctor`; the container tool's name says
//! whether it speaks podman or docker.

use crate::adapters::runner::{Cmd, Runner};
use crate::config::Config;
use crate::error::{Error, Result};
pub use crate::formats::compose::version::{ComposeFlavour, ComposeKind};

/// Asks the compose tool for its version and checks the settings fit it. A tool that
/// cannot be asked counts as unknown: every check is kept, and its first real command
/// reports the problem. `version`, not `--version`: every compose tool has the subcommand,
/// and the docker client answers `docker compose --version` with the usage, no version.
pub fn detect(config: &Config, runner: &dyn Runner) -> Result<ComposeFlavour> {
    let cmd = Cmd::from_words(&config.compose_tool).arg("version");
    let flavour = match runner.run(&cmd) {
        Ok(out) => ComposeFlavour::parse(&format!("{}\n{}", out.stdout, out.stderr)),
        Err(e) => {
            log::debug!("{e}");
            ComposeFlavour::default()
        }
    };
    log::debug!("compose tool: {flavour}");
    if config.env_file_name != ".env" && !flavour.has_env_file_option() {
        return Err(Error::Value(format!(
            "ENV_FILE_NAME={}: {flavour} has no --env-file; name the file .env or use podman-compose 1.1 or later",
            config.env_file_name
        )));
    }
    Ok(flavour)
}

/// The family of a container tool, from its program name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// podman.
    Podman,
    /// docker (or anything else that speaks its command line).
    Docker,
}

impl ContainerKind {
    /// The kind of `CONTAINER_TOOL`: podman when the program is named `podman`.
    pub fn of(config: &Config) -> ContainerKind {
        let program = config.container_tool.first().map_or("", String::as_str);
        if program.rsplit('/').next() == Some("podman") {
            ContainerKind::Podman
        } else {
            ContainerKind::Docker
        }
    }
}
