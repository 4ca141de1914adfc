//! End to end: the rollout playbook (`examples/fleet/rollout.yml`), run by Debian's
//! `ansible-playbook` against three hosts on this machine. Each host is its own sshd on a
//! loopback port (its own host key, root login with a key the test makes), its own services
//! root on the stack's btrfs with a snapper config, its own state, cache, metrics file and
//! podman storage and networks, all named by a per-host settings file
//! (`CIPUG_SETTINGS_FILE`, set by the inventory). The canary updates; the others get the
//! canary's digests although the tag moved on; a broken image on the canary stops the
//! rollout before another host changes.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use support::{sh, sh_in, wait_for, Behaviour, Stack, COMPOSE};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fleet")
}

/// One host: an sshd, a services root with the service `app`, and the files cipug and
/// podman keep for it.
struct Host {
    name: String,
    /// The folder of its settings, state, cache, metrics and podman storage.
    dir: PathBuf,
    /// Its services root.
    root: PathBuf,
    port: u16,
    sshd: Child,
}

impl Host {
    /// The environment that points podman at this host's storage and networks.
    fn container_env(&self) -> Vec<(String, String)> {
        ["containers.conf", "registries.conf", "storage.conf"]
            .iter()
            .zip([
                "CONTAINERS_CONF",
                "CONTAINERS_REGISTRIES_CONF",
                "CONTAINERS_STORAGE_CONF",
            ])
            .map(|(file, var)| (var.to_owned(), self.dir.join(file).display().to_string()))
            .collect()
    }

    fn env_file(&self) -> String {
        fs::read_to_string(self.root.join("app/.env")).unwrap()
    }

    fn pin(&self) -> Option<String> {
        self.env_file()
            .lines()
            .find_map(|l| l.strip_prefix("SERVICE_APP_IMAGE_HASHED="))
            .map(str::to_owned)
    }

    /// The containers in this host's podman storage: (name, state, image).
    fn containers(&self) -> Vec<(String, String, String)> {
        let out = sh_in(
            &self.dir,
            &self.container_env(),
            "podman",
            &["ps", "-a", "--format", "json"],
        );
        assert!(out.status.success(), "{out:?}");
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        list.iter()
            .map(|c| {
                let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
                (s(&c["Names"][0]), s(&c["State"]), s(&c["Image"]))
            })
            .collect()
    }

    fn metrics(&self) -> String {
        fs::read_to_string(self.dir.join("cipug.prom")).unwrap_or_default()
    }
}

/// The three hosts (`h1` the canary) and the controller's files.
struct Fleet {
    hosts: Vec<Host>,
    dir: PathBuf,
}

impl Fleet {
    fn new(stack: &mut Stack) -> Fleet {
        let dir = stack.work.path().join("fleet");
        fs::create_dir_all(&dir).unwrap();
        let key = dir.join("id_ed25519");
        keygen(&key);
        // sshd refuses to start without its privilege separation folder.
        fs::create_dir_all("/run/sshd").unwrap();
        let stack_conf = fs::read_to_string(stack.work.path().join("containers.conf")).unwrap();
        let mut hosts = Vec::new();
        for n in 1..=3 {
            let name = format!("h{n}");
            let host_dir = dir.join(&name);
            let root = stack.root.join(&name);
            fs::create_dir_all(host_dir.join("netcfg")).unwrap();
            fs::create_dir_all(&root).unwrap();
            // Its own podman: storage, network folder, and a quarter of the stack's subnets.
            let conf = stack_conf
                .replace(
                    &stack.work.path().join("netcfg").display().to_string(),
                    &host_dir.join("netcfg").display().to_string(),
                )
                .replace(".0.0/16\"", &format!(".{}.0/18\"", 64 * n));
            assert!(conf.contains(&format!(".{}.0/18", 64 * n)), "{conf}");
            fs::write(host_dir.join("containers.conf"), conf).unwrap();
            fs::copy(
                stack.work.path().join("registries.conf"),
                host_dir.join("registries.conf"),
            )
            .unwrap();
            fs::write(
                host_dir.join("storage.conf"),
                format!(
                    "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                    host_dir.join("storage/graph").display(),
                    host_dir.join("storage/run").display()
                ),
            )
            .unwrap();
            let h = |p: &str| host_dir.join(p).display().to_string();
            let settings = [
                ("CIPUG_SERVICES_ROOT", root.display().to_string()),
                ("CIPUG_STATE_DIR", h("state")),
                ("CIPUG_CACHE_LOCATION", h("cache.json")),
                ("CIPUG_CACHE_DURATION", "0".into()),
                ("CIPUG_METRICS_FILE", h("cipug.prom")),
                ("CIPUG_INSECURE_REGISTRIES", stack.registry.addr.clone()),
                ("CIPUG_PRUNE_IMAGES", "false".into()),
                ("CIPUG_HEALTH_SETTLE", "1".into()),
                ("CIPUG_COMPOSE_TOOL", "podman-compose".into()),
                ("CIPUG_CONTAINER_TOOL", "podman".into()),
                ("CONTAINERS_CONF", h("containers.conf")),
                ("CONTAINERS_REGISTRIES_CONF", h("registries.conf")),
                ("CONTAINERS_STORAGE_CONF", h("storage.conf")),
            ];
            let text: String = settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            fs::write(host_dir.join("cipug.env"), text).unwrap();
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let sshd = start_sshd(&host_dir, port, &key);
            hosts.push(Host {
                name,
                dir: host_dir,
                root,
                port,
                sshd,
            });
        }
        let known: String = hosts
            .iter()
            .map(|h| {
                let public = fs::read_to_string(h.dir.join("host_key.pub")).unwrap();
                format!("[127.0.0.1]:{} {}", h.port, public.trim())
            })
            .map(|l| l + "\n")
            .collect();
        fs::write(dir.join("known_hosts"), known).unwrap();
        let fleet = Fleet { hosts, dir };
        fleet.write_inventory(&key);
        fleet
    }

