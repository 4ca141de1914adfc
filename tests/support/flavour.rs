//! The compose tools the end-to-end tests run against, and a private docker daemon for the
//! docker flavour: `dockerd` with its own data, exec root, socket and pid file, the test
//! registry marked insecure, stopped by the pid in its pid file when dropped.

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
    /// The newest podman-compose from PyPI (in the test virtualenv) with podman.
    PodmanComposeNewest,
    /// Debian's docker-compose 1.29 with Debian's docker 20.10 (`/usr/bin/docker`).
    DockerCompose,
}

/// The virtualenv `scripts/install-deps` makes (`CIPUG_TEST_VENV` overrides it).
pub fn venv() -> PathBuf {
    std::env::var_os("CIPUG_TEST_VENV")
        .map_or_else(|| PathBuf::from("/opt/cipug-test/venv"), PathBuf::from)
}

impl Flavour {
    /// The `COMPOSE_TOOL` value.
    pub fn compose_tool(self) -> String {
        match self {
            Flavour::PodmanCompose10 => "podman-compose".into(),
            Flavour::PodmanComposeNewest => venv().join("bin/podman-compose").display().to_string(),
            Flavour::DockerCompose => "docker-compose".into(),
        }
    }

    /// The `CONTAINER_TOOL` value. Debian's docker client by its path: another, newer one
    /// may come first on `PATH`.
    pub fn container_tool(self) -> &'static str {
        match self {
            Flavour::PodmanCompose10 | Flavour::PodmanComposeNewest => "podman",
            Flavour::DockerCompose => "/usr/bin/docker",
        }
    }

    /// Whether the containers are docker's.
    pub fn docker(self) -> bool {
        self == Flavour::DockerCompose
    }
}

static DAEMONS: AtomicUsize = AtomicUsize::new(0);

/// A private `dockerd`.
pub struct Dockerd {
    dir: PathBuf,
    child: std::process::Child,
    /// `unix://<dir>/docker.sock`, for `DOCKER_HOST`.
    pub host: String,
}

impl Dockerd {
    /// Starts a daemon keeping everything under `dir`; `registry` is marked insecure.
    pub fn start(dir: &Path, registry: &str) -> Dockerd {
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
        let child = Command::new("dockerd")
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

    /// Runs Debian's docker client against this daemon.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new(Flavour::DockerCompose.container_tool())
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
