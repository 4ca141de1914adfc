//! What an update would do, for `--dry-run`: the `.env` change, the pulls and the lines of
//! the same [`Steps`] an update takes.

use crate::adapters::container::pull_cmd;
use crate::formats::line_diff::line_diff;
use crate::pipeline::project::restart::{self, Plan};
use crate::pipeline::service::{apply, Change, Service};

use super::steps::{Begin, Steps};
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
        let steps = Steps::new(self.config, &service.dir, plan, Begin::Fresh);
        lines.extend(steps.render(self.config, &mut self.snapper, (service, changes)));
        lines
    }
}
