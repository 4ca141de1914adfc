//! Command-line types. Only clap definitions live here; no I/O.

use std::collections::BTreeMap;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::config::table::{Kind, Setting, SETTINGS};

/// Container images pinning and updating gadget: pins compose image tags to digests, and
/// snapshots and restarts a service when its digest moved.
#[derive(Debug, Parser)]
#[command(name = "cipug", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do; `update` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Update services (the default; kept for the Python cipug's command line).
    #[arg(long, conflicts_with_all = ["check_snapshots", "print_config", "print_config_json"])]
    pub update: bool,
    /// Same as `cipug check-snapshots`.
    #[arg(long, conflicts_with_all = ["print_config", "print_config_json"])]
    pub check_snapshots: bool,
    /// Same as `cipug config`.
    #[arg(long, conflicts_with = "print_config_json")]
    pub print_config: bool,
    /// Same as `cipug config --json`.
    #[arg(long)]
    pub print_config_json: bool,

    /// Ask the registries for every tag this run, not the cache (same as --cache-duration 0).
    #[arg(long, global = true)]
    pub no_cache: bool,

    /// When another cipug run is going on, wait for it instead of exiting with code 11.
    #[arg(long, global = true)]
    pub wait: bool,

    /// More output (repeat for more); adds to VERBOSITY.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less output (repeat for less); subtracts from VERBOSITY.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub quiet: u8,

    /// Settings given as flags; they win over environment and config file.
    #[command(flatten)]
    pub settings: SettingFlags,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve every tag; where a digest moved, pull, snapshot, pin and restart the service.
    Update {
        /// Print the `.env` changes and every command, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Try the held-back digests again (rolled back, not pulled, or left by `cipug
        /// rollback`).
        #[arg(long)]
        retry_failed: bool,
        /// Update each entry whose tagged reference FILE names to exactly its pin, as another
        /// host tested it (`cipug check --format json` there, or `<reference> <pin>` lines;
        /// `-`: standard input); resolve nothing, leave the other entries alone.
        #[arg(long, value_name = "FILE")]
        pins: Option<String>,
        /// Update services outside their UPDATE_WINDOW too.
        #[arg(long)]
        now: bool,
        /// Format of the run summary.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Undo a service's latest update: data and pin from the snapshot taken before it.
    Rollback {
        /// The service (folder name).
        service: String,
        /// The snapper snapshot to go back to, instead of the one before the latest update.
        #[arg(long, value_name = "NUMBER")]
        to: Option<u64>,
        /// List the files and pins the rollback would change; change nothing (takes no lock).
        #[arg(long)]
        dry_run: bool,
        /// Put back only the pins (as in the snapshot's .env) and keep the data.
        #[arg(long)]
        pins_only: bool,
    },
    /// Every update and rollback, newest last.
    History {
        /// Only this service.
        service: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Resolve every entry and show which pins are current; changes nothing.
    Check {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Exit 41 when any entry is outdated or unpinned (for monitoring); held-back and
        /// waiting ones do not count.
        #[arg(long)]
        fail_outdated: bool,
    },
    /// Check that every service has recent snapper and btrbk snapshots.
    CheckSnapshots {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Turn an existing compose service into cipug's scheme (TAGGED in .env, HASHED in compose).
    ///
    /// The folder must be a btrfs subvolume (see --subvolume) so that updates can snapshot it;
    /// a subvolume without a snapper config gets one.
    Adopt {
        /// The service folder.
        folder: std::path::PathBuf,
        /// Show the changes as a diff, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// First turn the folder into a btrfs subvolume with a snapper config (stop, reflink
        /// copy, swap, config, start).
        #[arg(long)]
        subvolume: bool,
    },
    /// Check the whole setup and say what to fix.
    Doctor,
    /// Print shell completions (bash, zsh, fish) to standard output.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output.
    Man,
    /// Print the settings in effect.
    Config {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Text,
    /// JSON for scripts.
    Json,
}

/// One `--<setting>` flag per setting of the settings table, collected by name.
#[derive(Debug, Clone, Default)]
pub struct SettingFlags(pub BTreeMap<&'static str, String>);

impl FromArgMatches for SettingFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = BTreeMap::new();
        for setting in SETTINGS {
            if let Some(value) = matches.get_one::<String>(setting.name) {
                flags.insert(setting.name, value.clone());
            }
        }
        Ok(SettingFlags(flags))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for SettingFlags {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for setting in SETTINGS {
            cmd = cmd.arg(setting_arg(setting).global(true));
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// The flag of one setting, in the "Settings" part of the help.
fn setting_arg(setting: &Setting) -> clap::Arg {
    let long = if setting.name == "CONFIG_FILE" {
        "config".to_owned()
    } else {
        setting.flag()
    };
    let mut help = setting.help.to_owned();
    if let Some(default) = setting.default {
        help.push_str(&format!(" [default: {default}]"));
    }
    help.push_str(&format!(" [env: {}]", setting.env_var()));
    let arg = clap::Arg::new(setting.name)
        .long(long)
        .value_name("VALUE")
        .help(help)
        .help_heading("Settings");
    match suggested_values(setting.kind) {
        Some(values) => arg.value_parser(Suggest(values)),
        None => arg,
    }
}

/// The values completions offer for a setting of `kind`.
fn suggested_values(kind: Kind) -> Option<&'static [&'static str]> {
    match kind {
        Kind::Bool => Some(&["true", "false"]),
        Kind::Choice(values) => Some(values),
        _ => None,
    }
}

/// Offers `values` to completions and help but accepts any text: the settings are checked
/// later, with the exit codes of a bad setting (24, 25), not clap's.
#[derive(Debug, Clone)]
struct Suggest(&'static [&'static str]);

impl TypedValueParser for Suggest {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().map(|v| PossibleValue::new(*v))))
    }
}

/// The command line definition, each subcommand's help showing only the settings it reads
/// ([`Setting::read_by`]); the others are still accepted.
pub fn command() -> clap::Command {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    // A subcommand's own hidden copy of a flag keeps clap from adding the global one there;
    // the value still reaches the top level, where the settings are read.
    for name in names {
        cmd = cmd.mut_subcommand(&name, |mut sub| {
            for setting in SETTINGS {
                if !setting.read_by(&name) {
                    sub = sub.arg(setting_arg(setting).hide(true));
                }
            }
            sub
        });
    }
    cmd
}

/// Parses the process's command line with [`command`]; on a usage error clap prints it and
/// ends the process, as `Parser::parse` does.
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// What the command line asks for, after folding the legacy flags into subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `cipug`, `cipug update`, `cipug --update`.
    Update {
        /// Change nothing, print what would be done.
        dry_run: bool,
        /// Try held-back digests again.
        retry_failed: bool,
        /// The summary as JSON.
        json: bool,
        /// The pins file to roll out, if any.
        pins: Option<String>,
        /// Ignore update windows (`--now`).
        now: bool,
    },
    /// `cipug rollback <service> [--to N] [--dry-run] [--pins-only]`.
    Rollback {
        /// The service.
        service: String,
        /// The snapshot to go back to.
        to: Option<u64>,
        /// Only list what would change.
        dry_run: bool,
        /// Only the pins, not the data.
        pins_only: bool,
    },
    /// `cipug history [<service>] [--format json]`.
    History {
        /// Only this service.
        service: Option<String>,
        /// JSON instead of a table.
        json: bool,
    },
    /// `cipug check [--format json] [--fail-outdated]`.
    Check {
        /// JSON instead of a table.
        json: bool,
        /// Exit 41 when anything is outdated or unpinned.
        fail_outdated: bool,
    },
    /// `cipug check-snapshots`, `cipug --check-snapshots`.
    CheckSnapshots {
        /// JSON instead of a table.
        json: bool,
    },
    /// `cipug adopt <folder> [--dry-run]`.
    Adopt {
        /// The service folder.
        folder: std::path::PathBuf,
        /// Only show the diff.
        dry_run: bool,
        /// Make the folder a subvolume with a snapper config first.
        subvolume: bool,
    },
    /// `cipug doctor`.
    Doctor,
    /// `cipug completions <shell>`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// `cipug man`.
    Man,
    /// `cipug config [--json]`, `cipug --print-config[-json]`.
    PrintConfig {
        /// How the settings are printed.
        format: ConfigFormat,
    },
}

