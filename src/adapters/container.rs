//! The container tool (podman or docker) and the containers of a compose project: the
//! command lines, the containers found by the compose project label and read from
//! `container inspect` JSON (podman and docker print the same fields), removed when `down`
//! left some behind, and described for messages.

use serde::Deserialize;

use crate::adapters::compose_flavour::ContainerKind;
use crate::adapters::runner::{Cmd, RunError, Runner};
use crate::config::Config;

/// The container tool, run with the pin variables kept out of its environment.
pub fn tool(config: &Config) -> Cmd {
    Cmd::from_words(&config.container_tool).pin_env(Vec::<String>::new())
}

/// `<CONTAINER_TOOL> ps -a -q --no-trunc --filter label=com.docker.compose.project=<project>`:
/// the ids of every container of a compose project, running or not. podman-compose (1.0
/// and 1.6) and docker compose all set this label.
pub fn container_ids_cmd(config: &Config, project: &str) -> Cmd {
    ids_labelled(
        config,
        &format!("label=com.docker.compose.project={project}"),
    )
}

/// `<CONTAINER_TOOL> ps -a -q --no-trunc --filter label=com.docker.compose.project`: the ids
/// of every container of every compose project, for the links between projects.
pub fn compose_container_ids_cmd(config: &Config) -> Cmd {
    ids_labelled(config, "label=com.docker.compose.project")
}

/// `<CONTAINER_TOOL> ps -a -q --no-trunc --filter <filter>`.
fn ids_labelled(config: &Config, filter: &str) -> Cmd {
    tool(config).args(["ps", "-a", "-q", "--no-trunc", "--filter", filter])
}

/// `<CONTAINER_TOOL> container inspect <ids>`: a JSON array with one object per container.
pub fn inspect_containers_cmd(config: &Config, ids: &[String]) -> Cmd {
    tool(config)
        .args(["container", "inspect"])
        .args(ids.iter().cloned())
}

/// `<CONTAINER_TOOL> stop -t <seconds> <ids>`: TERM, then KILL after `seconds`.
pub fn stop_containers_cmd(config: &Config, seconds: u64, ids: &[String]) -> Cmd {
    tool(config)
        .args(["stop", "-t", &seconds.to_string()])
        .args(ids.iter().cloned())
}

/// Stops the containers `ids` (TERM, then KILL after `seconds`) and removes them: podman
/// does both in one `rm -f -t <seconds>`, which keeps a process start out of the downtime;
/// docker's `rm -f` kills at once, so it gets `stop -t <seconds>`, then `rm -f`.
pub fn stop_and_remove_cmds(config: &Config, seconds: u64, ids: &[String]) -> Vec<Cmd> {
    if ContainerKind::of(config) == ContainerKind::Podman {
        return vec![tool(config)
            .args(["rm", "-f", "-t", &seconds.to_string()])
            .args(ids.iter().cloned())];
    }
    vec![
        stop_containers_cmd(config, seconds, ids),
        remove_containers_cmd(config, ids),
    ]
}

/// `<CONTAINER_TOOL> rm -f <ids>`: removes the containers, killing what still runs.
pub fn remove_containers_cmd(config: &Config, ids: &[String]) -> Cmd {
    tool(config).args(["rm", "-f"]).args(ids.iter().cloned())
}

/// `<CONTAINER_TOOL> image inspect --format {{.Id}} <pin>`: the image ID of a pulled pin.
pub fn image_id_cmd(config: &Config, pin: &str) -> Cmd {
    tool(config).args(["image", "inspect", "--format", "{{.Id}}", pin])
}

/// `<CONTAINER_TOOL> --version`: podman and docker name themselves and their version.
pub fn version_cmd(config: &Config) -> Cmd {
    tool(config).arg("--version")
}

/// `<CONTAINER_TOOL> pull <pin>`: the same registries, credentials and storage compose uses.
pub fn pull_cmd(config: &Config, pin: &str) -> Cmd {
    tool(config)
        .args(["pull", pin])
        .kind(crate::adapters::runner::ToolKind::Pull)
}

/// What the container tool said when its signature policy (containers-policy.json(5))
/// refused a pull, from the pull's standard error; `None` for any other failure. podman
/// (containers/image) prints `Error: Source image rejected: <why>` for every requirement that
/// fails (`reject`, a missing or wrong signature); docker has no such policy.
pub fn policy_refusal(stderr: &str) -> Option<&str> {
    const REJECTED: &str = "Source image rejected: ";
    let line = stderr.lines().find(|l| l.contains(REJECTED))?;
    let (_, why) = line.split_once(REJECTED)?;
    Some(why.trim()).filter(|why| !why.is_empty())
}

