//! Listing a repository's tags: `GET /v2/<name>/tags/list?n=<page>`, following the `Link`
//! header (`<...?last=x&n=100>; rel="next"`) page by page, through registries.conf mirrors
//! as a tag is pulled. Docker Hub does not count tag lists against the pull rate limit.

use super::{Failure, Native};
use crate::formats::image::reference::ImageRef;
use crate::resolve::ResolveError;

/// Tags asked for per page (Docker Hub's largest page).
pub const PAGE_SIZE: usize = 100;
/// Pages read at most (10,000 tags): enough for every real repository, bounded for a hostile
/// one.
pub const MAX_PAGES: usize = 100;
const PAGE_LIMIT: u64 = 4 << 20;

impl Native<'_> {
    /// Every tag of `image`'s repository, in the registry's order: from the first of its
    /// registries.conf mirrors (then its location) that lists them.
    pub fn tags(&self, image: &ImageRef) -> Result<Vec<String>, ResolveError> {
        self.through_mirrors(image, |place| self.tags_at(place))
    }

    /// Every tag of `image`'s repository at exactly its registry.
    fn tags_at(&self, image: &ImageRef) -> Result<Vec<String>, Failure> {
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut path = format!("/v2/{}/tags/list?n={PAGE_SIZE}", image.repository);
        for _ in 0..MAX_PAGES {
            let answer = self.api_get(image, &path, "application/json", PAGE_LIMIT)?;
            let page: Page = serde_json::from_slice(&answer.body)
                .map_err(|e| format!("{}: unreadable tag list: {e}", image.name()))?;
            tags.extend(page.tags.unwrap_or_default());
            match answer.link.as_deref().and_then(next_path) {
                Some(next) => path = next,
                None => return Ok(tags),
            }
        }
        log::warn!(
            "{}: more than {} tags; only the first were read",
            image.name(),
            PAGE_SIZE * MAX_PAGES
        );
        Ok(tags)
    }
}

/// The path of the `rel="next"` link of a `Link` header; an absolute URL gives its path and
/// query (the host stays the registry's).
pub fn next_path(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        if !params.replace(' ', "").contains("rel=\"next\"") {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let path = match target.find("://") {
            Some(i) => &target[target[i + 3..].find('/').map(|j| i + 3 + j)?..],
            None => target,
        };
        path.starts_with("/v2/").then(|| path.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links() {
        let cases = [
            (
                "</v2/a/tags/list?last=x&n=100>; rel=\"next\"",
                Some("/v2/a/tags/list?last=x&n=100"),
            ),
            (
                "<https://r.example/v2/a/tags/list?last=x>; rel=\"next\"",
                Some("/v2/a/tags/list?last=x"),
            ),
            ("</v2/a/tags/list?last=x>; rel=\"prev\"", None),
            ("</elsewhere>; rel=\"next\"", None),
            ("garbage", None),
        ];
        for (link, want) in cases {
            assert_eq!(next_path(link).as_deref(), want, "{link}");
        }
    }
}
