//! What a model reads from a `.env`: each key's value and line, and the line of a byte.

use std::collections::HashMap;

/// A value as a tool reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The key is not set.
    Unset,
    /// The key holds this text.
    Text(String),
    /// The model does not know what the tool makes of it.
    Unknown,
}

/// What one tool reads from a file: the final value and the line of each key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    pub(super) values: HashMap<String, (Value, usize)>,
}

impl Reading {
    /// The value of `key` (the last definition wins, as in every tool).
    pub fn get(&self, key: &str) -> Value {
        self.values
            .get(key)
            .map_or(Value::Unset, |(value, _)| value.clone())
    }

    /// The line of the definition of `key` that wins.
    pub fn line(&self, key: &str) -> Option<usize> {
        self.values.get(key).map(|(_, line)| *line)
    }

    /// All keys the tool sets.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    pub(super) fn set(&mut self, key: String, value: Value, line: usize) {
        self.values.insert(key, (value, line));
    }

    pub(super) fn text(&self, key: &str) -> Option<Option<&str>> {
        match self.values.get(key) {
            None => Some(None),
            Some((Value::Text(t), _)) => Some(Some(t)),
            Some((Value::Unset, _)) => Some(None),
            Some((Value::Unknown, _)) => None,
        }
    }
}

/// Byte offset to 1-based line, in O(log n) after one linear pass.
pub(super) struct Lines(Vec<usize>);

impl Lines {
    pub(super) fn new(text: &str) -> Self {
        Lines(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    pub(super) fn of(&self, pos: usize) -> usize {
        1 + self.0.partition_point(|&nl| nl < pos)
    }
}
