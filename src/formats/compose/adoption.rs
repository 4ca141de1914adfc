//! Adopting a service folder into cipug's scheme, as pure text edits.
//!
//! A compose file that says `image: nginx:1.25` for service `web` becomes
//! `image: ${SERVICE_WEB_IMAGE_HASHED}`, and the `.env` gets `SERVICE_WEB_IMAGE_TAGGED=nginx:1.25`
//! appended; `cipug update` then resolves TAGGED and writes HASHED. Only the value text of each
//! adopted `image:` line changes and only new lines are added to the `.env`: comments, blank
//! lines, anchors, other keys and line endings stay byte-identical.
//!
//! [`crate::formats::compose::file`] finds each service's `image:` value and its byte range, refusing
//! what it cannot edit safely (aliases, anchors or block scalars on the image, values spanning
//! lines, merges it cannot follow) with the compose line named; the compose text is then edited
//! by byte range.
//!
//! An image that services take through a YAML merge key (`x-app: &app` with `image:`, then
//! `backend: {<<: *app}`) is adopted once, where it is written, and every service that merges
//! it shares that entry: the entry is named after the top-level key without `x-`
//! (`SERVICE_APP_IMAGE_*`), or after the service when the anchor is a service's own mapping
//! (`netbox: &netbox` merged by `netbox-worker` gives `SERVICE_NETBOX_IMAGE_*`). A service that
//! writes `image:` itself is adopted on its own, merges or not.
//!
//! The TAGGED value is the reference as compose resolves it: `${VAR}`, `${VAR-default}` and
//! `${VAR:-default}` are expanded from the env file once, at adoption; a variable the env file
//! does not set (without a default), or `${VAR?err}` unset, is refused. This module does no
//! I/O; [`crate::commands::adopt`] reads and writes files.

use std::collections::HashMap;

use crate::formats::compose::file::{service_images, ComposeError, Owner, ServiceImage};
use crate::formats::compose::limits::{self, LimitError};
use crate::formats::env_keys::{entry_keys, ENTRY_PREFIX, HASHED, TAGGED};
use crate::formats::envfile::{
    interpolate, render_value, EnvFile, InterpolateError, ParseError, Quote,
};

/// The result of [`adopt`]: both files rewritten, and what was adopted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    /// The compose file, each adopted `image:` value replaced by
    /// `${SERVICE_<X>_IMAGE_HASHED}` (in the value's original quotes, if it had any).
    pub compose: String,
    /// The env file with one `SERVICE_<X>_IMAGE_TAGGED=<ref>` line appended per adopted
    /// service, in compose order (none for a service whose identical TAGGED line exists).
    pub env: String,
    /// The adopted services, in compose order.
    pub entries: Vec<Adopted>,
}

/// One adopted `image:` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted {
    /// Where the `image:` is written: the compose service name, or the top-level key whose
    /// anchored mapping services merge.
    pub service: String,
    /// The compose services that use the value (more than one when they merge it).
    pub services: Vec<String>,
    /// The `<X>` of `SERVICE_<X>_IMAGE_TAGGED`.
    pub entry: String,
    /// The image reference as compose resolves it, `${VAR}` forms expanded from the env
    /// file: the value of the TAGGED entry.
    pub image: String,
    /// The 1-based compose line of the `image:` key.
    pub line: usize,
}

/// Why a folder cannot be adopted; `nothing to adopt: ...` when there is nothing to do.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// The `.env` does not parse.
    #[error("env file {0}")]
    Env(#[source] ParseError),
    /// The compose file is too large or nested too deep.
    #[error(transparent)]
    Limit(LimitError),
    /// The compose file cannot be read or edited safely.
    #[error(transparent)]
    Compose(ComposeError),
    /// The compose file has no `services:`.
    #[error("nothing to adopt: no top-level `services:` mapping")]
    NoServices,
    /// Every image follows the scheme already (adopting again is no error).
    #[error(
        "nothing to adopt: every service with an `image:` already uses its \
         ${{SERVICE_<X>_IMAGE_HASHED}}"
    )]
    AlreadyAdopted,
    /// No service has an `image:`.
    #[error("nothing to adopt: no service under `services:` has an `image:` line")]
    NoImages,
    /// One service's `image:` cannot be adopted.
    #[error("compose line {line}: {who}: {problem}")]
    Image {
        /// The 1-based compose line of its `image:`.
        line: usize,
        /// The service (or the extension that its services merge).
        who: String,
        /// What is wrong.
        problem: ImageProblem,
    },
    /// A line to append would not read back as written.
    #[error("cannot write {key}=`{value}` to the env file safely; add it by hand")]
    Unsafe {
        /// The entry's key.
        key: String,
        /// Its value.
        value: String,
    },
}

