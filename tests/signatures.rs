//! End to end: the container tool's signature policy. A policy that requires images of the
//! test registry to be signed (`signedBy`, GPG simple signing, signatures in a lookaside
//! folder) lets a signed image through and refuses an unsigned one; cipug says so, touches
//! nothing and holds the unsigned digest back.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::{sh_in, Behaviour, Stack, COMPOSE};

const SIGNER: &str = "cipug test <signer@example.invalid>";
const SIGNER_EMAIL: &str = "signer@example.invalid";

/// A throwaway GPG home with one key, and the lookaside folder its signatures go to; ends
/// the key's gpg-agent when dropped.
struct Signer {
    home: PathBuf,
    registries_d: PathBuf,
    public_key: PathBuf,
}

impl Signer {
    /// Makes the key in `dir/gpg` and a registries.d in `registries_d` that stores and reads
    /// signatures in `dir/lookaside`.
    fn new(dir: &Path, registries_d: &Path) -> Signer {
        let home = dir.join("gpg");
        fs::create_dir_all(&home).unwrap();
        let mut perms = fs::metadata(&home).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        fs::set_permissions(&home, perms).unwrap();
        let signer = Signer {
            home,
            registries_d: registries_d.to_path_buf(),
            public_key: dir.join("signer.gpg"),
        };
        signer.gpg(&[
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            SIGNER,
            "default",
            "default",
            "never",
        ]);
        let key = signer.gpg(&["--export", SIGNER_EMAIL]);
        assert!(!key.is_empty());
        fs::write(&signer.public_key, key).unwrap();
        let lookaside = dir.join("lookaside");
        fs::create_dir_all(&lookaside).unwrap();
        fs::create_dir_all(registries_d).unwrap();
        fs::write(
            registries_d.join("default.yaml"),
            format!(
                "default-docker:\n  sigstore-staging: file://{0}\n  sigstore: file://{0}\n",
                lookaside.display()
            ),
        )
        .unwrap();
        signer
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![("GNUPGHOME".into(), self.home.display().to_string())]
    }

    fn gpg(&self, args: &[&str]) -> Vec<u8> {
        let out = sh_in(Path::new("/"), &self.env(), "gpg", args);
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Pushes a new image of `version` to `addr/repo_tag`, signed when `sign`; its digest.
    fn push(&self, stack: &Stack, repo_tag: &str, version: &str, sign: Sign) -> String {
        let (layout, digest) = stack.images.layout(version, Behaviour::Serve);
        let registries_d = self.registries_d.display().to_string();
        let mut args = vec![
            "--registries.d",
            &registries_d,
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--preserve-digests",
        ];
        if sign == Sign::Yes {
            args.extend(["--sign-by", SIGNER_EMAIL]);
        }
        let source = format!("oci:{}:latest", layout.display());
        let dest = format!("docker://{}/{repo_tag}", stack.registry.addr);
        args.extend([source.as_str(), dest.as_str()]);
        let out = sh_in(Path::new("/"), &self.env(), "skopeo", &args);
        assert!(
            out.status.success(),
            "skopeo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        digest
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = sh_in(Path::new("/"), &self.env(), "gpgconf", &["--kill", "all"]);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    Yes,
    No,
}

#[test]
fn an_unsigned_image_the_policy_requires_signed_is_refused_and_held_back() {
    let mut stack = Stack::new();
    // cipug runs with HOME set to the stack's work folder: podman reads the policy and the
    // registries.d from `$HOME/.config/containers/` before the ones in /etc.
    let user_config = stack.work.path().join(".config/containers");
    let signer = Signer::new(
        &stack.work.path().join("signing"),
        &user_config.join("registries.d"),
    );
    let signed_scope = format!("{}/signed", stack.registry.addr);
    fs::write(
        user_config.join("policy.json"),
        serde_json::json!({
            "default": [{"type": "insecureAcceptAnything"}],
            "transports": {"docker": {signed_scope.clone(): [
                {"type": "signedBy", "keyType": "GPGKeys", "keyPath": signer.public_key}
            ]}},
        })
        .to_string(),
    )
    .unwrap();
    let image = stack.image("signed/app");
    let d1 = signer.push(&stack, "signed/app:latest", "1", Sign::Yes);
    let dir = stack.service(
        "sig-app",
        COMPOSE,
        &format!("SERVICE_APP_IMAGE_TAGGED={image}\n"),
        true,
    );

    // Signed: pulled, pinned and running.
    let run = stack.cipug(&[], &[]);
    run.expect_code(0);
    assert_eq!(stack.pin("sig-app"), Some(format!("{image}@{d1}")));
    let d2 = signer.push(&stack, "signed/app:latest", "2", Sign::Yes);
    let run = stack.cipug(&["--cache-duration", "0"], &[]);
    run.expect_code(0);
    assert_eq!(stack.pin("sig-app"), Some(format!("{image}@{d2}")));
    let (state, running) = stack.containers("sig-app").into_values().next().unwrap();
    assert_eq!(
        (state.as_str(), running),
        ("running", format!("{image}@{d2}"))
    );
    // Unsigned: refused by the policy, and cipug says so; nothing changed.
    let env_before = fs::read(dir.join(".env")).unwrap();
    let snapshots_before = stack.snapshots("sig-app");
    let d3 = signer.push(&stack, "signed/app:latest", "3", Sign::No);
    let run = stack.cipug(&["--cache-duration", "0"], &[]);
    run.expect_code(33);
    assert!(
        run.stderr.contains("refused by the signature policy"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&d3), "{}", run.stderr);
    assert_eq!(fs::read(dir.join(".env")).unwrap(), env_before);
    assert_eq!(stack.snapshots("sig-app"), snapshots_before);
    let (state, running) = stack.containers("sig-app").into_values().next().unwrap();
    assert_eq!(
        (state.as_str(), running),
        ("running", format!("{image}@{d2}"))
    );

    // The next run holds the refused digest back: no pull, nothing touched, exit 0.
    let run = stack.cipug(&["--cache-duration", "0"], &[]);
    run.expect_code(0);
    assert!(run.stderr.contains("held back"), "{}", run.stderr);
    assert_eq!(fs::read(dir.join(".env")).unwrap(), env_before);
    assert_eq!(stack.snapshots("sig-app"), snapshots_before);
    let history = stack.history("sig-app");
    let refused = history
        .iter()
        .find(|e| e["outcome"] == "pull failed")
        .unwrap_or_else(|| panic!("{history:?}"));
    assert_eq!(refused["new"], format!("{image}@{d3}"));
    assert!(
        refused["message"].as_str().is_some_and(
            |m| m.contains("refused by the signature policy: A signature was required")
        ),
        "{refused:?}"
    );
    assert_eq!(history.last().unwrap()["outcome"], "held back");

    // doctor names the policy in force for the registry.
    let doctor = stack.cipug(&["doctor"], &[]);
    let want = format!(
        "signature policy for {image}: signedBy (GPG key {}), from transports.docker \"{signed_scope}\"",
        signer.public_key.display()
    );
    assert!(doctor.stdout.contains(&want), "{want}\n{}", doctor.stdout);
}
