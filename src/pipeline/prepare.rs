//! The steps every command shares before it acts: the tools a run needs, the resolver the
//! settings choose, loading the services' env files and resolving their tags.

use crate::adapters::compose::Compose;
use crate::adapters::runner::Runner;
use crate::config::{Config, ResolverKind, StopStartMethod};
use crate::error::{Error, Result};
use crate::pipeline::service::{self, Service};
use crate::resolve::native::transport::{self, TransportSettings};
use crate::resolve::native::Native;
use crate::resolve::{self, skopeo::Skopeo, Cache, Resolve};
use crate::services::ServiceDir;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

/// The tools an update with `config` needs.
pub fn required_tools(config: &Config) -> Vec<String> {
    let mut tools = Vec::new();
    if config.resolver == ResolverKind::Skopeo {
        tools.push("skopeo".to_owned());
    }
    if Compose::new(config).needed() {
        tools.push(config.compose_tool[0].clone());
    }
    if config.service_stop_start && config.stop_start_method != StopStartMethod::Compose {
        tools.push("systemctl".to_owned());
    }
    if config.service_snapshot {
        tools.push("snapper".to_owned());
    }
    if config.prune_images || config.service_stop_start || config.service_pull {
        tools.push(config.container_tool[0].clone());
    }
    tools
}

/// Fails with exit 10 naming the first tool of [`required_tools`] not on `PATH`.
pub fn check_tools(config: &Config) -> Result<()> {
    for tool in required_tools(config) {
        if which::which(&tool).is_err() {
            return Err(Error::ToolMissing(tool));
        }
    }
    Ok(())
}

/// The current Unix time in seconds.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The registry clients of one run: one native client (for tag lists and image labels, and
/// for resolving with the native resolver, all through registries.conf's mirrors) and the
/// mirror rules of registries.conf, read once. Each registry is pinged and authorized once a run.
pub struct Registries<'a> {
    native: Native<'a>,
    rules: Vec<crate::formats::registries_conf::Rule>,
    runner: &'a dyn Runner,
}

impl<'a> Registries<'a> {
    /// The clients the settings describe.
    pub fn new(config: &Config, runner: &'a dyn Runner) -> Self {
        let files = registries_conf(config);
        let rules = crate::formats::registries_conf::rules(&files);
        Registries {
            native: native_with(config, runner, &files, &rules),
            rules,
            runner,
        }
    }

    /// The native client.
    pub fn native(&self) -> &Native<'a> {
        &self.native
    }

    /// The resolver the settings choose.
    pub fn resolver(&self, config: &Config) -> Box<dyn Resolve + '_> {
        match config.resolver {
            ResolverKind::Skopeo => Box::new(Skopeo::new(self.runner, &config.insecure_registries)),
            ResolverKind::Native => Box::new(crate::resolve::mirrored::Mirrored::new(
                Box::new(&self.native),
                self.rules.clone(),
            )),
        }
    }
}

/// Resolves every image entry of `services` through the cache.
pub fn resolve_services(
    config: &Config,
    resolver: &dyn Resolve,
    services: &[Service],
    save_cache: bool,
) -> resolve::Resolutions {
    let images = services.iter().flat_map(|s| {
        s.images
            .iter()
            .map(|i| (i.tagged.as_str(), i.pinned.as_deref()))
    });
    resolve_references(config, resolver, images, save_cache)
}

/// Loads every service's env file; failures are logged and their codes collected.
pub fn load_services(
    dirs: &[ServiceDir],
    codes: &mut Vec<u8>,
) -> (Vec<Service>, Vec<(String, Error)>) {
    let mut loaded = Vec::new();
    let mut failed = Vec::new();
    for dir in dirs {
        match service::load(dir).and_then(crate::pipeline::select::update_policy::without_off) {
            Ok(service) => loaded.push(service),
            Err(e) => {
                log::error!("{}", e.of_service(&dir.name));
                codes.push(e.exit_code());
                failed.push((dir.name.clone(), e));
            }
        }
    }
    (loaded, failed)
}

