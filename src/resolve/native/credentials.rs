//! Registry credentials from the files podman and skopeo read, in their order:
//! `REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json` (or
//! `/run/containers/<uid>/auth.json`), `$XDG_CONFIG_HOME/containers/auth.json`
//! (`~/.config/...`), `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. In each file:
//! `credHelpers` for the registry, then `auths` from the most specific key (`quay.io/org/app`,
//! `quay.io/org`, `quay.io`; Docker Hub also as `https://index.docker.io/v1/`), then
//! `credsStore`. Credentials never appear in logs, errors or the cache.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use crate::adapters::runner::{Cmd, Runner, ToolKind};
use crate::formats::image::reference::DOCKER_HUB;

/// A user name and password (or token). `Debug` does not show them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

#[derive(Debug, Default, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Normalises an `auths` key: drops a scheme and a trailing path on host-only keys, and maps
/// Docker Hub's spellings to `docker.io`.
fn normalise_key(key: &str) -> String {
    let had_scheme = key.starts_with("http://") || key.starts_with("https://");
    let key = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let key = if had_scheme {
        key.split('/').next().unwrap_or(key)
    } else {
        key.trim_end_matches('/')
    };
    match key.split_once('/') {
        Some((host, rest)) if is_hub(host) => format!("{DOCKER_HUB}/{rest}"),
        None if is_hub(key) => DOCKER_HUB.to_owned(),
        _ => key.to_owned(),
    }
}

