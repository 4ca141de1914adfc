//! Snapper, driven over the [`Runner`]: finding the config of a service folder and taking a
//! snapshot before a pin changes.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::adapters::runner::{Cmd, Runner, ToolKind};
use crate::error::{Error, Result};

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
    Cmd::new("snapper")
        .kind(ToolKind::Snapper)
        .args(["--jsonout", "list-configs"])
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

/// What a cipug snapshot records besides its description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The snapper cleanup algorithm, if any.
    pub cleanup: Option<String>,
    /// Snapper userdata, `key=value` pairs.
    pub userdata: Vec<(String, String)>,
}

/// Userdata keys and values may not contain `,` or `=`.
fn userdata_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == ',' || c == '=' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The command that takes a snapshot with `description`.
pub fn create_cmd(config: &str, description: &str, meta: &SnapshotMeta) -> Cmd {
    let mut cmd = Cmd::new("snapper").kind(ToolKind::Snapper).args([
        "-c",
        config,
        "create",
        "--description",
        description,
    ]);
    if let Some(cleanup) = &meta.cleanup {
        cmd = cmd.args(["--cleanup-algorithm", cleanup]);
    }
    if !meta.userdata.is_empty() {
        let pairs: Vec<String> = meta
            .userdata
            .iter()
            .map(|(k, v)| format!("{}={}", userdata_safe(k), userdata_safe(v)))
            .collect();
        cmd = cmd.args(["--userdata", &pairs.join(",")]);
    }
    cmd.arg("--print-number")
}

/// `snapper -c <config> create-config <folder>`: a snapper config for a subvolume.
pub fn create_config_cmd(config: &str, folder: &Path) -> Cmd {
    Cmd::new("snapper").kind(ToolKind::Snapper).args([
        "-c",
        config,
        "create-config",
        &folder.display().to_string(),
    ])
}

/// The command that puts the live subvolume back to snapshot `number`.
pub fn undochange_cmd(config: &str, number: u64) -> Cmd {
    Cmd::new("snapper").kind(ToolKind::Snapper).args([
        "-c",
        config,
        "undochange",
        &format!("{number}..0"),
    ])
}

/// The command comparing snapshot `number` with the live subvolume (`snapper status N..0`):
/// every file `undochange N..0` would put back. It writes nothing (snapper keeps no file
/// list for a comparison with the live subvolume).
pub fn status_cmd(config: &str, number: u64) -> Cmd {
    Cmd::new("snapper").kind(ToolKind::Snapper).args([
        "-c",
        config,
        "status",
        &format!("{number}..0"),
    ])
}

/// One file `snapper status` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Snapper's change letters: `+` created, `-` deleted, `c` content changed, `t` type
    /// changed (or `.`), then `p` permissions, `u` owner, `g` group, `x` extended
    /// attributes, `a` ACL (each `.` when unchanged).
    pub letters: String,
    /// The path relative to the subvolume (`.` for the subvolume itself).
    pub path: PathBuf,
}

/// Whether `word` is a status string of `snapper status`: a first letter of `+-ct.`, then
/// letters of `pugxa.`.
fn is_status_letters(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| "+-ct.".contains(c))
        && (4..=8).contains(&word.len())
        && chars.all(|c| "pugxa.".contains(c))
}

/// Parses `snapper status` output: one `<letters> <path>` line per file, the paths under
/// `subvolume` (as snapper's config names it). Snapper prints names as they are, so a line
/// that does not start a new entry continues the name before it (a name holding a newline).
pub fn parse_status(text: &str, subvolume: &Path) -> Result<Vec<FileChange>, String> {
    let prefix = subvolume.display().to_string();
    let mut changes: Vec<(String, String)> = Vec::new();
    for line in text.split_terminator('\n') {
        let entry = line.split_once(' ').filter(|(letters, path)| {
            is_status_letters(letters)
                && path.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                    rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/')
                })
        });
        match (entry, changes.last_mut()) {
            (Some((letters, path)), _) => changes.push((letters.to_owned(), path.to_owned())),
            (None, Some((_, path))) => {
                path.push('\n');
                path.push_str(line);
            }
            (None, None) if line.trim().is_empty() => {}
            (None, None) => {
                return Err(format!(
                    "unexpected line in `snapper status` output: `{line}`"
                ))
            }
        }
    }
    Ok(changes
        .into_iter()
        .map(|(letters, path)| {
            let relative = Path::new(&path)
                .strip_prefix(subvolume)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| PathBuf::from(&path));
            FileChange {
                letters,
                path: if relative.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    relative
                },
            }
        })
        .collect())
}

/// Where snapper keeps the files of snapshot `number` of a btrfs `subvolume`:
/// `<subvolume>/.snapshots/<number>/snapshot` (read-only).
pub fn snapshot_folder(subvolume: &Path, number: u64) -> PathBuf {
    subvolume
        .join(".snapshots")
        .join(number.to_string())
        .join("snapshot")
}

/// The command listing a config's snapshots as JSON.
pub fn list_cmd(config: &str) -> Cmd {
    Cmd::new("snapper")
        .kind(ToolKind::Snapper)
        .args(["-c", config, "--jsonout", "list"])
}

