//! Reading a compose file's services and their `image:` values, with byte ranges.
//!
//! The YAML parser (`saphyr-parser`) finds the structure: the top-level `services:` block
//! mapping, each service's own keys, and the position of each `image:` value. Callers then edit
//! the text by byte range, so everything else in the file stays byte-identical. Only values
//! that such an edit can replace safely are returned: a plain or simply quoted scalar on the
//! line of its key, without anchor, alias, tag, block scalar or escapes; anything else is an
//! error that names the compose line. A file past the limits of [`compose_limits`] is not
//! parsed. This module does no I/O.

use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use crate::formats::compose_limits::{self, LimitError};

/// A compose file that cannot be read or whose image values cannot be edited safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compose line {line}: {message}")]
pub struct ComposeError {
    /// The 1-based compose line.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

/// A service's `image:` value, found under the top-level `services:` mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceImage {
    /// The compose service name, quotes removed.
    pub service: String,
    /// The 1-based line of the `image:` key.
    pub line: usize,
    /// The value's bytes in the compose text, quotes included.
    pub span: Range<usize>,
    /// The quote character, if the value is quoted.
    pub quote: Option<char>,
    /// The value, quotes removed.
    pub value: String,
}

/// The `image:` values of the services in `text`, in file order; `None` when the file has no
/// top-level `services:` key. Services without `image:`, null services and aliased services
/// are left out. A file past [`compose_limits::check`]'s limits is an error, not parsed.
pub fn service_images(text: &str) -> Result<Option<Vec<ServiceImage>>, ComposeError> {
    match compose_limits::check(text) {
        // The same parser reads on below and says what the YAML error means.
        Ok(()) | Err(LimitError::NotYaml { .. }) => {}
        Err(e) => return Err(error(e.line(), e.to_string())),
    }
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
    let mut found: Option<Vec<ServiceImage>> = None;
    loop {
        let (key, key_span) = events.next()?;
        let is_services = match &key {
            Event::MappingEnd => return Ok(found),
            Event::Scalar(name, ..) => name == "services",
            _ => false,
        };
        events.skip(&key)?;
        let (value, value_span) = events.next()?;
        if !is_services {
            events.skip(&value)?;
            continue;
        }
        let line = key_span.start.line();
        if found.is_some() {
            return Err(error(line, "a second top-level `services:`"));
        }
        found = Some(read_services(&mut events, line, &value, value_span)?);
    }
}

/// Reads the value of `services:` (its first event given): the services' images.
fn read_services(
    events: &mut Events,
    line: usize,
    value: &Event,
    span: Span,
) -> Result<Vec<ServiceImage>, ComposeError> {
    match value {
        Event::Scalar(v, ScalarStyle::Plain, _, None) if is_null(v) => return Ok(Vec::new()),
        Event::MappingStart(..) if events.opens_flow(span) => {
            return Err(error(
                line,
                "`services:` is in flow style (`{...}`); write it as a block mapping",
            ))
        }
        Event::MappingStart(..) => {}
        _ => return Err(error(line, "`services:` is not a block mapping")),
    }
    let mut images = Vec::new();
    loop {
        let (key, key_span) = events.next()?;
        let line = key_span.start.line();
        let name = match key {
            Event::MappingEnd => return Ok(images),
            Event::Scalar(name, ..) => name.into_owned(),
            _ => return Err(error(line, "expected a service name and `:`")),
        };
        let (value, span) = events.next()?;
        match value {
            Event::MappingStart(..) if events.opens_flow(span) => {
                return Err(error(
                    line,
                    format!(
                        "service `{name}` is in flow style (`{{...}}`); write it as a block \
                         mapping"
                    ),
                ))
            }
            Event::MappingStart(..) => {
                if let Some(image) = read_service(events, &name)? {
                    images.push(image);
                }
            }
            Event::Alias(_) => {}
            Event::Scalar(v, ScalarStyle::Plain, _, None) if is_null(&v) => {}
            _ => return Err(error(line, format!("service `{name}` is not a mapping"))),
        }
    }
}

