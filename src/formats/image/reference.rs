//! Image references: parsing, validation and normalisation as containers/image does it.
//!
//! `nextcloud` becomes `docker.io/library/nextcloud:latest`, `index.docker.io/x` becomes
//! `docker.io/library/x`, and `host:port/x` keeps its registry. A pinned value is a
//! [`Pin`]: a normalised name and a `sha256:` digest. Pure: no I/O.

use std::fmt;

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
const NAME_MAX: usize = 255;

/// Why a text is not an image reference, or not a pinned one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not an image reference at all.
    #[error("invalid image reference `{input}`: {why}")]
    Invalid {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A reference, but not `name@sha256:...`.
    #[error("`{0}` is not a pinned image (`name@sha256:...`)")]
    NotPinned(String),
}

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The registry host, with port if any (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The repository path (`library/nextcloud`).
    pub repository: String,
    /// The tag or digest to resolve.
    pub target: Target,
}

/// What a reference points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A tag (`latest` when none was given).
    Tag(String),
    /// A digest (`sha256:...`).
    Digest(String),
}

impl ImageRef {
    /// Parses `input`, e.g. `nextcloud`, `ghcr.io/org/app:1.2`, `127.0.0.1:5000/a@sha256:...`.
    pub fn parse(input: &str) -> Result<ImageRef, ParseError> {
        let fail = |why: &'static str| {
            Err(ParseError::Invalid {
                input: input.to_owned(),
                why,
            })
        };
        if input.is_empty() {
            return fail("empty");
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (input, None),
        };
        // A tag follows the last `:` that comes after the last `/`.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        let target = match (tag, digest) {
            (Some(_), Some(_)) => {
                return fail("references with both a tag and digest are not supported")
            }
            (Some(tag), None) => {
                if !valid_tag(tag) {
                    return fail("bad tag");
                }
                Target::Tag(tag.to_owned())
            }
            (None, Some(digest)) => {
                if !valid_digest(digest) {
                    return fail("bad digest (want sha256: and 64 lowercase hex digits)");
                }
                Target::Digest(digest.to_owned())
            }
            (None, None) => Target::Tag("latest".to_owned()),
        };
        if name.len() > NAME_MAX {
            return fail("name longer than 255 characters");
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (first, path)
            }
            _ => (DOCKER_HUB, name),
        };
        if !valid_registry(registry) {
            return fail("bad registry host or port");
        }
        if path.is_empty() || !path.split('/').all(valid_component) {
            return fail("repository must be lowercase letters, digits and separators");
        }
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        // The limit holds for the normalised name too, so that a name always parses again.
        if registry.len() + 1 + repository.len() > NAME_MAX {
            return fail("name longer than 255 characters once normalised");
        }
        Ok(ImageRef {
            registry: registry.to_owned(),
            repository,
            target,
        })
    }

    /// The normalised name without tag or digest, as skopeo prints it as `Name`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The host to send registry API requests to.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The tag or digest as used in a manifest URL.
    pub fn reference(&self) -> &str {
        match &self.target {
            Target::Tag(t) | Target::Digest(t) => t,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Tag(t) => write!(f, "{}:{t}", self.name()),
            Target::Digest(d) => write!(f, "{}@{d}", self.name()),
        }
    }
}

/// A pinned image: `<name>@sha256:<hex>`, the value cipug writes into `..._IMAGE_HASHED`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pin(String);

impl Pin {
    /// Builds a pin from a normalised name and a digest, validating both.
    pub fn new(name: &str, digest: &str) -> Result<Pin, ParseError> {
        Pin::parse(&format!("{name}@{digest}"))
    }

    /// Parses a pinned value; it must be a name with a valid `sha256:` digest and no tag.
    pub fn parse(value: &str) -> Result<Pin, ParseError> {
        let parsed = ImageRef::parse(value)?;
        match parsed.target {
            Target::Digest(_) if !value.contains(char::is_whitespace) => Ok(Pin(value.to_owned())),
            _ => Err(ParseError::NotPinned(value.to_owned())),
        }
    }

