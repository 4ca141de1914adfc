//! Reading a compose file's services and their `image:` values, with byte ranges.
//!
//! The YAML parser (`saphyr-parser`) finds the structure: the top-level `services:` block
//! mapping, each service's own keys, and the position of each `image:` value. Callers then edit
//! the text by byte range, so everything else in the file stays byte-identical. Only values
//! that such an edit can replace safely are returned: a plain or simply quoted scalar on the
//! line of its key, without anchor, alias, tag, block scalar or escapes; anything else is an
//! error that names the compose line. Services that take their image through `<<:` merges of
//! anchored top-level keys or services (or alias a service) share the one value written there.
//! A file whose flow collections continue on lines indented less than the spec wants, which
//! the compose tools read, is read from the copy [`crate::formats::compose::flow_reindent`] makes, its byte ranges mapped
//! back. A file past the limits of [`compose_limits`] is not parsed. This module does no I/O.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use saphyr_parser::{Event, ScalarStyle, Span};

use crate::formats::compose::limits::{self, LimitError};

mod events;
use events::Events;

/// A compose file that cannot be read or whose image values cannot be edited safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compose line {line}: {message}")]
pub struct ComposeError {
    /// The 1-based compose line.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

/// Who writes an `image:` that compose services use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A service's own `image:` key.
    Service(String),
    /// The anchored mapping of a top-level key (`x-app: &app`) that services merge with
    /// `<<: *app`.
    Extension(String),
}

impl Owner {
    /// The service name or the top-level key, as written.
    pub fn name(&self) -> &str {
        match self {
            Owner::Service(name) | Owner::Extension(name) => name,
        }
    }
}

/// An `image:` value that compose services use, found under the top-level `services:`
/// mapping or in an anchored mapping they merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceImage {
    /// Where the `image:` key is written.
    pub owner: Owner,
    /// The compose services that use this value, the owner service first, then those that
    /// merge it (`<<: *anchor`) or alias it, in file order.
    pub services: Vec<String>,
    /// The 1-based line of the `image:` key.
    pub line: usize,
    /// The value's bytes in the compose text, quotes included.
    pub span: Range<usize>,
    /// The quote character, if the value is quoted.
    pub quote: Option<char>,
    /// The value, quotes removed.
    pub value: String,
    /// Whether the value sits in a flow mapping (`{image: ...}`), where a plain `{` or `}`
    /// would end it: a replacement there needs quotes.
    pub in_flow: bool,
}

/// The `image:` values that the services in `text` use, in file order; `None` when the file
/// has no top-level `services:` key. Services without `image:` and null services are left
/// out; an image that comes through `<<:` merges of anchored top-level keys or services, or
/// through an aliased service, is the one entry of every service that uses it. A file past
/// [`limits::check`]'s limits is an error, not parsed.
pub fn service_images(text: &str) -> Result<Option<Vec<ServiceImage>>, ComposeError> {
    match limits::check(text) {
        // The same parser reads on below and says what the YAML error means.
        Ok(()) | Err(LimitError::NotYaml { .. }) => {}
        Err(e) => return Err(error(e.line(), e.to_string())),
    }
    match read_document(text) {
        Ok(Some(found)) => resolve(found).map(Some),
        Ok(None) => Ok(None),
        Err(e) if e.message.contains("invalid indentation") => {
            reindented_images(text).unwrap_or(Err(e))
        }
        Err(e) => Err(e),
    }
}

/// The images of a file whose flow collections continue on lines indented less than the
/// YAML spec wants, read from the copy that [`crate::formats::compose::flow_reindent`] indents, their byte ranges
/// mapped back; `None` when a space of the copy lies outside a flow collection (see
/// [`crate::formats::compose::yaml::flow_safe_copy`]) or an image's bytes differ.
fn reindented_images(text: &str) -> Option<Result<Option<Vec<ServiceImage>>, ComposeError>> {
    let copy = crate::formats::compose::yaml::flow_safe_copy(text)?;
    let found = match read_document(&copy.text) {
        Ok(Some(found)) => found,
        Ok(None) => return Some(Ok(None)),
        Err(e) => return Some(Err(e)),
    };
    let mut images = match resolve(found) {
        Ok(images) => images,
        Err(e) => return Some(Err(e)),
    };
    for image in &mut images {
        let span = copy.original_offset(image.span.start)..copy.original_offset(image.span.end);
        if text.get(span.clone()) != copy.text.get(image.span.clone()) {
            return None;
        }
        image.span = span;
    }
    Some(Ok(Some(images)))
}