/// The registries.conf files the settings name (`CONTAINERS_REGISTRIES_CONF`, else the
/// system's file and its drop-ins), read once for both their insecure marks and their
/// mirror rules.
fn registries_conf(config: &Config) -> Vec<(std::path::PathBuf, String)> {
    let env = &config.registry_env;
    transport::read_registries_conf(&transport::registries_conf_paths(
        env.registries_conf.as_deref(),
    ))
}

/// The native registry client with the settings' transport, credentials and limits, with
/// the registries.conf `files` already read and their `rules`.
fn native_with<'a>(
    config: &Config,
    runner: &'a dyn Runner,
    files: &[(std::path::PathBuf, String)],
    rules: &[crate::formats::registries_conf::Rule],
) -> Native<'a> {
    let env = &config.registry_env;
    let mut insecure = config.insecure_registries.clone();
    insecure.extend(transport::insecure_from_registries_conf(files));
    insecure.extend(crate::formats::registries_conf::insecure_mirrors(rules));
    let settings = TransportSettings {
        insecure,
        certs_dirs: config.registry_certs_dir.clone(),
        timeout: Duration::from_secs(config.registry_timeout),
        proxy: env.https_proxy.clone(),
        no_proxy: env.no_proxy.clone(),
    };
    Native::new(
        settings,
        env.auth_files.clone(),
        runner,
        config.resolve_jobs,
        config.resolve_jobs_per_registry,
    )
    .with_mirrors(rules.to_vec())
}

/// Resolves `images` (each with its pin now) through the cache, which may only confirm a
/// pin (see [`resolve::resolve_all`]).
pub fn resolve_references<'i>(
    config: &Config,
    resolver: &dyn Resolve,
    images: impl IntoIterator<Item = (&'i str, Option<&'i str>)>,
    save_cache: bool,
) -> resolve::Resolutions {
    let mut cache = Cache::load(&config.cache_location, config.cache_duration);
    if !save_cache {
        cache.set_read_only();
    }
    resolve::resolve_all(resolver, images, &mut cache, now(), config.verbosity > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_each_setting_needs() {
        let (_root, config, _dir) = crate::pipeline::fixture::service(
            "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        );
        let tools = |change: &dyn Fn(&mut Config)| {
            let mut c = config.clone();
            change(&mut c);
            required_tools(&c)
        };
        assert_eq!(
            tools(&|_| {}),
            ["podman-compose", "snapper", "podman"],
            "the defaults"
        );
        assert_eq!(
            tools(&|c| {
                c.resolver = ResolverKind::Skopeo;
                c.service_snapshot = false;
            }),
            ["skopeo", "podman-compose", "podman"]
        );
        assert_eq!(
            tools(&|c| c.stop_start_method = StopStartMethod::SystemdSystem),
            ["systemctl", "snapper", "podman"]
        );
        assert_eq!(
            tools(&|c| {
                c.service_stop_start = false;
                c.service_pull = false;
                c.prune_images = false;
                c.service_snapshot = false;
            }),
            Vec::<String>::new(),
            "only the resolver, which is native"
        );
    }

    #[test]
    fn a_service_that_does_not_load_is_reported_and_the_others_go_on() {
        let (root, config, dir) = crate::pipeline::fixture::service(
            "r.io/app@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        );
        let bad = root.path().join("bad");
        std::fs::create_dir(&bad).unwrap();
        std::fs::write(bad.join("compose.yml"), "services: {}\n").unwrap();
        std::fs::write(
            bad.join(".env"),
            "SERVICE_APP_IMAGE_UPDATE=sometimes\nSERVICE_APP_IMAGE_TAGGED=r.io/app:1\n",
        )
        .unwrap();
        let dirs = crate::services::discover(&config).unwrap();
        assert_eq!(dirs.len(), 2);
        let mut codes = Vec::new();
        let (loaded, failed) = load_services(&dirs, &mut codes);
        let names: Vec<&str> = loaded.iter().map(|s| s.dir.name.as_str()).collect();
        assert_eq!(names, [dir.name.as_str()]);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, "bad");
        assert_eq!(codes, [32]);
    }
}
