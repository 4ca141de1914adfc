//! What a compose tool's `version` says: which tool (podman-compose, docker-compose,
//! `docker compose`) and version, and what differs between them: podman-compose before 1.4
//! exits 0 when `up -d` failed, and 1.0 has no `--env-file`; podman-compose 1.4 and later,
//! docker-compose 1.x and `docker compose` (v2) propagate exit codes, and all but
//! podman-compose 1.0 take `--env-file`.

use std::fmt;

/// The family of a compose tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComposeKind {
    /// podman-compose (Python).
    PodmanCompose,
    /// docker-compose 1.x (Python).
    DockerComposeV1,
    /// `docker compose` / docker-compose 2.x (Go).
    DockerComposeV2,
    /// A tool whose `--version` cipug does not recognise.
    Unknown,
}

/// A compose tool and its version, as detected for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeFlavour {
    /// The family.
    pub kind: ComposeKind,
    /// `(major, minor, patch)`, when the tool printed one.
    pub version: Option<(u32, u32, u32)>,
}

impl Default for ComposeFlavour {
    /// Not detected (yet): every check is kept.
    fn default() -> Self {
        ComposeFlavour {
            kind: ComposeKind::Unknown,
            version: None,
        }
    }
}

impl ComposeFlavour {
    /// podman-compose before 1.1.
    fn old_podman_compose(&self) -> bool {
        self.kind == ComposeKind::PodmanCompose && self.version.is_none_or(|v| v < (1, 1, 0))
    }

    /// Whether a failed `up` shows in the exit code. Where it does not (podman-compose
    /// before 1.4, whose `up -d` returns before it looks at podman's exit codes, or a tool
    /// cipug does not know), only the health gate catches it.
    pub fn exit_codes_reliable(&self) -> bool {
        match self.kind {
            ComposeKind::PodmanCompose => self.version.is_some_and(|v| v >= (1, 4, 0)),
            ComposeKind::DockerComposeV1 | ComposeKind::DockerComposeV2 => true,
            ComposeKind::Unknown => false,
        }
    }

    /// Whether the tool names the project after `COMPOSE_PROJECT_NAME` in the `.env`:
    /// podman-compose 1.1 and later and docker compose (v1 and v2); podman-compose 1.0
    /// takes the folder's name whatever the `.env` says.
    pub fn reads_project_name_from_env(&self) -> bool {
        matches!(
            self.kind,
            ComposeKind::DockerComposeV1 | ComposeKind::DockerComposeV2
        ) || (self.kind == ComposeKind::PodmanCompose && !self.old_podman_compose())
    }

    /// Whether the tool names the project after the compose file's top-level `name:`:
    /// podman-compose 1.1 and later and docker compose v2 (not docker-compose 1.x, not
    /// podman-compose 1.0).
    pub fn reads_project_name_from_file(&self) -> bool {
        self.kind == ComposeKind::DockerComposeV2
            || (self.kind == ComposeKind::PodmanCompose && !self.old_podman_compose())
    }

    /// Whether the tool lists the compose services it reads (`config --services`):
    /// podman-compose 1.1 and later, docker-compose 1.x and docker compose v2.
    pub fn lists_services(&self) -> bool {
        matches!(
            self.kind,
            ComposeKind::DockerComposeV1 | ComposeKind::DockerComposeV2
        ) || (self.kind == ComposeKind::PodmanCompose && !self.old_podman_compose())
    }

    /// Whether the file's `name:` beats `COMPOSE_PROJECT_NAME` and is taken as written, not
    /// normalised: podman-compose 1.1 to 1.3 (1.4 turned the order round, as docker compose
    /// has it).
    pub fn project_name_file_first(&self) -> bool {
        self.kind == ComposeKind::PodmanCompose
            && self
                .version
                .is_some_and(|v| ((1, 1, 0)..(1, 4, 0)).contains(&v))
    }

    /// Whether the tool takes `--env-file`.
    pub fn has_env_file_option(&self) -> bool {
        !self.old_podman_compose()
    }

    /// Reads the output of `<COMPOSE_TOOL> version` (or `--version`, which prints the same
    /// but for the `docker compose` plugin, whose docker client answers it with the usage).
    pub fn parse(output: &str) -> ComposeFlavour {
        for line in output.lines() {
            let lower = line.to_ascii_lowercase();
            let kind =
                if lower.starts_with("podman-compose") || lower.starts_with("podman-composer") {
                    ComposeKind::PodmanCompose
                } else if lower.starts_with("docker-compose version")
                    || lower.starts_with("docker compose version")
                {
                    ComposeKind::DockerComposeV1
                } else {
                    continue;
                };
            let version = version_in(line);
            let kind = match (kind, version) {
                (ComposeKind::DockerComposeV1, Some((major, _, _))) if major >= 2 => {
                    ComposeKind::DockerComposeV2
                }
                (kind, _) => kind,
            };
            return ComposeFlavour { kind, version };
        }
        ComposeFlavour::default()
    }
}

impl fmt::Display for ComposeFlavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.kind {
            ComposeKind::PodmanCompose => "podman-compose",
            ComposeKind::DockerComposeV1 | ComposeKind::DockerComposeV2 => "docker compose",
            ComposeKind::Unknown => "an unknown compose tool",
        };
        match self.version {
            Some((a, b, c)) => write!(f, "{name} {a}.{b}.{c}"),
            None => f.write_str(name),
        }
    }
}