/// Why one `image:` cannot be adopted.
#[derive(Debug, thiserror::Error)]
pub enum ImageProblem {
    /// The service's name makes no variable name.
    #[error("the name does not make an env variable name (letters, digits, `_`, `-`, `.`)")]
    BadName,
    /// Two services make the same entry name.
    #[error("`{other}` and `{owner}` both map to {}; rename one", entry_keys(x))]
    SameEntry {
        /// The service seen first.
        other: String,
        /// This service.
        owner: String,
        /// The entry name both make.
        x: String,
    },
    /// The image uses a scheme variable other than its own.
    #[error(
        "the image `{value}` already uses the variable differently (`{other}`, expected \
         `${{{hashed}}}`); fix it by hand"
    )]
    OtherVariable {
        /// The `image:` value.
        value: String,
        /// The variable it uses.
        other: String,
        /// The variable it should use.
        hashed: String,
    },
    /// A `${VAR}` form that the env file does not settle.
    #[error("the image `{value}` cannot be resolved from the env file: {error}; set it there")]
    Unresolved {
        /// The `image:` value.
        value: String,
        /// Why it cannot be expanded.
        #[source]
        error: InterpolateError,
    },
    /// An expansion that is no image reference.
    #[error("the image `{value}` resolves to `{resolved}`, which is not an image reference")]
    NotAReference {
        /// The `image:` value.
        value: String,
        /// What it expands to, escaped.
        resolved: String,
    },
    /// The env file has the TAGGED entry with another value.
    #[error("the env file already has {tagged}=`{existing}` (line {line}), not `{value}`")]
    OtherTagged {
        /// The TAGGED key.
        tagged: String,
        /// Its value in the env file.
        existing: String,
        /// Its line there.
        line: usize,
        /// The value the compose file gives.
        value: String,
    },
}

/// Rewrites `compose` and `env` (the `.env` bytes) so that every service with an `image:`
/// follows cipug's scheme. Services already using their `${SERVICE_<X>_IMAGE_HASHED}` are
/// skipped; services without `image:` are skipped. The error names the compose line, or says
/// `nothing to adopt: ...` when no service was adopted.
pub fn adopt(compose: &str, env: &[u8]) -> Result<Adoption, AdoptError> {
    let env_file = EnvFile::parse(env).map_err(AdoptError::Env)?;
    match limits::check(compose) {
        // Named with its line by the compose file's parser below.
        Ok(()) | Err(LimitError::NotYaml { .. }) => {}
        Err(e) => return Err(AdoptError::Limit(e)),
    }
    let images = service_images(compose)
        .map_err(AdoptError::Compose)?
        .ok_or(AdoptError::NoServices)?;

    let vars = env_file.variables();
    let mut entries = Vec::new();
    let mut names: Vec<(&str, String)> = Vec::new(); // (service, X) of every image service
    let mut new_lines: Vec<(String, String)> = Vec::new(); // (key, value) to append
    let mut compose_out = String::with_capacity(compose.len() + 32 * images.len());
    let mut copied = 0;
    let mut already = 0;
    for image in &images {
        let plan = plan_image(image, &env_file, &vars, &mut names, &mut new_lines)?;
        let Some((x, value)) = plan else {
            already += 1;
            continue;
        };
        let hashed = HASHED.key(&x);
        // A plain `${...}` would end a flow mapping's value at its `}`.
        let quote = image.quote.or(image.in_flow.then_some('"'));
        let q = quote.map(String::from).unwrap_or_default();
        compose_out.push_str(&compose[copied..image.span.start]);
        compose_out.push_str(&format!("{q}${{{hashed}}}{q}"));
        copied = image.span.end;
        entries.push(Adopted {
            service: image.owner.name().to_owned(),
            services: image.services.clone(),
            entry: x,
            image: value,
            line: image.line,
        });
    }
    compose_out.push_str(&compose[copied..]);

    if entries.is_empty() {
        return Err(if already > 0 {
            AdoptError::AlreadyAdopted
        } else {
            AdoptError::NoImages
        });
    }
    Ok(Adoption {
        compose: compose_out,
        env: append_env(&env_file, &new_lines)?,
        entries,
    })
}

