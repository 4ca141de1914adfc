//! `cipug doctor`'s check of the tool combination: which compose tool and version run, and
//! whether the container tool sees the containers it starts.

use crate::compose::Compose;
use crate::compose_flavour::{self, ComposeKind, ContainerKind};
use crate::config::{Config, StopStartMethod};
use crate::runner::Runner;

/// What doctor says about the compose tool and container tool: `Ok(text)` when they fit,
/// `Err(what to fix)` when not.
pub fn combination(config: &Config, runner: &dyn Runner) -> Option<Result<String, String>> {
    let drives_compose =
        Compose::new(config).needed() || config.stop_start_method == StopStartMethod::Compose;
    if !drives_compose || which::which(&config.compose_tool[0]).is_err() {
        return None;
    }
    let tool = shell_words::join(&config.compose_tool);
    let container = shell_words::join(&config.container_tool);
    let flavour = match compose_flavour::detect(config, runner) {
        Ok(f) => f,
        Err(e) => return Some(Err(e.to_string())),
    };
    let kind = ContainerKind::of(config);
    Some(match (flavour.kind, kind) {
        (ComposeKind::Unknown, _) => Err(format!(
            "compose tool `{tool}` does not say which compose tool it is (`{tool} --version`); use podman-compose, docker-compose or `docker compose`"
        )),
        (ComposeKind::PodmanCompose, ContainerKind::Docker) => Err(format!(
            "{flavour} starts podman containers, which CONTAINER_TOOL `{container}` does not see; set CONTAINER_TOOL=podman"
        )),
        (ComposeKind::DockerComposeV1 | ComposeKind::DockerComposeV2, ContainerKind::Podman) => {
            Err(format!(
                "{flavour} starts docker containers, which CONTAINER_TOOL `{container}` does not see; set CONTAINER_TOOL=docker"
            ))
        }
        _ => Ok(format!(
            "compose tool `{tool}` is {flavour}, with container tool `{container}`{}",
            if flavour.exit_codes_reliable() {
                ""
            } else {
                " (exits 0 on failures: cipug checks pulled images and containers itself)"
            }
        )),
    })
}
