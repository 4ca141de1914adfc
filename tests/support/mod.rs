//! The real stack for end-to-end tests: a reference registry on 127.0.0.1 with images the
//! test builds, a btrfs file system on a loop device with one subvolume per service, snapper
//! over a system D-Bus with a config per subvolume, and podman + podman-compose with private
//! storage and network folders. Everything is torn down when the [`Stack`] is dropped.
//!
//! These tests need root and the packages that `scripts/test` installs; they fail (never
//! skip) when something is missing.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub mod auth;
pub mod debian13;
pub mod fake;
pub mod flavour;

pub use flavour::Flavour;
pub mod paging;

/// The compose file of a one-container service that pins `SERVICE_APP_IMAGE_HASHED` and
/// bind-mounts `./data`.
pub const COMPOSE: &str =
    "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    volumes:\n      - ./data:/data\n";

/// The compose file of [`COMPOSE`] with `restart: unless-stopped`, as services are usually
/// written: a crashing container is restarted again and again.
pub const COMPOSE_RESTARTING: &str = "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    restart: unless-stopped\n    volumes:\n      - ./data:/data\n";

/// Debian's podman-compose (1.0.3).
pub const DEBIAN_COMPOSE: &str = "podman-compose";

/// The newest podman-compose, from the virtualenv `scripts/install-deps` makes
/// (`CIPUG_TEST_VENV`, default `/opt/cipug-test/venv`).
pub fn newest_compose() -> String {
    let venv = std::env::var("CIPUG_TEST_VENV").unwrap_or_else(|_| "/opt/cipug-test/venv".into());
    let tool = Path::new(&venv).join("bin/podman-compose");
    assert!(
        tool.exists(),
        "{} is missing (run scripts/install-deps)",
        tool.display()
    );
    tool.display().to_string()
}

/// Runs a command, panicking with its output when it fails.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Like [`sh`] in a folder with extra environment.
pub fn sh_in(dir: &Path, env: &[(String, String)], program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Waits until `check` holds, or panics after `secs`.
pub fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `docker-registry serve` on a free loopback port.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry with plain HTTP and no auth; `extra` is appended to its config.
    pub fn start(extra: &str) -> Registry {
        Registry::start_with("", extra)
    }

    /// Starts a registry; `http_extra` goes under `http:` (e.g. TLS), `extra` at the top.
    pub fn start_with(http_extra: &str, extra: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{http_extra}{extra}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is not installed (run scripts/test)");
        let mut registry = Registry {
            addr,
            child,
            _dir: dir,
        };
        let addr = registry.addr.clone();
        wait_for("the registry", 20, || {
            assert!(
                registry.child.try_wait().unwrap().is_none(),
                "docker-registry exited"
            );
            http_status(&addr, "/v2/").is_some()
        });
        registry
    }
}

impl Registry {
    /// Deletes the config blob of the manifest `digest` from the registry's storage: the tag
    /// still resolves, but a pull of it fails.
    pub fn break_pull(&self, digest: &str) {
        let blob = |hex: &str| {
            self._dir
                .path()
                .join("data/docker/registry/v2/blobs/sha256")
                .join(&hex[..2])
                .join(hex)
                .join("data")
        };
        let hex = digest.trim_start_matches("sha256:");
        let manifest: serde_json::Value =
            serde_json::from_slice(&fs::read(blob(hex)).unwrap()).unwrap();
        let config = manifest["config"]["digest"].as_str().unwrap();
        fs::remove_file(blob(config.trim_start_matches("sha256:"))).unwrap();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small image: busybox and a command that records its version in `/data` and runs until
/// TERM. `behaviour` picks the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Writes `/data/started-<version>` and keeps running.
    Serve,
    /// Writes `/data/started-<version>` and `/data/version`, then exits with status 1.
    Crash,
    /// Like `Serve`, but its healthcheck file `/tmp/ok` is never created.
    Unhealthy,
    /// Writes `/data/started-<version>`, fills the file system of `/data` with
    /// `/data/fill`, then exits with status 1.
    FillDisk,
}

/// Builds OCI image layouts and pushes them with skopeo, keeping their digests.
pub struct Images {
    dir: tempfile::TempDir,
    layer: (String, Vec<u8>),
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

static LAYOUTS: AtomicUsize = AtomicUsize::new(0);

impl Images {
    /// Prepares the busybox layer.
    pub fn new() -> Images {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        for dir in ["bin/", "data/", "tmp/", "etc/"] {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            header.set_mtime(0);
            builder
                .append_data(&mut header.clone(), dir, std::io::empty())
                .unwrap();
        }
        let busybox =
            fs::read("/bin/busybox").expect("busybox-static is not installed (run scripts/test)");
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o755);
        header.set_size(busybox.len() as u64);
        header.set_mtime(0);
        builder
            .append_data(&mut header, "bin/busybox", busybox.as_slice())
            .unwrap();
        for applet in ["sh", "sleep", "echo", "cat", "ls", "touch"] {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            header.set_mtime(0);
            builder
                .append_link(&mut header, format!("bin/{applet}"), "busybox")
                .unwrap();
        }
        let layer = builder.into_inner().unwrap();
        Images {
            dir: tempfile::tempdir().unwrap(),
            layer: (sha256_hex(&layer), layer),
        }
    }