/// The first `N.N[.N]` after the word "version" (a leading `v` allowed); what follows the
/// numbers (a distribution's `-4`, `+ds1`, `~rc1`) is not part of them.
fn version_in(line: &str) -> Option<(u32, u32, u32)> {
    let lower = line.to_ascii_lowercase();
    let rest = &lower[lower.find("version")? + "version".len()..];
    rest.split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| w.trim_start_matches('v'))
        .find_map(|w| {
            let mut parts = w.split('.');
            let major = leading_number(parts.next()?)?;
            let minor_part = parts.next()?;
            let minor = leading_number(minor_part)?;
            // `2.26-1`: the suffix ends the version at the minor number.
            let patch = if minor_part.len() == minor.to_string().len() {
                parts.next().and_then(leading_number).unwrap_or(0)
            } else {
                0
            };
            Some((major, minor, patch))
        })
}

/// The number `part` starts with (`1` of `1-4`), if it starts with a digit.
fn leading_number(part: &str) -> Option<u32> {
    let digits = part.len() - part.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    part[..digits].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_the_tools_people_run() {
        let cases: &[(&str, ComposeKind, Option<(u32, u32, u32)>)] = &[
            (
                "['podman', '--version', '']\nusing podman version: 4.3.1\npodman-composer version  1.0.3\npodman --version \npodman version 4.3.1\nexit code: 0\n",
                ComposeKind::PodmanCompose,
                Some((1, 0, 3)),
            ),
            (
                "podman-compose version 1.6.0\npodman version 4.3.1\n",
                ComposeKind::PodmanCompose,
                Some((1, 6, 0)),
            ),
            (
                "docker-compose version 1.29.2, build unknown\n",
                ComposeKind::DockerComposeV1,
                Some((1, 29, 2)),
            ),
            (
                "Docker Compose version v2.20.2\n",
                ComposeKind::DockerComposeV2,
                Some((2, 20, 2)),
            ),
            // Debian 13's docker-compose (Go), standalone.
            (
                "Docker Compose version 2.26.1-4\n",
                ComposeKind::DockerComposeV2,
                Some((2, 26, 1)),
            ),
            (
                "Docker Compose version v2.26.1+ds1-4\n",
                ComposeKind::DockerComposeV2,
                Some((2, 26, 1)),
            ),
            // Debian 13's podman-compose, and a release candidate.
            (
                "podman-compose version 1.3.0\npodman version 5.4.2\n",
                ComposeKind::PodmanCompose,
                Some((1, 3, 0)),
            ),
            (
                "podman-compose version 1.5.0~rc1\n",
                ComposeKind::PodmanCompose,
                Some((1, 5, 0)),
            ),
            ("something else 3.1\n", ComposeKind::Unknown, None),
            // What Debian 12's docker client prints for `docker compose --version`: the
            // plugin's usage, no version; hence `version`.
            (
                "\nUsage:  docker compose [OPTIONS] COMMAND\n\nDefine and run multi-container applications with Docker\n\nCommands:\n  version     Show the Docker Compose version information\n",
                ComposeKind::Unknown,
                None,
            ),
        ];
        for (output, kind, version) in cases {
            let flavour = ComposeFlavour::parse(output);
            assert_eq!(
                (flavour.kind, flavour.version),
                (*kind, *version),
                "{output}"
            );
        }
    }

    /// What the tools' `version` prints (tried, but the release candidate and 1.4.0, whose
    /// output has the same form) and what cipug makes of it: (reliable exit codes,
    /// `--env-file`, project name from the `.env`, from the file's `name:`, the file's first;
    /// as doctor names it).
    #[test]
    fn what_each_version_does() {
        let cases: &[(&str, (bool, bool, bool, bool, bool), &str)] = &[
            (
                "['podman', '--version', '']\nusing podman version: 4.3.1\npodman-composer version  1.0.3\npodman --version \npodman version 4.3.1\nexit code: 0\n",
                (false, false, false, false, false),
                "podman-compose 1.0.3",
            ),
            (
                "podman-compose version 1.1.0\npodman version 4.3.1\n",
                (false, true, true, true, true),
                "podman-compose 1.1.0",
            ),
            // Debian 13's: `up -d` still exits 0 when podman failed.
            (
                "podman-compose version 1.3.0\npodman version 4.3.1\n",
                (false, true, true, true, true),
                "podman-compose 1.3.0",
            ),
            (
                "podman-compose version 1.4.0\npodman version 5.4.2\n",
                (true, true, true, true, false),
                "podman-compose 1.4.0",
            ),
            (
                "podman-compose version 1.6.0\npodman version 4.3.1\n",
                (true, true, true, true, false),
                "podman-compose 1.6.0",
            ),
            (
                "docker-compose version 1.29.2, build unknown\ndocker-py version: 5.0.3\nCPython version: 3.11.2\n",
                (true, true, true, false, false),
                "docker compose 1.29.2",
            ),
            // Debian 13's docker compose v2, standalone and as the plugin.
            (
                "Docker Compose version 2.26.1-4\n",
                (true, true, true, true, false),
                "docker compose 2.26.1",
            ),
            ("something else 3.1\n", (false, true, false, false, false), "an unknown compose tool"),
        ];
        for (output, row, name) in cases {
            let f = ComposeFlavour::parse(output);
            assert_eq!(
                (
                    f.exit_codes_reliable(),
                    f.has_env_file_option(),
                    f.reads_project_name_from_env(),
                    f.reads_project_name_from_file(),
                    f.project_name_file_first()
                ),
                *row,
                "{output}"
            );
            assert_eq!(f.to_string(), *name, "{output}");
        }
    }
}
