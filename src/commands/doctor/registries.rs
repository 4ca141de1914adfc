//! `cipug doctor`'s registry checks: every tag of the services resolves (a failure names
//! what to do about what the registry said), and the credentials cipug reads last across a
//! reboot.

use std::path::{Path, PathBuf};

use crate::adapters::runner::Runner;
use crate::commands::doctor::finding::{fail, note, ok, Finding};
use crate::config::Config;
use crate::formats::image::reference::ImageRef;
use crate::pipeline::prepare::Registries;
use crate::pipeline::service::Service;
use crate::resolve::{self, Cache};

/// Whether the registries answer for every tag of the services that loaded, and whether
/// the credentials last.
pub fn findings(config: &Config, runner: &dyn Runner, loaded: &[Service]) -> Vec<Finding> {
    let registries = Registries::new(config, runner);
    let resolver = registries.resolver(config);
    let mut cache = Cache::disabled();
    let images = loaded
        .iter()
        .flat_map(|s| s.images.iter().map(|i| (i.tagged.as_str(), None)));
    let mut found: Vec<Finding> = resolve::resolve_all(
        resolver.as_ref(),
        images,
        &mut cache,
        crate::pipeline::prepare::now(),
        false,
    )
    .into_iter()
    .map(|(image, result)| match result {
        Ok(pin) => ok(format!("registry answers for {image}: {pin}")),
        Err(e) => fail(format!(
            "{image}: {e}{}",
            registry_fix(&image, &e.to_string())
        )),
    })
    .collect();
    let env = &config.registry_env;
    found.extend(auth_files(&env.auth_files, env.runtime_dir.as_deref()));
    found
}

/// What to do about a registry's failure `error` for `image`, from what it said; empty
/// when the error names its fix already (TLS, see the native client's transport errors).
pub fn registry_fix(image: &str, error: &str) -> String {
    if error.contains("INSECURE_REGISTRIES") {
        return String::new();
    }
    let host = ImageRef::parse(image)
        .map(|i| i.registry)
        .unwrap_or_else(|_| "<registry>".into());
    // A status code counts as a number of its own: a port such as 34011 is no 401.
    let numbers: Vec<&str> = error
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .collect();
    let has = |words: &[&str]| {
        words.iter().any(|w| {
            if w.bytes().all(|b| b.is_ascii_digit()) {
                numbers.contains(w)
            } else {
                error.contains(w)
            }
        })
    };
    let fix = if has(&["blocked by registries.conf"]) {
        "remove `blocked = true` for it from registries.conf, or use another image".to_owned()
    } else if has(&["401", "403", "Unauthorized", "Forbidden", "credentials"]) {
        format!(
            "log in as the user cipug runs as (`podman login {host}`, or an auth file named by \
             REGISTRY_AUTH_FILE), or check the repository name in the TAGGED entry"
        )
    } else if has(&["404", "Not Found", "MANIFEST_UNKNOWN", "NAME_UNKNOWN"]) {
        "check the repository and tag in the TAGGED entry (`skopeo list-tags docker://<repository>` lists the tags)".to_owned()
    } else if has(&["429", "Too Many Requests"]) {
        format!(
            "wait for the rate limit to pass, or log in for a higher one (`podman login {host}`)"
        )
    } else if has(&["host not found"]) {
        format!("check the registry name {host} in the TAGGED entry, and the DNS of this host")
    } else if has(&["REGISTRY_TIMEOUT", "did not answer in time"]) {
        "check the network and proxy (HTTPS_PROXY, NO_PROXY), or raise REGISTRY_TIMEOUT".to_owned()
    } else if has(&["could not be reached"]) {
        format!("check that {host} runs and is reachable from here (HTTPS_PROXY, NO_PROXY)")
    } else {
        format!("check the TAGGED reference (`skopeo inspect docker://{image}` shows what the registry says)")
    };
    format!("; {fix}")
}

/// Whether `path` is emptied at a reboot: under `/run`, under `$XDG_RUNTIME_DIR`
/// (`runtime_dir`), or on a tmpfs.
fn volatile(path: &Path, runtime_dir: Option<&Path>) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    path.starts_with("/run")
        || runtime_dir.is_some_and(|dir| path.starts_with(dir))
        || rustix::fs::statfs(path).is_ok_and(|s| s.f_type == TMPFS_MAGIC)
}

