//! Helpers on what a registry or its token server answered, sending nothing themselves:
//! header values, status words, `Retry-After`, the registry's own error words, digests and
//! manifest checks, and how a request that got no answer is told.

use std::time::Duration;

use sha2::{Digest, Sha256};
use ureq::http::Response;
use ureq::Body;

use super::{Failure, MANIFEST_LIMIT, MANIFEST_TYPES};
use crate::formats::image::reference::{valid_digest, ImageRef, Target};

/// Who answers a request, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Peer {
    Registry,
    TokenServer,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Peer::Registry => "registry",
            Peer::TokenServer => "token server",
        })
    }
}

/// A header value, if present and printable.
pub(super) fn header(response: &Response<Body>, name: &str) -> Option<String> {
    let value = response.headers().get(name)?.to_str().ok()?;
    Some(value.trim().to_owned())
}

/// Validates the digest a registry named; a digest reference must get itself back.
pub(super) fn checked_digest(image: &ImageRef, digest: &str) -> Result<String, Failure> {
    if !valid_digest(digest) {
        let shown: String = digest
            .chars()
            .take(80)
            .filter(|c| !c.is_control())
            .collect();
        return Err(format!(
            "registry sent an invalid digest `{shown}` (want sha256: and 64 lowercase hex digits)"
        )
        .into());
    }
    if let Target::Digest(wanted) = &image.target {
        if wanted != digest {
            return Err(format!("registry answered digest {digest} for {wanted}").into());
        }
    }
    Ok(digest.to_owned())
}

pub(super) fn digest_of_body(
    image: &ImageRef,
    host: &str,
    response: Response<Body>,
) -> Result<String, Failure> {
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(format!(
            "registry {host} answered {} to GET after HEAD succeeded",
            status_text(status)
        )
        .into());
    }
    let claimed = header(&response, "docker-content-digest");
    let content_type = header(&response, "content-type");
    let body = response
        .into_body()
        .with_config()
        .limit(MANIFEST_LIMIT)
        .read_to_vec()
        .map_err(|e| format!("registry {host}: manifest not read: {e}"))?;
    manifest_check(content_type.as_deref(), &body)
        .map_err(|e| format!("registry {host}: {e}; not pinned"))?;
    let digest = format!("sha256:{:x}", Sha256::digest(&body));
    if let Some(claimed) = claimed {
        if claimed != digest {
            return Err(format!("registry {host} sent a manifest whose digest {digest} does not match its header {claimed}").into());
        }
    }
    checked_digest(image, &digest)
}

/// The media type of a `Content-Type` value if it is one of the manifest types asked for.
/// `application/json` (old registries serving schema 1) passes as unknown (`None`).
pub(super) fn manifest_kind(content_type: &str) -> Result<Option<&'static str>, String> {
    let bare = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if let Some(kind) = MANIFEST_TYPES.iter().find(|t| **t == bare) {
        return Ok(Some(kind));
    }
    if bare == "application/json" {
        return Ok(None);
    }
    let shown: String = bare.chars().filter(|c| !c.is_control()).take(80).collect();
    Err(format!(
        "answered with `{shown}`, which is not a manifest type asked for"
    ))
}

/// Checks that a manifest body is what it claims: JSON of one of the manifest types
/// asked for (the type from the `Content-Type` header, else the body's `mediaType`),
/// with the fields that kind of manifest has. An HTML page or any other body is refused.
fn manifest_check(content_type: Option<&str>, body: &[u8]) -> Result<(), Failure> {
    let declared = content_type.map(manifest_kind).transpose()?.flatten();
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| "sent a body that is not a manifest (not JSON)".to_owned())?;
    let own = value.get("mediaType").and_then(|m| m.as_str());
    let kind = match (declared, own) {
        (Some(declared), Some(own)) if !own.eq_ignore_ascii_case(declared) => {
            return Err(format!("sent a manifest of type `{own}` labelled `{declared}`").into())
        }
        (Some(declared), _) => declared,
        (None, Some(own)) => manifest_kind(own)?.unwrap_or(""),
        (None, None) if value.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1) => {
            MANIFEST_TYPES[3]
        }
        (None, None) => return Err("sent a body that is not a manifest (no media type)".into()),
    };
    let has = |field: &str| {
        value
            .get(field)
            .is_some_and(|v| v.is_array() || v.is_object())
    };
    let fits = match kind {
        k if k.contains("manifest.list") || k.contains("image.index") => has("manifests"),
        k if k.starts_with("application/vnd.docker.distribution.manifest.v1") => has("fsLayers"),
        _ => has("config") && has("layers"),
    };
    if fits && value.get("schemaVersion").is_some() {
        Ok(())
    } else {
        Err(format!("sent a body that is not a `{kind}` manifest").into())
    }
}