fn is_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// Looks up credentials for `registry` (as in references: `docker.io`, `host:port`) and
/// `repository`, from `files`, running credential helpers through `runner`.
pub fn lookup(
    files: &[PathBuf],
    registry: &str,
    repository: &str,
    runner: &dyn Runner,
) -> Result<Option<Credentials>, String> {
    for path in files {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let file: AuthFile = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a valid auth file: {e}", path.display()))?;
        if let Some(found) = from_file(&file, path, registry, repository, runner)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn from_file(
    file: &AuthFile,
    path: &Path,
    registry: &str,
    repository: &str,
    runner: &dyn Runner,
) -> Result<Option<Credentials>, String> {
    if let Some(helper) = file
        .cred_helpers
        .iter()
        .find(|(k, _)| normalise_key(k) == registry)
        .map(|(_, h)| h)
    {
        return helper_get(helper, registry, runner);
    }
    // The most specific key first: registry/a/b/c, registry/a/b, registry/a, registry.
    let full = format!("{registry}/{repository}");
    let mut candidates: Vec<&str> = vec![&full];
    let mut rest = full.as_str();
    while let Some((parent, _)) = rest.rsplit_once('/') {
        candidates.push(parent);
        rest = parent;
    }
    for candidate in candidates {
        if let Some((_, entry)) = file
            .auths
            .iter()
            .find(|(k, _)| normalise_key(k) == candidate)
        {
            return decode(entry)
                .map(Some)
                .map_err(|e| format!("{}: auths[{candidate}]: {e}", path.display()));
        }
    }
    match &file.creds_store {
        Some(store) if !store.is_empty() => helper_get(store, registry, runner),
        _ => Ok(None),
    }
}

fn decode(entry: &AuthEntry) -> Result<Credentials, String> {
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Credentials {
            username: username.clone(),
            password: password.clone(),
        });
    }
    let auth = entry.auth.as_deref().ok_or("no `auth` value")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| "`auth` is not base64")?;
    let raw = String::from_utf8(raw).map_err(|_| "`auth` is not UTF-8")?;
    let (username, password) = raw.split_once(':').ok_or("`auth` is not user:password")?;
    Ok(Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Asks `docker-credential-<helper> get` for the registry's credentials.
fn helper_get(
    helper: &str,
    registry: &str,
    runner: &dyn Runner,
) -> Result<Option<Credentials>, String> {
    let server = if registry == DOCKER_HUB {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    let cmd = Cmd::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(server)
        .kind(ToolKind::Registry)
        .secret_output();
    match runner.run(&cmd) {
        Ok(out) => {
            let answer: HelperAnswer = serde_json::from_str(&out.stdout).map_err(|_| {
                format!("docker-credential-{helper} gave an answer that is not credentials")
            })?;
            if answer.username == "<token>" {
                log::warn!(
                    "{registry}: identity tokens from docker-credential-{helper} are not supported"
                );
                return Ok(None);
            }
            Ok(Some(Credentials {
                username: answer.username,
                password: answer.secret,
            }))
        }
        // Helpers say "credentials not found" with a non-zero exit: that is no credentials.
        Err(crate::adapters::runner::RunError::Failed { stderr, .. })
            if stderr.to_lowercase().contains("not found") =>
        {
            Ok(None)
        }
        Err(_) => Err(format!(
            "docker-credential-{helper} get failed for {registry}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::runner::SystemRunner;

    fn file(json: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        std::fs::write(&path, json).unwrap();
        (dir, path)
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn most_specific_key_wins_and_hub_spellings_match() {
        let json = format!(
            r#"{{"auths": {{"quay.io": {{"auth": "{}"}}, "quay.io/org": {{"auth": "{}"}}, "https://index.docker.io/v1/": {{"auth": "{}"}}, "http://reg:5000/": {{"auth": "{}"}}}}}}"#,
            b64("all:1"),
            b64("org:2"),
            b64("hub:3"),
            b64("reg:4")
        );
        let (_d, path) = file(&json);
        let files = vec![PathBuf::from("/nonexistent/auth.json"), path];
        let user = |registry: &str, repo: &str| {
            lookup(&files, registry, repo, &SystemRunner::default())
                .unwrap()
                .map(|c| c.username)
        };
        assert_eq!(user("quay.io", "org/app").as_deref(), Some("org"));
        assert_eq!(user("quay.io", "other/app").as_deref(), Some("all"));
        assert_eq!(user("docker.io", "library/nginx").as_deref(), Some("hub"));
        assert_eq!(user("reg:5000", "a").as_deref(), Some("reg"));
        assert_eq!(user("ghcr.io", "a"), None);
    }

    #[test]
    fn earlier_files_win_and_helpers_run() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-test");
        std::fs::write(&helper, "#!/bin/sh\nread server\necho \"{\\\"Username\\\": \\\"from-helper\\\", \\\"Secret\\\": \\\"$server\\\"}\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (_a, first) = file(r#"{"credHelpers": {"helped.io": "test"}, "auths": {}}"#);
        let (_b, second) = file(&format!(
            r#"{{"auths": {{"helped.io": {{"auth": "{}"}}, "x.io": {{"username": "u", "password": "p"}}}}}}"#,
            b64("late:0")
        ));
        let files = vec![first, second];
        let runner = PathRunner(dir.path().to_path_buf());
        let found = lookup(&files, "helped.io", "a", &runner).unwrap().unwrap();
        assert_eq!(
            (found.username.as_str(), found.password.as_str()),
            ("from-helper", "helped.io")
        );
        let found = lookup(&files, "x.io", "a", &runner).unwrap().unwrap();
        assert_eq!(found.basic_header(), format!("Basic {}", b64("u:p")));
        assert_eq!(format!("{found:?}"), "Credentials(<redacted>)");
    }

    #[test]
    fn broken_files_are_errors_naming_the_file() {
        let (_d, path) = file(r#"{"auths": {"a.io": {"auth": "!!"}}}"#);
        let err = lookup(
            std::slice::from_ref(&path),
            "a.io",
            "x",
            &SystemRunner::default(),
        )
        .unwrap_err();
        assert!(err.contains("auth.json") && err.contains("base64"), "{err}");
        assert!(!err.contains("!!"));
    }

    #[test]
    fn file_order() {
        let env = |name: &str| match name {
            "REGISTRY_AUTH_FILE" => Some("/a.json".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        assert_eq!(
            crate::config::auth_file_paths(&env, 0),
            vec![
                PathBuf::from("/a.json"),
                PathBuf::from("/run/containers/0/auth.json"),
                PathBuf::from("/home/u/.config/containers/auth.json"),
                PathBuf::from("/home/u/.docker/config.json")
            ]
        );
    }

    /// Runs helpers from one folder, as if it were first on PATH.
    struct PathRunner(PathBuf);

    impl Runner for PathRunner {
        fn run(
            &self,
            cmd: &Cmd,
        ) -> Result<crate::adapters::runner::Output, crate::adapters::runner::RunError> {
            let mut cmd = cmd.clone();
            cmd.program = self.0.join(&cmd.program).display().to_string();
            SystemRunner::default().run(&cmd)
        }
    }
}
