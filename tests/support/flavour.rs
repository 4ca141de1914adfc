//! The compose tools the end-to-end tests run against, and a private docker daemon for the
//! docker flavours: `dockerd` with its own data, exec root, socket and pid file, the test
//! registry marked insecure, stopped by the pid in its pid file when dropped.
//!
//! The tools: Debian 12's podman-compose 1.0.3 and docker-compose 1.29 (Python), Debian 13's
//! podman-compose 1.3.0 and the newest from PyPI (each in a virtualenv of its own), and
//! Debian 13's docker compose v2 2.26.1 (Go), standalone and as the plugin of Debian 12's
//! docker client; both docker compose tools with Debian 12's dockerd 20.10. And the plugin
//! with Debian 13's docker 26.1.5 (its dockerd and client, unpacked beside Debian 12's; the
//! daemon runs on Debian 12's containerd and runc).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::wait_for;

/// A compose tool and the container tool that sees its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Debian 12's podman-compose 1.0.3 with podman.
    PodmanCompose10,
    /// Debian 13's podman-compose 1.3.0 (from PyPI, in a virtualenv of its own) with podman.
    PodmanCompose13,
    /// The newest podman-compose from PyPI (in the test virtualenv) with podman.
    PodmanComposeNewest,
    /// Debian's docker-compose 1.29 with Debian's docker 20.10 (`/usr/bin/docker`).
    DockerCompose,
    /// Debian 13's docker compose v2 (2.26.1), its standalone binary.
    DockerComposeV2,
    /// Debian 13's docker compose v2 as the plugin of Debian 12's docker client:
    /// `/usr/bin/docker compose`, found through `DOCKER_CONFIG`'s `cli-plugins/`.
    DockerComposePlugin,
    /// Debian 13's docker compose v2 as the plugin of Debian 13's docker 26.1.5: its client
    /// (`docker compose`, the plugin through `DOCKER_CONFIG`) and a private dockerd 26.
    DockerComposePlugin26,
}

/// The virtualenv `scripts/install-deps` makes (`CIPUG_TEST_VENV` overrides it).
pub fn venv() -> PathBuf {
    std::env::var_os("CIPUG_TEST_VENV")
        .map_or_else(|| PathBuf::from("/opt/cipug-test/venv"), PathBuf::from)
}

/// The virtualenv of podman-compose 1.3.0 (`CIPUG_TEST_VENV13` overrides it).
pub fn venv13() -> PathBuf {
    std::env::var_os("CIPUG_TEST_VENV13")
        .map_or_else(|| PathBuf::from("/opt/cipug-test/venv-1.3"), PathBuf::from)
}

/// The folder of Debian 13's unpacked tools (`CIPUG_TEST_TRIXIE` overrides it).
pub fn trixie() -> PathBuf {
    std::env::var_os("CIPUG_TEST_TRIXIE")
        .map_or_else(|| PathBuf::from("/opt/cipug-test/trixie"), PathBuf::from)
}

/// Debian 13's docker.io and docker-cli (26.1.5), unpacked together.
pub fn docker26() -> PathBuf {
    trixie().join("docker26")
}

/// A file `scripts/install-deps` makes, or a panic that says so.
fn installed(path: PathBuf) -> String {
    assert!(
        path.exists(),
        "{} is missing (run scripts/install-deps)",
        path.display()
    );
    path.display().to_string()
}

impl Flavour {
    /// The `COMPOSE_TOOL` value (shell words).
    pub fn compose_tool(self) -> String {
        match self {
            Flavour::PodmanCompose10 => "podman-compose".into(),
            Flavour::PodmanCompose13 => installed(venv13().join("bin/podman-compose")),
            Flavour::PodmanComposeNewest => installed(venv().join("bin/podman-compose")),
            Flavour::DockerCompose => "docker-compose".into(),
            Flavour::DockerComposeV2 => installed(
                trixie().join("docker-compose/usr/libexec/docker/cli-plugins/docker-compose"),
            ),
            Flavour::DockerComposePlugin => {
                installed(trixie().join("docker/cli-plugins/docker-compose"));
                "/usr/bin/docker compose".into()
            }
            Flavour::DockerComposePlugin26 => {
                installed(trixie().join("docker/cli-plugins/docker-compose"));
                format!("{} compose", self.container_tool())
            }
        }
    }

