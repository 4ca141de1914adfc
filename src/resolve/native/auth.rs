//! Authorization for a registry: credentials from the auth files and helpers, Basic
//! headers, and Bearer tokens from the token service, cached per scope.

use super::*;

impl Native<'_> {
    pub(super) fn credentials(
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
        let realm_host = realm_host(registry, endpoint, realm)?;
        let creds = self.token_credentials(registry, &realm_host, scopes)?;
        let mut query: Vec<(String, String)> = Vec::new();
        if let Some(service) = service {
            query.push(("service".into(), service.clone()));
        }
        for scope in scopes {
            query.push(("scope".into(), scope.clone()));
        }
        let agent = self.transport.agent(
            &realm_host,
            if endpoint.insecure {
                Security::Unverified
            } else {
                Security::Verified
            },
        )?;
        let response = self.send(registry, Peer::TokenServer, &realm_host, |t| {
            let mut request = agent
                .get(realm.as_str())
                .config()
                .timeout_global(Some(t))
                .build();
            for (k, v) in &query {
                request = request.query(k, v);
            }
            if let Some(c) = &creds {
                request = request.header("Authorization", c.basic_header());
            }
            request.call()
        })?;
        let (token, until) = read_token(response, &realm_host)?;
        let mut tokens = registry.tokens.lock().unwrap_or_else(|e| e.into_inner());
        for scope in scopes {
            tokens.insert(scope.clone(), (token.clone(), until));
        }
        Ok(())
    }

    /// The credentials the token service gets. Credentials go only to the registry they
    /// belong to: the realm gets them if it is the registry's own host, Docker Hub's token
    /// service, or has credentials of its own.
    fn token_credentials(
        &self,
        registry: &Registry,
        realm_host: &str,
        scopes: &[String],
    ) -> Result<Option<Credentials>, Failure> {
        let repository = scopes
            .first()
            .and_then(|s| s.split(':').nth(1))
            .unwrap_or("");
        let same_site = realm_host == registry.host
            || (registry.name == crate::formats::image_ref::DOCKER_HUB
                && realm_host == "auth.docker.io");
        if same_site {
            self.credentials(registry, repository)
        } else {
            credentials::lookup(&self.auth_files, realm_host, "", self.runner)
        }
    }
}

/// The `host[:port]` of a Bearer realm; only HTTPS, or plain HTTP for an insecure registry.
fn realm_host(registry: &Registry, endpoint: &Endpoint, realm: &str) -> Result<String, Failure> {
    let realm_url = realm
        .parse::<ureq::http::Uri>()
        .map_err(|_| format!("registry {}: bad token realm `{realm}`", registry.host))?;
    let realm_host = match (realm_url.host(), realm_url.port_u16()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => {
            return Err(format!(
                "registry {}: bad token realm `{realm}`",
                registry.host
            ))
        }
    };
    match realm_url.scheme_str() {
        Some("https") => Ok(realm_host),
        Some("http") if endpoint.insecure => Ok(realm_host),
        _ => Err(format!(
            "registry {}: refusing token realm `{realm}` (not HTTPS)",
            registry.host
        )),
    }
}

/// The token of a token service's answer, and until when to use it.
fn read_token(response: Response<Body>, realm_host: &str) -> Result<(String, Instant), Failure> {
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "token service {realm_host} answered {}{}",
            status_text(status.as_u16()),
            registry_message(response)
        ));
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
    Ok((token, Instant::now() + Duration::from_secs(lifetime)))
}

pub(super) fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

pub(super) fn cached_token(registry: &Registry, scope: &str) -> Option<String> {
    let tokens = registry.tokens.lock().unwrap_or_else(|e| e.into_inner());
    tokens
        .get(scope)
        .filter(|(_, until)| Instant::now() < *until)
        .map(|(token, _)| token.clone())
}
