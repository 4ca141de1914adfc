//! The parser's events of a compose file, read up front, with byte ranges and the checks
//! that an `image:` value can be replaced by byte range.

use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use super::{error, ComposeError};

/// The parser's events of the first document, read up front, and the error that ended them.
pub(super) struct Events<'a> {
    text: &'a str,
    /// The byte offset of each character, and the text length last: the parser counts in
    /// characters.
    offsets: Vec<usize>,
    items: std::vec::IntoIter<(Event<'a>, Span)>,
    error: Option<ScanError>,
}

impl<'a> Events<'a> {
    pub(super) fn read(text: &'a str) -> Self {
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
    pub(super) fn next(&mut self) -> Result<(Event<'a>, Span), ComposeError> {
        if let Some(item) = self.items.next() {
            return Ok(item);
        }
        Err(match &self.error {
            Some(e) => error(e.marker().line(), invalid_yaml(e.info())),
            None => error(self.text.lines().count(), "the YAML ends too early"),
        })
    }

    /// Skips the rest of the node that `first` starts (nothing for a scalar or an alias).
    pub(super) fn skip(&mut self, first: &Event) -> Result<(), ComposeError> {
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
    pub(super) fn opens_flow(&self, span: Span) -> bool {
        self.text[self.bytes(span)].ends_with(['{', '['])
    }

    /// Checks an `image:` value (its first event given; `line` is the key's) and returns its
    /// byte range, quote and text.
    pub(super) fn image_value(
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
        // Inside `${VAR:?message}` a space is the message's; the resolved value is checked
        // where it is resolved.
        let bare = without_substitutions(text);
        if text.is_empty() || bare.contains(|c: char| c.is_whitespace() || c.is_control()) {
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

/// `text` with each `${...}` removed (nested braces counted).
fn without_substitutions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if depth == 0 && rest.starts_with("${") {
            depth = 1;
            rest = &rest[2..];
            continue;
        }
        match c {
            '{' if depth > 0 => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
    }
    out
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