    /// The compose tool as a program and its first arguments.
    pub fn compose_command(self) -> Command {
        let tool = self.compose_tool();
        let mut words = tool.split(' ');
        let mut cmd = Command::new(words.next().unwrap_or_default());
        cmd.args(words);
        cmd
    }

    /// What the tools need in their environment: `DOCKER_CONFIG` for the plugin.
    pub fn env(self) -> Vec<(String, String)> {
        match self {
            Flavour::DockerComposePlugin | Flavour::DockerComposePlugin26 => vec![(
                "DOCKER_CONFIG".into(),
                trixie().join("docker").display().to_string(),
            )],
            _ => Vec::new(),
        }
    }

    /// The `CONTAINER_TOOL` value. Debian's docker client by its path: another, newer one
    /// may come first on `PATH`.
    pub fn container_tool(self) -> String {
        match self {
            Flavour::PodmanCompose10 | Flavour::PodmanCompose13 | Flavour::PodmanComposeNewest => {
                "podman".into()
            }
            Flavour::DockerCompose | Flavour::DockerComposeV2 | Flavour::DockerComposePlugin => {
                "/usr/bin/docker".into()
            }
            Flavour::DockerComposePlugin26 => installed(docker26().join("usr/bin/docker")),
        }
    }

    /// Whether the containers are docker's.
    pub fn docker(self) -> bool {
        self.container_tool() != "podman"
    }

    /// Whether it is docker compose v2 (Go), which names containers `<project>-<service>-1`
    /// where the Python tools write `<project>_<service>_1`.
    pub fn v2(self) -> bool {
        matches!(
            self,
            Flavour::DockerComposeV2
                | Flavour::DockerComposePlugin
                | Flavour::DockerComposePlugin26
        )
    }
}

static DAEMONS: AtomicUsize = AtomicUsize::new(0);

/// A private `dockerd`.
pub struct Dockerd {
    dir: PathBuf,
    child: std::process::Child,
    /// The docker client of the flavour.
    client: String,
    /// `unix://<dir>/docker.sock`, for `DOCKER_HOST`.
    pub host: String,
}

impl Dockerd {
    /// Starts the daemon of `flavour` (Debian 12's `dockerd`, or docker 26's from its folder,
    /// its own programs first on `PATH`) keeping everything under `dir`; `registry` is marked
    /// insecure.
    pub fn start(flavour: Flavour, dir: &Path, registry: &str) -> Dockerd {
        fs::create_dir_all(dir).unwrap();
        // Own address pools, so that two daemons of parallel tests never share a subnet.
        let n = (std::process::id() as usize * 7 + DAEMONS.fetch_add(1, Ordering::SeqCst)) % 200;
        let config = serde_json::json!({
            "insecure-registries": [registry],
            "default-address-pools": [{"base": format!("10.{}.0.0/16", n + 20), "size": 24}],
        });
        fs::write(dir.join("daemon.json"), config.to_string()).unwrap();
        let host = format!("unix://{}", dir.join("docker.sock").display());
        let log = fs::File::create(dir.join("dockerd.log")).unwrap();
        let mut cmd = if flavour == Flavour::DockerComposePlugin26 {
            let x = docker26();
            let mut cmd = Command::new(installed(x.join("usr/sbin/dockerd")));
            cmd.env(
                "PATH",
                format!(
                    "{}:{}:{}",
                    x.join("usr/sbin").display(),
                    x.join("usr/bin").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            );
            cmd
        } else {
            Command::new("dockerd")
        };
        let child = cmd
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args(["-H", &host, "--iptables=false", "--bridge=none"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd is not installed (run scripts/test)");
        let mut daemon = Dockerd {
            dir: dir.to_path_buf(),
            child,
            client: flavour.container_tool(),
            host,
        };
        wait_for("dockerd", 30, || {
            assert!(
                daemon.child.try_wait().unwrap().is_none(),
                "dockerd exited: {}",
                fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default()
            );
            daemon.docker(&["info"]).status.success()
        });
        daemon
    }

    /// Runs the flavour's docker client against this daemon.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.client)
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .output()
            .expect("docker.io is not installed (run scripts/test)")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        let ids = String::from_utf8_lossy(&ids.stdout).into_owned();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.docker(&args);
        }
        // Stopped by the pid it wrote, as an administrator would; then reaped.
        if let Some(pid) = fs::read_to_string(self.dir.join("docker.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
