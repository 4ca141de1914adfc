//! Authorization for pulls: the registry's own credentials for Basic, tokens from the
//! Bearer realm otherwise, fetched for one or many repositories at once and cached per scope
//! until they expire.

use std::time::{Duration, Instant};

use ureq::http::Response;
use ureq::Body;

use super::challenge::Challenge;
use super::credentials::{self, Credentials};
use super::endpoint::{Endpoint, Registry};
use super::response::{registry_message, status_text, Peer};
use super::transport::Security;
use super::{Failure, Native};

const SMALL_BODY_LIMIT: u64 = 1 << 20;
const TOKEN_LIFETIME_CAP: u64 = 24 * 3600;

impl Native<'_> {
    /// The registry's credentials for `repository`, looked up once per run.
    fn credentials(
        &self,
        registry: &Registry,
        repository: &str,
    ) -> Result<Option<Credentials>, Failure> {
        let mut cache = registry
            .credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(found) = cache.get(repository) {
            return Ok(found.clone());
        }
        let found = credentials::lookup(&self.auth_files, &registry.name, repository, self.runner)?;
        cache.insert(repository.to_owned(), found.clone());
        Ok(found)
    }

    /// Sends `request` with the authorization for a pull of `repository`. When a Bearer
    /// registry answers 401 (a token shared by many repositories may not cover this one), it
    /// fetches a token of the repository's own once and sends again. Returns the answer and
    /// the authorization it was sent with, for more requests of the same repository.
    pub(super) fn authorized(
        &self,
        registry: &Registry,
        endpoint: &Endpoint,
        repository: &str,
        request: impl Fn(Option<&str>) -> Result<Response<Body>, Failure>,
    ) -> Result<(Response<Body>, Option<String>), Failure> {
        let auth = self.authorization(registry, endpoint, repository)?;
        let response = request(auth.as_deref())?;
        if response.status().as_u16() != 401
            || !matches!(endpoint.challenge, Some(Challenge::Bearer { .. }))
        {
            return Ok((response, auth));
        }
        let scope = pull_scope(repository);
        registry
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&scope);
        self.fetch_tokens(registry, endpoint, std::slice::from_ref(&scope))?;
        let auth = cached_token(registry, &scope).map(|t| format!("Bearer {t}"));
        Ok((request(auth.as_deref())?, auth))
    }

    /// The `Authorization` header for a pull of `repository`, if the registry wants one.
    pub(super) fn authorization(
        &self,
        registry: &Registry,
        endpoint: &Endpoint,
        repository: &str,
    ) -> Result<Option<String>, Failure> {
        match &endpoint.challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self
                .credentials(registry, repository)?
                .map(|c| c.basic_header())),
            Some(Challenge::Bearer { .. }) => {
                let scope = pull_scope(repository);
                if let Some(token) = cached_token(registry, &scope) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                self.fetch_tokens(registry, endpoint, std::slice::from_ref(&scope))?;
                Ok(cached_token(registry, &scope).map(|t| format!("Bearer {t}")))
            }
        }
    }

    /// Gets one token for all `scopes` from the Bearer realm and caches it for each.
    pub(super) fn fetch_tokens(
        &self,
        registry: &Registry,
        endpoint: &Endpoint,
        scopes: &[String],
    ) -> Result<(), Failure> {
        let Some(Challenge::Bearer { realm, service, .. }) = &endpoint.challenge else {
            return Ok(());
        };
        let realm_host = realm_host_of(registry, endpoint, realm)?;
        let response = self.request_token(
            registry,
            endpoint,
            realm,
            &realm_host,
            service.as_deref(),
            scopes,
        )?;
        let (token, lifetime) = read_token(&realm_host, response)?;
        store_token(registry, scopes, &token, lifetime);
        Ok(())
    }

    /// Asks the Bearer realm (at `realm_host`) for one token covering `scopes`, sending
    /// credentials only where they belong.
    fn request_token(
        &self,
        registry: &Registry,
        endpoint: &Endpoint,
        realm: &str,
        realm_host: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<Response<Body>, Failure> {
        // Credentials go only to the registry they belong to: the realm gets them if it is the
        // registry's own host, Docker Hub's token service, or has credentials of its own.
        let repository = scopes
            .first()
            .and_then(|s| s.split(':').nth(1))
            .unwrap_or("");
        let same_site = realm_host == registry.host
            || (registry.name == crate::formats::image::reference::DOCKER_HUB
                && realm_host == "auth.docker.io");
        let creds = if same_site {
            self.credentials(registry, repository)?
        } else {
            credentials::lookup(&self.auth_files, realm_host, "", self.runner)?
        };
        let mut query: Vec<(String, String)> = Vec::new();
        if let Some(service) = service {
            query.push(("service".into(), service.to_owned()));
        }
        for scope in scopes {
            query.push(("scope".into(), scope.clone()));
        }
        let agent = self.transport.agent(
            realm_host,
            if endpoint.insecure {
                Security::Unverified
            } else {
                Security::Verified
            },
        )?;
        self.send(registry, Peer::TokenServer, realm_host, |t| {
            let mut request = agent.get(realm).config().timeout_global(Some(t)).build();
            for (k, v) in &query {
                request = request.query(k, v);
            }
            if let Some(c) = &creds {
                request = request.header("Authorization", c.basic_header());
            }
            request.call()
        })
    }
}