/// A mapping that may hold an `image:` and `<<:` merges: a service or an anchored template.
#[derive(Debug, Clone, Default)]
struct Node {
    /// The 1-based line of the mapping's key.
    line: usize,
    image: Option<Site>,
    /// The anchors merged with `<<:`, in order.
    merges: Vec<usize>,
}

/// Where an `image:` value is written.
#[derive(Debug, Clone)]
struct Site {
    line: usize,
    span: Range<usize>,
    quote: Option<char>,
    value: String,
    in_flow: bool,
}

/// What the document holds: the services in file order and the anchored mappings.
#[derive(Debug, Default)]
struct Found {
    services: Vec<(String, Node)>,
    templates: HashMap<usize, (Owner, Node)>,
}

/// Reads the document's top-level mapping: `None` when it has no `services:` key.
fn read_document(text: &str) -> Result<Option<Found>, ComposeError> {
    let mut events = Events::read(text);
    loop {
        let (event, _) = events.next()?;
        match event {
            Event::StreamEnd => return Ok(None),
            Event::MappingStart(..) => break,
            Event::StreamStart | Event::DocumentStart(_) => {}
            _ => return Ok(None), // the document is not a mapping
        }
    }
    let mut found = Found::default();
    let mut services_line = None;
    loop {
        let (key, key_span) = events.next()?;
        let line = key_span.start.line();
        let (is_services, name) = match &key {
            Event::MappingEnd => return Ok(services_line.map(|_| found)),
            Event::Scalar(name, ..) => (name == "services", name.to_string()),
            _ => (false, String::new()),
        };
        events.skip(&key)?;
        let (value, value_span) = events.next()?;
        if !is_services {
            match value {
                Event::MappingStart(anchor, _) if anchor != 0 && !name.is_empty() => {
                    let in_flow = events.opens_flow(value_span);
                    let node = read_node(&mut events, &name, line, in_flow)?;
                    found
                        .templates
                        .insert(anchor, (Owner::Extension(name), node));
                }
                _ => events.skip(&value)?,
            }
            continue;
        }
        if services_line.is_some() {
            return Err(error(line, "a second top-level `services:`"));
        }
        services_line = Some(line);
        read_services(&mut events, line, &value, value_span, &mut found)?;
    }
}

/// Reads the value of `services:` (its first event given) into `found`.
fn read_services(
    events: &mut Events,
    line: usize,
    value: &Event,
    span: Span,
    found: &mut Found,
) -> Result<(), ComposeError> {
    match value {
        Event::Scalar(v, ScalarStyle::Plain, _, None) if is_null(v) => return Ok(()),
        Event::MappingStart(..) if events.opens_flow(span) => {
            return Err(error(
                line,
                "`services:` is in flow style (`{...}`); write it as a block mapping",
            ))
        }
        Event::MappingStart(..) => {}
        _ => return Err(error(line, "`services:` is not a block mapping")),
    }
    loop {
        let (key, key_span) = events.next()?;
        let line = key_span.start.line();
        let name = match key {
            Event::MappingEnd => return Ok(()),
            Event::Scalar(name, ..) => name.into_owned(),
            _ => return Err(error(line, "expected a service name and `:`")),
        };
        let (value, span) = events.next()?;
        match value {
            Event::MappingStart(anchor, _) => {
                let in_flow = events.opens_flow(span);
                let node = read_node(events, &name, line, in_flow)?;
                if anchor != 0 {
                    let owner = Owner::Service(name.clone());
                    found.templates.insert(anchor, (owner, node.clone()));
                }
                found.services.push((name, node));
            }
            Event::Alias(anchor) => {
                let node = Node {
                    line,
                    image: None,
                    merges: vec![anchor],
                };
                found.services.push((name, node));
            }
            Event::Scalar(v, ScalarStyle::Plain, _, None) if is_null(&v) => {}
            _ => return Err(error(line, format!("service `{name}` is not a mapping"))),
        }
    }
}