/// ` (CODE: message)` from a registry's JSON error body, or nothing.
pub(super) fn registry_message(response: Response<Body>) -> String {
    let Ok(text) = response
        .into_body()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
    else {
        return String::new();
    };
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        code: Option<String>,
        message: Option<String>,
    }
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).take(200).collect() };
    match serde_json::from_str::<Errors>(&text) {
        Ok(errors) if !errors.errors.is_empty() => {
            let parts: Vec<String> = errors
                .errors
                .iter()
                .map(|e| match (&e.code, &e.message) {
                    (Some(c), Some(m)) => format!("{}: {}", clean(c), clean(m)),
                    (Some(c), None) => clean(c),
                    (None, Some(m)) => clean(m),
                    (None, None) => String::new(),
                })
                .collect();
            format!(" ({})", parts.join("; "))
        }
        _ if !text.trim().is_empty() && text.len() < 200 => format!(" ({})", clean(text.trim())),
        _ => String::new(),
    }
}

pub(super) fn status_text(status: u16) -> String {
    let reason = ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_owned()
}

pub(super) fn retry_after(response: &Response<Body>) -> Option<Duration> {
    let value = header(response, "retry-after")?;
    value.parse::<u64>().ok().map(Duration::from_secs)
}

pub(super) fn retryable(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

pub(super) fn describe_transport_error(
    peer: Peer,
    host: &str,
    error: &ureq::Error,
    limit: u64,
) -> String {
    match error {
        ureq::Error::Timeout(_) => format!(
            "{peer} {host} did not answer in time (REGISTRY_TIMEOUT {limit} s for this registry)"
        ),
        ureq::Error::HostNotFound => format!("{peer} {host}: host not found"),
        ureq::Error::RequireHttpsOnly(url) => format!(
            "{peer} {host} redirected to plain HTTP ({}); refused",
            url.split(['?', '#']).next().unwrap_or("")
        ),
        other => format!(
            "{peer} {host} could not be reached: {other}{}",
            tls_fix(host, &other.to_string())
        ),
    }
}

/// What to do about a TLS failure, from its text (ureq does not promise the shape of rustls'
/// error): a handshake answered in plain HTTP (rustls: `received corrupt message of type
/// InvalidContentType`), or a certificate no CA cipug trusts vouches for.
fn tls_fix(host: &str, error: &str) -> String {
    if error.contains("InvalidContentType") {
        format!(
            "; it answers in plain HTTP, not HTTPS: if that is meant, add {host} to \
             INSECURE_REGISTRIES (cipug's setting) and mark it `insecure = true` in \
             registries.conf (`[[registry]] location = \"{host}\"`) for podman's pulls"
        )
    } else if error.contains("certificate") {
        format!(
            "; put the CA that signed its certificate in /etc/containers/certs.d/{host}/ca.crt \
             (REGISTRY_CERTS_DIR), or add {host} to INSECURE_REGISTRIES to skip verification"
        )
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_failures_name_the_fix() {
        let plain = tls_fix(
            "r:5000",
            "rustls: received corrupt message of type InvalidContentType",
        );
        assert!(
            plain.contains("INSECURE_REGISTRIES") && plain.contains("insecure = true"),
            "{plain}"
        );
        let unknown = tls_fix("r:5000", "rustls: invalid peer certificate: UnknownIssuer");
        assert!(
            unknown.contains("/etc/containers/certs.d/r:5000/ca.crt"),
            "{unknown}"
        );
        assert_eq!(tls_fix("r", "connection refused"), "");
    }

    #[test]
    fn digests_are_validated() {
        let image = ImageRef::parse("a").unwrap();
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(checked_digest(&image, &good).unwrap(), good);
        for bad in [
            "sha256:abc",
            "md5:00",
            "",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}\r\nX: y", "a".repeat(64)),
        ] {
            assert!(checked_digest(&image, bad).is_err(), "{bad:?}");
        }
        let pinned = ImageRef::parse(&format!("a@{good}")).unwrap();
        assert!(checked_digest(&pinned, &format!("sha256:{}", "b".repeat(64))).is_err());
    }

    #[test]
    fn only_manifests_of_the_types_asked_for_pass() {
        let oci = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
        let index = r#"{"schemaVersion":2,"manifests":[]}"#;
        let v1 = r#"{"schemaVersion":1,"fsLayers":[],"history":[]}"#;
        let oci_type = Some(MANIFEST_TYPES[0]);
        let index_type = Some("application/vnd.oci.image.index.v1+json; charset=utf-8");
        for (content_type, body) in [
            (oci_type, oci),
            (None, oci),
            (Some("application/json"), oci),
            (index_type, index),
            (Some("application/json"), v1),
        ] {
            assert!(
                manifest_check(content_type, body.as_bytes()).is_ok(),
                "{content_type:?} {body}"
            );
        }
        for (content_type, body) in [
            (Some("text/html"), "<html>login</html>"),
            (None, "<html>login</html>"),
            (Some("application/octet-stream"), oci),
            (index_type, oci),
            (oci_type, index),
            (oci_type, r#"{"config":{},"layers":[]}"#),
            (None, r#"{"schemaVersion":2}"#),
            (
                Some("application/vnd.docker.distribution.manifest.v2+json"),
                oci,
            ),
        ] {
            assert!(
                manifest_check(content_type, body.as_bytes()).is_err(),
                "{content_type:?} {body}"
            );
        }
    }
}