/// Reads one service's block mapping, up to and including its end: its `image:` value, if any.
fn read_service(events: &mut Events, name: &str) -> Result<Option<ServiceImage>, ComposeError> {
    let mut image = None;
    loop {
        let (key, key_span) = events.next()?;
        let line = key_span.start.line();
        let is_image = match &key {
            Event::MappingEnd => return Ok(image),
            Event::Scalar(key, ..) => key == "image",
            _ => false,
        };
        events.skip(&key)?;
        let (value, span) = events.next()?;
        if !is_image {
            events.skip(&value)?;
            continue;
        }
        if image.is_some() {
            return Err(error(line, format!("service `{name}` has `image:` twice")));
        }
        let at = |e: ComposeError| error(e.line, format!("service `{name}`: {}", e.message));
        let (span, quote, value) = events.image_value(line, &value, span).map_err(at)?;
        image = Some(ServiceImage {
            service: name.to_owned(),
            line,
            span,
            quote,
            value,
        });
    }
}

/// Whether a plain scalar is YAML's null.
fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

fn error(line: usize, message: impl Into<String>) -> ComposeError {
    ComposeError {
        line,
        message: message.into(),
    }
}

/// The parser's events of the first document, read up front, and the error that ended them.
struct Events<'a> {
    text: &'a str,
    /// The byte offset of each character, and the text length last: the parser counts in
    /// characters.
    offsets: Vec<usize>,
    items: std::vec::IntoIter<(Event<'a>, Span)>,
    error: Option<ScanError>,
}

impl<'a> Events<'a> {
    fn read(text: &'a str) -> Self {
        let mut items = Vec::new();
        let mut error = None;
        for item in Parser::new_from_str(text) {
            match item {
                Ok((event, span)) => {
                    let end = matches!(event, Event::DocumentEnd | Event::StreamEnd);
                    items.push((event, span));
                    if end {
                        break;
                    }
                }
                Err(e) => {
                    // An alias to an anchor that is not defined: still an alias to the
                    // reader, so that the refusal names what the value is.
                    if e.info().contains("unknown anchor") {
                        items.push((Event::Alias(0), Span::empty(*e.marker())));
                    }
                    error = Some(e);
                    break;
                }
            }
        }
        let offsets = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
        Events {
            text,
            offsets,
            items: items.into_iter(),
            error,
        }
    }

    /// The next event; the parser's error when the events ran out.
    fn next(&mut self) -> Result<(Event<'a>, Span), ComposeError> {
        if let Some(item) = self.items.next() {
            return Ok(item);
        }
        Err(match &self.error {
            Some(e) => error(e.marker().line(), invalid_yaml(e.info())),
            None => error(self.text.lines().count(), "the YAML ends too early"),
        })
    }

    /// Skips the rest of the node that `first` starts (nothing for a scalar or an alias).
    fn skip(&mut self, first: &Event) -> Result<(), ComposeError> {
        let mut depth = match first {
            Event::MappingStart(..) | Event::SequenceStart(..) => 1,
            _ => 0,
        };
        while depth > 0 {
            match self.next()?.0 {
                Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
                Event::MappingEnd | Event::SequenceEnd => depth -= 1,
                _ => {}
            }
        }
        Ok(())
    }

    /// The byte range of `span`.
    fn bytes(&self, span: Span) -> Range<usize> {
        let at = |index: usize| self.offsets.get(index).copied().unwrap_or(self.text.len());
        at(span.start.index())..at(span.end.index())
    }

    /// Whether a collection starting at `span` is in flow style (`{` or `[`).
    fn opens_flow(&self, span: Span) -> bool {
        self.text[self.bytes(span)].ends_with(['{', '['])
    }