/// Reads one mapping (a service's or a template's, named `name`, its key on `line`) up to
/// and including its end: its `image:` value and its `<<:` merges.
fn read_node(
    events: &mut Events,
    name: &str,
    line: usize,
    in_flow: bool,
) -> Result<Node, ComposeError> {
    let mut node = Node {
        line,
        ..Node::default()
    };
    let at = |e: ComposeError| error(e.line, format!("service `{name}`: {}", e.message));
    loop {
        let (key, key_span) = events.next()?;
        let line = key_span.start.line();
        let (is_image, is_merge) = match &key {
            Event::MappingEnd => return Ok(node),
            Event::Scalar(key, ..) => (key == "image", key == "<<"),
            _ => (false, false),
        };
        events.skip(&key)?;
        let (value, span) = events.next()?;
        if is_merge {
            node.merges
                .extend(merge_anchors(events, line, &value).map_err(at)?);
            continue;
        }
        if !is_image {
            events.skip(&value)?;
            continue;
        }
        if node.image.is_some() {
            return Err(error(line, format!("service `{name}` has `image:` twice")));
        }
        let (span, quote, value) = events.image_value(line, &value, span).map_err(at)?;
        node.image = Some(Site {
            line,
            span,
            quote,
            value,
            in_flow,
        });
    }
}

/// The anchors a `<<:` value (its first event given) merges: one alias or a sequence of them.
fn merge_anchors(
    events: &mut Events,
    line: usize,
    value: &Event,
) -> Result<Vec<usize>, ComposeError> {
    let refuse = || {
        error(
            line,
            "the `<<:` value is not an alias (`*name`) or a list of them; edit the file by hand",
        )
    };
    match value {
        Event::Alias(anchor) => Ok(vec![*anchor]),
        Event::SequenceStart(..) => {
            let mut anchors = Vec::new();
            loop {
                match events.next()?.0 {
                    Event::Alias(anchor) => anchors.push(anchor),
                    Event::SequenceEnd => return Ok(anchors),
                    _ => return Err(refuse()),
                }
            }
        }
        _ => Err(refuse()),
    }
}

/// The image entries of `found`: each service's own `image:`, then each image that services
/// take through merges or aliases, shared by all of them; in file order.
fn resolve(found: Found) -> Result<Vec<ServiceImage>, ComposeError> {
    let entry = |owner: Owner, site: &Site| ServiceImage {
        owner,
        services: Vec::new(),
        line: site.line,
        span: site.span.clone(),
        quote: site.quote,
        value: site.value.clone(),
        in_flow: site.in_flow,
    };
    let mut images: Vec<ServiceImage> = Vec::new();
    let mut by_anchor: HashMap<usize, usize> = HashMap::new();
    for (name, node) in &found.services {
        if let Some(site) = &node.image {
            let mut image = entry(Owner::Service(name.clone()), site);
            image.services.push(name.clone());
            images.push(image);
        }
    }
    for (name, node) in found.services.iter().filter(|(_, n)| n.image.is_none()) {
        let mut providers = BTreeSet::new();
        merged_images(&found.templates, &node.merges, &mut providers, 0)
            .map_err(|m| error(node.line, format!("service `{name}`: {m}")))?;
        let anchor = match providers.len() {
            0 => continue,
            1 => providers.into_iter().next().unwrap_or_default(),
            _ => {
                return Err(error(
                    node.line,
                    format!(
                        "service `{name}` merges `image:` from more than one anchor; give it \
                         its own `image:`, or edit the file by hand"
                    ),
                ))
            }
        };
        let Some((owner, template)) = found.templates.get(&anchor) else {
            continue;
        };
        let index = match by_anchor.get(&anchor) {
            Some(&i) => i,
            None => {
                let own = images.iter().position(|i| i.owner == *owner);
                let i = match (own, &template.image) {
                    (Some(i), _) => i,
                    (None, Some(site)) => {
                        images.push(entry(owner.clone(), site));
                        images.len() - 1
                    }
                    (None, None) => continue,
                };
                by_anchor.insert(anchor, i);
                i
            }
        };
        images[index].services.push(name.clone());
    }
    images.sort_by_key(|i| i.line);
    Ok(images)
}

