//! How cipug reaches a registry: HTTPS trusting the system CA store plus the registry's own
//! CAs from `certs.d/<host[:port]>/*.crt` (and a client certificate from `*.cert` + `*.key`),
//! as skopeo does; plain HTTP or unverified TLS only for insecure registries; a proxy from
//! `HTTPS_PROXY` unless `NO_PROXY` names the host; connect and overall timeouts; redirects
//! that never lower security.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
use ureq::{Agent, Proxy};

/// Everything that decides how registries are reached.
#[derive(Debug, Clone, Default)]
pub struct TransportSettings {
    /// Registries (`host[:port]`) reached over plain HTTP or unverified TLS.
    pub insecure: Vec<String>,
    /// Folders holding `<host[:port]>/*.crt` CA files.
    pub certs_dirs: Vec<PathBuf>,
    /// Timeout of one request, connection included.
    pub timeout: Duration,
    /// The HTTPS proxy, if any.
    pub proxy: Option<String>,
    /// Hosts reached without the proxy (`NO_PROXY` entries).
    pub no_proxy: Vec<String>,
}

/// How a registry is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// HTTPS with verified certificates.
    Verified,
    /// HTTPS without verification (insecure registries).
    Unverified,
}

impl TransportSettings {
    /// Whether `host` (`host[:port]`) may be reached insecurely.
    pub fn is_insecure(&self, host: &str) -> bool {
        self.insecure.iter().any(|i| i == host)
    }

    /// Whether `host` bypasses the proxy.
    pub fn bypasses_proxy(&self, host: &str) -> bool {
        let bare = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        self.no_proxy.iter().any(|entry| {
            let entry = entry.trim();
            entry == "*"
                || entry == host
                || entry == bare
                || entry
                    .strip_prefix("*.")
                    .or_else(|| entry.strip_prefix('.'))
                    .is_some_and(|suffix| bare.ends_with(&format!(".{suffix}")) || bare == suffix)
        })
    }

    /// An HTTP agent for `host`. Connections are pooled per agent.
    pub fn agent(&self, host: &str, security: Security) -> Result<Agent, String> {
        let mut tls = TlsConfig::builder();
        match security {
            Security::Unverified => tls = tls.disable_verification(true),
            Security::Verified => {
                let mut roots: Vec<Certificate<'static>> = system_roots().to_vec();
                let (cas, client) = self.registry_certs(host)?;
                roots.extend(cas);
                tls = tls.root_certs(RootCerts::from(roots)).client_cert(client);
            }
        }
        let proxy = match &self.proxy {
            Some(p) if !self.bypasses_proxy(host) => {
                Some(Proxy::new(p).map_err(|e| format!("bad proxy `{p}`: {e}"))?)
            }
            _ => None,
        };
        // Redirects never lower security: a verified registry is followed over HTTPS only
        // (a hop to plain HTTP fails), an insecure one is not followed at all (its redirect
        // could send the request to a host that is insecure only by accident).
        let (https_only, max_redirects) = match security {
            Security::Verified => (true, 10),
            Security::Unverified => (false, 0),
        };
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .https_only(https_only)
            .max_redirects(max_redirects)
            .tls_config(tls.build())
            .proxy(proxy)
            .timeout_connect(Some(self.timeout.min(Duration::from_secs(10))))
            .timeout_global(Some(self.timeout))
            .max_idle_connections_per_host(64)
            .user_agent(concat!("cipug/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(config.new_agent())
    }

    /// The CA certificates and client certificate for `host` from the certs.d folders.
    fn registry_certs(
        &self,
        host: &str,
    ) -> Result<(Vec<Certificate<'static>>, Option<ClientCert>), String> {
        let mut cas = Vec::new();
        let mut client = None;
        for dir in &self.certs_dirs {
            let dir = dir.join(host);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in &paths {
                match path.extension().and_then(|e| e.to_str()) {
                    Some("crt") => cas.extend(read_certs(path)?),
                    Some("cert") => {
                        let key = path.with_extension("key");
                        let pem =
                            std::fs::read(&key).map_err(|e| format!("{}: {e}", key.display()))?;
                        let key = PrivateKey::from_pem(&pem)
                            .map_err(|e| format!("{}: {e}", key.display()))?;
                        client = Some(ClientCert::new_with_certs(&read_certs(path)?, key));
                    }
                    _ => {}
                }
            }
        }
        Ok((cas, client))
    }
}

fn read_certs(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(cert) =
            item.map_err(|e| format!("{}: {e}", path.display()))?
        {
            certs.push(cert);
        }
    }
    Ok(certs)
}

/// The system's CA certificates, loaded once.
fn system_roots() -> Arc<Vec<Certificate<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<Certificate<'static>>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                log::debug!("system CA store: {e}");
            }
            Arc::new(
                found
                    .certs
                    .iter()
                    .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                    .collect(),
            )
        })
        .clone()
}

