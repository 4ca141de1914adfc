//! Snapper, driven over the [`Runner`]: finding the config of a service folder and taking a
//! snapshot before a pin changes.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::runner::{Cmd, Runner};

/// One snapper config: its name and the subvolume it snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SnapperConfig {
    /// The config name (`snapper -c <name>`).
    pub config: String,
    /// The subvolume.
    pub subvolume: PathBuf,
}

#[derive(Debug, Deserialize)]
struct ConfigList {
    configs: Vec<SnapperConfig>,
}

/// The command listing snapper's configs as JSON.
pub fn list_configs_cmd() -> Cmd {
    Cmd::new("snapper").args(["--jsonout", "list-configs"])
}

/// Parses `snapper --jsonout list-configs`.
pub fn parse_configs(json: &str) -> Result<Vec<SnapperConfig>, String> {
    serde_json::from_str::<ConfigList>(json)
        .map(|list| list.configs)
        .map_err(|e| format!("unexpected output of `snapper --jsonout list-configs`: {e}"))
}

/// The config whose subvolume is `folder`, comparing canonical paths.
pub fn config_for<'c>(configs: &'c [SnapperConfig], folder: &Path) -> Option<&'c SnapperConfig> {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let folder = canonical(folder);
    configs.iter().find(|c| canonical(&c.subvolume) == folder)
}

/// The command that takes a snapshot with `description`.
pub fn create_cmd(config: &str, description: &str) -> Cmd {
    Cmd::new("snapper").args([
        "-c",
        config,
        "create",
        "--description",
        description,
        "--print-number",
    ])
}

/// Snapper's configs, asked once per run.
pub struct Snapper<'r> {
    runner: &'r dyn Runner,
    configs: Option<Vec<SnapperConfig>>,
}

impl<'r> Snapper<'r> {
    /// Snapper over `runner`.
    pub fn new(runner: &'r dyn Runner) -> Self {
        Snapper {
            runner,
            configs: None,
        }
    }

    /// The config of the subvolume `folder`.
    pub fn config_for(&mut self, folder: &Path) -> Result<SnapperConfig> {
        if self.configs.is_none() {
            let out = self
                .runner
                .run(&list_configs_cmd())
                .map_err(|e| Error::Snapshot(e.to_string()))?;
            self.configs = Some(parse_configs(&out.stdout).map_err(Error::Snapshot)?);
        }
        let configs = self.configs.as_deref().unwrap_or_default();
        config_for(configs, folder).cloned().ok_or_else(|| {
            Error::Snapshot(format!(
                "{}: no snapper config has this folder as its subvolume; create one with `snapper -c <name> create-config {}`",
                folder.display(),
                folder.display()
            ))
        })
    }

    /// Takes a snapshot of `config`; returns its number.
    pub fn create(&self, config: &str, description: &str) -> Result<u64> {
        let out = self
            .runner
            .run(&create_cmd(config, description))
            .map_err(|e| Error::Snapshot(e.to_string()))?;
        out.stdout.trim().parse().map_err(|_| {
            Error::Snapshot(format!(
                "snapper -c {config} create printed `{}`, not a snapshot number",
                out.stdout.trim()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_config_by_subvolume() {
        let json = r#"{"configs": [{"config": "root", "subvolume": "/"}, {"config": "svc", "subvolume": "/srv/svc"}]}"#;
        let configs = parse_configs(json).unwrap();
        assert_eq!(
            config_for(&configs, Path::new("/srv/svc")).unwrap().config,
            "svc"
        );
        assert!(config_for(&configs, Path::new("/srv/other")).is_none());
        assert!(parse_configs("[]").is_err());
    }
}
