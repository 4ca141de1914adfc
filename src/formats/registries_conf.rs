//! The parts of containers-registries.conf(5) (v2) that change where an image is fetched
//! from: `[[registry]]` tables with `prefix`, `location` (a rewrite), `blocked`, and their
//! `[[registry.mirror]]` lists with `pull-from-mirror`. podman pulls a tag from the mirrors
//! in order, then from the (rewritten) location; [`candidates`] gives the same order for
//! resolving. Pure: parsing text and rewriting references, no I/O but [`load`].

use std::path::PathBuf;

use serde::Deserialize;

use crate::formats::image::reference::{ImageRef, ParseError, Target};

/// One `[[registry]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rule {
    /// What references it applies to: `host`, `host/namespace`, or `*.domain`. Defaults to
    /// `location`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Where the matched part of a reference really is.
    #[serde(default)]
    pub location: Option<String>,
    /// Pulls from here are refused.
    #[serde(default)]
    pub blocked: bool,
    /// Plain HTTP or unverified TLS.
    #[serde(default)]
    pub insecure: bool,
    /// Mirrors, tried in order before the location.
    #[serde(default, rename = "mirror")]
    pub mirrors: Vec<Mirror>,
    /// Which pulls may use the mirrors: `all` (default), `digest-only`, `tag-only`.
    #[serde(default, rename = "pull-from-mirror")]
    pub pull_from_mirror: Option<String>,
}

/// One `[[registry.mirror]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Mirror {
    /// The mirror's location, replacing the matched prefix.
    pub location: String,
    /// Plain HTTP or unverified TLS.
    #[serde(default)]
    pub insecure: bool,
    /// Overrides the registry's `pull-from-mirror` for this mirror.
    #[serde(default, rename = "pull-from-mirror")]
    pub pull_from_mirror: Option<String>,
}

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    registry: Vec<Rule>,
}

impl Rule {
    fn prefix(&self) -> &str {
        self.prefix
            .as_deref()
            .or(self.location.as_deref())
            .unwrap_or_default()
    }

    /// How many characters of `name` (`host/repository`) the prefix matches, if it does.
    fn matches(&self, name: &str) -> Option<usize> {
        let prefix = self.prefix();
        if let Some(domain) = prefix.strip_prefix("*.") {
            let host = name.split('/').next().unwrap_or_default();
            let matched = host.ends_with(&format!(".{domain}"));
            return matched.then_some(host.len());
        }
        let rest = name.strip_prefix(prefix)?;
        (!prefix.is_empty() && (rest.is_empty() || rest.starts_with('/'))).then_some(prefix.len())
    }
}

/// Parses one registries.conf text into its `[[registry]]` rules.
pub fn parse(text: &str) -> Result<Vec<Rule>, String> {
    let file: File = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    Ok(file.registry)
}

/// The rules of registries.conf `files` (path, text) in order (a later file's rule for the
/// same prefix replaces an earlier one, as in registries.conf.d); files that do not parse are
/// warned about.
pub fn rules(files: &[(PathBuf, String)]) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    for (path, text) in files {
        match parse(text) {
            Ok(found) => {
                for rule in found {
                    rules.retain(|r| r.prefix() != rule.prefix());
                    rules.push(rule);
                }
            }
            Err(e) => log::warn!("{}: not read: {e}", path.display()),
        }
    }
    rules
}

/// The hosts of mirrors marked `insecure = true`.
pub fn insecure_mirrors(rules: &[Rule]) -> Vec<String> {
    rules
        .iter()
        .flat_map(|r| &r.mirrors)
        .filter(|m| m.insecure)
        .map(|m| m.location.split('/').next().unwrap_or_default().to_owned())
        .collect()
}

/// Why an image has no place to be fetched from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorError {
    /// A rule blocks it.
    #[error("{name}: blocked by registries.conf (prefix `{prefix}`)")]
    Blocked {
        /// The image's name.
        name: String,
        /// The prefix of the blocking rule.
        prefix: String,
    },
    /// A mirror or location that makes no image reference of it.
    #[error(transparent)]
    Rewrite(#[from] ParseError),
}