/// `<CONTAINER_TOOL> healthcheck run <container>` (podman): runs a healthcheck now.
pub fn healthcheck_cmd(config: &Config, container: &str) -> Cmd {
    tool(config).args(["healthcheck", "run", container])
}

/// One container as `container inspect` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    /// The container id.
    pub id: String,
    /// The name (docker prints it with a leading `/`, see [`Container::name`]).
    #[serde(default)]
    name: String,
    /// The image ID it runs (`sha256:` prefixed with docker, bare hex with podman).
    #[serde(default)]
    image: String,
    /// How often the restart policy restarted it.
    #[serde(default)]
    pub restart_count: u64,
    /// Its state.
    pub state: State,
    /// Its configuration (the compose labels).
    #[serde(default)]
    pub config: ContainerConfig,
    /// The containers it requires (podman: `--requires`, a joined namespace).
    #[serde(default)]
    dependencies: Option<Vec<String>>,
    /// How it is run (the network namespace it joins).
    #[serde(default)]
    host_config: HostConfig,
}

/// The `HostConfig` object of `container inspect`, as far as cipug reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// `container:<id or name>` when it joins another container's network namespace.
    #[serde(default)]
    pub network_mode: String,
}

/// The `Config` object of `container inspect`, as far as cipug reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// The labels; compose tools set `com.docker.compose.service`.
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
}

/// The `State` object of `container inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    /// `running`, `restarting`, `exited`, `created`, ... (lower case in both tools).
    #[serde(default)]
    pub status: String,
    /// When the current run started; changes with every restart.
    #[serde(default)]
    pub started_at: String,
    /// The exit code of the last run.
    #[serde(default)]
    pub exit_code: i64,
    /// The healthcheck state, where one is defined.
    #[serde(default)]
    pub health: Option<HealthState>,
}

/// The `State.Health` object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthState {
    /// `starting`, `healthy`, `unhealthy`, or empty when no healthcheck is defined.
    #[serde(default)]
    pub status: String,
}

impl Container {
    /// The container name, without docker's leading `/`.
    pub fn name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    /// Whether it cannot outlive `other`: it requires it (podman's `--requires`, which
    /// podman-compose 1.1 and later set for `depends_on`) or joins its network namespace
    /// (`network_mode: service:` / `container:`). It must then be removed before `other`
    /// is, and started again after it.
    pub fn depends_on(&self, other: &Container) -> bool {
        let required =
            self.dependencies.iter().flatten().any(|id| {
                !id.is_empty() && (other.id.starts_with(id.as_str()) || id == other.name())
            });
        let joined = self
            .host_config
            .network_mode
            .strip_prefix("container:")
            .is_some_and(|target| {
                !target.is_empty() && (other.id.starts_with(target) || target == other.name())
            });
        required || joined
    }

    /// The image ID, without a `sha256:` prefix, as [`image_id`] gives it.
    pub fn image_id(&self) -> &str {
        image_id(&self.image)
    }

    /// The compose service the container belongs to (its `com.docker.compose.service`
    /// label), empty when it has none.
    pub fn compose_service(&self) -> &str {
        self.config
            .labels
            .as_ref()
            .and_then(|l| l.get("com.docker.compose.service"))
            .map_or("", String::as_str)
    }

    /// The compose project the container belongs to (its `com.docker.compose.project`
    /// label), empty when it has none.
    pub fn compose_project(&self) -> &str {
        self.config
            .labels
            .as_ref()
            .and_then(|l| l.get("com.docker.compose.project"))
            .map_or("", String::as_str)
    }

    /// Whether it runs.
    pub fn running(&self) -> bool {
        self.status() == "running"
    }

    /// Whether it has stopped (or never started): nothing of it runs any more.
    pub fn stopped(&self) -> bool {
        matches!(
            self.status().as_str(),
            "exited" | "stopped" | "created" | "configured" | "initialized" | "dead"
        )
    }

    /// Whether it ran to its end with exit code 0, as a one-shot does.
    pub fn finished(&self) -> bool {
        matches!(self.status().as_str(), "exited" | "stopped") && self.state.exit_code == 0
    }

    /// The status in lower case.
    pub fn status(&self) -> String {
        self.state.status.to_ascii_lowercase()
    }

    /// The healthcheck status in lower case; `None` when no healthcheck is defined.
    pub fn health(&self) -> Option<String> {
        self.state
            .health
            .as_ref()
            .map(|h| h.status.to_ascii_lowercase())
            .filter(|s| !s.is_empty())
    }