    /// Checks an `image:` value (its first event given; `line` is the key's) and returns its
    /// byte range, quote and text.
    fn image_value(
        &self,
        line: usize,
        value: &Event,
        span: Span,
    ) -> Result<(Range<usize>, Option<char>, String), ComposeError> {
        let fail = |message: String| Err(error(line, message));
        let (text, style) = match value {
            Event::Alias(_) => {
                return fail("the image value is an alias (`*...`); edit the file by hand".into())
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let raw = &self.text[self.bytes(span)];
                return match raw.chars().last().filter(|_| self.opens_flow(span)) {
                    Some(c) => fail(format!(
                        "the image value starts with `{c}`; edit the file by hand"
                    )),
                    None => fail("the `image:` value is not on the same line".into()),
                };
            }
            Event::Scalar(_, _, anchor, _) if *anchor != 0 => {
                return fail(
                    "the image value has an anchor (`&...`); remove it, or edit the file by hand"
                        .into(),
                )
            }
            Event::Scalar(_, _, _, Some(_)) => {
                return fail("the image value starts with `!`; edit the file by hand".into())
            }
            Event::Scalar(text, style, ..) => (text, *style),
            _ => return fail("the `image:` value is not a scalar".into()),
        };
        if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
            return fail(
                "the image value is a block scalar (`|` or `>`); put it on one line".into(),
            );
        }
        if span.start.line() != line || (style == ScalarStyle::Plain && text.is_empty()) {
            return fail("the `image:` value is not on the same line".into());
        }
        let start = self.bytes(span).start;
        let (range, quote) = match style {
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                let q = if style == ScalarStyle::SingleQuoted {
                    '\''
                } else {
                    '"'
                };
                self.quoted(line, start, q, text)?
            }
            _ if span.end.line() != line => {
                return Err(error(
                    line + 1,
                    "the `image:` value continues on this line; put it on one line",
                ))
            }
            _ => (self.bytes(span), None),
        };
        if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return fail(format!("`{text}` is not an image reference"));
        }
        Ok((range, quote, text.to_string()))
    }

    /// The byte range of a value quoted with `q` at `start`, if the quotes hold `text`
    /// verbatim: escapes and line folding would change on a byte-range edit.
    fn quoted(
        &self,
        line: usize,
        start: usize,
        q: char,
        text: &str,
    ) -> Result<(Range<usize>, Option<char>), ComposeError> {
        let rest = &self.text[start..];
        let verbatim = format!("{q}{text}{q}");
        if rest.starts_with(&verbatim) {
            return Ok((start..start + verbatim.len(), Some(q)));
        }
        let first_line = rest[1..].split('\n').next().unwrap_or_default();
        Err(error(
            line,
            if first_line.contains(q) {
                "the quoted image value has escapes; edit the file by hand"
            } else {
                "the quoted image value does not end on its line"
            },
        ))
    }
}

/// The parser's error message, with what it most likely means in a compose file.
fn invalid_yaml(info: &str) -> String {
    let meaning = if info.contains("trailing content after") {
        "text after the quoted value"
    } else if info.contains("quoted scalar") && info.contains("end of stream") {
        "a quoted value does not end"
    } else if info.contains("quoted scalar") {
        "a quoted value has escapes that YAML rejects"
    } else if info.contains("did not find expected key") {
        "this line is indented less than the keys above it, or more than the keys it belongs to"
    } else {
        return format!("not valid YAML: {info}");
    };
    format!("not valid YAML: {meaning} ({info})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(text: &str) -> Vec<(String, usize, &str, Option<char>, String)> {
        service_images(text)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|i| (i.service, i.line, &text[i.span], i.quote, i.value))
            .collect()
    }

    #[test]
    fn finds_each_service_image_with_its_bytes() {
        let text = "\u{feff}x: &c\n  image: no\nservices: # s\n  \"wéb\":\n    <<: *c\n    deep:\n      image: no\n    image: 'a:1' # c\n  db:\n    image: \"b\"\r\n  job:\n    build: .\n  none:\n  alias: *c\n  c:\n    image: ${R}/c:${T:-1}\n";
        let want = [
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
