//! `cipug adopt <folder> [--dry-run] [--subvolume]`: applies [`crate::formats::compose::adoption`] to a
//! service folder, writing the `.env` first (a TAGGED line alone changes nothing) and then the
//! compose file, each atomically, once the folder is one `cipug update` can snapshot.

pub mod subvolume;

use std::io::Write;
use std::path::Path;

use crate::adapters::runner::Runner;
use crate::commands::adopt::subvolume::Folder;
use crate::config::{Config, Sources};
use crate::error::{EnvError, Error, Result};
use crate::files::atomic;
use crate::formats::line_diff::line_diff;

/// The settings' sources for adopting `folder` when no `SERVICES_ROOT` is set anywhere: a
/// folder given by path needs none, so its parent stands in.
pub fn sources_without_root(sources: &Sources, folder: &Path) -> Sources {
    let mut sources = sources.clone();
    let folder = sources.cwd.join(folder);
    let parent = folder.parent().unwrap_or(&folder).display().to_string();
    sources.flags.insert("SERVICES_ROOT", parent);
    sources
}

/// The service folder `folder` as the pipeline names it.
fn service_dir(config: &Config, folder: &Path) -> Result<crate::services::ServiceDir> {
    let path = folder
        .canonicalize()
        .map_err(|_| Error::DirNotFound(folder.to_path_buf()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Value(format!("{}: the folder name is not UTF-8", path.display())))?
        .to_owned();
    Ok(crate::services::ServiceDir {
        env_file: path.join(&config.env_file_name),
        project: crate::adapters::compose::project_name(&name),
        name,
        path,
        trusted: crate::files::trust::Trusted::default(),
    })
}

/// What adopt writes: nothing (every image already follows the scheme), or both files.
enum Rewrite {
    Already,
    Files {
        env_path: std::path::PathBuf,
        old_env: String,
        compose_path: std::path::PathBuf,
        compose: String,
        adoption: crate::formats::compose::adoption::Adoption,
    },
}

/// Reads the folder's files and works out their adoption; refuses (exit 25) what adopt
/// cannot rewrite or later runs would refuse. Writes nothing.
fn rewrite(config: &Config, folder: &Path) -> Result<Rewrite> {
    let Some(compose_path) = crate::services::compose_files::path(config, folder) else {
        log::warn!(
            "{}: no compose file: looked for {}; COMPOSE_FILE_NAME names another",
            folder.display(),
            crate::services::compose_files::wanted(config)
        );
        let first = crate::services::compose_files::wanted(config);
        let first = first.split(", ").next().unwrap_or_default();
        return Err(Error::FileNotFound(folder.join(first)));
    };
    let env_path = folder.join(&config.env_file_name);
    // Every later run would refuse a folder others can change: refused here too, before
    // anything of it is written.
    let trusted =
        crate::files::trust::Trusted::parse(&config.trusted_owners).map_err(Error::Value)?;
    let files = crate::files::trust::instruction_files(folder, &config.env_file_name);
    crate::files::trust::check(folder, &files, &trusted)
        .map_err(|refused| Error::Value(format!("not adopted: {refused}")))?;
    let compose = crate::services::compose_files::read(&compose_path)
        .map_err(|e| Error::io(&compose_path, e))?;
    let env = match std::fs::read(&env_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(&env_path, e)),
    };
    let adoption = match crate::formats::compose::adoption::adopt(&compose, &env) {
        Ok(adoption) => adoption,
        // Running adopt again is fine: nothing to do is not an error.
        Err(crate::formats::compose::adoption::AdoptError::AlreadyAdopted) => {
            return Ok(Rewrite::Already)
        }
        Err(e) => return Err(Error::Value(format!("{}: {e}", compose_path.display()))),
    };
    if let Ok(file) = crate::formats::compose::services::ComposeServices::parse(&adoption.compose) {
        for volume in file.outside_volumes(folder) {
            log::warn!("{volume}: not in the snapshot, a rollback does not put it back");
        }
    }
    Ok(Rewrite::Files {
        env_path,
        old_env: String::from_utf8_lossy(&env).into_owned(),
        compose_path,
        compose,
        adoption,
    })
}

/// Runs the adopt command: works out the rewrite (refusing what it cannot rewrite), makes
/// the folder one `cipug update` can snapshot or refuses it ([`subvolume::make_ready`]),
/// then writes the `.env` and the compose file. Nothing is written before both checks pass.
pub fn run(
    config: &Config,
    runner: &dyn Runner,
    folder: &Path,
    how: Folder,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<()> {
    if !folder.is_dir() {
        return Err(Error::DirNotFound(folder.to_path_buf()));
    }
    let io = |e| Error::io("standard output", e);
    let rewrite = rewrite(config, folder)?;
    subvolume::make_ready(
        config,
        runner,
        &service_dir(config, folder)?,
        how,
        dry_run,
        out,
    )?;
    let Rewrite::Files {
        env_path,
        old_env,
        compose_path,
        compose,
        adoption,
    } = rewrite
    else {
        writeln!(
            out,
            "{}: already adopted; nothing to change",
            folder.display()
        )
        .map_err(io)?;
        return Ok(());
    };
    if dry_run {
        for (path, before, after) in [
            (&env_path, old_env.as_str(), adoption.env.as_str()),
            (&compose_path, compose.as_str(), adoption.compose.as_str()),
        ] {
            writeln!(out, "--- {}\n+++ {}", path.display(), path.display()).map_err(io)?;
            for line in line_diff(before, after) {
                writeln!(out, "{line}").map_err(io)?;
            }
        }
        return Ok(());
    }
    atomic::write(&env_path, adoption.env.as_bytes(), 0o600).map_err(|source| {
        Error::Env(EnvError::Write {
            path: env_path.clone(),
            source,
        })
    })?;
    atomic::write(&compose_path, adoption.compose.as_bytes(), 0o644)
        .map_err(|e| Error::io(&compose_path, e))?;
    for entry in &adoption.entries {
        let shared = match entry.services.as_slice() {
            [only] if *only == entry.service => String::new(),
            services => format!(", used by {}", services.join(", ")),
        };
        writeln!(
            out,
            "{}: {}={} (compose line {}{shared})",
            entry.service,
            crate::formats::env_keys::TAGGED.key(&entry.entry),
            entry.image,
            entry.line
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