    /// One line for messages: `app_1 running, image 0123456789ab, restarted 3 times`.
    pub fn describe(&self) -> String {
        let mut line = format!("{} {}", self.name(), self.status());
        if matches!(self.status().as_str(), "exited" | "stopped") {
            line.push_str(&format!(" (exit code {})", self.state.exit_code));
        }
        if let Some(health) = self.health() {
            line.push_str(&format!(" ({health})"));
        }
        line.push_str(&format!(", image {}", short(self.image_id())));
        if self.restart_count > 0 {
            line.push_str(&format!(", restarted {} times", self.restart_count));
        }
        line
    }
}

/// An image ID without its `sha256:` prefix (docker prints it, podman does not).
pub fn image_id(id: &str) -> &str {
    let id = id.trim();
    id.strip_prefix("sha256:").unwrap_or(id)
}

/// The first 12 characters of an image ID, as `ps` shows it.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Why the containers of a project could not be read, stopped or removed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The container tool failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// `container inspect` printed something else than its JSON.
    #[error("cannot read `container inspect`: {0}")]
    Inspect(#[source] serde_json::Error),
    /// Containers that `down`, `stop` and `rm -f` all left.
    #[error(
        "{} container(s) of project {project} still exist after `down`, `stop` and `rm -f`: {}",
        .still.len(),
        describe_all(.still)
    )]
    Remaining {
        /// The compose project.
        project: String,
        /// What is still there.
        still: Vec<Container>,
    },
    /// A stop or remove failed (`error`), and the list after it could not be read.
    #[error("{error}; the containers could not be listed after it: {listing}")]
    Unlisted {
        /// The first failure.
        error: String,
        /// Why the list could not be read.
        #[source]
        listing: Box<ContainerError>,
    },
    /// A stop or remove failed (`error`), and a container still runs.
    #[error("{error}; {running} has not stopped")]
    NotStopped {
        /// The first failure.
        error: String,
        /// The container, described.
        running: String,
    },
    /// A stop or remove failed (`error`), and removing the stopped ones failed again.
    #[error("{error}; removing the stopped container(s) again failed: {again}")]
    RemoveAgain {
        /// The first failure.
        error: String,
        /// The second.
        #[source]
        again: RunError,
    },
}

/// Reads `container inspect` output.
pub fn parse_inspect(json: &str) -> Result<Vec<Container>, ContainerError> {
    serde_json::from_str(json).map_err(ContainerError::Inspect)
}

/// Every container of compose project `project`, as `container inspect` describes it.
pub fn list(
    config: &Config,
    runner: &dyn Runner,
    project: &str,
) -> Result<Vec<Container>, ContainerError> {
    let ids = ids(config, runner, project)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    inspect(config, runner, &ids)
}

/// Every container of every compose project, as `container inspect` describes it.
pub fn list_compose(
    config: &Config,
    runner: &dyn Runner,
) -> Result<Vec<Container>, ContainerError> {
    let out = runner.run(&compose_container_ids_cmd(config))?;
    let ids: Vec<String> = out.stdout.split_whitespace().map(str::to_owned).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    inspect(config, runner, &ids)
}

/// The containers `ids`, from `container inspect`; an error when one of them is gone.
pub fn inspect(
    config: &Config,
    runner: &dyn Runner,
    ids: &[String],
) -> Result<Vec<Container>, ContainerError> {
    let out = runner.run(&inspect_containers_cmd(config, ids))?;
    parse_inspect(&out.stdout)
}

