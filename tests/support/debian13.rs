//! Today's Debian for end-to-end tests: a Debian 13 (trixie) root that `scripts/install-deps`
//! makes with debootstrap (podman 5.4.2, podman-compose 1.3.0, snapper 0.10.6), in which
//! cipug's static binary runs, in a mount namespace whose root it is. Each test gets the root
//! as an overlay of its own (the shared root is never written, and tests in parallel never
//! see each other's podman storage, snapper configs or system bus), with proc, sys, dev, a
//! tmpfs /run, podman's
//! storage on a folder of the host (overlay storage cannot sit on an overlay) and the services
//! root on a btrfs file system of a loop device at `/srv/services`. The registry runs on the
//! host: the root shares the host's network. Everything is unmounted (`umount -R`) and
//! every process left inside stopped when the [`Debian13`] is dropped, after a failure too.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use super::{sh, wait_for, Images, Registry, Run};

/// The services root inside the root.
pub const SERVICES: &str = "/srv/services";

/// The Debian 13 root `scripts/install-deps` makes (`CIPUG_TEST_TRIXIE_ROOT` overrides it).
pub fn shared_root() -> PathBuf {
    std::env::var_os("CIPUG_TEST_TRIXIE_ROOT").map_or_else(
        || PathBuf::from("/opt/cipug-test/trixie-root"),
        PathBuf::from,
    )
}

/// cipug's static (musl) binary, the one `scripts/package-deb` builds. Built here when a test
/// runs alone; cargo finds it fresh when `scripts/test` built it before the tests.
pub fn static_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
            let triple = "x86_64-unknown-linux-musl";
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
            // Without what cargo gives a test process (CARGO_PKG_*, CARGO_MANIFEST_DIR, the
            // library path, ...): with them, the build scripts of dependencies run again and
            // the binary `scripts/package-deb` built is rebuilt, and rebuilt again by it.
            let mut build = Command::new(cargo);
            for (key, _) in std::env::vars_os() {
                let key = key.to_string_lossy();
                let keep = ["CARGO_HOME", "CARGO_TARGET_DIR"].contains(&key.as_ref());
                if (key.starts_with("CARGO_") && !keep)
                    || ["LD_LIBRARY_PATH", "OUT_DIR", "RUSTC", "RUSTDOC"].contains(&key.as_ref())
                {
                    build.env_remove(key.as_ref());
                }
            }
            let out = build
                .args(["build", "--release", "--locked", "--target", triple])
                .current_dir(repo)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "the static binary does not build: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| repo.join("target"), PathBuf::from);
            target.join(triple).join("release/cipug")
        })
        .clone()
}

/// The mounts of one test's root and the mount namespace whose root it is; when dropped,
/// what runs in that namespace is stopped and everything unmounted.
struct Mounts {
    root: PathBuf,
    /// `sleep infinity`, pivoted into the root: it keeps the namespace for every command.
    holder: Option<Child>,
}

impl Mounts {
    /// The mount namespace of the holder (`mnt:[N]`).
    fn namespace(&self) -> Option<PathBuf> {
        let pid = self.holder.as_ref()?.id();
        fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        if let Some(namespace) = self.namespace() {
            stop_processes_in(&namespace);
        }
        if let Some(mut holder) = self.holder.take() {
            let _ = holder.kill();
            let _ = holder.wait();
        }
        let root = self.root.display().to_string();
        let unmounted = Command::new("umount")
            .args(["-R", &root])
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").args(["-R", "-l", &root]).status();
        }
    }
}