/// What adopting one service's `image:` takes: its entry name `X` and the TAGGED value,
/// with the `.env` lines to append added to `new_lines`; `None` when the image already uses
/// `${SERVICE_<X>_IMAGE_HASHED}`. `names` holds the entry names taken so far, to refuse two
/// services that map to one name.
fn plan_image<'i>(
    image: &'i ServiceImage,
    env_file: &EnvFile,
    vars: &HashMap<String, String>,
    names: &mut Vec<(&'i str, String)>,
    new_lines: &mut Vec<(String, String)>,
) -> Result<Option<(String, String)>, AdoptError> {
    let owner = image.owner.name();
    let who = match &image.owner {
        Owner::Service(name) => format!("service `{name}`"),
        Owner::Extension(key) => format!("`{key}` (merged by {})", image.services.join(", ")),
    };
    let at = |problem: ImageProblem| AdoptError::Image {
        line: image.line,
        who: who.clone(),
        problem,
    };
    let x = entry_name(entry_source(&image.owner)).ok_or_else(|| at(ImageProblem::BadName))?;
    if let Some((other, _)) = names.iter().find(|(_, e)| *e == x) {
        return Err(at(ImageProblem::SameEntry {
            other: (*other).to_owned(),
            owner: owner.to_owned(),
            x,
        }));
    }
    names.push((owner, x.clone()));

    let hashed = HASHED.key(&x);
    let used = scheme_names(&image.value);
    if let Some(other) = used.iter().find(|name| **name != hashed) {
        return Err(at(ImageProblem::OtherVariable {
            value: image.value.clone(),
            other: (*other).to_owned(),
            hashed,
        }));
    }
    if !used.is_empty() {
        return Ok(None);
    }

    let tagged = TAGGED.key(&x);
    let resolved = resolve_reference(&image.value, vars).map_err(at)?;
    // `name:tag@sha256:...`: the tag to follow, the digest as the current pin.
    let (value, pin) = match crate::formats::image::pinned::split(&resolved) {
        Some((value, pin)) => (value, Some(pin)),
        None => (resolved, None),
    };
    match env_file.get(&tagged) {
        Some(existing) if existing.value != value => {
            return Err(at(ImageProblem::OtherTagged {
                tagged,
                existing: existing.value.clone(),
                line: existing.line,
                value,
            }));
        }
        Some(_) => {}
        None => {
            new_lines.push((tagged, value.clone()));
            if let Some(pin) = pin.filter(|_| env_file.get(&hashed).is_none()) {
                new_lines.push((hashed, pin));
            }
        }
    }
    Ok(Some((x, value)))
}

/// The name an entry is made from: the service's, or the top-level key's without `x-`.
fn entry_source(owner: &Owner) -> &str {
    match owner {
        Owner::Service(name) => name,
        Owner::Extension(key) => key.strip_prefix("x-").unwrap_or(key),
    }
}

/// The image reference as compose resolves `value` from the env file's variables: `${VAR}`,
/// `${VAR-default}` and `${VAR:-default}` expanded. A variable without a default that the
/// file does not set is refused (compose would take it from the environment it runs in),
/// and so is `${VAR?err}` or `${VAR:?err}` unset.
fn resolve_reference(value: &str, vars: &HashMap<String, String>) -> Result<String, ImageProblem> {
    let resolved = interpolate(value, |name| vars.get(name).cloned()).map_err(|error| {
        ImageProblem::Unresolved {
            value: value.to_owned(),
            error,
        }
    })?;
    if resolved.is_empty()
        || resolved.contains(|c: char| c.is_whitespace() || c.is_control() || c == '$')
    {
        return Err(ImageProblem::NotAReference {
            value: value.to_owned(),
            resolved: resolved.escape_debug().to_string(),
        });
    }
    Ok(resolved)
}

/// `<X>` for a compose service name: upper case, `-` and `.` as `_`. `None` if the result
/// would not be a variable name part.
fn entry_name(service: &str) -> Option<String> {
    let x: String = service
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    let valid = !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(x)
}

/// The `SERVICE_*_IMAGE_HASHED` and `SERVICE_*_IMAGE_TAGGED` names that `value` mentions.
fn scheme_names(value: &str) -> Vec<&str> {
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            w.starts_with(ENTRY_PREFIX) && [HASHED, TAGGED].iter().any(|k| w.ends_with(&k.suffix()))
        })
        .collect()
}

