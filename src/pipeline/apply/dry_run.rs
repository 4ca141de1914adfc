//! What an update would do, for `--dry-run`: the `.env` change and every command, in the
//! order [`Updater`] runs them.

use crate::adapters::container::pull_cmd;
use crate::adapters::snapper::create_cmd;
use crate::config::SnapshotWhen;
use crate::formats::line_diff::line_diff;
use crate::pipeline::project::restart::{self, Plan};
use crate::pipeline::service::{apply, describe, Change, Service};

use super::Updater;

impl Updater<'_> {
    /// The `.env` change and every command an update of `service` would run, for
    /// `--dry-run`.
    pub fn plan(&mut self, service: &Service, changes: &[Change]) -> Vec<String> {
        let mut lines = Vec::new();
        let before = service.env.render();
        let after = apply(service, changes);
        lines.push(format!("{}:", service.dir.env_file.display()));
        lines.extend(line_diff(before, after.render()));
        if self.config.service_pull {
            for c in changes {
                lines.push(format!("run: {}", pull_cmd(self.config, c.new.as_str())));
            }
        }
        let plan = match restart::plan(self.config, self.runner, &service.dir, changes) {
            Ok(plan) => plan,
            Err(e) => {
                lines.push(format!("would fail: {e}"));
                Plan::Nothing
            }
        };
        let stopped_first = plan.stops() && self.config.snapshot_when == SnapshotWhen::Stopped;
        if stopped_first {
            for cmd in plan.stop_cmds(self.config, &service.dir) {
                lines.push(format!("run: {cmd}"));
            }
        }
        if self.config.service_snapshot {
            let config = match self.snapper.config_for(&service.dir.path) {
                Ok(c) => c.config,
                Err(e) => {
                    lines.push(format!("would fail: {e}"));
                    "<config>".to_owned()
                }
            };
            lines.push(format!(
                "run: {}",
                create_cmd(&config, &describe(changes), &self.meta(service, changes))
            ));
        }
        lines.push(format!(
            "write: {} (atomically)",
            service.dir.env_file.display()
        ));
        if !matches!(
            plan,
            Plan::Nothing | Plan::AlreadyRunning | Plan::NotRunning
        ) {
            let mut cmds = if stopped_first {
                Vec::new()
            } else {
                plan.stop_cmds(self.config, &service.dir)
            };
            cmds.extend(plan.start_cmds(self.config, &service.dir));
            for cmd in cmds {
                lines.push(format!("run: {cmd}"));
            }
            lines.push(format!(
                "wait: up to {}s for the containers of project {} to run the new images and be healthy, then {}s with none restarting{}",
                self.config.health_timeout,
                service.dir.project,
                self.config.health_settle,
                if self.config.auto_rollback {
                    " (else roll back)"
                } else {
                    ""
                }
            ));
        }
        lines
    }
}
