//! The commands that check, pull and restart a compose service, and prune images.

use crate::adapters::runner::{Cmd, ToolKind};
use crate::config::{Config, StopStartMethod};
use crate::formats::envfile::EnvFile;
use crate::formats::pins::{image_entries, tag_fallbacks};
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
        if let Some(file) = crate::services::compose_files::flag(self.config, &service.path) {
            cmd = cmd.args(["-f", &file]);
        }
        if self.config.env_file_name != ".env" {
            cmd = cmd.args(["--env-file", &self.config.env_file_name]);
        }
        // The `.env` is read when the command is built, as the compose tool will read it:
        // the variables its pins use are kept out of the tool's environment, and after a
        // rollback to before the first pin (no HASHED value) the service starts on its tag.
        let entries = std::fs::read(&service.env_file)
            .ok()
            .and_then(|bytes| EnvFile::parse(&bytes).ok())
            .and_then(|env| image_entries(&env).ok())
            .unwrap_or_default();
        let uses = entries.iter().flat_map(|i| i.uses.iter().cloned());
        let cmd = cmd
            .args(args.iter().copied())
            .current_dir(&service.path)
            .pin_env(uses);
        tag_fallbacks(&entries)
            .into_iter()
            .fold(cmd, |cmd, (key, value)| cmd.env(key, value))
    }

    /// Checks the compose tool works in the folder.
    pub fn ps(&self, service: &ServiceDir) -> Cmd {
        self.compose(service, &["ps"])
    }

    /// The compose services the tool reads in the folder, one per line, where it can list
    /// them ([`crate::formats::compose::version::ComposeFlavour::lists_services`]).
    pub fn config_services(&self, service: &ServiceDir) -> Option<Cmd> {
        self.config
            .compose_flavour
            .lists_services()
            .then(|| self.compose(service, &["config", "--services"]))
    }

    /// Checks the compose tool runs at all (once per run).
    pub fn version(&self) -> Cmd {
        Cmd::from_words(&self.config.compose_tool)
            .arg("version")
            .pin_env(Vec::<String>::new())
    }

    /// Stops only these compose services.
    pub fn stop_services(&self, service: &ServiceDir, names: &[String]) -> Cmd {
        self.compose(service, &["stop"]).args(names.iter().cloned())
    }

    /// Creates and starts only these compose services, leaving their dependencies as they
    /// are.
    pub fn up_services(&self, service: &ServiceDir, names: &[String]) -> Cmd {
        self.compose(service, &["up", "-d", "--no-deps"])
            .args(names.iter().cloned())
    }

    /// Pulls the service's images.
    pub fn pull(&self, service: &ServiceDir) -> Cmd {
        self.compose(service, &["pull"]).kind(ToolKind::Pull)
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
        Cmd::from_words(&self.config.container_tool)
            .args(["image", "prune", "-f"])
            .pin_env(Vec::<String>::new())
    }

    /// Whether this run uses the compose tool for a changed service.
    pub fn needed(&self) -> bool {
        self.config.service_stop_start && self.config.stop_start_method == StopStartMethod::Compose
    }
}

/// The compose project name of a service folder, as compose tools derive it: the folder
/// name in lower case, keeping only `a-z`, `0-9`, `_` and `-`.
pub fn project_name(folder_name: &str) -> String {
    crate::formats::compose::project::normalize(folder_name)
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
}