fn ids(config: &Config, runner: &dyn Runner, project: &str) -> Result<Vec<String>, ContainerError> {
    let out = runner.run(&container_ids_cmd(config, project))?;
    Ok(out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Seconds a container gets to stop on TERM before it is killed, when cipug removes what
/// `down` left behind.
pub const STOP_GRACE_SECS: u64 = 10;

/// Makes sure no container of `project` exists: removes what the compose tool's `down` left
/// behind (`stop -t`, then `rm -f`) and checks again. The error lists what remains.
pub fn remove_remaining(
    config: &Config,
    runner: &dyn Runner,
    project: &str,
) -> Result<(), ContainerError> {
    let left = ids(config, runner, project)?;
    if left.is_empty() {
        return Ok(());
    }
    log::warn!(
        "project {project}: {} container(s) left after stopping; removing them",
        left.len()
    );
    // Either may fail for a container that is restarting or already gone: the list
    // afterwards is what counts.
    if let Err(e) = runner.run(&stop_containers_cmd(config, STOP_GRACE_SECS, &left)) {
        log::debug!("project {project}: {e}");
    }
    if let Err(e) = runner.run(&remove_containers_cmd(config, &left)) {
        log::warn!("project {project}: {e}");
    }
    let still = list(config, runner, project)?;
    if still.is_empty() {
        return Ok(());
    }
    Err(ContainerError::Remaining {
        project: project.to_owned(),
        still,
    })
}

/// After a stop or remove of the containers `ids` of `project` failed with `error`: when
/// none of them runs any more (each stopped by itself meanwhile, or is gone), removes what
/// is left with `rm -f` (no grace period) and counts them as stopped. The error keeps
/// `error` when one still runs, the list cannot be read or the removal fails again.
pub fn remove_stopped(
    config: &Config,
    runner: &dyn Runner,
    project: &str,
    ids: &[String],
    error: &str,
) -> Result<(), ContainerError> {
    let all = list(config, runner, project).map_err(|listing| ContainerError::Unlisted {
        error: error.to_owned(),
        listing: Box::new(listing),
    })?;
    let left: Vec<&Container> = all.iter().filter(|c| ids.contains(&c.id)).collect();
    if let Some(up) = left.iter().find(|c| !c.stopped()) {
        return Err(ContainerError::NotStopped {
            error: error.to_owned(),
            running: up.describe(),
        });
    }
    log::warn!(
        "project {project}: {error}; the container(s) stopped by themselves meanwhile, removing them again"
    );
    if left.is_empty() {
        return Ok(());
    }
    let left: Vec<String> = left.iter().map(|c| c.id.clone()).collect();
    runner
        .run(&remove_containers_cmd(config, &left))
        .map(|_| ())
        .map_err(|again| ContainerError::RemoveAgain {
            error: error.to_owned(),
            again,
        })
}

/// The containers in one line, or that there are none.
pub fn describe_all(containers: &[Container]) -> String {
    if containers.is_empty() {
        return "no container".to_owned();
    }
    containers
        .iter()
        .map(Container::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What runs of `project` now, for messages that must say the state of a service.
pub fn current_state(config: &Config, runner: &dyn Runner, project: &str) -> String {
    match list(config, runner, project) {
        Ok(list) if list.is_empty() => format!("no container of project {project} exists"),
        Ok(list) => format!("containers of project {project}: {}", describe_all(&list)),
        Err(e) => format!("the containers of project {project} could not be listed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_of_podman_and_docker() {
        let podman = r#"[{"Id": "6e6a", "Name": "proj_app_1", "Image": "cf65628fba618890149b8e65227ff251c8e4a7ab6576642a0c29974120e6807d",
            "ImageName": "localhost/crash:1", "RestartCount": 24,
            "State": {"Status": "running", "Running": true, "ExitCode": 0, "StartedAt": "2026-11-29T02:25:49.031823278Z",
                      "Health": {"Status": "starting", "FailingStreak": 0, "Log": null}}}]"#;
        let docker = r#"[{"Id": "abcd", "Name": "/proj-app-1", "Image": "sha256:0123456789abcdef", "RestartCount": 0,
            "State": {"Status": "exited", "ExitCode": 1, "StartedAt": "2026-11-29T02:25:49Z"}}]"#;
        let p = parse_inspect(podman).unwrap();
        assert_eq!(p[0].name(), "proj_app_1");
        assert_eq!(p[0].restart_count, 24);
        assert_eq!(p[0].health().as_deref(), Some("starting"));
        assert_eq!(
            p[0].describe(),
            "proj_app_1 running (starting), image cf65628fba61, restarted 24 times"
        );
        let d = parse_inspect(docker).unwrap();
        assert_eq!(d[0].name(), "proj-app-1");
        assert_eq!(d[0].image_id(), "0123456789abcdef");
        assert_eq!(d[0].health(), None);
        assert_eq!(
            d[0].describe(),
            "proj-app-1 exited (exit code 1), image 0123456789ab"
        );
        assert!(parse_inspect("garbage").is_err());
        assert_eq!(describe_all(&[]), "no container");
    }

    #[test]
    fn pulls_the_signature_policy_refused_are_told_apart() {
        let cases = [
            (
                "Trying to pull r/s/app@sha256:1...\nError: Source image rejected: A signature was required, but no signature exists\n",
                Some("A signature was required, but no signature exists"),
            ),
            (
                "Error: Source image rejected: Running image docker://r/s/app@sha256:1 is rejected by policy.",
                Some("Running image docker://r/s/app@sha256:1 is rejected by policy."),
            ),
            (
                "Error: copying system image from manifest list: Source image rejected: Invalid GPG signature: ...",
                Some("Invalid GPG signature: ..."),
            ),
            ("Error: initializing source docker://r/s/app@sha256:1: manifest unknown", None),
            ("Error: Source image rejected: ", None),
            ("", None),
        ];
        for (stderr, want) in cases {
            assert_eq!(policy_refusal(stderr), want, "{stderr}");
        }
    }

    #[test]
    fn image_ids_lose_their_prefix() {
        assert_eq!(image_id("sha256:abc\n"), "abc");
        assert_eq!(image_id("abc"), "abc");
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
    }
}
