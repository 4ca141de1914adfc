//! `cipug doctor`'s check of the tool combination: which compose tool and version run, and
//! whether the container tool sees the containers it starts.

use crate::adapters::compose::Compose;
use crate::adapters::compose_flavour::{self, ComposeKind, ContainerKind};
use crate::adapters::container;
use crate::adapters::runner::Runner;
use crate::config::{Config, StopStartMethod};
use crate::formats::container_version;

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
            "compose tool `{tool}` does not say which compose tool it is (`{tool} version`); use podman-compose, docker-compose or `docker compose`"
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
            "compose tool `{tool}` is {flavour}, with container tool `{container}`{}{}",
            container_version_of(config, runner).map_or(String::new(), |v| format!(" ({v})")),
            if flavour.exit_codes_reliable() {
                ""
            } else {
                " (exits 0 on failures: the health gate checks the containers itself)"
            }
        )),
    })
}

/// The container tool's name and version (`podman 5.4.2`), when it says them.
fn container_version_of(config: &Config, runner: &dyn Runner) -> Option<String> {
    let out = runner.run(&container::version_cmd(config)).ok()?;
    container_version::parse(&out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::runner::{Cmd, Output, RunError};

    /// Answers the compose tool's `version` with one text and the container tool's
    /// `--version` as podman 5.4.2 or docker 26.1.5 do.
    struct Version(&'static str);

    impl Runner for Version {
        fn run(&self, cmd: &Cmd) -> std::result::Result<Output, RunError> {
            let stdout = match (cmd.args.as_slice(), cmd.program.as_str()) {
                ([flag], "podman") if flag == "--version" => "podman version 5.4.2\n",
                ([flag], _) if flag == "--version" => {
                    "Docker version 26.1.5+dfsg1, build a72d7cd\n"
                }
                _ => self.0,
            };
            Ok(Output {
                stdout: stdout.to_owned(),
                stderr: String::new(),
            })
        }
    }

    fn config(container: &str, env_file: &str) -> Config {
        let env = [
            ("CIPUG_SERVICES_ROOT", "/srv"),
            // A program that exists, standing in for the compose tool.
            ("CIPUG_COMPOSE_TOOL", "sh"),
            ("CIPUG_CONTAINER_TOOL", container),
            ("CIPUG_ENV_FILE_NAME", env_file),
        ];
        Config::for_tests(&env, std::path::Path::new("/"))
    }

    #[test]
    fn each_combination() {
        let old = Version("podman-composer version  1.0.3\n");
        let new = Version("podman-compose version 1.6.0\n");
        let docker = Version("docker-compose version 1.29.2, build unknown\n");
        let v2 = Version("Docker Compose version v2.20.2\n");
        let cases: &[(&Version, &str, &str, Result<&str, &str>)] = &[
            (
                &old,
                "podman",
                ".env",
                Ok("is podman-compose 1.0.3, with container tool `podman` (podman 5.4.2) (exits 0 on failures"),
            ),
            (
                &new,
                "podman",
                ".env",
                Ok("is podman-compose 1.6.0, with container tool `podman` (podman 5.4.2)"),
            ),
            (&new, "podman", "app.env", Ok("is podman-compose 1.6.0")),
            (
                &old,
                "podman",
                "app.env",
                Err("podman-compose 1.0.3 has no --env-file"),
            ),
            (
                &docker,
                "/usr/bin/docker",
                ".env",
                Ok("is docker compose 1.29.2, with container tool `/usr/bin/docker` (docker 26.1.5+dfsg1)"),
            ),
            (&v2, "docker", ".env", Ok("is docker compose 2.20.2")),
            (&new, "docker", ".env", Err("set CONTAINER_TOOL=podman")),
            (&docker, "podman", ".env", Err("set CONTAINER_TOOL=docker")),
            (
                &Version("sh 5.2\n"),
                "podman",
                ".env",
                Err("does not say which compose tool it is"),
            ),
        ];
        for (runner, container, env_file, expected) in cases {
            let found = combination(&config(container, env_file), *runner).unwrap();
            match (&found, expected) {
                (Ok(text), Ok(part)) | (Err(text), Err(part)) => {
                    assert!(text.contains(part), "{text} lacks {part}")
                }
                _ => panic!("{found:?}, expected {expected:?}"),
            }
        }
    }
}