    fn write_inventory(&self, key: &Path) {
        let host = |h: &Host| {
            (
                h.name.clone(),
                serde_json::json!({
                    "ansible_host": "127.0.0.1",
                    "ansible_port": h.port,
                    "cipug_environment": {
                        "CIPUG_SETTINGS_FILE": h.dir.join("cipug.env"),
                    },
                }),
            )
        };
        let group = |hosts: &[Host]| serde_json::json!({ "hosts": hosts.iter().map(host).collect::<serde_json::Map<_, _>>() });
        let inventory = serde_json::json!({
            "all": {
                "vars": {
                    "ansible_user": "root",
                    "ansible_python_interpreter": "/usr/bin/python3",
                    "ansible_ssh_private_key_file": key,
                    "ansible_ssh_common_args": format!(
                        "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
                        self.dir.join("known_hosts").display()
                    ),
                    "cipug_bin": env!("CARGO_BIN_EXE_cipug"),
                    "cipug_results": self.results(),
                },
                "children": {
                    "canary": group(&self.hosts[..1]),
                    "rest": group(&self.hosts[1..]),
                },
            },
        });
        fs::write(self.dir.join("inventory.json"), inventory.to_string()).unwrap();
    }

    fn results(&self) -> PathBuf {
        self.dir.join("results")
    }

    fn result(&self, file: &str) -> serde_json::Value {
        let path = self.results().join(file);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
    }

    /// Runs the playbook with `args`; returns its exit code and output.
    fn playbook(&self, args: &[&str]) -> (i32, String) {
        let inventory = self.dir.join("inventory.json");
        let out = ansible_playbook(&self.dir)
            .arg("-i")
            .arg(&inventory)
            .args(args)
            .arg("rollout.yml")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // ansible-playbook leaves its ssh connections open (ControlPersist) for a minute:
        // close them, and with them the sessions they hold on the sshds.
        for socket in fs::read_dir(self.dir.join("cp"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = Command::new("ssh")
                .arg("-o")
                .arg(format!("ControlPath={}", socket.path().display()))
                .args(["-O", "exit", "fleet"])
                .output();
        }
        for host in &mut self.hosts {
            let _ = host.sshd.kill();
            let _ = host.sshd.wait();
            let env = host.container_env();
            let _ = sh_in(&host.dir, &env, "podman", &["rm", "-af", "-t", "0"]);
            let _ = sh_in(&host.dir, &env, "podman", &["rmi", "-af"]);
        }
    }
}

/// `ansible-playbook` in `examples/fleet` (its ansible.cfg), with its own home, temporary
/// and connection folders under `dir`.
fn ansible_playbook(dir: &Path) -> Command {
    let mut cmd = Command::new("ansible-playbook");
    cmd.current_dir(examples())
        .env("ANSIBLE_CONFIG", examples().join("ansible.cfg"))
        .env("HOME", dir)
        .env("ANSIBLE_LOCAL_TEMP", dir.join("ansible-local"))
        .env("ANSIBLE_REMOTE_TEMP", dir.join("ansible-remote"))
        .env("ANSIBLE_SSH_CONTROL_PATH_DIR", dir.join("cp"))
        .env("ANSIBLE_NOCOLOR", "1");
    cmd
}

fn keygen(path: &Path) {
    sh(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            path.to_str().unwrap(),
        ],
    );
}

/// `sshd -D` on 127.0.0.1:`port` with its own host key, letting root in with `key`.
fn start_sshd(dir: &Path, port: u16, key: &Path) -> Child {
    keygen(&dir.join("host_key"));
    fs::copy(key.with_extension("pub"), dir.join("authorized_keys")).unwrap();
    let config = dir.join("sshd_config");
    fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
             UsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             # The test's folders are under /tmp, which everyone can write.\nStrictModes no\n\
             Subsystem sftp /usr/lib/openssh/sftp-server\n",
            dir.join("host_key").display(),
            dir.join("sshd.pid").display(),
            dir.join("authorized_keys").display(),
        ),
    )
    .unwrap();
    let mut child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("sshd.log")).unwrap())
        .spawn()
        .expect("openssh-server is not installed (run scripts/install-deps)");
    wait_for("sshd", 10, || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "sshd exited: {}",
            fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    child
}