    fn blob(&self, layout: &Path, bytes: &[u8]) -> String {
        let hex = sha256_hex(bytes);
        fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
        hex
    }

    /// Writes an OCI layout holding one image manifest; returns (layout, manifest digest).
    pub fn layout(&self, version: &str, behaviour: Behaviour) -> (PathBuf, String) {
        self.layout_labelled(version, behaviour, &[])
    }

    /// [`Self::layout`] with more config labels.
    pub fn layout_labelled(
        &self,
        version: &str,
        behaviour: Behaviour,
        labels: &[(&str, &str)],
    ) -> (PathBuf, String) {
        let mut all = serde_json::json!({"version": version});
        for (k, v) in labels {
            all[*k] = serde_json::json!(v);
        }
        let layout = self
            .dir
            .path()
            .join(format!("layout-{}", LAYOUTS.fetch_add(1, Ordering::SeqCst)));
        fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
        fs::write(
            layout.join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let (layer_hex, layer) = &self.layer;
        self.blob(&layout, layer);
        let script = match behaviour {
            Behaviour::Serve => "trap 'exit 0' TERM; echo ok > /tmp/ok; echo $VERSION > /data/started-$VERSION; while true; do sleep 1; done",
            Behaviour::Crash => "echo $VERSION > /data/started-$VERSION; echo $VERSION > /data/version; echo crashing; exit 1",
            Behaviour::Unhealthy => "trap 'exit 0' TERM; echo $VERSION > /data/started-$VERSION; while true; do sleep 1; done",
            Behaviour::FillDisk => "echo $VERSION > /data/started-$VERSION; dd if=/dev/zero of=/data/fill bs=1M 2>/dev/null; echo full; exit 1",
        };
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin", format!("VERSION={version}")], "Cmd": ["/bin/sh", "-c", script], "Labels": all},
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]},
        })
        .to_string();
        let config_hex = self.blob(&layout, config.as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_hex}"), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{layer_hex}"), "size": layer.len()}],
        })
        .to_string();
        let manifest_hex = self.blob(&layout, manifest.as_bytes());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{manifest_hex}"), "size": manifest.len(),
                           "annotations": {"org.opencontainers.image.ref.name": "latest"}}],
        });
        fs::write(layout.join("index.json"), index.to_string()).unwrap();
        (layout, format!("sha256:{manifest_hex}"))
    }

    /// Builds an image with `version` and pushes it to `registry/repo:tag`; returns its digest.
    pub fn push(
        &self,
        registry: &Registry,
        repo_tag: &str,
        version: &str,
        behaviour: Behaviour,
    ) -> String {
        let (layout, digest) = self.layout(version, behaviour);
        self.copy(&layout, &registry.addr, repo_tag, &["--preserve-digests"]);
        digest
    }

    /// Copies an OCI layout to `addr/repo_tag` with extra skopeo options; returns the digest
    /// the registry holds.
    pub fn copy(&self, layout: &Path, addr: &str, repo_tag: &str, options: &[&str]) -> String {
        let digest_file = layout.join("pushed-digest");
        let mut args = vec!["copy", "-q", "--dest-tls-verify=false"];
        args.extend_from_slice(options);
        let digest_arg = digest_file.display().to_string();
        let source = format!("oci:{}:latest", layout.display());
        let dest = format!("docker://{addr}/{repo_tag}");
        args.extend_from_slice(&["--digestfile", &digest_arg, &source, &dest]);
        sh("skopeo", &args);
        fs::read_to_string(&digest_file).unwrap().trim().to_owned()
    }

    /// Writes an OCI layout whose `latest` is an image index of two platforms.
    pub fn index_layout(&self, version: &str) -> PathBuf {
        self.index_of(version, &format!("{version}-arm64"))
    }

    /// An OCI layout whose `latest` is an index of an amd64 and an arm64 image, each with its
    /// own version.
    pub fn index_of(&self, amd_version: &str, arm_version: &str) -> PathBuf {
        let (amd, _) = self.layout(amd_version, Behaviour::Serve);
        let (arm, _) = self.layout(arm_version, Behaviour::Serve);
        // Merge the second layout's blobs into the first and list both manifests.
        for entry in fs::read_dir(arm.join("blobs/sha256")).unwrap().flatten() {
            let _ = fs::copy(
                entry.path(),
                amd.join("blobs/sha256").join(entry.file_name()),
            );
        }
        let manifest_of = |layout: &Path| -> serde_json::Value {
            let index: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(layout.join("index.json")).unwrap())
                    .unwrap();
            index["manifests"][0].clone()
        };
        let (mut a, mut b) = (manifest_of(&amd), manifest_of(&arm));
        for (m, arch) in [(&mut a, "amd64"), (&mut b, "arm64")] {
            m.as_object_mut().unwrap().remove("annotations");
            m["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
        }
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [a, b]}).to_string();
        let hex = self.blob(&amd, index.as_bytes());
        let top = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{hex}"), "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]});
        fs::write(amd.join("index.json"), top.to_string()).unwrap();
        amd
    }
}

