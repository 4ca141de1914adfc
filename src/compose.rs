//! The commands that check, pull and restart a compose service, and prune images.

use crate::compose_flavour::ContainerKind;
use crate::config::{Config, StopStartMethod};
use crate::runner::Cmd;
use crate::services::ServiceDir;

/// Builds the compose tool's commands for one service folder.
pub struct Compose<'c> {
    config: &'c Config,
}

impl<'c> Compose<'c> {
    /// Commands as the settings say.
    pub fn new(config: &'c Config) -> Self {
        Compose { config }
    }

    /// `<COMPOSE_TOOL> [-f <file>] [--env-file <file>] <args>` in the service folder. The
    /// file options are given only when the names differ from what compose tools look for.
    /// Tools that let the process environment win over the `.env` do not get cipug's own
    /// image variables, so the pin in the `.env` is what runs.
    fn compose(&self, service: &ServiceDir, args: &[&str]) -> Cmd {
        let mut cmd = Cmd::from_words(&self.config.compose_tool);
        if self.config.compose_file_name != "compose.yml" {
            cmd = cmd.args(["-f", &self.config.compose_file_name]);
        }
        if self.config.env_file_name != ".env" {
            cmd = cmd.args(["--env-file", &self.config.env_file_name]);
        }
        if self.config.compose_flavour.process_env_wins() {
            cmd = cmd.env_remove(self.config.inherited_image_vars.iter().cloned());
        }
        cmd.args(args.iter().copied()).current_dir(&service.path)
    }

    /// Checks the compose tool works in the folder.
    pub fn ps(&self, service: &ServiceDir) -> Cmd {
        self.compose(service, &["ps"])
    }

    /// Pulls the service's images.
    pub fn pull(&self, service: &ServiceDir) -> Cmd {
        self.compose(service, &["pull"])
    }

    /// The commands that restart the service, in order.
    pub fn restart(&self, service: &ServiceDir) -> Vec<Cmd> {
        match self.config.stop_start_method {
            StopStartMethod::Compose => vec![
                self.compose(service, &["down"]),
                self.compose(service, &["up", "-d"]),
            ],
            _ => vec![self.systemctl("restart", service)],
        }
    }

    /// The command that stops the service.
    pub fn stop(&self, service: &ServiceDir) -> Cmd {
        match self.config.stop_start_method {
            StopStartMethod::Compose => self.compose(service, &["down"]),
            _ => self.systemctl("stop", service),
        }
    }

    /// The command that starts the service.
    pub fn start(&self, service: &ServiceDir) -> Cmd {
        match self.config.stop_start_method {
            StopStartMethod::Compose => self.compose(service, &["up", "-d"]),
            _ => self.systemctl("start", service),
        }
    }

    /// `systemctl [--user] <verb> <COMPOSE_TOOL>@<service>`.
    fn systemctl(&self, verb: &str, service: &ServiceDir) -> Cmd {
        let unit = format!("{}@{}", self.config.compose_tool.join("-"), service.name);
        let cmd = Cmd::new("systemctl");
        let cmd = if self.config.stop_start_method == StopStartMethod::SystemdUser {
            cmd.arg("--user")
        } else {
            cmd
        };
        cmd.args([verb, &unit])
    }

    /// Removes unused images.
    pub fn prune(&self) -> Cmd {
        Cmd::from_words(&self.config.container_tool).args(["image", "prune", "-f"])
    }

    /// Whether this run uses the compose tool for a changed service.
    pub fn needed(&self) -> bool {
        self.config.service_pull
            || (self.config.service_stop_start
                && self.config.stop_start_method == StopStartMethod::Compose)
    }
}

/// The compose project name of a service folder, as compose tools derive it: the folder
/// name in lower case, keeping only `a-z`, `0-9`, `_` and `-`.
pub fn project_name(folder_name: &str) -> String {
    folder_name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect()
}

/// The command listing a compose project's containers as JSON. podman-compose, docker-compose
/// and `docker compose` all label containers with `com.docker.compose.project`.
pub fn containers_cmd(config: &Config, project: &str) -> Cmd {
    Cmd::from_words(&config.container_tool).args([
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--format",
        ContainerKind::of(config).ps_json_format(),
    ])
}

/// One container of a project and its state (`running`, `exited`, `created`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    /// The container name.
    pub name: String,
    /// Its state.
    pub state: String,
    /// The status line (`Up 3 seconds (healthy)`, `Exited (1) 2 seconds ago`).
    pub status: String,
}

/// Parses `ps --format json`: podman prints one array, docker one object per line.
pub fn parse_containers(output: &str) -> Result<Vec<ContainerState>, String> {
    let trimmed = output.trim();
    let values: Vec<serde_json::Value> = if trimmed.is_empty() {
        Vec::new()
    } else if trimmed.starts_with('[') {
        serde_json::from_str(trimmed).map_err(|e| e.to_string())?
    } else {
        trimmed
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?
    };
    Ok(values
        .iter()
        .map(|v| {
            let name = match &v["Names"] {
                serde_json::Value::Array(names) => names
                    .first()
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
                    .to_owned(),
                other => other.as_str().unwrap_or("").to_owned(),
            };
            ContainerState {
                name,
                state: v["State"].as_str().unwrap_or("unknown").to_lowercase(),
                status: v["Status"].as_str().unwrap_or("").to_owned(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names() {
        assert_eq!(project_name("My.App_X"), "myapp_x");
        assert_eq!(project_name("UPPER-Case"), "upper-case");
        assert_eq!(project_name("a b$c"), "abc");
    }

    #[test]
    fn container_states_from_podman_and_docker() {
        let podman = r#"[{"Names": ["svc_app_1"], "State": "running"}, {"Names": ["svc_db_1"], "State": "exited"}]"#;
        let docker = "{\"Names\":\"svc-app-1\",\"State\":\"running\"}\n{\"Names\":\"svc-db-1\",\"State\":\"created\"}\n";
        let p = parse_containers(podman).unwrap();
        assert_eq!(
            p[1],
            ContainerState {
                name: "svc_db_1".into(),
                state: "exited".into(),
                status: String::new(),
            }
        );
        let d = parse_containers(docker).unwrap();
        assert_eq!(d[1].state, "created");
        assert!(parse_containers("").unwrap().is_empty());
        assert!(parse_containers("garbage").is_err());
    }
}
