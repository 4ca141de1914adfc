//! Where the settings come from: [`Sources`] (flags, the process environment, the current
//! folder and user) and what the environment says about reaching registries.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What the process environment says about reaching registries, read here so that the
/// rest of cipug reads no environment variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryEnv {
    /// Credential files, in the order podman and skopeo read them.
    pub auth_files: Vec<PathBuf>,
    /// `$XDG_RUNTIME_DIR`, if set: its auth file is gone after a reboot.
    pub runtime_dir: Option<PathBuf>,
    /// `$CONTAINERS_REGISTRIES_CONF`, if set.
    pub registries_conf: Option<String>,
    /// The signature policy files podman looks at, in order; the first that exists is in
    /// force: `$HOME/.config/containers/policy.json`, then `/etc/containers/policy.json`.
    pub policy_files: Vec<PathBuf>,
    /// `HTTPS_PROXY` (or `https_proxy`, `ALL_PROXY`).
    pub https_proxy: Option<String>,
    /// `NO_PROXY` (or `no_proxy`) entries.
    pub no_proxy: Vec<String>,
}

impl RegistryEnv {
    /// What `env`, the environment of a process run by user `uid`, says about registries.
    pub(super) fn from_env(env: &HashMap<String, String>, uid: u32) -> RegistryEnv {
        let get = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
        let first = |names: &[&str]| names.iter().find_map(|n| get(n));
        RegistryEnv {
            auth_files: auth_file_paths(&get, uid),
            runtime_dir: get("XDG_RUNTIME_DIR").map(PathBuf::from),
            registries_conf: get("CONTAINERS_REGISTRIES_CONF"),
            policy_files: get("HOME")
                .map(|home| Path::new(&home).join(".config/containers/policy.json"))
                .into_iter()
                .chain([PathBuf::from("/etc/containers/policy.json")])
                .collect(),
            https_proxy: first(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            no_proxy: first(&["NO_PROXY", "no_proxy"])
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Where the settings come from; everything `Config::load` needs, so tests pass it in.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Command-line flags by setting name.
    pub flags: BTreeMap<&'static str, String>,
    /// The process environment.
    pub env: HashMap<String, String>,
    /// The current folder, for relative paths.
    pub cwd: PathBuf,
    /// Whether the effective user is root (for the default cache location).
    pub is_root: bool,
    /// The effective user id.
    pub uid: u32,
    /// The settings file the environment was completed from (see
    /// [`crate::config::settings_file`]), if one was looked at.
    pub settings_file: Option<crate::config::settings_file::Looked>,
}

impl Sources {
    /// The sources of this process: its environment, current folder and user, and `flags`.
    pub fn from_process(flags: BTreeMap<&'static str, String>) -> Result<Sources> {
        let mut env: HashMap<String, String> = std::env::vars().collect();
        let settings_file = crate::config::settings_file::merge_into(&mut env)?;
        // What the file adds reaches the tools cipug runs too, as under the unit (an auth
        // file, registries.conf); the program is still single-threaded here.
        for (key, value) in &env {
            if std::env::var_os(key).is_none() {
                std::env::set_var(key, value);
            }
        }
        Ok(Sources {
            flags,
            env,
            settings_file,
            cwd: std::env::current_dir().map_err(|e| Error::io(".", e))?,
            is_root: rustix::process::geteuid().is_root(),
            uid: rustix::process::geteuid().as_raw(),
        })
    }
}

/// The auth files to read, in order, from the environment values that name them.
pub fn auth_file_paths(env: &dyn Fn(&str) -> Option<String>, uid: u32) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(file) = env("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        files.push(PathBuf::from(file));
    }
    match env("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => files.push(Path::new(&dir).join("containers/auth.json")),
        None => files.push(PathBuf::from(format!("/run/containers/{uid}/auth.json"))),
    }
    let home = env("HOME").filter(|h| !h.is_empty());
    match (env("XDG_CONFIG_HOME").filter(|d| !d.is_empty()), &home) {
        (Some(dir), _) => files.push(Path::new(&dir).join("containers/auth.json")),
        (None, Some(home)) => files.push(Path::new(home).join(".config/containers/auth.json")),
        (None, None) => {}
    }
    match (env("DOCKER_CONFIG").filter(|d| !d.is_empty()), &home) {
        (Some(dir), _) => files.push(Path::new(&dir).join("config.json")),
        (None, Some(home)) => files.push(Path::new(home).join(".docker/config.json")),
        (None, None) => {}
    }
    files
}
