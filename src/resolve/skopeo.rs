//! Resolution through `skopeo inspect --no-tags`, the Python cipug's way: one process per
//! image, one image at a time.

use serde::Deserialize;

use crate::adapters::runner::{Cmd, RunError, Runner, ToolKind};
use crate::formats::image::reference::{ImageRef, Pin};
use crate::resolve::{Resolve, ResolveError};

/// The fields of `skopeo inspect` output that make a pin.
#[derive(Debug, Deserialize)]
struct Inspect {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Digest")]
    digest: String,
}

/// Resolves with skopeo.
pub struct Skopeo<'a> {
    runner: &'a dyn Runner,
    insecure: Vec<String>,
}

impl<'a> Skopeo<'a> {
    /// A skopeo resolver; registries in `insecure` are reached without TLS verification.
    pub fn new(runner: &'a dyn Runner, insecure: &[String]) -> Self {
        Skopeo {
            runner,
            insecure: insecure.to_vec(),
        }
    }

    /// The command that inspects `written`.
    pub fn command(&self, image: &ImageRef, written: &str) -> Cmd {
        let mut cmd = Cmd::new("skopeo")
            .args(["inspect", "--no-tags"])
            .kind(ToolKind::Registry);
        if self.insecure.iter().any(|r| r == &image.registry) {
            cmd = cmd.arg("--tls-verify=false");
        }
        cmd.arg(format!("docker://{written}"))
    }
}

/// Reads a pin from the JSON that `skopeo inspect` printed.
pub fn parse_inspect(json: &str) -> Result<Pin, ResolveError> {
    let inspect: Inspect = serde_json::from_str(json).map_err(ResolveError::SkopeoOutput)?;
    Ok(Pin::new(&inspect.name, &inspect.digest)?)
}

impl Resolve for Skopeo<'_> {
    fn resolve(&self, image: &ImageRef, written: &str) -> Result<Pin, ResolveError> {
        let cmd = self.command(image, written);
        match self.runner.run(&cmd) {
            Ok(out) => parse_inspect(&out.stdout),
            Err(error) => {
                let RunError::Failed { stderr, status, .. } = &error else {
                    return Err(ResolveError::Run(Box::new(error)));
                };
                let said = stderr.trim().lines().last().unwrap_or("").trim().to_owned();
                Err(ResolveError::Skopeo {
                    status: status.clone(),
                    said,
                    error: Box::new(error),
                })
            }
        }
    }

    fn jobs(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_digest() {
        let d = format!("sha256:{}", "0f".repeat(32));
        let json =
            format!(r#"{{"Name": "docker.io/library/nextcloud", "Digest": "{d}", "Layers": []}}"#);
        assert_eq!(
            parse_inspect(&json).unwrap().as_str(),
            format!("docker.io/library/nextcloud@{d}")
        );
        assert!(parse_inspect(r#"{"Name": "x", "Digest": "sha256:zz"}"#).is_err());
        assert!(parse_inspect("not json").is_err());
    }
}