/// The snapshot numbers in `snapper -c <config> --jsonout list` output (0 left out).
pub fn parse_numbers(config: &str, json: &str) -> Result<Vec<u64>, String> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| format!("unexpected output of `snapper list`: {e}"))?;
    let list = value[config]
        .as_array()
        .ok_or_else(|| format!("`snapper -c {config} list` did not list config {config}"))?;
    Ok(list
        .iter()
        .filter_map(|s| s["number"].as_u64())
        .filter(|n| *n != 0)
        .collect())
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
                .map_err(|e| Error::Snapshot(e.into()))?;
            self.configs = Some(parse_configs(&out.stdout).map_err(|e| Error::Snapshot(e.into()))?);
        }
        let configs = self.configs.as_deref().unwrap_or_default();
        config_for(configs, folder).cloned().ok_or_else(|| {
            Error::Snapshot(format!(
                "{}: no snapper config has this folder as its subvolume; `cipug adopt {}` creates one (or `snapper -c <name> create-config {}`)",
                folder.display(),
                folder.display(),
                folder.display()
            ).into())
        })
    }

    /// Takes a snapshot of `config`; returns its number.
    pub fn create(&self, config: &str, description: &str, meta: &SnapshotMeta) -> Result<u64> {
        let out = self
            .runner
            .run(&create_cmd(config, description, meta))
            .map_err(|e| Error::Snapshot(e.into()))?;
        out.stdout.trim().parse().map_err(|_| {
            Error::Snapshot(
                format!(
                    "snapper -c {config} create printed `{}`, not a snapshot number",
                    out.stdout.trim()
                )
                .into(),
            )
        })
    }
}

impl Snapper<'_> {
    /// Puts the live subvolume of `config` back to snapshot `number`.
    pub fn undochange(&self, config: &str, number: u64) -> Result<()> {
        self.runner
            .run(&undochange_cmd(config, number))
            .map(|_| ())
            .map_err(|e| Error::Snapshot(e.into()))
    }

    /// The files that differ between snapshot `number` of `config` and its live subvolume:
    /// what `undochange number..0` puts back. Changes nothing.
    pub fn status(&self, config: &SnapperConfig, number: u64) -> Result<Vec<FileChange>> {
        let out = self
            .runner
            .run(&status_cmd(&config.config, number))
            .map_err(|e| Error::Snapshot(e.into()))?;
        parse_status(&out.stdout, &config.subvolume).map_err(|e| Error::Snapshot(e.into()))
    }

    /// The snapshot numbers of `config`.
    pub fn numbers(&self, config: &str) -> Result<Vec<u64>> {
        let out = self
            .runner
            .run(&list_cmd(config))
            .map_err(|e| Error::Snapshot(e.into()))?;
        parse_numbers(config, &out.stdout).map_err(|e| Error::Snapshot(e.into()))
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

    #[test]
    fn create_carries_cleanup_and_safe_userdata() {
        let meta = SnapshotMeta {
            cleanup: Some("number".into()),
            userdata: vec![
                ("cipug".into(), "update".into()),
                ("service".into(), "a,b=c".into()),
            ],
        };
        assert_eq!(
            create_cmd("svc", "d", &meta).to_string(),
            "snapper -c svc create --description d --cleanup-algorithm number --userdata 'cipug=update,service=a_b_c' --print-number"
        );
        let json = r#"{"svc": [{"number": 0}, {"number": 3}, {"number": 5}]}"#;
        assert_eq!(parse_numbers("svc", json).unwrap(), vec![3, 5]);
        assert!(parse_numbers("other", json).is_err());
    }

    #[test]
    fn status_lines_are_parsed_relative_to_the_subvolume() {
        let sub = Path::new("/srv/svc");
        let cases: &[(&str, &str, &[(&str, &str)])] = &[
            ("nothing changed", "", &[]),
            (
                "created, deleted, content and permissions",
                "+..... /srv/svc/data/upload.txt\n-..... /srv/svc/old\ncp.... /srv/svc/.env\n",
                &[
                    ("+.....", "data/upload.txt"),
                    ("-.....", "old"),
                    ("cp....", ".env"),
                ],
            ),
            (
                "spaces and non-ASCII in a name",
                "c..... /srv/svc/db/my file ü.txt\n",
                &[("c.....", "db/my file ü.txt")],
            ),
            (
                "a newline in a name continues the entry",
                "+..... /srv/svc/data/nl\nname\n.p.... /srv/svc/x\n",
                &[("+.....", "data/nl\nname"), (".p....", "x")],
            ),
            (
                "the subvolume itself, owner and type changes",
                "..u... /srv/svc\nt..... /srv/svc/link\n",
                &[("..u...", "."), ("t.....", "link")],
            ),
            (
                "a sibling folder's prefix does not start an entry",
                "c..... /srv/svc/a\nc..... /srv/svc2/b\n",
                &[("c.....", "a\nc..... /srv/svc2/b")],
            ),
            ("no output but a newline", "\n", &[]),
        ];
        for (what, text, want) in cases {
            let got = parse_status(text, sub).unwrap_or_else(|e| panic!("{what}: {e}"));
            let got: Vec<(&str, String)> = got
                .iter()
                .map(|c| (c.letters.as_str(), c.path.display().to_string()))
                .collect();
            let want: Vec<(&str, String)> =
                want.iter().map(|(l, p)| (*l, (*p).to_owned())).collect();
            assert_eq!(got, want, "{what}");
        }
        for bad in [
            "Failure (dbus fatal exception).\n",
            "c..... relative/path\n",
        ] {
            assert!(parse_status(bad, sub).is_err(), "{bad}");
        }
        assert_eq!(
            status_cmd("svc", 7).to_string(),
            "snapper -c svc status 7..0"
        );
        assert_eq!(
            snapshot_folder(sub, 7),
            Path::new("/srv/svc/.snapshots/7/snapshot")
        );
    }
}
