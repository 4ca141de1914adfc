//! The container tool's signature policy, containers-policy.json(5): which requirements a
//! pull from a docker registry must meet (`insecureAcceptAnything`, `reject`, `signedBy`,
//! `sigstoreSigned`, `signedBaseLayer`), by the most specific scope under
//! `transports.docker` that matches the repository, else the docker transport's `""`
//! entry, else `default`. Pure: parsing text and matching names, no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A parsed policy.json.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    default: Vec<Requirement>,
    docker: BTreeMap<String, Vec<Requirement>>,
}

/// One requirement; every requirement of a list must be met.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type")]
pub enum Requirement {
    /// Any image, signed or not.
    #[serde(rename = "insecureAcceptAnything")]
    AcceptAnything,
    /// No image.
    #[serde(rename = "reject")]
    Reject,
    /// A GPG ("simple signing") signature by one of the keys.
    #[serde(rename = "signedBy")]
    SignedBy {
        /// The key file, if one.
        #[serde(default, rename = "keyPath")]
        key_path: Option<String>,
        /// The key files, if several.
        #[serde(default, rename = "keyPaths")]
        key_paths: Vec<String>,
        /// The keys inline (base64), if given so.
        #[serde(default, rename = "keyData")]
        key_data: Option<String>,
    },
    /// A sigstore (cosign) signature by the key, or by a Fulcio-issued certificate.
    #[serde(rename = "sigstoreSigned")]
    SigstoreSigned {
        /// The public key file, if one.
        #[serde(default, rename = "keyPath")]
        key_path: Option<String>,
        /// The public key inline (base64), if given so.
        #[serde(default, rename = "keyData")]
        key_data: Option<String>,
        /// The Fulcio settings, when certificates are checked instead of a key.
        #[serde(default)]
        fulcio: Option<serde_json::Value>,
    },
    /// The base layer signed (not implemented by containers/image: refuses).
    #[serde(rename = "signedBaseLayer")]
    SignedBaseLayer,
}

/// Where the requirements for a repository came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A `transports.docker` entry: a repository, a namespace, a host or a `*.domain`.
    Docker(String),
    /// The docker transport's `""` entry.
    TransportDefault,
    /// The top-level `default`.
    Default,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default: Option<Vec<Requirement>>,
    #[serde(default)]
    transports: BTreeMap<String, BTreeMap<String, Vec<Requirement>>>,
}

/// Why a policy.json is refused, as podman would refuse it.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not JSON, or not the shape of a policy.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// No `default` at all.
    #[error("no \"default\" requirements (podman refuses such a policy)")]
    NoDefault,
    /// A repository's scope with an empty list.
    #[error("transports.docker \"{0}\" has no requirements")]
    EmptyScope(String),
    /// `default` with an empty list.
    #[error("\"default\" has no requirements")]
    EmptyDefault,
}

impl Policy {
    /// Parses the text of a policy.json; the error says what is wrong, as podman would refuse
    /// every pull with it.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let file: File = serde_json::from_str(text)?;
        let default = file.default.ok_or(PolicyError::NoDefault)?;
        let docker = file.transports.get("docker").cloned().unwrap_or_default();
        if let Some((scope, _)) = docker.iter().find(|(_, list)| list.is_empty()) {
            return Err(PolicyError::EmptyScope(scope.clone()));
        }
        if default.is_empty() {
            return Err(PolicyError::EmptyDefault);
        }
        Ok(Policy { default, docker })
    }

    /// The requirements a pull of `registry/repository` (any tag or digest) must meet, and
    /// where they came from.
    pub fn for_repository(&self, registry: &str, repository: &str) -> (Scope, &[Requirement]) {
        scopes(registry, repository)
            .into_iter()
            .find_map(|scope| {
                self.docker
                    .get(&scope)
                    .map(|list| (Scope::Docker(scope), list.as_slice()))
            })
            .or_else(|| {
                self.docker
                    .get("")
                    .map(|list| (Scope::TransportDefault, list.as_slice()))
            })
            .unwrap_or((Scope::Default, self.default.as_slice()))
    }

    /// Whether any requirement anywhere asks for more than `insecureAcceptAnything`.
    pub fn checks_anything(&self) -> bool {
        self.default
            .iter()
            .chain(self.docker.values().flatten())
            .any(|r| *r != Requirement::AcceptAnything)
    }
}