/// Runs cipug with a clean environment plus `env`.
pub fn run_cipug(args: &[&str], env: &[(&str, &str)]) -> Run {
    // Private state and cache unless the test names its own, so parallel tests never share
    // the run lock.
    let private = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cipug"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent-home")
        .env("CIPUG_STATE_DIR", private.path().join("state"))
        .env("CIPUG_CACHE_LOCATION", private.path().join("cache.json"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A services root of plain folders (no btrfs), each with a compose file and this `.env`.
pub fn plain_services(services: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (name, env) in services {
        let dir = root.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("compose.yml"),
            "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n",
        )
        .unwrap();
        fs::write(dir.join(".env"), env).unwrap();
    }
    root
}

/// Makes sure a system D-Bus answers, so snapper can reach snapperd.
pub fn ensure_system_bus() {
    static BUS: OnceLock<()> = OnceLock::new();
    BUS.get_or_init(|| {
        let up = || {
            Command::new("dbus-send")
                .args([
                    "--system",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.GetId",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !up() {
            fs::create_dir_all("/run/dbus").unwrap();
            let _ = fs::remove_file("/run/dbus/pid");
            sh("dbus-daemon", &["--system", "--fork"]);
            wait_for("the system bus", 10, up);
        }
    });
}

static STACKS: AtomicUsize = AtomicUsize::new(0);

/// A btrfs services root on a loop device, with snapper and podman set up for it, and a
/// registry. One per test.
pub struct Stack {
    /// The registry.
    pub registry: Registry,
    /// The image builder.
    pub images: Images,
    /// The services root (a btrfs mount point).
    pub root: PathBuf,
    /// Files of this stack outside btrfs (configs, cache, podman storage).
    pub work: tempfile::TempDir,
    /// A short unique id, used in snapper config names.
    pub id: String,
    /// The compose tool and container tool.
    pub flavour: Flavour,
    dockerd: Option<flavour::Dockerd>,
    snapper_configs: Vec<String>,
    services: Vec<PathBuf>,
}

impl Stack {
    /// Sets up everything, for Debian's podman-compose.
    pub fn new() -> Stack {
        Stack::with_flavour(Flavour::PodmanCompose10)
    }

    /// Sets up everything for the compose tool of `flavour` (and a private dockerd for
    /// docker).
    pub fn with_flavour(flavour: Flavour) -> Stack {
        assert!(
            rustix::process::geteuid().is_root(),
            "the end-to-end tests need root"
        );
        ensure_system_bus();
        let registry = Registry::start("");
        let work = tempfile::Builder::new()
            .prefix("cipug-e2e-")
            .tempdir()
            .unwrap();
        let stack_number = STACKS.fetch_add(1, Ordering::SeqCst);
        let id = format!("cipugtest{}x{stack_number}", std::process::id());
        // Stacks share the host's iptables but not their network folders: each gets its own
        // range of subnets, or two stacks' project networks get the same subnet and one's
        // teardown removes the other's firewall rules (netavark: "No chain/target/match").
        let subnets = 100 + (std::process::id() as usize * 7 + stack_number) % 150;
        let image = work.path().join("btrfs.img");
        let root = work.path().join("services");
        fs::create_dir_all(&root).unwrap();
        sh("truncate", &["-s", "300M", image.to_str().unwrap()]);
        sh("mkfs.btrfs", &["-q", image.to_str().unwrap()]);
        sh(
            "mount",
            &[
                "-o",
                "loop",
                image.to_str().unwrap(),
                root.to_str().unwrap(),
            ],
        );
        let w = work.path();
        fs::create_dir_all(w.join("netcfg")).unwrap();
        fs::write(
            w.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n[network]\nnetwork_backend = \"netavark\"\nnetwork_config_dir = \"{}\"\ndefault_subnet_pools = [{{\"base\" = \"10.{subnets}.0.0/16\", \"size\" = 24}}]\n",
                w.join("netcfg").display()
            ),
        )
        .unwrap();
        fs::write(
            w.join("registries.conf"),
            format!("unqualified-search-registries = []\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n", registry.addr),
        )
        .unwrap();
        fs::write(
            w.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                w.join("storage/graph").display(),
                w.join("storage/run").display()
            ),
        )
        .unwrap();
        let dockerd = flavour
            .docker()
            .then(|| flavour::Dockerd::start(flavour, &w.join("docker"), &registry.addr));
        Stack {
            registry,
            images: Images::new(),
            root,
            work,
            id,
            flavour,
            dockerd,
            snapper_configs: Vec::new(),
            services: Vec::new(),
        }
    }

    /// The environment that points podman (and docker) at this stack's private configuration.
    pub fn container_env(&self) -> Vec<(String, String)> {
        let w = self.work.path();
        let docker = self
            .dockerd
            .iter()
            .map(|d| ("DOCKER_HOST".into(), d.host.clone()));
        docker
            .chain(self.flavour.env())
            .chain([
                (
                    "CONTAINERS_CONF".into(),
                    w.join("containers.conf").display().to_string(),
                ),
                (
                    "CONTAINERS_REGISTRIES_CONF".into(),
                    w.join("registries.conf").display().to_string(),
                ),
                (
                    "CONTAINERS_STORAGE_CONF".into(),
                    w.join("storage.conf").display().to_string(),
                ),
            ])
            .collect()
    }

    /// Creates service `name` as a btrfs subvolume with a compose file and env file, and
    /// (with `snapper`) a snapper config for it.
    pub fn service(&mut self, name: &str, compose: &str, env: &str, snapper: bool) -> PathBuf {
        let path = self.root.join(name);
        sh("btrfs", &["subvolume", "create", path.to_str().unwrap()]);
        fs::create_dir_all(path.join("data")).unwrap();
        fs::write(path.join("compose.yml"), compose).unwrap();
        fs::write(path.join(".env"), env).unwrap();
        if snapper {
            let config = format!("{}-{name}", self.id);
            sh(
                "snapper",
                &["-c", &config, "create-config", path.to_str().unwrap()],
            );
            self.snapper_configs.push(config);
        }
        self.services.push(path.clone());
        path
    }

    /// Version 1 of `demo/app:latest` (serving) pushed, service `name` of `compose` made
    /// (with a snapper config) with an `.env` that tags it, its first update run with `env`
    /// (exit 0), and version 1 started: it wrote `data/started-1`.
    pub fn deployed(&mut self, name: &str, compose: &str, env: &[(&str, &str)]) -> Deployed {
        let img = self.image("demo/app");
        let d1 = self
            .images
            .push(&self.registry, "demo/app:latest", "1", Behaviour::Serve);
        let svc = self.service(
            name,
            compose,
            &format!("SERVICE_APP_IMAGE_TAGGED={img}\n"),
            true,
        );
        self.cipug(&[], env).expect_code(0);
        wait_for("v1 to start", 20, || svc.join("data/started-1").exists());
        Deployed { img, d1, svc }
    }

    /// Has the stack clean up a service folder and snapper config the test made another way.
    pub fn track(&mut self, path: &Path, snapper_config: &str) {
        self.services.push(path.to_path_buf());
        self.snapper_configs.push(snapper_config.to_owned());
    }

    /// The snapper config name of service `name`.
    pub fn snapper_config(&self, name: &str) -> String {
        format!("{}-{name}", self.id)
    }

    /// The snapshots of service `name`: (number, description), oldest first, without 0.
    pub fn snapshots(&self, name: &str) -> Vec<(u64, String)> {
        let config = self.snapper_config(name);
        let json: serde_json::Value =
            serde_json::from_str(&sh("snapper", &["-c", &config, "--jsonout", "list"])).unwrap();
        json[&config]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["number"] != 0)
            .map(|s| {
                (
                    s["number"].as_u64().unwrap(),
                    s["description"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// The `SERVICE_APP_IMAGE_HASHED` pin in the `.env` of service `name`.
    pub fn pin(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.root.join(name).join(".env"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("SERVICE_APP_IMAGE_HASHED="))
            .map(str::to_owned)
    }

    /// The events `cipug history <service> --format json` lists.
    pub fn history(&self, service: &str) -> Vec<serde_json::Value> {
        let run = self.cipug(&["history", service, "--format", "json"], &[]);
        run.expect_code(0);
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        json["events"].as_array().unwrap().clone()
    }

    /// The `<registry>/<repo>` name of an image in this stack's registry.
    pub fn image(&self, repo: &str) -> String {
        format!("{}/{repo}", self.registry.addr)
    }

    /// Runs cipug with this stack's settings plus `env`, and `args`.
    pub fn cipug(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self.cipug_command(args, env).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The command that runs cipug with this stack's settings, not yet started.
    pub fn cipug_command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cipug"));
        cmd.args(args)
            .env_clear()
            .env("PATH", path_with(self.work.path().join("bin")))
            .env("HOME", self.work.path())
            .env("CIPUG_SERVICES_ROOT", &self.root)
            .env(
                "CIPUG_CACHE_LOCATION",
                self.work.path().join("cache/cache.json"),
            )
            .env("CIPUG_INSECURE_REGISTRIES", &self.registry.addr)
            .env("CIPUG_PRUNE_IMAGES", "false")
            // Short, so the end-to-end tests stay fast; the test images start at once.
            .env("CIPUG_HEALTH_SETTLE", "1")
            .env("CIPUG_STATE_DIR", self.work.path().join("state"))
            .env("CIPUG_COMPOSE_TOOL", self.flavour.compose_tool())
            .env("CIPUG_CONTAINER_TOOL", self.flavour.container_tool())
            .envs(self.container_env())
            .envs(env.iter().copied());
        cmd
    }

    /// Puts an executable `name` with `script` first on cipug's PATH.
    pub fn stand_in(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let bin = self.work.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        let path = bin.join(name);
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The containers of compose project `service`: name -> (state, image name as the
    /// compose file gave it).
    pub fn containers(&self, service: &str) -> BTreeMap<String, (String, String)> {
        if self.flavour.docker() {
            return self.docker_containers(service);
        }
        let out = sh_in(
            &self.root,
            &self.container_env(),
            "podman",
            &[
                "ps",
                "-a",
                "--filter",
                &format!("label=com.docker.compose.project={service}"),
                "--format",
                "json",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        list.iter()
            .map(|c| {
                (
                    c["Names"][0].as_str().unwrap_or("").to_owned(),
                    (
                        c["State"].as_str().unwrap_or("").to_owned(),
                        c["Image"].as_str().unwrap_or("").to_owned(),
                    ),
                )
            })
            .collect()
    }
}

fn path_with(first: PathBuf) -> String {
    format!(
        "{}:{}",
        first.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
    )
}

impl Drop for Stack {
    fn drop(&mut self) {
        let env = self.container_env();
        for service in &self.services {
            if service.join("compose.yml").exists() {
                let _ = self
                    .flavour
                    .compose_command()
                    .args(["down", "-t", "0"])
                    .current_dir(service)
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .output();
            }
        }
        // Stops the daemon and its containers.
        self.dockerd = None;
        let _ = sh_in(&self.root, &env, "podman", &["rm", "-af", "-t", "0"]);
        let _ = sh_in(&self.root, &env, "podman", &["rmi", "-af"]);
        for config in &self.snapper_configs {
            let _ = Command::new("snapper")
                .args(["-c", config, "delete-config"])
                .output();
        }
        let root = self.root.to_str().unwrap_or_default().to_owned();
        // podman's DNS helper (aardvark-dns) outlives `down` and keeps the folder it was
        // started from as its working folder: stop what still runs inside the mount.
        stop_processes_inside(&self.root);
        if Command::new("umount")
            .arg(&root)
            .status()
            .map_or(true, |s| !s.success())
        {
            let _ = Command::new("umount").args(["-l", &root]).status();
        }
    }
}

/// Sends SIGTERM to every process whose working folder is inside `root`, then waits a moment.
fn stop_processes_inside(root: &Path) {
    let mut stopped = false;
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(root)) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                stopped = true;
            }
        }
    }
    if stopped {
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A service on its first pin, as [`Stack::deployed`] leaves it.
pub struct Deployed {
    /// The image's name in the stack's registry (`<registry>/demo/app`).
    pub img: String,
    /// The digest of version 1, the service's pin.
    pub d1: String,
    /// The service folder.
    pub svc: PathBuf,
}

/// What a cipug run did.
#[derive(Debug)]
pub struct Run {
    /// Exit status.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with the output unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Stack {
    /// docker's `ps` shows the repository, not the digest: read the container's
    /// configuration instead.
    fn docker_containers(&self, service: &str) -> BTreeMap<String, (String, String)> {
        let ids = self.container_ids(service);
        if ids.is_empty() {
            return BTreeMap::new();
        }
        let mut args = vec![
            "inspect",
            "--format",
            "{{.Name}}\t{{.State.Status}}\t{{.Config.Image}}",
        ];
        args.extend(ids.iter().map(String::as_str));
        let out = sh_in(&self.root, &self.container_env(), "/usr/bin/docker", &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, '\t');
                let name = parts.next()?.trim_start_matches('/').to_owned();
                Some((name, (parts.next()?.to_owned(), parts.next()?.to_owned())))
            })
            .collect()
    }

    /// The ids of the containers of project `service`.
    pub fn container_ids(&self, service: &str) -> Vec<String> {
        let out = sh_in(
            &self.root,
            &self.container_env(),
            &self.flavour.container_tool(),
            &[
                "ps",
                "-aq",
                "--filter",
                &format!("label=com.docker.compose.project={service}"),
            ],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Stack {
    /// `podman container inspect` of every container of project `service`.
    pub fn inspect(&self, service: &str) -> Vec<serde_json::Value> {
        let ids = self.container_ids(service);
        if ids.is_empty() {
            return Vec::new();
        }
        let mut args = vec!["container", "inspect"];
        args.extend(ids.iter().map(String::as_str));
        let out = sh_in(&self.root, &self.container_env(), "podman", &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The image ID of a pulled `pin`.
    pub fn image_id(&self, pin: &str) -> String {
        let out = sh_in(
            &self.root,
            &self.container_env(),
            "podman",
            &["image", "inspect", "--format", "{{.Id}}", pin],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}