/// Where to fetch `image` from, in podman's order: the mirrors that serve this kind of pull,
/// then the location (rewritten by `location` when it differs from the prefix). An image no
/// rule matches has itself as only candidate; a blocked one has none.
pub fn candidates(rules: &[Rule], image: &ImageRef) -> Result<Vec<ImageRef>, MirrorError> {
    let name = image.name();
    let Some((rule, len)) = rules
        .iter()
        .filter_map(|r| r.matches(&name).map(|len| (r, len)))
        .max_by_key(|(_, len)| *len)
    else {
        return Ok(vec![image.clone()]);
    };
    if rule.blocked {
        return Err(MirrorError::Blocked {
            prefix: rule.prefix().to_owned(),
            name,
        });
    }
    let rest = &name[len..];
    let rewrite = |location: &str| -> Result<ImageRef, ParseError> {
        let text = match &image.target {
            Target::Tag(t) => format!("{location}{rest}:{t}"),
            Target::Digest(d) => format!("{location}{rest}@{d}"),
        };
        ImageRef::parse(&text)
    };
    let by_tag = matches!(image.target, Target::Tag(_));
    let mut found = Vec::new();
    for mirror in &rule.mirrors {
        let mode = mirror
            .pull_from_mirror
            .as_deref()
            .or(rule.pull_from_mirror.as_deref())
            .unwrap_or("all");
        let serves = match mode {
            "digest-only" => !by_tag,
            "tag-only" => by_tag,
            _ => true,
        };
        if serves {
            found.push(rewrite(&mirror.location)?);
        }
    }
    found.push(match rule.location.as_deref() {
        Some(location) if location != rule.prefix() => rewrite(location)?,
        _ => image.clone(),
    });
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"
unqualified-search-registries = ["docker.io"]
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.local:5000/hub"
insecure = true
[[registry.mirror]]
location = "digests.local"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "quay.io/team"
location = "internal.example/quay-team"

[[registry]]
prefix = "*.blocked.example"
blocked = true

[[registry]]
location = "127.0.0.1:5000"
insecure = true
"#;

    #[test]
    fn candidates_follow_podmans_order() {
        let rules = parse(CONF).unwrap();
        let names = |reference: &str| -> Result<Vec<String>, String> {
            candidates(&rules, &ImageRef::parse(reference).unwrap())
                .map(|list| list.iter().map(|r| r.to_string()).collect())
                .map_err(|e| e.to_string())
        };
        let d = format!("sha256:{}", "b".repeat(64));
        let cases: Vec<(String, Result<Vec<String>, String>)> = vec![
            (
                "nginx".into(),
                Ok(vec![
                    "mirror.local:5000/hub/library/nginx:latest".into(),
                    "docker.io/library/nginx:latest".into(),
                ]),
            ),
            (
                format!("nginx@{d}"),
                Ok(vec![
                    format!("mirror.local:5000/hub/library/nginx@{d}"),
                    format!("digests.local/library/nginx@{d}"),
                    format!("docker.io/library/nginx@{d}"),
                ]),
            ),
            (
                "quay.io/team/app:2".into(),
                Ok(vec!["internal.example/quay-team/app:2".into()]),
            ),
            (
                "quay.io/teammate/app:2".into(),
                Ok(vec!["quay.io/teammate/app:2".into()]),
            ),
            ("ghcr.io/o/a:1".into(), Ok(vec!["ghcr.io/o/a:1".into()])),
            (
                "127.0.0.1:5000/a:1".into(),
                Ok(vec!["127.0.0.1:5000/a:1".into()]),
            ),
        ];
        for (reference, want) in cases {
            assert_eq!(names(&reference), want, "{reference}");
        }
        assert!(names("r.blocked.example/a:1")
            .unwrap_err()
            .contains("blocked"));
        assert_eq!(insecure_mirrors(&rules), vec!["mirror.local:5000"]);
        assert!(parse("[[registry]\n").is_err());
    }
}
