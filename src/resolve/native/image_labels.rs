//! The labels and annotations of the image a pin runs on this host: the manifest by digest;
//! for an index (multi-arch), the manifest of this host's platform; then its config blob.
//! `org.opencontainers.image.version`, `.revision`, `.source` and `.created` say what changed.
//! Read through registries.conf mirrors, as podman pulls the pin.

use std::collections::BTreeMap;

use serde_json::Value;

use super::label_budget::LabelRead;
use super::{Failure, Native, MANIFEST_LIMIT, MANIFEST_TYPES};
use crate::formats::image::reference::{ImageRef, Target};
use crate::resolve::ResolveError;

const CONFIG_LIMIT: u64 = 4 << 20;

/// What one pin runs on this host's platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformImage {
    /// Whether the pin is an index of several platforms.
    pub multi_arch: bool,
    /// The digest of the platform's image manifest.
    pub manifest: String,
    /// Config labels, overridden by the manifest's and the index's annotations.
    pub labels: BTreeMap<String, String>,
}

/// This host's platform as image indexes name it (`linux/amd64`, `linux/arm64`).
pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    };
    ("linux", arch)
}

/// The digest of the manifest for `(os, arch)` in an index.
pub fn pick_platform(index: &Value, (os, arch): (&str, &str)) -> Option<String> {
    index["manifests"]
        .as_array()?
        .iter()
        .find(|m| m["platform"]["os"] == os && m["platform"]["architecture"] == arch)
        .and_then(|m| m["digest"].as_str())
        .map(str::to_owned)
}

/// The string values of a JSON object (labels, annotations).
fn strings(value: &Value) -> impl Iterator<Item = (String, String)> + '_ {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
}

impl Native<'_> {
    fn json(
        &self,
        image: &ImageRef,
        path: &str,
        accept: &str,
        limit: u64,
    ) -> Result<Value, Failure> {
        let answer = self.api_get(image, path, accept, limit)?;
        serde_json::from_slice(&answer.body)
            .map_err(|e| format!("{}: {path}: not JSON: {e}", image.name()).into())
    }

    /// The image `pin` (`name@sha256:...`) runs on this host, with its labels.
    /// Its requests have the label reads' own budget (`label_budget`), not what
    /// is left of the resolution's.
    /// Read from the first of the pin's registries.conf mirrors (then its location) that
    /// answers, as podman pulls it by digest.
    pub fn platform_image(&self, pin: &str) -> Result<PlatformImage, ResolveError> {
        let image = ImageRef::parse(pin)?;
        self.through_mirrors(&image, |place| self.platform_image_at(place, pin))
    }

    /// [`Self::platform_image`] at exactly `image`'s registry (`pin` as written, for errors).
    fn platform_image_at(&self, image: &ImageRef, pin: &str) -> Result<PlatformImage, Failure> {
        let image = image.clone();
        let registry = self.registry(&image);
        let _read = LabelRead::start(&registry.labels);
        let Target::Digest(digest) = &image.target else {
            return Err(format!("{pin}: not a pin").into());
        };
        let accept = MANIFEST_TYPES.join(", ");
        let manifest_path = |d: &str| format!("/v2/{}/manifests/{d}", image.repository);
        let top = self.json(&image, &manifest_path(digest), &accept, MANIFEST_LIMIT)?;
        let mut found = PlatformImage::default();
        let manifest = if top["manifests"].is_array() {
            let platform = host_platform();
            let chosen = pick_platform(&top, platform).ok_or_else(|| {
                format!(
                    "{pin}: no image for {}/{} in the index",
                    platform.0, platform.1
                )
            })?;
            found.multi_arch = true;
            let manifest = self.json(&image, &manifest_path(&chosen), &accept, MANIFEST_LIMIT)?;
            found.manifest = chosen;
            manifest
        } else {
            found.manifest = digest.clone();
            top.clone()
        };
        if let Some(config) = manifest["config"]["digest"].as_str() {
            let path = format!("/v2/{}/blobs/{config}", image.repository);
            let blob = self.json(&image, &path, "*/*", CONFIG_LIMIT)?;
            found.labels.extend(strings(&blob["config"]["Labels"]));
        }
        found.labels.extend(strings(&manifest["annotations"]));
        if found.multi_arch {
            found.labels.extend(strings(&top["annotations"]));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_platform() {
        let index = serde_json::json!({"manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "amd64"}},
        ]});
        assert_eq!(
            pick_platform(&index, ("linux", "amd64")).as_deref(),
            Some("sha256:b")
        );
        assert_eq!(pick_platform(&index, ("linux", "s390x")), None);
        assert_eq!(
            pick_platform(&serde_json::json!({}), ("linux", "amd64")),
            None
        );
    }
}