/// The service `app` on every host, pinned to `pin` and not running yet.
fn add_services(stack: &mut Stack, fleet: &Fleet, img: &str, pin: &str) {
    for host in &fleet.hosts {
        let path = host.root.join("app");
        sh("btrfs", &["subvolume", "create", path.to_str().unwrap()]);
        fs::create_dir_all(path.join("data")).unwrap();
        fs::write(path.join("compose.yml"), COMPOSE).unwrap();
        fs::write(
            path.join(".env"),
            format!("SERVICE_APP_IMAGE_TAGGED={img}\nSERVICE_APP_IMAGE_HASHED={pin}\n"),
        )
        .unwrap();
        let config = format!("{}-{}", stack.id, host.name);
        sh(
            "snapper",
            &["-c", &config, "create-config", path.to_str().unwrap()],
        );
        stack.track(&path, &config);
    }
}

#[test]
fn the_playbook_passes_the_syntax_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = ansible_playbook(dir.path())
        .args(["--syntax-check", "-i", "inventory.yml", "rollout.yml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_fleet_runs_the_canarys_digests_and_a_broken_canary_stops_the_rollout() {
    let mut stack = Stack::new();
    let fleet = Fleet::new(&mut stack);
    let img = stack.image("demo/app");
    let tag = "demo/app:latest";
    let d1 = stack
        .images
        .push(&stack.registry, tag, "1", Behaviour::Serve);
    add_services(&mut stack, &fleet, &img, &format!("{img}@{d1}"));
    let [canary, h2, h3] = &fleet.hosts[..] else {
        unreachable!()
    };

    // The canary alone updates to d2 and leaves its digests on the controller.
    let d2 = stack
        .images
        .push(&stack.registry, tag, "2", Behaviour::Serve);
    let (code, out) = fleet.playbook(&["--limit", "canary"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(canary.pin(), Some(format!("{img}@{d2}")));
    for host in [h2, h3] {
        assert_eq!(host.pin(), Some(format!("{img}@{d1}")), "{}", host.name);
    }
    let pins = fleet.result("pins.json");
    assert!(pins.to_string().contains(&d2), "{pins}");

    // The tag moves on; the others get the canary's d2, one batch after the other.
    let d3 = stack
        .images
        .push(&stack.registry, tag, "3", Behaviour::Serve);
    let (code, out) = fleet.playbook(&["--limit", "!canary"]);
    assert_eq!(code, 0, "{out}");
    let batches = out.matches("PLAY [Roll the canary's digests out, a batch at a time]");
    assert_eq!(batches.count(), 2, "one host per batch: {out}");
    for host in [h2, h3] {
        assert_eq!(
            host.pin(),
            Some(format!("{img}@{d2}")),
            "{}: not {d3}",
            host.name
        );
        // Each host sees its own container only.
        let containers = host.containers();
        assert_eq!(containers.len(), 1, "{}: {containers:?}", host.name);
        assert_eq!(containers[0].1, "running");
        assert_eq!(containers[0].2, format!("{img}@{d2}"));
        let summary = fleet.result(&format!("{}-update.json", host.name));
        assert!(summary.to_string().contains("\"updated\""), "{summary}");
        let history = fleet.result(&format!("{}-history.json", host.name));
        assert!(history.to_string().contains(&d2), "{history}");
    }
    // Every host's metrics carry the same digest.
    let series = format!("cipug_entry_pin{{digest=\"{d2}\",entry=\"APP\",service=\"app\"}} 1");
    for host in &fleet.hosts {
        assert!(host.metrics().contains(&series), "{}", host.metrics());
    }

    // A canary whose new image crashes: rolled back, and no other host changes.
    stack
        .images
        .push(&stack.registry, tag, "4", Behaviour::Crash);
    fs::remove_dir_all(fleet.results()).unwrap();
    let before: Vec<String> = [h2, h3].iter().map(|h| h.env_file()).collect();
    let (code, out) = fleet.playbook(&[]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("exited 34 on the canary"), "{out}");
    assert_eq!(canary.pin(), Some(format!("{img}@{d2}")), "rolled back");
    let after: Vec<String> = [h2, h3].iter().map(|h| h.env_file()).collect();
    assert_eq!(after, before, "byte-identical");
    let summary = fleet.result("h1-update.json");
    assert!(summary.to_string().contains("rolled back"), "{summary}");
    assert!(fleet.results().join("h1-history.json").exists());
    for host in [h2, h3] {
        let summary = fleet.results().join(format!("{}-update.json", host.name));
        assert!(!summary.exists(), "{} was not run", host.name);
    }
}