/// The `host[:port]` of a Bearer realm, which must be HTTPS (or HTTP for an insecure
/// registry).
fn realm_host_of(registry: &Registry, endpoint: &Endpoint, realm: &str) -> Result<String, Failure> {
    let realm_url = realm
        .parse::<ureq::http::Uri>()
        .map_err(|_| format!("registry {}: bad token realm `{realm}`", registry.host))?;
    let realm_host = match (realm_url.host(), realm_url.port_u16()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => return Err(format!("registry {}: bad token realm `{realm}`", registry.host).into()),
    };
    match realm_url.scheme_str() {
        Some("https") => {}
        Some("http") if endpoint.insecure => {}
        _ => {
            return Err(format!(
                "registry {}: refusing token realm `{realm}` (not HTTPS)",
                registry.host
            )
            .into())
        }
    }
    Ok(realm_host)
}

/// The token in the token server's answer and the seconds to keep it.
fn read_token(realm_host: &str, response: Response<Body>) -> Result<(String, u64), Failure> {
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "token service {realm_host} answered {}{}",
            status_text(status.as_u16()),
            registry_message(response)
        )
        .into());
    }
    #[derive(serde::Deserialize)]
    struct TokenAnswer {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let unreadable = |e: &dyn std::fmt::Display| {
        format!("token service {realm_host} sent an unreadable answer: {e}")
    };
    let body = response
        .into_body()
        .with_config()
        .limit(SMALL_BODY_LIMIT)
        .read_to_vec()
        .map_err(|e| unreadable(&e))?;
    let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| unreadable(&e))?;
    let token = answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| format!("token service {realm_host} sent no usable token"))?;
    // Renew a little before the server's expiry; 60 s is the protocol's default. No run
    // lasts a day: longer lifetimes (up to u64::MAX) are cut to one.
    let lifetime = answer
        .expires_in
        .unwrap_or(60)
        .clamp(10, TOKEN_LIFETIME_CAP)
        - 5;
    Ok((token, lifetime))
}

/// Caches `token` for each of `scopes` for `lifetime` seconds from now.
fn store_token(registry: &Registry, scopes: &[String], token: &str, lifetime: u64) {
    let until = Instant::now() + Duration::from_secs(lifetime);
    let mut tokens = registry.tokens.lock().unwrap_or_else(|e| e.into_inner());
    for scope in scopes {
        tokens.insert(scope.clone(), (token.to_owned(), until));
    }
}

/// The scope of a pull of `repository`.
pub(super) fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// The cached token for `scope`, unless it has expired.
pub(super) fn cached_token(registry: &Registry, scope: &str) -> Option<String> {
    let tokens = registry.tokens.lock().unwrap_or_else(|e| e.into_inner());
    tokens
        .get(scope)
        .filter(|(_, until)| Instant::now() < *until)
        .map(|(token, _)| token.clone())
}
