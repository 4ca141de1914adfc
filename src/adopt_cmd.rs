//! `cipug adopt <folder> [--dry-run]`: applies [`crate::adopt`] to a service folder, writing
//! the `.env` first (a TAGGED line alone changes nothing) and then the compose file, each
//! atomically.

use std::io::Write;
use std::path::Path;

use crate::atomic;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::update::line_diff;

/// Runs the adopt command.
pub fn run(config: &Config, folder: &Path, dry_run: bool, out: &mut dyn Write) -> Result<()> {
    let compose_path = folder.join(&config.compose_file_name);
    let env_path = folder.join(&config.env_file_name);
    let compose = match std::fs::read_to_string(&compose_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::FileNotFound(compose_path))
        }
        Err(e) => return Err(Error::io(&compose_path, e)),
    };
    let env = match std::fs::read(&env_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(&env_path, e)),
    };
    let adoption = crate::adopt::adopt(&compose, &env)
        .map_err(|e| Error::Value(format!("{}: {e}", compose_path.display())))?;
    if let Ok(file) = crate::compose_services::ComposeServices::parse(&adoption.compose) {
        for volume in file.outside_volumes(folder) {
            log::warn!("{volume}: not in the snapshot, a rollback does not put it back");
        }
    }
    let io = |e| Error::io("standard output", e);
    let old_env = String::from_utf8_lossy(&env);
    if dry_run {
        for (path, before, after) in [
            (&env_path, old_env.as_ref(), adoption.env.as_str()),
            (&compose_path, compose.as_str(), adoption.compose.as_str()),
        ] {
            writeln!(out, "--- {}\n+++ {}", path.display(), path.display()).map_err(io)?;
            for line in line_diff(before, after) {
                writeln!(out, "{line}").map_err(io)?;
            }
        }
        return Ok(());
    }
    atomic::write(&env_path, adoption.env.as_bytes(), 0o600)
        .map_err(|e| Error::Env(format!("{}: could not write: {e}", env_path.display())))?;
    atomic::write(&compose_path, adoption.compose.as_bytes(), 0o644)
        .map_err(|e| Error::io(&compose_path, e))?;
    for entry in &adoption.entries {
        writeln!(
            out,
            "{}: SERVICE_{}_IMAGE_TAGGED={} (compose line {})",
            entry.service, entry.entry, entry.image, entry.line
        )
        .map_err(io)?;
    }
    writeln!(
        out,
        "adopted {} image(s); now run `cipug update` to pin them",
        adoption.entries.len()
    )
    .map_err(io)?;
    Ok(())
}