    /// The pin as written in the env file.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digest part.
    pub fn digest(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pin shortened to its digest's first 12 hex digits, as summaries show it.
pub fn short_pin(pin: Option<&str>) -> String {
    match pin.and_then(|p| p.rsplit_once("@sha256:")) {
        Some((_, hex)) => format!("sha256:{}", hex.chars().take(12).collect::<String>()),
        None => pin.unwrap_or("(unpinned)").to_owned(),
    }
}

/// Whether `digest` is `sha256:` followed by 64 lowercase hex digits.
pub fn valid_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn valid_registry(registry: &str) -> bool {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (host, Some(port)),
        _ => (registry, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
    });
    host_ok && port_ok
}

/// A path component: lowercase alphanumerics separated by `.`, `_`, `__` or runs of `-`.
fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalisation_table() {
        let cases: &[(&str, &str, &str)] = &[
            ("nextcloud", "docker.io/library/nextcloud", "latest"),
            ("nextcloud:28", "docker.io/library/nextcloud", "28"),
            ("index.docker.io/x", "docker.io/library/x", "latest"),
            ("docker.io/org/app:v1", "docker.io/org/app", "v1"),
            ("org/app", "docker.io/org/app", "latest"),
            ("localhost/x", "localhost/x", "latest"),
            ("localhost:5000/a/b:t", "localhost:5000/a/b", "t"),
            (
                "127.0.0.1:5000/demo/app:latest",
                "127.0.0.1:5000/demo/app",
                "latest",
            ),
            (
                "ghcr.io/o/my_app__x.y-z:1.0-rc_1",
                "ghcr.io/o/my_app__x.y-z",
                "1.0-rc_1",
            ),
            ("[::1]:5000/a", "[::1]:5000/a", "latest"),
        ];
        for (input, name, tag) in cases {
            let r = ImageRef::parse(input).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(r.name(), *name, "{input}");
            assert_eq!(r.target, Target::Tag(tag.to_string()), "{input}");
        }
        let r = ImageRef::parse(&format!("quay.io/a/b@{D}")).unwrap();
        assert_eq!(r.target, Target::Digest(D.into()));
        assert_eq!(
            ImageRef::parse("nextcloud").unwrap().api_host(),
            DOCKER_HUB_API
        );
    }

    #[test]
    fn malformed_table() {
        let long = format!("a/{}", "b".repeat(260));
        let bad = [
            "",
            "Nextcloud",
            "org/App",
            "a//b",
            "/a",
            "a/",
            "a:",
            "a:-tag",
            "host:99999/a",
            "host:port/a",
            "host:/a",
            "-host.io/a",
            &format!("a:tag@{D}"),
            "a@sha256:short",
            "a@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            "a..b",
            "a b",
            &long,
        ];
        for input in bad {
            assert!(
                ImageRef::parse(input).is_err(),
                "{input:?} should be rejected"
            );
        }
    }

    #[test]
    fn normalised_names_parse_again() {
        // Found by fuzzing: 238 letters were accepted, but `docker.io/library/` made the
        // name 256 characters long, which did not parse again.
        assert!(ImageRef::parse(&"a".repeat(238)).is_err());
        let fits = ImageRef::parse(&"a".repeat(237)).unwrap();
        assert_eq!(ImageRef::parse(&fits.to_string()).unwrap(), fits);
    }

    #[test]
    fn pins() {
        let pin = Pin::parse(&format!("docker.io/library/x@{D}")).unwrap();
        assert_eq!(pin.digest(), D);
        assert!(Pin::parse("docker.io/library/x:latest").is_err());
        assert!(Pin::parse("x@sha256:abc").is_err());
        assert!(Pin::new("docker.io/library/x", "sha512:00").is_err());
    }
}
