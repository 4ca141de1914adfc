//! Turning image tags into pins (`<name>@sha256:...`), through the cache and a resolver.
//!
//! Each distinct reference of a run is resolved once; the references run through a bounded
//! pool of worker threads whose size the resolver chooses.

pub mod cache;
pub mod mirrored;
pub mod native;
pub mod skopeo;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::formats::image_ref::{ImageRef, Pin};

pub use cache::Cache;

/// Something that resolves one image reference.
pub trait Resolve: Sync {
    /// Resolves `image` (already parsed) to its pin; the error says what went wrong, with
    /// what the registry or tool said.
    fn resolve(&self, image: &ImageRef, written: &str) -> Result<Pin, String>;

    /// How many references may be resolved at the same time.
    fn jobs(&self) -> usize;

    /// Called once with every reference of the run before any is resolved, e.g. to get one
    /// token for many repositories.
    fn prepare(&self, _images: &[&ImageRef]) {}
}

/// A borrowed resolver resolves as the resolver it borrows (one client serves a whole run).
impl<T: Resolve + ?Sized> Resolve for &T {
    fn resolve(&self, image: &ImageRef, written: &str) -> Result<Pin, String> {
        (**self).resolve(image, written)
    }

    fn jobs(&self) -> usize {
        (**self).jobs()
    }

    fn prepare(&self, images: &[&ImageRef]) {
        (**self).prepare(images)
    }
}

/// The outcome for each distinct reference.
pub type Resolutions = BTreeMap<String, Result<Pin, String>>;

/// Resolves every reference in `images` (duplicates once), using fresh cache entries and
/// storing new results in the cache. `now` is the current Unix time in seconds.
pub fn resolve_all<'a>(
    resolver: &dyn Resolve,
    images: impl IntoIterator<Item = &'a str>,
    cache: &mut Cache,
    now: f64,
    progress: bool,
) -> Resolutions {
    let mut results = Resolutions::new();
    let mut todo: Vec<(String, ImageRef)> = Vec::new();
    let mut cached = 0;
    for image in images {
        if results.contains_key(image) || todo.iter().any(|(i, _)| i == image) {
            continue;
        }
        match ImageRef::parse(image) {
            Err(e) => {
                results.insert(image.to_owned(), Err(e));
            }
            Ok(parsed) => match cache.get(image, now) {
                Some(pin) => {
                    log::debug!("{image}: {pin} (cached)");
                    results.insert(image.to_owned(), Ok(pin));
                    cached += 1;
                }
                None => todo.push((image.to_owned(), parsed)),
            },
        }
    }
    if !todo.is_empty() {
        let refs: Vec<&ImageRef> = todo.iter().map(|(_, r)| r).collect();
        resolver.prepare(&refs);
    }
    let bar = progress_bar(progress, todo.len());
    let fresh = run_pool(resolver, &todo, &bar);
    bar.finish_and_clear();
    for ((image, _), result) in todo.iter().zip(fresh) {
        if let Ok(pin) = &result {
            log::debug!("{image}: {pin}");
            cache.put(image, pin, now);
        }
        results.insert(image.clone(), result);
    }
    cache.save();
    if cached > 0 {
        log::info!(
            "{cached} of {} tag(s) answered from the cache, not the registry (CACHE_DURATION; --no-cache asks the registries)",
            results.len()
        );
    }
    results
}

/// Resolves `todo` on up to `resolver.jobs()` threads; results come back in input order.
fn run_pool(
    resolver: &dyn Resolve,
    todo: &[(String, ImageRef)],
    bar: &indicatif::ProgressBar,
) -> Vec<Result<Pin, String>> {
    let slots: Vec<Mutex<Option<Result<Pin, String>>>> =
        todo.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = resolver.jobs().clamp(1, todo.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((written, image)) = todo.get(i) else {
                    break;
                };
                let result = resolver.resolve(image, written);
                bar.inc(1);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err("resolver thread failed".into()))
        })
        .collect()
}

/// A progress bar on standard error when it is a terminal; hidden otherwise.
fn progress_bar(show: bool, len: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !show || len < 2 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("resolving {bar:30} {pos}/{len} {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Counting(AtomicUsize);

    impl Resolve for Counting {
        fn resolve(&self, image: &ImageRef, _: &str) -> Result<Pin, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if image.repository.ends_with("missing") {
                return Err("manifest unknown".into());
            }
            Pin::new(&image.name(), &format!("sha256:{}", "a".repeat(64)))
        }
        fn jobs(&self) -> usize {
            4
        }
    }

    #[test]
    fn each_reference_once_and_errors_kept_apart() {
        let resolver = Counting(AtomicUsize::new(0));
        let mut cache = Cache::disabled();
        let images = ["a", "b:1", "a", "missing", "Bad Ref", "b:1"];
        let results = resolve_all(&resolver, images, &mut cache, 0.0, false);
        assert_eq!(resolver.0.load(Ordering::SeqCst), 3, "a, b:1, missing");
        assert_eq!(results.len(), 4);
        assert!(results["a"]
            .as_ref()
            .unwrap()
            .as_str()
            .starts_with("docker.io/library/a@sha256:"));
        assert_eq!(results["missing"], Err("manifest unknown".into()));
        assert!(results["Bad Ref"]
            .as_ref()
            .unwrap_err()
            .contains("invalid image reference"));
    }
}