/// Ends every process in mount namespace `namespace` (the system bus, snapperd, conmon,
/// aardvark-dns, the holder): TERM, then KILL for what is left.
fn stop_processes_in(namespace: &Path) {
    let inside = || {
        fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid = e.file_name().to_string_lossy().parse::<i32>().ok()?;
                let ns = fs::read_link(e.path().join("ns/mnt")).ok()?;
                (ns == namespace)
                    .then(|| rustix::process::Pid::from_raw(pid))
                    .flatten()
            })
            .collect::<Vec<_>>()
    };
    for signal in [rustix::process::Signal::TERM, rustix::process::Signal::KILL] {
        let pids = inside();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = rustix::process::kill_process(pid, signal);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

static ROOTS: AtomicUsize = AtomicUsize::new(0);

/// Starts the holder of a mount namespace of its own whose root is `root` (pivot_root, as a
/// booted system has it); every command of the test runs there (nsenter). A chroot is not
/// enough: runc pivots a container's root from a chrooted caller into the chroot's mount,
/// not the namespace's root, so `podman exec` (and every healthcheck) enters the container's
/// namespace at the host's `/` and runs the host's programs on the host's files.
fn hold_namespace(root: &Path) -> Child {
    let ready = root.join("run/cipug-test-namespace");
    let holder = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(
            "cd \"$1\" && mkdir -p .host && pivot_root . .host && umount -l /.host \
             && rmdir /.host && touch /run/cipug-test-namespace && exec sleep infinity",
        )
        .arg("sh")
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run unshare: {e}"));
    wait_for("the root's mount namespace", 10, || ready.exists());
    holder
}

/// One test's Debian 13 root, with a registry on the host and cipug inside.
pub struct Debian13 {
    /// The registry on the host.
    pub registry: Registry,
    /// The image builder.
    pub images: Images,
    /// The root as the host sees it.
    pub root: PathBuf,
    id: String,
    mounts: Mounts,
    work: tempfile::TempDir,
}

impl Debian13 {
    /// Mounts the root, gives it its services file system, podman settings and a system bus,
    /// and copies cipug in.
    pub fn start() -> Debian13 {
        assert!(
            rustix::process::geteuid().is_root(),
            "the end-to-end tests need root"
        );
        let shared = shared_root();
        assert!(
            shared.join("usr/bin/podman").exists(),
            "{} is not a Debian 13 root with podman (run scripts/install-deps)",
            shared.display()
        );
        let binary = static_binary();
        let registry = Registry::start("");
        let work = tempfile::Builder::new()
            .prefix("cipug-debian13-")
            .tempdir()
            .unwrap();
        let w = work.path();
        let root = w.join("root");
        for dir in ["upper", "overlay-work", "root", "storage"] {
            fs::create_dir(w.join(dir)).unwrap();
        }
        let overlay = format!(
            "lowerdir={},upperdir={},workdir={}",
            shared.display(),
            w.join("upper").display(),
            w.join("overlay-work").display()
        );
        let r = root.to_str().unwrap();
        sh("mount", &["-t", "overlay", "overlay", "-o", &overlay, r]);
        // From here on a failure unmounts what is mounted.
        let mut mounts = Mounts {
            root: root.clone(),
            holder: None,
        };
        sh("mount", &["-t", "proc", "proc", &format!("{r}/proc")]);
        sh("mount", &["--rbind", "/sys", &format!("{r}/sys")]);
        sh("mount", &["--rbind", "/dev", &format!("{r}/dev")]);
        sh("mount", &["-t", "tmpfs", "tmpfs", &format!("{r}/run")]);
        let storage = root.join("var/lib/containers");
        fs::create_dir_all(&storage).unwrap();
        sh(
            "mount",
            &[
                "--bind",
                w.join("storage").to_str().unwrap(),
                storage.to_str().unwrap(),
            ],
        );
        let image = w.join("btrfs.img");
        sh("truncate", &["-s", "300M", image.to_str().unwrap()]);
        sh("mkfs.btrfs", &["-q", image.to_str().unwrap()]);
        let services = root.join(SERVICES.trim_start_matches('/'));
        fs::create_dir_all(&services).unwrap();
        sh(
            "mount",
            &[
                "-o",
                "loop",
                image.to_str().unwrap(),
                services.to_str().unwrap(),
            ],
        );

        let number = ROOTS.fetch_add(1, Ordering::SeqCst);
        // Subnets of its own, apart from the host's podman and docker tests (10.x).
        let subnets = 16 + (std::process::id() as usize * 7 + number) % 16;
        fs::write(
            root.join("etc/containers/containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n[network]\ndefault_subnet_pools = [{{\"base\" = \"172.{subnets}.0.0/16\", \"size\" = 24}}]\n"
            ),
        )
        .unwrap();
        fs::write(
            root.join("etc/containers/registries.conf.d/50-cipug-test.conf"),
            format!(
                "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
                registry.addr
            ),
        )
        .unwrap();
        fs::copy(&binary, root.join("usr/local/bin/cipug")).unwrap();
        // What systemd-tmpfiles makes on a booted system and debootstrap does not: snapper
        // reads the mounts from /etc/mtab.
        std::os::unix::fs::symlink("../proc/self/mounts", root.join("etc/mtab")).unwrap();

        mounts.holder = Some(hold_namespace(&root));

        let mut debian = Debian13 {
            registry,
            images: Images::new(),
            root,
            id: format!("d13x{}x{number}", std::process::id()),
            mounts,
            work,
        };
        debian.start_system_bus();
        debian
    }

    /// A system D-Bus inside the root, for snapperd (which it starts on demand).
    fn start_system_bus(&mut self) {
        fs::create_dir_all(self.root.join("run/dbus")).unwrap();
        self.inside_ok("dbus-daemon", &["--system", "--fork"]);
        wait_for("the system bus in the root", 10, || {
            self.root.join("run/dbus/system_bus_socket").exists()
        });
    }

    /// Runs `program` inside the root (in its mount namespace) with `env`.
    pub fn inside(&self, env: &[(&str, &str)], program: &str, args: &[&str]) -> Output {
        let holder = self.mounts.holder.as_ref().map_or(0, Child::id);
        Command::new("nsenter")
            .args(["-t", &holder.to_string(), "-m", "-r", "-w", "--", program])
            .args(args)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", "/root")
            .env("PODMAN_IGNORE_CGROUPSV1_WARNING", "1")
            .envs(env.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("cannot run nsenter: {e}"))
    }

    /// [`Self::inside`] without extra environment, panicking when it fails; its stdout.
    pub fn inside_ok(&self, program: &str, args: &[&str]) -> String {
        let out = self.inside(&[], program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} in the root failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The folder of service `name` as the host sees it.
    pub fn service_dir(&self, name: &str) -> PathBuf {
        self.root.join(SERVICES.trim_start_matches('/')).join(name)
    }

    /// Creates service `name` (a btrfs subvolume with a compose file, a `.env` and `data/`)
    /// and a snapper config for it, both with the root's tools.
    pub fn service(&mut self, name: &str, compose: &str, env: &str) -> PathBuf {
        let inside = format!("{SERVICES}/{name}");
        self.inside_ok("btrfs", &["subvolume", "create", &inside]);
        let dir = self.service_dir(name);
        fs::create_dir_all(dir.join("data")).unwrap();
        fs::write(dir.join("compose.yml"), compose).unwrap();
        fs::write(dir.join(".env"), env).unwrap();
        let config = format!("{}-{name}", self.id);
        self.inside_ok("snapper", &["-c", &config, "create-config", &inside]);
        dir
    }

    /// The `<registry>/<repo>` name of an image in the registry.
    pub fn image(&self, repo: &str) -> String {
        format!("{}/{repo}", self.registry.addr)
    }

    /// Runs cipug inside the root with the test's settings plus `env`.
    pub fn cipug(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut all = vec![
            ("CIPUG_SERVICES_ROOT", SERVICES),
            ("CIPUG_STATE_DIR", "/var/lib/cipug"),
            ("CIPUG_CACHE_LOCATION", "/var/cache/cipug/cache.json"),
            ("CIPUG_INSECURE_REGISTRIES", self.registry.addr.as_str()),
            ("CIPUG_COMPOSE_TOOL", "podman-compose"),
            ("CIPUG_CONTAINER_TOOL", "podman"),
            ("CIPUG_PRUNE_IMAGES", "false"),
            // Short, so the tests stay fast; the test images start at once.
            ("CIPUG_HEALTH_SETTLE", "1"),
        ];
        all.extend_from_slice(env);
        let out = self.inside(&all, "/usr/local/bin/cipug", args);
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The pin of `entry` (`SERVICE_<entry>_IMAGE_HASHED`) in the `.env` of service `name`.
    pub fn pin(&self, name: &str, entry: &str) -> Option<String> {
        let key = format!("SERVICE_{entry}_IMAGE_HASHED=");
        fs::read_to_string(self.service_dir(name).join(".env"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .map(str::to_owned)
    }

    /// The containers of compose project `service`: name -> (state, image as the compose
    /// file gave it), from podman 5.4's `ps`.
    pub fn containers(&self, service: &str) -> BTreeMap<String, (String, String)> {
        let filter = format!("label=com.docker.compose.project={service}");
        let out = self.inside_ok(
            "podman",
            &["ps", "-a", "--filter", &filter, "--format", "json"],
        );
        let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
        list.iter()
            .map(|c| {
                let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
                (text(&c["Names"][0]), (text(&c["State"]), text(&c["Image"])))
            })
            .collect()
    }
}

impl Drop for Debian13 {
    fn drop(&mut self) {
        // The containers and their networks (bridges and nftables rules live in the host's
        // network namespace); `mounts` then unmounts everything (fields drop in order),
        // before `work` goes. The snapper configs and the btrfs file system go with them.
        let _ = self.inside(&[], "podman", &["rm", "-af", "-t", "0"]);
        let _ = self.inside(&[], "podman", &["network", "prune", "-f"]);
    }
}