/// The registries.conf files of `paths` that exist, with their text, in order; files that
/// cannot be read are warned about.
pub fn read_registries_conf(paths: &[PathBuf]) -> Vec<(PathBuf, String)> {
    paths
        .iter()
        .filter_map(|path| match std::fs::read_to_string(path) {
            Ok(text) => Some((path.clone(), text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                log::warn!("{}: {e}", path.display());
                None
            }
        })
        .collect()
}

/// The registries marked `insecure = true` in registries.conf `files` (v2 `[[registry]]`
/// tables and v1 `[registries.insecure]`). Files that do not parse are warned about.
pub fn insecure_from_registries_conf(files: &[(PathBuf, String)]) -> Vec<String> {
    let mut insecure = Vec::new();
    for (path, text) in files {
        match parse_registries_conf(text) {
            Ok(found) => insecure.extend(found),
            Err(e) => log::warn!("{}: not read: {e}", path.display()),
        }
    }
    insecure
}

/// Parses one registries.conf text into the insecure registry hosts it names.
pub fn parse_registries_conf(text: &str) -> Result<Vec<String>, String> {
    let value: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_owned())?;
    let mut insecure = Vec::new();
    if let Some(registries) = value.get("registry").and_then(|r| r.as_array()) {
        for registry in registries {
            let location = registry
                .get("location")
                .or_else(|| registry.get("prefix"))
                .and_then(|l| l.as_str());
            if let (Some(location), Some(true)) =
                (location, registry.get("insecure").and_then(|i| i.as_bool()))
            {
                insecure.push(location.split('/').next().unwrap_or(location).to_owned());
            }
        }
    }
    if let Some(list) = value
        .get("registries")
        .and_then(|r| r.get("insecure"))
        .and_then(|i| i.get("registries"))
        .and_then(|l| l.as_array())
    {
        insecure.extend(list.iter().filter_map(|v| v.as_str()).map(str::to_owned));
    }
    Ok(insecure)
}

/// The registries.conf files containers tools read: `$CONTAINERS_REGISTRIES_CONF` alone if
/// set, else `/etc/containers/registries.conf` and `registries.conf.d/*.conf` in name order.
pub fn registries_conf_paths(env_file: Option<&str>) -> Vec<PathBuf> {
    if let Some(file) = env_file.filter(|f| !f.is_empty()) {
        return vec![PathBuf::from(file)];
    }
    let mut paths = vec![PathBuf::from("/etc/containers/registries.conf")];
    if let Ok(entries) = std::fs::read_dir("/etc/containers/registries.conf.d") {
        let mut drop_ins: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "conf"))
            .collect();
        drop_ins.sort();
        paths.extend(drop_ins);
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_conf_v1_and_v2() {
        let text = r#"
unqualified-search-registries = ["docker.io"]
[[registry]]
location = "127.0.0.1:5000"
insecure = true
[[registry]]
location = "quay.io/org"
insecure = false
[[registry]]
prefix = "lab.local/team"
location = "mirror.local"
insecure = true
[registries.insecure]
registries = ["old.local:8080"]
"#;
        assert_eq!(
            parse_registries_conf(text).unwrap(),
            vec!["127.0.0.1:5000", "mirror.local", "old.local:8080"]
        );
        assert!(parse_registries_conf("[[registry]\n").is_err());
    }

    #[test]
    fn no_proxy_matching() {
        let s = TransportSettings {
            no_proxy: vec![
                "localhost".into(),
                ".corp".into(),
                "*.lab".into(),
                "10.0.0.1".into(),
            ],
            ..Default::default()
        };
        for host in ["localhost:5000", "reg.corp", "a.b.lab", "10.0.0.1:443"] {
            assert!(s.bypasses_proxy(host), "{host}");
        }
        for host in ["docker.io", "corp.io", "lab.io:5000"] {
            assert!(!s.bypasses_proxy(host), "{host}");
        }
    }
}