/// The `transports.docker` scopes that match `registry/repository`, most specific first:
/// the repository, each enclosing namespace, the host, then `*.domain` for each parent
/// domain of the host (containers/image's order).
fn scopes(registry: &str, repository: &str) -> Vec<String> {
    let mut found = vec![format!("{registry}/{repository}")];
    let mut path = repository;
    while let Some((parent, _)) = path.rsplit_once('/') {
        found.push(format!("{registry}/{parent}"));
        path = parent;
    }
    found.push(registry.to_owned());
    // containers/image splits the host with its port, if any (`*.example:5000`).
    let mut rest = registry;
    while let Some((_, parent)) = rest.split_once('.') {
        found.push(format!("*.{parent}"));
        rest = parent;
    }
    found
}

impl Requirement {
    /// The requirement in a few words: its type, then what it checks with.
    pub fn describe(&self) -> String {
        match self {
            Requirement::AcceptAnything => {
                "insecureAcceptAnything (any image, signed or not)".into()
            }
            Requirement::Reject => "reject (every pull is refused)".into(),
            Requirement::SignedBy {
                key_path,
                key_paths,
                key_data,
            } => {
                let keys: Vec<&str> = key_path
                    .iter()
                    .chain(key_paths)
                    .map(String::as_str)
                    .collect();
                match (keys.as_slice(), key_data) {
                    ([one], _) => format!("signedBy (GPG key {one})"),
                    ([], Some(_)) => "signedBy (GPG key inline, keyData)".into(),
                    ([], None) => "signedBy (no key: podman refuses the policy)".into(),
                    (many, _) => format!("signedBy (GPG keys {})", many.join(", ")),
                }
            }
            Requirement::SigstoreSigned {
                key_path,
                key_data,
                fulcio,
            } => match (key_path, key_data, fulcio) {
                (Some(path), ..) => format!("sigstoreSigned (key {path})"),
                (None, Some(_), _) => "sigstoreSigned (key inline, keyData)".into(),
                (None, None, Some(_)) => "sigstoreSigned (Fulcio certificate)".into(),
                (None, None, None) => "sigstoreSigned (no key: podman refuses the policy)".into(),
            },
            Requirement::SignedBaseLayer => "signedBaseLayer".into(),
        }
    }