/// A note when every auth file cipug would read (`files`, in its order) that exists is gone
/// after a reboot: root's `podman login` writes `/run/containers/0/auth.json`, so the
/// timer's first run after a reboot goes without credentials.
pub fn auth_files(files: &[PathBuf], runtime_dir: Option<&Path>) -> Option<Finding> {
    let existing: Vec<&PathBuf> = files.iter().filter(|f| f.is_file()).collect();
    let (first, rest) = existing.split_first()?;
    if !existing.iter().all(|f| volatile(f, runtime_dir)) {
        let shown: Vec<String> = existing.iter().map(|f| f.display().to_string()).collect();
        return Some(ok(format!("credentials from {}", shown.join(", "))));
    }
    let more = if rest.is_empty() {
        String::new()
    } else {
        format!(" (and {} more there)", rest.len())
    };
    Some(note(format!(
        "credentials: {}{more} is the only auth file cipug reads, and it is gone after a reboot \
         (`podman login` as root writes it there): copy it to a file that lasts \
         (`install -m 600 {} /etc/cipug/auth.json`) and set REGISTRY_AUTH_FILE=/etc/cipug/auth.json \
         in /etc/cipug/cipug.env (`podman login --authfile /etc/cipug/auth.json` then writes there)",
        first.display(),
        first.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_auth_file_only_under_the_runtime_folder_is_warned_about() {
        let home = tempfile::tempdir().unwrap();
        let runtime = tempfile::tempdir().unwrap();
        let (h, r) = (
            home.path().to_str().unwrap(),
            runtime.path().to_str().unwrap(),
        );
        let config = |extra: &[(&str, &str)]| {
            let mut env = vec![
                ("CIPUG_SERVICES_ROOT", "/srv"),
                ("HOME", h),
                ("XDG_RUNTIME_DIR", r),
            ];
            env.extend_from_slice(extra);
            let config = Config::for_tests(&env, Path::new("/"));
            let env = config.registry_env;
            auth_files(&env.auth_files, env.runtime_dir.as_deref())
        };
        // No auth file at all: anonymous, nothing to say.
        assert_eq!(config(&[]), None);
        // `podman login` wrote the runtime folder's file only.
        let login = runtime.path().join("containers/auth.json");
        std::fs::create_dir_all(login.parent().unwrap()).unwrap();
        std::fs::write(&login, "{}").unwrap();
        let found = config(&[]).unwrap();
        assert!(found.ok && found.note, "{found:?}");
        assert!(
            found.text.contains(&login.display().to_string())
                && found.text.contains("REGISTRY_AUTH_FILE")
                && found.text.contains("/etc/cipug/cipug.env"),
            "{}",
            found.text
        );
        // A file that lasts beside it: fine.
        let lasting = home.path().join("auth.json");
        std::fs::write(&lasting, "{}").unwrap();
        let found = config(&[("REGISTRY_AUTH_FILE", lasting.to_str().unwrap())]).unwrap();
        assert!(found.ok && !found.note, "{found:?}");
        std::fs::remove_file(&lasting).unwrap();
        let docker = home.path().join(".docker/config.json");
        std::fs::create_dir_all(docker.parent().unwrap()).unwrap();
        std::fs::write(&docker, "{}").unwrap();
        assert!(!config(&[]).unwrap().note);
        // Root's default runtime file is under /run.
        assert!(volatile(Path::new("/run/containers/0/auth.json"), None));
        assert!(!volatile(&docker, None));
    }

    #[test]
    fn every_registry_failure_names_a_fix() {
        let image = "registry.example/team/app:1";
        let cases = [
            ("registry registry.example answered 401 Unauthorized", "podman login registry.example"),
            ("registry registry.example answered 404 Not Found", "TAGGED entry"),
            (
                "registry 127.0.0.1:34011 answered 404 Not Found (MANIFEST_UNKNOWN: manifest unknown)",
                "check the repository and tag",
            ),
            ("registry registry.example: host not found", "DNS"),
            ("registry registry.example did not answer in time (REGISTRY_TIMEOUT 10 s for this registry)", "REGISTRY_TIMEOUT"),
            ("registry registry.example could not be reached: connection refused", "reachable"),
            ("registry.example/team/app: blocked by registries.conf (prefix `registry.example`)", "blocked = true"),
            ("something else", "skopeo inspect docker://registry.example/team/app:1"),
        ];
        for (error, want) in cases {
            let fix = registry_fix(image, error);
            assert!(fix.contains(want), "{error}: {fix}");
        }
        assert_eq!(
            registry_fix(
                image,
                "...; add it to INSECURE_REGISTRIES (cipug's setting)"
            ),
            ""
        );
    }
}