/// Adds to `out` the anchors, among `merges` and what they merge in turn, whose mapping has
/// an `image:` of its own. An anchor cipug did not read (not a top-level key's or a
/// service's mapping) is an error: it might set `image:`.
fn merged_images(
    templates: &HashMap<usize, (Owner, Node)>,
    merges: &[usize],
    out: &mut BTreeSet<usize>,
    depth: usize,
) -> Result<(), &'static str> {
    for anchor in merges {
        let Some((_, node)) = templates.get(anchor) else {
            return Err(
                "it merges or aliases an anchor that is not a top-level key's or a \
                 service's mapping, which may set `image:`; edit the file by hand",
            );
        };
        if node.image.is_some() {
            out.insert(*anchor);
        } else if depth > 16 {
            return Err("its `<<:` merges nest too deeply");
        } else {
            merged_images(templates, &node.merges, out, depth + 1)?;
        }
    }
    Ok(())
}

/// Whether a plain scalar is YAML's null.
fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

pub(super) fn error(line: usize, message: impl Into<String>) -> ComposeError {
    ComposeError {
        line,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(text: &str) -> Vec<(String, usize, &str, Option<char>, String)> {
        service_images(text)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|i| {
                (
                    i.owner.name().to_owned(),
                    i.line,
                    &text[i.span],
                    i.quote,
                    i.value,
                )
            })
            .collect()
    }

    #[test]
    fn finds_each_service_image_with_its_bytes() {
        let text = "\u{feff}x: &c\n  image: no\nservices: # s\n  \"wéb\":\n    <<: *c\n    deep:\n      image: no\n    image: 'a:1' # c\n  db:\n    image: \"b\"\r\n  job:\n    build: .\n  none:\n  alias: *c\n  c:\n    image: ${R}/c:${T:-1}\n";
        let want = [
            ("x".into(), 2, "no", None, "no".into()), // through `alias: *c`
            ("wéb".into(), 8, "'a:1'", Some('\''), "a:1".into()),
            ("db".into(), 10, "\"b\"", Some('"'), "b".into()),
            (
                "c".into(),
                16,
                "${R}/c:${T:-1}",
                None,
                "${R}/c:${T:-1}".into(),
            ),
        ];
        assert_eq!(images(text), want);
    }

    #[test]
    fn flow_collections_continued_on_less_indented_lines_are_read_as_compose_reads_them() {
        // As in getsentry/self-hosted's docker-compose.yml: the closing `]` at the key's
        // indentation, which saphyr-parser alone refuses.
        let text = "services:\n  postgres:\n    command: [\n      \"postgres\",\n    ]\n    image: \"postgres:14\"\n  web:\n    environment: {A: 1,\n  B: 2}\n    image: nginx # n\n";
        let want = [
            (
                "postgres".into(),
                6,
                "\"postgres:14\"",
                Some('"'),
                "postgres:14".into(),
            ),
            ("web".into(), 10, "nginx", None, "nginx".into()),
        ];
        assert_eq!(images(text), want);
        assert!(limits::check(text).is_ok());
    }

    #[test]
    fn no_services_key_is_none() {
        for text in ["", "version: '3'\n", "- a\n", "just text\n"] {
            assert_eq!(service_images(text), Ok(None), "{text:?}");
        }
        for text in ["services:\n", "services: ~\n", "services: &s\nx: 1\n"] {
            assert_eq!(service_images(text), Ok(Some(Vec::new())), "{text:?}");
        }
    }

    #[test]
    fn refusals_name_the_line() {
        let cases = [
            ("services:\n  web:\n    image: *a\n", 3, "alias"),
            ("services:\n  web:\n    image: !!str a\n", 3, "`!`"),
            ("services:\n  web:\n    image: [a]\n", 3, "starts with `[`"),
            (
                "services:\n  web:\n    image:\n      a: b\n",
                3,
                "not on the same",
            ),
            ("services:\n  web:\n    image: \"a\\tb\"\n", 3, "escapes"),
            (
                "services:\n  web:\n    image: \"a\n     b\"\n",
                3,
                "does not end",
            ),
            ("services:\n  web:\n    image: 'a' b\n", 3, "not valid YAML"),
            ("services:\n  - web\n", 1, "not a block mapping"),
            ("services:\n  web: [a]\n", 2, "not a mapping"),
            ("services:\n  ? [a]\n  : b\n", 2, "expected a service name"),
        ];
        for (text, line, part) in cases {
            let err = service_images(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.message.contains(part), "{text:?}: {err}");
        }
    }
}
