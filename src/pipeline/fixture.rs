//! A service folder for the pipeline's unit tests: one compose service `app` whose image is
//! `${SERVICE_APP_IMAGE_HASHED}`, pinned as asked, with state beside it and a health gate
//! that looks once.

use crate::config::Config;
use crate::services::ServiceDir;

/// A pin of `r.io/app`, the one before an update in the tests.
pub const OLD: &str =
    "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111";
/// Another pin of `r.io/app`, the one an update moves to in the tests.
pub const NEW: &str =
    "r.io/app@sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// The folder `svc` in a new services root, its `.env` pinning `pin`; the root (dropped:
/// removed), the settings and the folder.
pub fn service(pin: &str) -> (tempfile::TempDir, Config, ServiceDir) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("svc");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yml"),
        "services:\n  app:\n    image: ${SERVICE_APP_IMAGE_HASHED}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join(".env"),
        format!("SERVICE_APP_IMAGE_TAGGED=r.io/app:1\nSERVICE_APP_IMAGE_HASHED={pin}\n"),
    )
    .unwrap();
    let state = root.path().join("state");
    let config = Config::for_tests(
        &[
            ("CIPUG_SERVICES_ROOT", root.path().to_str().unwrap()),
            ("CIPUG_STATE_DIR", state.to_str().unwrap()),
            ("CIPUG_HEALTH_TIMEOUT", "0"),
            ("CIPUG_HEALTH_SETTLE", "0"),
        ],
        root.path(),
    );
    let dir = crate::services::discover(&config).unwrap().remove(0);
    (root, config, dir)
}

/// A change of `entry` from `old` to `new` (a pin), no tag move.
pub fn change(entry: &str, old: Option<&str>, new: &str) -> crate::pipeline::service::Change {
    crate::pipeline::service::Change {
        entry: entry.to_owned(),
        old: old.map(str::to_owned),
        new: crate::formats::image::reference::Pin::parse(new).unwrap(),
        retag: None,
        older: None,
    }
}