/// How `config` prints the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// `NAME=value` lines (`config`, `--print-config`).
    Lines,
    /// Typed JSON that reads back as a config file (`config --json`).
    Json,
    /// The Python cipug's JSON shape for its settings (`--print-config-json`).
    PythonJson,
}

impl Cli {
    /// The action to take.
    pub fn action(&self) -> Action {
        match &self.command {
            Some(Command::Update {
                dry_run,
                retry_failed,
                pins,
                now,
                format,
            }) => Action::Update {
                dry_run: *dry_run,
                retry_failed: *retry_failed,
                json: *format == Format::Json,
                pins: pins.clone(),
                now: *now,
            },
            Some(Command::Rollback {
                service,
                to,
                dry_run,
                pins_only,
            }) => Action::Rollback {
                service: service.clone(),
                to: *to,
                dry_run: *dry_run,
                pins_only: *pins_only,
            },
            Some(Command::History { service, format }) => Action::History {
                service: service.clone(),
                json: *format == Format::Json,
            },
            Some(Command::Check {
                format,
                fail_outdated,
            }) => Action::Check {
                json: *format == Format::Json,
                fail_outdated: *fail_outdated,
            },
            Some(Command::CheckSnapshots { format }) => Action::CheckSnapshots {
                json: *format == Format::Json,
            },
            Some(Command::Adopt {
                folder,
                dry_run,
                subvolume,
            }) => Action::Adopt {
                folder: folder.clone(),
                dry_run: *dry_run,
                subvolume: *subvolume,
            },
            Some(Command::Doctor) => Action::Doctor,
            Some(Command::Completions { shell }) => Action::Completions { shell: *shell },
            Some(Command::Man) => Action::Man,
            Some(Command::Config { json }) => Action::PrintConfig {
                format: if *json {
                    ConfigFormat::Json
                } else {
                    ConfigFormat::Lines
                },
            },
            None if self.check_snapshots => Action::CheckSnapshots { json: false },
            None if self.print_config => Action::PrintConfig {
                format: ConfigFormat::Lines,
            },
            None if self.print_config_json => Action::PrintConfig {
                format: ConfigFormat::PythonJson,
            },
            None => Action::Update {
                dry_run: false,
                retry_failed: false,
                json: false,
                pins: None,
                now: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("cipug").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn actions_table() {
        let update = Action::Update {
            dry_run: false,
            retry_failed: false,
            json: false,
            pins: None,
            now: false,
        };
        let cases: &[(&[&str], Action)] = &[
            (&[], update.clone()),
            (&["--update"], update.clone()),
            (&["update"], update.clone()),
            (
                &["update", "--dry-run"],
                Action::Update {
                    dry_run: true,
                    retry_failed: false,
                    json: false,
                    pins: None,
                    now: false,
                },
            ),
            (
                &["rollback", "web", "--to", "3"],
                Action::Rollback {
                    service: "web".into(),
                    to: Some(3),
                    dry_run: false,
                    pins_only: false,
                },
            ),
            (
                &["rollback", "web", "--dry-run", "--pins-only"],
                Action::Rollback {
                    service: "web".into(),
                    to: None,
                    dry_run: true,
                    pins_only: true,
                },
            ),
            (
                &["history", "--format", "json"],
                Action::History {
                    service: None,
                    json: true,
                },
            ),
            (
                &["--check-snapshots"],
                Action::CheckSnapshots { json: false },
            ),
            (&["check-snapshots"], Action::CheckSnapshots { json: false }),
            (
                &["check-snapshots", "--format", "json"],
                Action::CheckSnapshots { json: true },
            ),
            (
                &["--print-config"],
                Action::PrintConfig {
                    format: ConfigFormat::Lines,
                },
            ),
            (
                &["--print-config-json"],
                Action::PrintConfig {
                    format: ConfigFormat::PythonJson,
                },
            ),
            (
                &["config", "--json"],
                Action::PrintConfig {
                    format: ConfigFormat::Json,
                },
            ),
            (
                &["check"],
                Action::Check {
                    json: false,
                    fail_outdated: false,
                },
            ),
            (
                &["check", "--format", "json", "--fail-outdated"],
                Action::Check {
                    json: true,
                    fail_outdated: true,
                },
            ),
        ];
        for (args, action) in cases {
            assert_eq!(parse(args).action(), *action, "{args:?}");
        }
    }

    #[test]
    fn every_setting_has_a_flag_anywhere() {
        let cli = parse(&[
            "update",
            "--services-root",
            "/s",
            "--service-pull=no",
            "--config",
            "/c.json",
        ]);
        assert_eq!(cli.settings.0["SERVICES_ROOT"], "/s");
        assert_eq!(cli.settings.0["SERVICE_PULL"], "no");
        assert_eq!(cli.settings.0["CONFIG_FILE"], "/c.json");
        let cli = parse(&["--prune-images", "false", "-vv"]);
        assert_eq!(cli.settings.0["PRUNE_IMAGES"], "false");
        assert_eq!(cli.verbose, 2);
        assert!(Cli::try_parse_from(["cipug", "--update", "--print-config"]).is_err());
    }
}