    /// The key files the requirement reads.
    pub fn key_files(&self) -> Vec<&str> {
        match self {
            Requirement::SignedBy {
                key_path,
                key_paths,
                ..
            } => key_path
                .iter()
                .chain(key_paths)
                .map(String::as_str)
                .collect(),
            Requirement::SigstoreSigned { key_path, .. } => {
                key_path.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Docker(scope) => write!(f, "transports.docker \"{scope}\""),
            Scope::TransportDefault => write!(f, "transports.docker \"\""),
            Scope::Default => write!(f, "default"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {
            "docker": {
                "registry.example/team": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/etc/pki/team.gpg"}],
                "registry.example/team/legacy": [{"type": "insecureAcceptAnything"}],
                "quay.io/org/app:1": [{"type": "reject"}],
                "ghcr.io": [{"type": "sigstoreSigned", "keyPath": "/etc/pki/cosign.pub",
                             "signedIdentity": {"type": "matchRepository"}}],
                "*.internal.example": [{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": ["/a.gpg", "/b.gpg"]}],
                "127.0.0.1:5000": [{"type": "reject"}]
            },
            "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}
        }
    }"#;

    #[test]
    fn the_most_specific_scope_wins() {
        let policy = Policy::parse(POLICY).unwrap();
        let cases = [
            (
                "registry.example",
                "team/app",
                "transports.docker \"registry.example/team\"",
                "signedBy (GPG key /etc/pki/team.gpg)",
            ),
            (
                "registry.example",
                "team/sub/app",
                "transports.docker \"registry.example/team\"",
                "signedBy (GPG key /etc/pki/team.gpg)",
            ),
            (
                "registry.example",
                "team/legacy",
                "transports.docker \"registry.example/team/legacy\"",
                "insecureAcceptAnything (any image, signed or not)",
            ),
            (
                "registry.example",
                "other/app",
                "default",
                "insecureAcceptAnything (any image, signed or not)",
            ),
            (
                "ghcr.io",
                "org/app",
                "transports.docker \"ghcr.io\"",
                "sigstoreSigned (key /etc/pki/cosign.pub)",
            ),
            // A scope with a tag names one tag only, not the repository.
            (
                "quay.io",
                "org/app",
                "default",
                "insecureAcceptAnything (any image, signed or not)",
            ),
            (
                "git.internal.example",
                "app",
                "transports.docker \"*.internal.example\"",
                "signedBy (GPG keys /a.gpg, /b.gpg)",
            ),
            (
                "a.b.internal.example",
                "app",
                "transports.docker \"*.internal.example\"",
                "signedBy (GPG keys /a.gpg, /b.gpg)",
            ),
            (
                "127.0.0.1:5000",
                "s/app",
                "transports.docker \"127.0.0.1:5000\"",
                "reject (every pull is refused)",
            ),
        ];
        for (registry, repository, scope, requirement) in cases {
            let (found, list) = policy.for_repository(registry, repository);
            let described: Vec<String> = list.iter().map(Requirement::describe).collect();
            assert_eq!(
                (found.to_string(), described.join(" and ")),
                (scope.to_owned(), requirement.to_owned()),
                "{registry}/{repository}"
            );
        }
        assert!(policy.checks_anything());
    }

    #[test]
    fn the_transport_default_comes_before_the_default() {
        let policy = Policy::parse(
            r#"{"default": [{"type": "reject"}],
                "transports": {"docker": {"": [{"type": "insecureAcceptAnything"}]}}}"#,
        )
        .unwrap();
        let (scope, list) = policy.for_repository("docker.io", "library/nginx");
        assert_eq!(scope, Scope::TransportDefault);
        assert_eq!(list, [Requirement::AcceptAnything]);
        let debian = Policy::parse(r#"{"default": [{"type": "insecureAcceptAnything"}]}"#).unwrap();
        assert!(!debian.checks_anything());
        assert_eq!(
            debian.for_repository("docker.io", "library/nginx").0,
            Scope::Default
        );
    }

    #[test]
    fn key_files_and_inline_keys() {
        let policy = Policy::parse(
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyData": "bWU="},
                            {"type": "sigstoreSigned", "fulcio": {"caPath": "/ca.pem"}, "rekorPublicKeyPath": "/rekor.pub"}]}"#,
        )
        .unwrap();
        let (_, list) = policy.for_repository("docker.io", "library/nginx");
        let described: Vec<String> = list.iter().map(Requirement::describe).collect();
        assert_eq!(
            described,
            [
                "signedBy (GPG key inline, keyData)",
                "sigstoreSigned (Fulcio certificate)"
            ]
        );
        assert!(list.iter().all(|r| r.key_files().is_empty()));
        let policy = Policy::parse(POLICY).unwrap();
        let (_, list) = policy.for_repository("ghcr.io", "x");
        assert_eq!(list[0].key_files(), ["/etc/pki/cosign.pub"]);
    }

    #[test]
    fn policies_podman_refuses_are_errors() {
        for (text, want) in [
            ("{", "EOF"),
            ("{}", "no \"default\""),
            (r#"{"default": []}"#, "no requirements"),
            (r#"{"default": [{"type": "trustMe"}]}"#, "trustMe"),
            (
                r#"{"default": [{"type": "reject"}], "transports": {"docker": {"x": []}}}"#,
                "\"x\" has no requirements",
            ),
            (
                r#"{"default": [{"type": "reject"}], "defaults": []}"#,
                "defaults",
            ),
        ] {
            let error = Policy::parse(text).unwrap_err().to_string();
            assert!(error.contains(want), "{text}: {error}");
        }
    }
}
