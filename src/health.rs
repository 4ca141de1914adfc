//! The health gate after a restart: every container of the service's compose project must
//! run, and be healthy where a healthcheck is defined, within HEALTH_TIMEOUT. A container
//! that exits or turns unhealthy fails the gate at once.
//!
//! podman runs healthchecks from systemd timers; where none run (no systemd as PID 1),
//! cipug runs `podman healthcheck run` itself while it waits, so the gate still sees them.

use std::time::{Duration, Instant};

use crate::compose::{containers_cmd, project_name};
use crate::config::Config;
use crate::runner::{Cmd, Runner};

/// What a container's status says about its health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No healthcheck defined.
    None,
    /// The healthcheck has not passed yet.
    Starting,
    /// The healthcheck passes.
    Healthy,
    /// The healthcheck fails.
    Unhealthy,
}

/// Reads the health from a `ps` status like `Up 3 seconds (healthy)` (podman) or
/// `Up 3 seconds (health: starting)` (docker).
pub fn parse_health(status: &str) -> Health {
    let status = status.to_ascii_lowercase();
    if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("starting)") {
        Health::Starting
    } else {
        Health::None
    }
}

/// Containers in "created" longer than this did not start.
const START_GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(500);

/// Waits for the compose project of service `name` to be up and healthy. The error says
/// which container failed and how.
pub fn wait(config: &Config, runner: &dyn Runner, name: &str) -> Result<(), String> {
    let project = project_name(name);
    let timeout = Duration::from_secs(config.health_timeout);
    let started = Instant::now();
    let podman = config.container_tool[0].rsplit('/').next() == Some("podman");
    loop {
        let out = runner
            .run(&containers_cmd(config, &project))
            .map_err(|e| e.to_string())?;
        let containers = crate::compose::parse_containers(&out.stdout)
            .map_err(|e| format!("cannot read the container list: {e}"))?;
        let mut waiting = Vec::new();
        for c in &containers {
            match c.state.as_str() {
                "running" => match parse_health(&c.status) {
                    Health::Unhealthy => return Err(format!("{} is unhealthy", c.name)),
                    Health::Starting => {
                        if podman {
                            // Exit 1 just means "not healthy yet": the status says the rest.
                            let _ = runner.run(
                                &Cmd::from_words(&config.container_tool)
                                    .args(["healthcheck", "run", &c.name])
                                    .pin_env(Vec::<String>::new()),
                            );
                        }
                        waiting.push(format!("{} is starting", c.name));
                    }
                    Health::None | Health::Healthy => {}
                },
                "created" | "configured" | "initialized" if started.elapsed() < START_GRACE => {
                    waiting.push(format!("{} is {}", c.name, c.state));
                }
                other => return Err(format!("{} is {other}{}", c.name, exit_note(&c.status))),
            }
        }
        if containers.is_empty() {
            waiting.push(format!("no container of project {project} yet"));
        }
        if waiting.is_empty() {
            log::debug!(
                "{name}: {} container(s) up after {:.1}s",
                containers.len(),
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(format!(
                "not ready after {}s: {}",
                timeout.as_secs(),
                waiting.join(", ")
            ));
        }
        std::thread::sleep(POLL);
    }
}

fn exit_note(status: &str) -> String {
    if status.is_empty() {
        String::new()
    } else {
        format!(" ({status})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_from_status() {
        assert_eq!(parse_health("Up 1 second ago (starting)"), Health::Starting);
        assert_eq!(
            parse_health("Up 5 seconds (health: starting)"),
            Health::Starting
        );
        assert_eq!(
            parse_health("Up 1 second ago (unhealthy)"),
            Health::Unhealthy
        );
        assert_eq!(parse_health("Up 2 minutes (healthy)"), Health::Healthy);
        assert_eq!(parse_health("Up 2 minutes"), Health::None);
    }
}