/// The env text with `KEY=value` lines appended, in the file's dominant line ending, after
/// ending an unterminated last line. Checks that the result parses back to those values.
fn append_env(env: &EnvFile, lines: &[(String, String)]) -> Result<String, AdoptError> {
    let mut text = env.render().to_owned();
    if lines.is_empty() {
        return Ok(text);
    }
    let eol = if text.matches("\r\n").count() * 2 > text.matches('\n').count() {
        "\r\n"
    } else {
        "\n"
    };
    if !text.trim_start_matches('\u{feff}').is_empty() && !text.ends_with('\n') {
        text.push_str(eol);
    }
    for (key, value) in lines {
        text.push_str(&format!("{key}={}{eol}", env_value(value)));
    }
    let parsed = EnvFile::parse(text.as_bytes()).map_err(AdoptError::Env)?;
    for (key, value) in lines {
        if parsed.get(key).map(|e| e.value.as_str()) != Some(value.as_str()) {
            return Err(AdoptError::Unsafe {
                key: key.clone(),
                value: value.clone(),
            });
        }
    }
    Ok(text)
}

/// Renders a TAGGED value: unquoted when it can be, and `$` left unescaped so that `${VAR}`
/// forms stay interpolated as they were in the compose file.
fn env_value(value: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-${}?".contains(c);
    if value.chars().all(plain) {
        value.to_owned()
    } else if value.contains('$') {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        render_value(value, Quote::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::pins::image_entries;

    /// Every line of `after` that is not an adopted image line equals the line of `before`,
    /// bytes and line ending included; the env only gains lines at its end.
    fn assert_only_image_lines_changed(compose: &str, env: &str, got: &Adoption) {
        let before: Vec<&str> = compose.split_inclusive('\n').collect();
        let after: Vec<&str> = got.compose.split_inclusive('\n').collect();
        assert_eq!(before.len(), after.len(), "{compose}");
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            if got.entries.iter().any(|e| e.line == i + 1) {
                assert_ne!(b, a, "line {} should change", i + 1);
                assert_eq!(b.ends_with("\r\n"), a.ends_with("\r\n"));
            } else {
                assert_eq!(b, a, "line {} changed", i + 1);
            }
        }
        let kept = env.strip_suffix('\n').unwrap_or(env);
        assert!(got.env.starts_with(kept), "{:?}", got.env);
    }

    /// Adopts, checks the invariants, and checks a second run has nothing to do.
    fn adopt_ok(compose: &str, env: &str) -> Adoption {
        let got = adopt(compose, env.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{compose}"));
        assert_only_image_lines_changed(compose, env, &got);
        let again = adopt(&got.compose, got.env.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(again.starts_with("nothing to adopt"), "{again}");
        got
    }

    #[test]
    fn adopts_table() {
        // (compose, env, compose after, env after, (service, X, image, line) adopted)
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            &'a [(&'a str, &'a str, &'a str, usize)],
        );
        let cases: &[Case] = &[
            (
                "services:\n  web:\n    image: nginx:1.25\n  db:\n    image: postgres:16\n",
                "TZ=UTC\n",
                "services:\n  web:\n    image: ${SERVICE_WEB_IMAGE_HASHED}\n  db:\n    image: ${SERVICE_DB_IMAGE_HASHED}\n",
                "TZ=UTC\nSERVICE_WEB_IMAGE_TAGGED=nginx:1.25\nSERVICE_DB_IMAGE_TAGGED=postgres:16\n",
                &[("web", "WEB", "nginx:1.25", 3), ("db", "DB", "postgres:16", 5)],
            ),
            // Three services, comments everywhere, other top-level keys first, 4 spaces,
            // quotes, a compact sequence, nested `image:` keys that are not the service's.
            (
                "# head\nversion: \"3.8\"   # old\n\nservices:   # all\n    # at service level\n    paperless-ngx:\n        # in service\n        image:   ghcr.io/paperless-ngx/paperless-ngx:2.7  # by hand\n        ports:\n        - \"8000:8000\"\n        depends_on: [redis]\n    redis:\n        image: 'redis:7' # cache\n  # odd comment\n    db.main:\n        environment:\n            image: not-this   # deeper\n        image: \"postgres:16\"\n# tail\nnetworks:\n  default:\n    image: no\n",
                "",
                "# head\nversion: \"3.8\"   # old\n\nservices:   # all\n    # at service level\n    paperless-ngx:\n        # in service\n        image:   ${SERVICE_PAPERLESS_NGX_IMAGE_HASHED}  # by hand\n        ports:\n        - \"8000:8000\"\n        depends_on: [redis]\n    redis:\n        image: '${SERVICE_REDIS_IMAGE_HASHED}' # cache\n  # odd comment\n    db.main:\n        environment:\n            image: not-this   # deeper\n        image: \"${SERVICE_DB_MAIN_IMAGE_HASHED}\"\n# tail\nnetworks:\n  default:\n    image: no\n",
                "SERVICE_PAPERLESS_NGX_IMAGE_TAGGED=ghcr.io/paperless-ngx/paperless-ngx:2.7\nSERVICE_REDIS_IMAGE_TAGGED=redis:7\nSERVICE_DB_MAIN_IMAGE_TAGGED=postgres:16\n",
                &[
                    ("paperless-ngx", "PAPERLESS_NGX", "ghcr.io/paperless-ngx/paperless-ngx:2.7", 8),
                    ("redis", "REDIS", "redis:7", 13),
                    ("db.main", "DB_MAIN", "postgres:16", 18),
                ],
            ),
            // CRLF in both files.
            (
                "services:\r\n  web:\r\n    image: nginx # c\r\n  db:\r\n    image: \"postgres\"\r\n",
                "A=1\r\n# note\r\n",
                "services:\r\n  web:\r\n    image: ${SERVICE_WEB_IMAGE_HASHED} # c\r\n  db:\r\n    image: \"${SERVICE_DB_IMAGE_HASHED}\"\r\n",
                "A=1\r\n# note\r\nSERVICE_WEB_IMAGE_TAGGED=nginx\r\nSERVICE_DB_IMAGE_TAGGED=postgres\r\n",
                &[("web", "WEB", "nginx", 3), ("db", "DB", "postgres", 5)],
            ),
            // Interpolated references are resolved from the env file as compose resolves them.
            (
                "services:\n  app:\n    image: ${REGISTRY}/app:${TAG:-1}\n  cache:\n    image: \"${REGISTRY:-docker.io}/redis:${REDIS_TAG-7}\"\n  web:\n    image: netbox:${VERSION-v4.1}\n  db:\n    image: pg:${EMPTY-16}${EMPTY:-1}\n",
                "REGISTRY=r.io\nTAG=2\nEMPTY=",
                "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n  cache:\n    image: \"${SERVICE_CACHE_IMAGE_HASHED}\"\n  web:\n    image: ${SERVICE_WEB_IMAGE_HASHED}\n  db:\n    image: ${SERVICE_DB_IMAGE_HASHED}\n",
                "REGISTRY=r.io\nTAG=2\nEMPTY=\nSERVICE_APP_IMAGE_TAGGED=r.io/app:2\nSERVICE_CACHE_IMAGE_TAGGED=r.io/redis:7\nSERVICE_WEB_IMAGE_TAGGED=netbox:v4.1\nSERVICE_DB_IMAGE_TAGGED=pg:1\n",
                &[
                    ("app", "APP", "r.io/app:2", 3),
                    ("cache", "CACHE", "r.io/redis:7", 5),
                    ("web", "WEB", "netbox:v4.1", 7),
                    ("db", "DB", "pg:1", 9),
                ],
            ),
            // Anchors and merges stay; a build-only service and a null service are skipped.
            (
                "x-common: &common\n  restart: unless-stopped\n  image: shared:1\nservices:\n  app:\n    <<: *common\n    image: app:1\n  worker: &worker\n    <<: *common\n    image: worker:1 # w\n  builder:\n    build: ./builder\n  empty:\n  other: *worker\n",
                "# only a comment\n",
                "x-common: &common\n  restart: unless-stopped\n  image: shared:1\nservices:\n  app:\n    <<: *common\n    image: ${SERVICE_APP_IMAGE_HASHED}\n  worker: &worker\n    <<: *common\n    image: ${SERVICE_WORKER_IMAGE_HASHED} # w\n  builder:\n    build: ./builder\n  empty:\n  other: *worker\n",
                "# only a comment\nSERVICE_APP_IMAGE_TAGGED=app:1\nSERVICE_WORKER_IMAGE_TAGGED=worker:1\n",
                &[("app", "APP", "app:1", 7), ("worker", "WORKER", "worker:1", 10)],
            ),
            // One service already adopted; another has its identical TAGGED line already.
            (
                "services:\n  web:\n    image: ${SERVICE_WEB_IMAGE_HASHED}\n  db:\n    image: postgres:16\n  cache:\n    image: redis\n",
                "SERVICE_WEB_IMAGE_TAGGED=nginx\nSERVICE_DB_IMAGE_TAGGED='postgres:16'\n",
                "services:\n  web:\n    image: ${SERVICE_WEB_IMAGE_HASHED}\n  db:\n    image: ${SERVICE_DB_IMAGE_HASHED}\n  cache:\n    image: ${SERVICE_CACHE_IMAGE_HASHED}\n",
                "SERVICE_WEB_IMAGE_TAGGED=nginx\nSERVICE_DB_IMAGE_TAGGED='postgres:16'\nSERVICE_CACHE_IMAGE_TAGGED=redis\n",
                &[("db", "DB", "postgres:16", 5), ("cache", "CACHE", "redis", 7)],
            ),
            // No trailing newline in either file, a byte order mark, `image` not first.
            (
                "\u{feff}services:\n  web:\n    ports: [\"80:80\"]\n    image: nginx",
                "\u{feff}A=1",
                "\u{feff}services:\n  web:\n    ports: [\"80:80\"]\n    image: ${SERVICE_WEB_IMAGE_HASHED}",
                "\u{feff}A=1\nSERVICE_WEB_IMAGE_TAGGED=nginx\n",
                &[("web", "WEB", "nginx", 4)],
            ),
            // A service in flow style: the replacement is quoted.
            (
                "services:\n  web: {image: nginx, ports: [\"80:80\"]}\n",
                "",
                "services:\n  web: {image: \"${SERVICE_WEB_IMAGE_HASHED}\", ports: [\"80:80\"]}\n",
                "SERVICE_WEB_IMAGE_TAGGED=nginx\n",
                &[("web", "WEB", "nginx", 2)],
            ),
            // Quoted service names and `services:` with an anchor and a comment.
            (
                "services: &s # x\n  \"my-app\":\n    image: app@sha256:abc\n",
                "",
                "services: &s # x\n  \"my-app\":\n    image: ${SERVICE_MY_APP_IMAGE_HASHED}\n",
                "SERVICE_MY_APP_IMAGE_TAGGED=app@sha256:abc\n",
                &[("my-app", "MY_APP", "app@sha256:abc", 3)],
            ),
        ];
        for (compose, env, want_compose, want_env, want_entries) in cases {
            let got = adopt_ok(compose, env);
            assert_eq!(got.compose, *want_compose, "{compose}");
            assert_eq!(got.env, *want_env, "{compose}");
            let entries: Vec<_> = got
                .entries
                .iter()
                .map(|e| {
                    (
                        e.service.as_str(),
                        e.entry.as_str(),
                        e.image.as_str(),
                        e.line,
                    )
                })
                .collect();
            assert_eq!(entries, *want_entries, "{compose}");
        }
    }

    #[test]
    fn images_through_merge_keys_are_adopted_once_for_every_service_that_merges_them() {
        // (compose, compose after, (owner, services, X, image, line) adopted)
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a [(&'a str, &'a [&'a str], &'a str, &'a str, usize)],
        );
        let cases: &[Case] = &[
            // An `x-` key's anchor, merged directly and through another anchor; one service
            // overrides `image:` and is adopted on its own.
            (
                "x-image: &image\n  image: frappe/erpnext:v15\nx-backend: &backend\n  <<: *image\n  restart: always\nservices:\n  backend:\n    <<: *backend\n  frontend:\n    <<: [*image]\n  custom:\n    <<: *backend\n    image: mine:1\n",
                "x-image: &image\n  image: ${SERVICE_IMAGE_IMAGE_HASHED}\nx-backend: &backend\n  <<: *image\n  restart: always\nservices:\n  backend:\n    <<: *backend\n  frontend:\n    <<: [*image]\n  custom:\n    <<: *backend\n    image: ${SERVICE_CUSTOM_IMAGE_HASHED}\n",
                &[
                    ("x-image", &["backend", "frontend"], "IMAGE", "frappe/erpnext:v15", 2),
                    ("custom", &["custom"], "CUSTOM", "mine:1", 13),
                ],
            ),
            // A service's own anchor, merged by another service and aliased by a third.
            (
                "services:\n  netbox: &netbox\n    image: netbox:v4\n  worker:\n    <<: *netbox\n    command: rqworker\n  copy: *netbox\n",
                "services:\n  netbox: &netbox\n    image: ${SERVICE_NETBOX_IMAGE_HASHED}\n  worker:\n    <<: *netbox\n    command: rqworker\n  copy: *netbox\n",
                &[("netbox", &["netbox", "worker", "copy"], "NETBOX", "netbox:v4", 3)],
            ),
            // A template in flow style: the replacement is quoted, or its `}` would end it.
            (
                "x-app: &app {image: frappe/erpnext:v15, restart: always}\nservices:\n  backend: {<<: *app}\n",
                "x-app: &app {image: \"${SERVICE_APP_IMAGE_HASHED}\", restart: always}\nservices:\n  backend: {<<: *app}\n",
                &[("x-app", &["backend"], "APP", "frappe/erpnext:v15", 1)],
            ),
        ];
        for (compose, want_compose, want) in cases {
            let got = adopt(compose, b"").unwrap_or_else(|e| panic!("{e}\n{compose}"));
            assert_eq!(got.compose, *want_compose, "{compose}");
            let again = adopt(&got.compose, got.env.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(again.starts_with("nothing to adopt"), "{again}");
            let entries: Vec<_> = got
                .entries
                .iter()
                .map(|e| {
                    let services: Vec<&str> = e.services.iter().map(String::as_str).collect();
                    (
                        e.service.as_str(),
                        services,
                        e.entry.as_str(),
                        e.image.as_str(),
                        e.line,
                    )
                })
                .collect();
            let want: Vec<_> = want
                .iter()
                .map(|(o, s, x, i, l)| (*o, s.to_vec(), *x, *i, *l))
                .collect();
            assert_eq!(entries, want, "{compose}");
            let model = crate::formats::compose::services::ComposeServices::parse(&got.compose)
                .unwrap_or_else(|e| panic!("{e}\n{compose}"));
            for entry in &got.entries {
                assert_eq!(model.services_using(&[entry.entry.as_str()]), {
                    let mut s = entry.services.clone();
                    s.sort();
                    s
                });
            }
        }
    }

    #[test]
    fn adopted_env_reads_back_through_pins() {
        let got = adopt_ok(
            "services:\n  app:\n    image: ${REGISTRY}/app:${TAG:-1}\n  db:\n    image: postgres\n",
            "REGISTRY=r.io\n",
        );
        let images = image_entries(&EnvFile::parse(got.env.as_bytes()).unwrap()).unwrap();
        let tagged: Vec<_> = images.iter().map(|i| i.tagged.as_str()).collect();
        assert_eq!(tagged, ["r.io/app:1", "postgres"]);
    }

    #[test]
    fn env_values_are_quoted_only_when_needed() {
        let cases = [
            ("nginx:1", "nginx:1"),
            ("${R:-x}/a:${T?}", "${R:-x}/a:${T?}"),
            ("a#b", "\"a#b\""),
            ("${R}#\"b", "\"${R}#\\\"b\""),
        ];
        for (value, want) in cases {
            assert_eq!(env_value(value), want);
            let env = EnvFile::parse(format!("K={want}\n").as_bytes()).unwrap();
            assert_eq!(env.get("K").unwrap().value, value);
        }
    }

    #[test]
    fn refusals_table() {
        let svc = |image_line: &str| format!("services:\n  web:\n    {image_line}\n");
        // (compose, env, message part); the compose line is checked when given.
        let cases: Vec<(String, &str, &str, Option<usize>)> = vec![
            (
                svc("image: ${SERVICE_OTHER_IMAGE_HASHED}"),
                "",
                "already uses the variable differently",
                Some(3),
            ),
            (
                svc("image: ${SERVICE_WEB_IMAGE_TAGGED}"),
                "",
                "already uses the variable differently",
                Some(3),
            ),
            (
                svc("image: nginx:2"),
                "SERVICE_WEB_IMAGE_TAGGED=nginx:1\n",
                "already has SERVICE_WEB_IMAGE_TAGGED",
                Some(3),
            ),
            (
                "services:\n  my-app:\n    image: a\n  my.app:\n    image: b\n".into(),
                "",
                "both map to SERVICE_MY_APP",
                Some(5),
            ),
            (svc("image: *img"), "", "alias", Some(3)),
            (svc("image: &img nginx"), "", "anchor", Some(3)),
            (
                "services:\n  web:\n    image: >\n      nginx\n".into(),
                "",
                "block scalar",
                Some(3),
            ),
            (
                "services:\n  web:\n    image: |-\n      nginx\n".into(),
                "",
                "block scalar",
                Some(3),
            ),
            (
                "services:\n  web:\n    image: nginx\n      :1\n".into(),
                "",
                "continues",
                Some(4),
            ),
            (
                "services:\n  web:\n    image:\n      nginx\n".into(),
                "",
                "not on the same line",
                Some(3),
            ),
            (svc("image: \"nginx"), "", "does not end", Some(3)),
            (svc("image: \"ng\\x\""), "", "escapes", Some(3)),
            (svc("image: 'it''s'"), "", "escapes", Some(3)),
            (
                svc("image: \"nginx\" tail"),
                "",
                "after the quoted",
                Some(3),
            ),
            (
                svc("image: nginx latest"),
                "",
                "not an image reference",
                Some(3),
            ),
            (svc("image: {a: b}"), "", "starts with `{`", Some(3)),
            (
                "services:\n  web:\n    image: a\n    image: b\n".into(),
                "",
                "twice",
                Some(4),
            ),
            (
                "version: '3'\nservices: {}\n".into(),
                "",
                "flow style",
                Some(2),
            ),
            (
                "services: {web: {image: nginx}}\n".into(),
                "",
                "flow style",
                Some(1),
            ),
            (
                "services:\n  web: nginx\n".into(),
                "",
                "not a mapping",
                Some(2),
            ),
            (
                "services: *all\n".into(),
                "",
                "not a block mapping",
                Some(1),
            ),
            (
                "services:\n    web:\n  db:\n".into(),
                "",
                "indented less",
                Some(3),
            ),
            (
                "services:\n  web:\n      build: .\n    image: x\n".into(),
                "",
                "indented less",
                Some(4),
            ),
            (
                "services:\n  web:\n    image: x\nservices:\n".into(),
                "",
                "second",
                Some(4),
            ),
            (
                "services:\n  w@b:\n    image: x\n".into(),
                "",
                "variable name",
                Some(3),
            ),
            (
                "version: '3'\n".into(),
                "",
                "nothing to adopt: no top-level",
                None,
            ),
            ("services:\n".into(), "", "nothing to adopt", None),
            (
                "services:\n  web:\n    build: .\n".into(),
                "",
                "nothing to adopt",
                None,
            ),
            (
                svc("image: ${SERVICE_WEB_IMAGE_HASHED}"),
                "",
                "nothing to adopt: every",
                None,
            ),
            (svc("image: x"), "A=\"open\n", "env file line 1", None),
            (
                svc("image: netbox:${VERSION?set VERSION first}"),
                "",
                "variable `VERSION` is required: set VERSION first",
                Some(3),
            ),
            (
                svc("image: netbox:${VERSION:?set it}"),
                "VERSION=\n",
                "variable `VERSION` is required",
                Some(3),
            ),
            (
                svc("image: netbox:${VERSION}"),
                "",
                "variable `VERSION` is not set",
                Some(3),
            ),
            (svc("image: a$$b"), "", "not an image reference", Some(3)),
            (
                "x-a: &a\n  image: a\nx-b: &b\n  image: b\nservices:\n  web:\n    <<: [*a, *b]\n"
                    .into(),
                "",
                "more than one anchor",
                Some(6),
            ),
            (
                "x-a:\n  deep: &a\n    image: a\nservices:\n  web:\n    <<: *a\n".into(),
                "",
                "may set `image:`",
                Some(5),
            ),
            (
                "services:\n  web:\n    <<: {image: a}\n".into(),
                "",
                "not an alias",
                Some(3),
            ),
            (
                "x-web: &w\n  image: a\nservices:\n  web:\n    image: b\n  other:\n    <<: *w\n"
                    .into(),
                "",
                "both map to SERVICE_WEB_IMAGE_*",
                Some(5),
            ),
        ];
        for (compose, env, msg, line) in &cases {
            let err = adopt(compose, env.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(msg), "{compose:?}: {err}");
            if let Some(line) = line {
                let prefix = format!("compose line {line}:");
                assert!(err.starts_with(&prefix), "{compose:?}: {err}");
            }
        }
    }

    #[test]
    fn entry_names() {
        let cases = [
            ("paperless-ngx", Some("PAPERLESS_NGX")),
            ("db.main", Some("DB_MAIN")),
            ("App_2", Some("APP_2")),
            ("", None),
            ("w b", None),
            ("café", None),
        ];
        for (name, want) in cases {
            assert_eq!(entry_name(name).as_deref(), want, "{name}");
        }
    }
}
