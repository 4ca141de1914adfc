//! The YAML reader of compose files: one document as a [`serde_json::Value`], read from the
//! same event parser (`saphyr-parser`) that adopt edits by, so that every reader of a compose
//! file agrees on it. It does what the compose tools' readers (PyYAML, go-yaml) do:
//!
//! - anchors and aliases, with a bound on what aliases may expand to (a file of a few KB
//!   must not become gigabytes);
//! - `<<` merge keys: a mapping or a list of them (the first in the list wins), the keys
//!   written beside them winning over all; several `<<` keys in one mapping (PyYAML and
//!   go-yaml accept them) apply in order, a later one winning;
//! - plain scalars typed by the core schema (null, booleans, integers, floats), quoted ones
//!   strings; a key written twice keeps the later value;
//! - flow collections continued on lines indented less than the spec wants (PyYAML and
//!   go-yaml read them): read from the copy [`flow_reindent`] indents, once the parser
//!   confirms that every space it added lies inside a flow collection.
//!
//! Callers check [`crate::formats::compose::limits`] first (size and nesting). No I/O.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use crate::formats::compose::flow_reindent::{self, Reindented};

/// The most values aliases may add to a document (a real compose file has a few hundred).
const ALIAS_BUDGET: usize = 100_000;

/// Why a text is not one YAML document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads `text` as one YAML document (empty: null).
pub fn load(text: &str) -> Result<Value, YamlError> {
    match Reader::new(text).document() {
        Err(e) if e.message.contains("invalid indentation") => match flow_safe_copy(text) {
            Some(copy) => Reader::new(&copy.text).document(),
            None => Err(e),
        },
        result => result,
    }
}

/// The copy of `text` with flow collections' continuation lines indented
/// ([`flow_reindent::reindent`]), when the parser reads it and every space added lies inside
/// a flow collection of it (so no value changed); `None` otherwise.
pub fn flow_safe_copy(text: &str) -> Option<Reindented> {
    let copy = flow_reindent::reindent(text)?;
    let bytes: Vec<usize> = copy
        .text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(copy.text.len()))
        .collect();
    let at = |span: &Span| {
        bytes
            .get(span.start.index())
            .copied()
            .unwrap_or(copy.text.len())
    };
    let mut open = Vec::new();
    let mut flows = Vec::new();
    for item in Parser::new_from_str(&copy.text) {
        let (event, span) = item.ok()?;
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let start = at(&span);
                let flow = copy.text[..bytes.get(span.end.index()).copied()?.max(start)]
                    .ends_with(['{', '['])
                    || copy.text[start..].starts_with(['{', '[']);
                open.push(flow.then_some(start));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some(Some(start)) = open.pop() {
                    flows.push(start..at(&span) + 1);
                }
            }
            _ => {}
        }
    }
    let inside = copy
        .inserted()
        .all(|offset| flows.iter().any(|f| f.start < offset && offset < f.end));
    inside.then_some(copy)
}

/// What aliases point at: the value and how many values it holds.
type Anchored = (Value, usize);

struct Reader<'t> {
    events: std::iter::Peekable<Parser<'t, saphyr_parser::StrInput<'t>>>,
    anchors: Vec<Option<Anchored>>,
    budget: usize,
    line: usize,
}

impl<'t> Reader<'t> {
    fn new(text: &'t str) -> Reader<'t> {
        Reader {
            events: Parser::new_from_str(text).peekable(),
            anchors: Vec::new(),
            budget: ALIAS_BUDGET,
            line: 1,
        }
    }

    fn error(&self, message: impl Into<String>) -> YamlError {
        YamlError {
            line: self.line,
            message: message.into(),
        }
    }

    fn next(&mut self) -> Result<Event<'t>, YamlError> {
        match self.events.next() {
            Some(Ok((event, span))) => {
                self.line = span.start.line();
                Ok(event)
            }
            Some(Err(e)) => Err(YamlError {
                line: e.marker().line(),
                message: e.info().to_owned(),
            }),
            None => Err(self.error("the text ends inside a value")),
        }
    }

    fn document(mut self) -> Result<Value, YamlError> {
        let mut value = None;
        loop {
            match self.next()? {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(value.unwrap_or(Value::Null)),
                Event::DocumentStart(_) if value.is_some() => {
                    return Err(self.error("more than one YAML document"))
                }
                Event::DocumentStart(_) => value = Some(self.node()?.0),
                _ => return Err(self.error("a value outside a document")),
            }
        }
    }

