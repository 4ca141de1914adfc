//! An authorized `GET` of any path of a registry's API (tag lists, manifests by digest,
//! config blobs), with the same endpoint, credentials, tokens, retries and limits as the
//! manifest `HEAD`s of [`Native`].

use super::response::{header, registry_message, status_text, Peer};
use super::{Failure, Native};
use crate::formats::image::reference::ImageRef;

/// What a `GET` brought back.
#[derive(Debug)]
pub struct Answer {
    /// The body.
    pub body: Vec<u8>,
    /// The `Link` header, if any (the next page of a tag list).
    pub link: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
}

impl Native<'_> {
    /// GETs `path` (starting with `/v2/`) of `image`'s registry, authorized for pulling its
    /// repository, reading at most `limit` bytes. A status other than 2xx is an error that
    /// says what the registry said.
    pub fn api_get(
        &self,
        image: &ImageRef,
        path: &str,
        accept: &str,
        limit: u64,
    ) -> Result<Answer, Failure> {
        let registry = self.registry(image);
        let _slot = registry.slots.acquire();
        let endpoint = self.endpoint(&registry)?;
        let url = format!("{}{path}", endpoint.base);
        let get = |auth: Option<&str>| {
            self.send(&registry, Peer::Registry, &registry.host, |t| {
                let request = endpoint
                    .agent
                    .get(&url)
                    .config()
                    .timeout_global(Some(t))
                    .build()
                    .header("Accept", accept);
                match auth {
                    Some(auth) => request.header("Authorization", auth).call(),
                    None => request.call(),
                }
            })
        };
        let (response, _) = self.authorized(&registry, endpoint, &image.repository, get)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(format!(
                "registry {} answered {} to GET {path}{}",
                registry.host,
                status_text(status),
                registry_message(response)
            )
            .into());
        }
        let link = header(&response, "link");
        let content_type = header(&response, "content-type");
        let body = response
            .into_body()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| format!("registry {}: GET {path}: {e}", registry.host))?;
        Ok(Answer {
            body,
            link,
            content_type,
        })
    }
}
