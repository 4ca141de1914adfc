//! The cache of resolved tags, in the Python cipug's JSON shape:
//! `{"<ref>": {"time": <unix seconds>, "result": "<Name@Digest>"}}`.
//!
//! Root pins whatever the cache says, so the file is trusted only when it is a regular file
//! (not a symlink) owned by the user running cipug and writable by no one else, in a folder
//! that no one else can change (see [`crate::files::private_dir`]), and it is written only through
//! that folder's handle; the folder is created 0700 and the file 0600. A corrupt file is
//! reported and rebuilt.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::files::private_dir::{Create, PrivateDir, Untrusted};
use crate::formats::image::reference::Pin;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheEntry {
    time: f64,
    result: String,
}

/// The cache of one run.
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    duration: u64,
    entries: BTreeMap<String, CacheEntry>,
    /// False when the file is not to be trusted or the cache is off: nothing read or written.
    usable: bool,
    dirty: bool,
    read_only: bool,
}

impl Cache {
    /// A cache that reads and writes nothing.
    pub fn disabled() -> Cache {
        Cache {
            path: PathBuf::new(),
            duration: 0,
            entries: BTreeMap::new(),
            usable: false,
            dirty: false,
            read_only: false,
        }
    }

    /// Loads the cache at `path`; `duration` 0 disables it. Problems are warnings: the run
    /// goes on without (or with a fresh) cache.
    pub fn load(path: &Path, duration: u64) -> Cache {
        let mut cache = Cache {
            path: path.to_path_buf(),
            duration,
            ..Cache::disabled()
        };
        if duration == 0 {
            return cache;
        }
        match read_trusted(path) {
            Ok(None) => cache.usable = true,
            Ok(Some(text)) => {
                cache.usable = true;
                match serde_json::from_str::<BTreeMap<String, CacheEntry>>(&text) {
                    Ok(entries) => {
                        cache.entries = entries
                            .into_iter()
                            .filter(|(_, e)| Pin::parse(&e.result).is_ok() && e.time.is_finite())
                            .collect();
                    }
                    Err(e) => {
                        log::warn!(
                            "{}: corrupt cache ({e}); starting a new one",
                            path.display()
                        );
                        cache.dirty = true;
                    }
                }
            }
            Err(msg) => log::warn!(
                "{}: {msg}; the cache is not used in this run",
                path.display()
            ),
        }
        cache
    }

    /// A result for `image` younger than the cache duration.
    pub fn get(&self, image: &str, now: f64) -> Option<Pin> {
        if !self.usable {
            return None;
        }
        let entry = self.entries.get(image)?;
        let age = now - entry.time;
        if (0.0..self.duration as f64).contains(&age) {
            Pin::parse(&entry.result).ok()
        } else {
            None
        }
    }

    /// Records a fresh result.
    pub fn put(&mut self, image: &str, pin: &Pin, now: f64) {
        if self.usable {
            self.entries.insert(
                image.to_owned(),
                CacheEntry {
                    time: now,
                    result: pin.as_str().to_owned(),
                },
            );
            self.dirty = true;
        }
    }

    /// Keeps the cache from being written (dry runs change nothing).
    pub fn set_read_only(&mut self) {
        self.dirty = false;
        self.read_only = true;
    }

    /// Writes the cache back if anything changed. Failures are warnings.
    pub fn save(&mut self) {
        if !(self.usable && self.dirty) || self.read_only {
            return;
        }
        let result = serde_json::to_string_pretty(&self.entries)
            .map_err(io::Error::other)
            .and_then(|json| write_trusted(&self.path, json.as_bytes()));
        match result {
            Ok(()) => self.dirty = false,
            Err(e) => log::warn!("{}: could not write the cache: {e}", self.path.display()),
        }
    }
}

/// The cache's folder and file name.
fn split(path: &Path) -> Option<(&Path, &str)> {
    let name = path.file_name()?.to_str()?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    Some((dir, name))
}

/// Reads the file if it exists and may be trusted: its folder opened without following
/// planted links, the file itself no link, owned by the user and writable by no one else.
fn read_trusted(path: &Path) -> Result<Option<String>, String> {
    let (dir, name) = split(path).ok_or("is not a file path")?;
    let dir = match PrivateDir::open(dir, Create::No) {
        Ok(dir) => dir,
        Err(Untrusted::Missing(_)) => return Ok(None),
        Err(e) => return Err(format!("{e}")),
    };
    match dir.read(name) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| "is not UTF-8".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes the file through its folder's handle (the folder created 0700 if missing).
fn write_trusted(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (dir, name) = split(path).ok_or_else(|| io::Error::other("not a file path"))?;
    let dir = PrivateDir::open(dir, Create::Yes).map_err(|e| match e {
        Untrusted::Io { source, .. } => source,
        e => io::Error::other(e.to_string()),
    })?;
    dir.write(name, bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    const PIN: &str = "docker.io/library/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_in_the_original_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.json");
        let mut cache = Cache::load(&path, 3600);
        cache.put("x", &Pin::parse(PIN).unwrap(), 1000.0);
        cache.save();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777,
            0o700
        );
        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["x"]["result"], PIN);
        assert_eq!(json["x"]["time"], 1000.0);
        let cache = Cache::load(&path, 3600);
        assert_eq!(cache.get("x", 1000.0 + 3599.0).unwrap().as_str(), PIN);
        assert!(cache.get("x", 1000.0 + 3600.0).is_none(), "expired");
        assert!(cache.get("y", 1000.0).is_none());
    }

    #[test]
    fn untrusted_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let good = format!(r#"{{"x": {{"time": 1000, "result": "{PIN}"}}}}"#);
        let path = dir.path().join("cache.json");
        fs::write(&path, &good).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(
            Cache::load(&path, 3600).get("x", 1001.0).is_none(),
            "world-writable"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Cache::load(&path, 3600).get("x", 1001.0).is_some());
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let mut cache = Cache::load(&link, 3600);
        assert!(cache.get("x", 1001.0).is_none(), "symlink");
        cache.put("y", &Pin::parse(PIN).unwrap(), 1.0);
        cache.save();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "never written through"
        );
        assert!(Cache::load(&path, 0).get("x", 1001.0).is_none(), "disabled");
    }

    #[test]
    fn corrupt_cache_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        fs::write(&path, "{\"x\": {\"time\": 1000, \"res").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let mut cache = Cache::load(&path, 3600);
        assert!(cache.get("x", 1001.0).is_none());
        cache.save();
        assert_eq!(fs::read_to_string(&path).unwrap().trim(), "{}");
    }
}