    /// The next node: its value and how many values it holds.
    fn node(&mut self) -> Result<Anchored, YamlError> {
        match self.next()? {
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(&text, style, tag.as_deref().map(|t| t.suffix.as_str()));
                self.keep(anchor, (value, 1))
            }
            Event::Alias(id) => {
                let (value, size) = self
                    .anchors
                    .get(id)
                    .cloned()
                    .flatten()
                    .ok_or_else(|| self.error("an alias to an anchor not defined before it"))?;
                self.budget = self.budget.checked_sub(size).ok_or_else(|| {
                    self.error(format!(
                        "aliases expand to more than {ALIAS_BUDGET} values, more than a compose file may have"
                    ))
                })?;
                Ok((value, size))
            }
            Event::SequenceStart(anchor, _) => {
                let (mut items, mut size) = (Vec::new(), 1);
                while !matches!(self.peek(), Some(Event::SequenceEnd)) {
                    let (item, n) = self.node()?;
                    items.push(item);
                    size += n;
                }
                self.next()?;
                self.keep(anchor, (Value::Array(items), size))
            }
            Event::MappingStart(anchor, _) => {
                let mapping = self.mapping()?;
                self.keep(anchor, mapping)
            }
            _ => Err(self.error("a value was expected")),
        }
    }

    fn peek(&mut self) -> Option<&Event<'t>> {
        match self.events.peek() {
            Some(Ok((event, _))) => Some(event),
            _ => None,
        }
    }

    /// A mapping's entries up to its end, merge keys applied.
    fn mapping(&mut self) -> Result<Anchored, YamlError> {
        let (mut own, mut merged, mut size) = (Map::new(), Map::new(), 1);
        while !matches!(self.peek(), Some(Event::MappingEnd)) {
            let merge = matches!(
                self.peek(),
                Some(Event::Scalar(key, ScalarStyle::Plain, _, None)) if key == "<<"
            );
            let (key, _) = self.node()?;
            let (value, n) = self.node()?;
            size += n;
            if merge {
                self.merge_into(&mut merged, value)?;
                continue;
            }
            let key = match key {
                Value::String(s) => s,
                Value::Null => "null".to_owned(),
                Value::Bool(_) | Value::Number(_) => key.to_string(),
                _ => return Err(self.error("a mapping key that is not a scalar")),
            };
            own.insert(key, value);
        }
        self.next()?;
        merged.extend(own);
        Ok((Value::Object(merged), size))
    }

    /// Merges a `<<` value (a mapping, or a list of them, the first winning) over `into`.
    fn merge_into(&self, into: &mut Map<String, Value>, value: Value) -> Result<(), YamlError> {
        let sources = match value {
            Value::Object(map) => vec![map],
            Value::Array(items) => items
                .into_iter()
                .rev()
                .map(|item| match item {
                    Value::Object(map) => Ok(map),
                    _ => Err(self.error("`<<` lists something that is not a mapping")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(self.error("`<<` merges something that is not a mapping")),
        };
        for source in sources {
            into.extend(source);
        }
        Ok(())
    }

    fn keep(&mut self, anchor: usize, node: Anchored) -> Result<Anchored, YamlError> {
        if anchor != 0 {
            if self.anchors.len() <= anchor {
                self.anchors.resize(anchor + 1, None);
            }
            self.anchors[anchor] = Some(node.clone());
        }
        Ok(node)
    }
}

/// A scalar's value: a quoted one or one tagged `!!str` is a string, a plain one is typed
/// by the core schema.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    if style != ScalarStyle::Plain || tag == Some("str") {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let number = if let Some(hex) = text.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok().map(Number::from)
    } else if let Some(octal) = text.strip_prefix("0o") {
        i64::from_str_radix(octal, 8).ok().map(Number::from)
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<i64>().ok().map(Number::from)
    } else if digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b"._eE+-".contains(&b))
    {
        text.parse::<f64>().ok().and_then(Number::from_f64)
    } else {
        None
    };
    number.map_or_else(|| Value::String(text.to_owned()), Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keys_as_the_compose_tools_apply_them() {
        let text = "x-a: &a {image: a, restart: always}\nx-b: &b {image: b, user: b}\ns:\n  one:\n    <<: *a\n    image: own\n  two:\n    <<: [*a, *b]\n  three:\n    <<: *a\n    <<: *b\n";
        let value = load(text).unwrap();
        assert_eq!(
            value["s"]["one"],
            json!({"image": "own", "restart": "always"})
        );
        assert_eq!(
            value["s"]["two"],
            json!({"image": "a", "restart": "always", "user": "b"}),
            "the first of a list wins"
        );
        assert_eq!(
            value["s"]["three"],
            json!({"image": "b", "restart": "always", "user": "b"}),
            "two `<<` keys: the later wins (PyYAML)"
        );
    }

    #[test]
    fn scalars_by_the_core_schema() {
        let value = load(
            "a: 1\nb: \"1\"\nc: 1.5\nd: true\ne: ~\nf:\ng: 0x1f\nh: 1.2.3\ni: !!str 5\nj: nginx:1.25\nk: '${X:-y}'\n8080: port\n",
        )
        .unwrap();
        assert_eq!(
            value,
            json!({"a": 1, "b": "1", "c": 1.5, "d": true, "e": null, "f": null, "g": 31,
                   "h": "1.2.3", "i": "5", "j": "nginx:1.25", "k": "${X:-y}", "8080": "port"})
        );
        assert_eq!(load("").unwrap(), Value::Null);
        assert_eq!(load("a: 1\na: 2\n").unwrap(), json!({"a": 2}));
    }

    #[test]
    fn what_is_not_one_bounded_document_is_refused() {
        for (text, words) in [
            ("a: [\n", "line"),
            ("a: 1\n---\nb: 2\n", "more than one YAML document"),
            ("a: *nothing\n", "anchor"),
            ("? [a]\n: b\n", "not a scalar"),
            ("a:\n  <<: 3\n", "not a mapping"),
        ] {
            let e = load(text).unwrap_err().to_string();
            assert!(e.contains(words), "{text:?}: {e}");
        }
        // Nine levels of ten aliases each: a billion values from a few hundred bytes.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            let list = vec![format!("*a{p}"); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{list}]\n"));
        }
        let e = load(&text).unwrap_err().to_string();
        assert!(e.contains("aliases expand to more than"), "{e}");
    }

    #[test]
    fn flow_collections_on_less_indented_lines_are_read() {
        let text = "services:\n  app:\n    command: [\n      \"run\",\n    ]\n    image: x\n";
        assert_eq!(
            load(text).unwrap()["services"]["app"]["command"],
            json!(["run"])
        );
        // A bracket in a block scalar is not a flow collection: no copy is trusted.
        let block = "a: |\n  [\nb: 1\n";
        assert_eq!(load(block).unwrap()["a"], json!("[\n"));
        assert!(flow_safe_copy(block).is_none());
    }
}
