//! `EnvFile`: lossless parsing and minimal edits.
//!
//! Input layout: the env file text, then optionally a NUL byte followed by control bytes that
//! choose the edits (a NUL can never be part of a valid env file, so nothing is lost). A
//! plain `.env` seed therefore fuzzes the text and still gets edited with default choices.
//!
//! Checks, for every input that parses:
//! * `render()` gives back the input bytes exactly;
//! * setting an existing key (up to four times) leaves the text parseable, makes `get(key)`
//!   return the new value, changes no other entry (key, value, quoting, `export`, order) and
//!   keeps every byte outside the edited entry identical;
//! * setting a new key after an existing one inserts exactly one entry, right after the
//!   anchor, and changes no other entry (with no entries, a new key is appended instead).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use cipug::formats::envfile::{EnvFile, Quote};
use libfuzzer_sys::fuzz_target;

/// What an entry means, without its position in the text.
type Meaning = (String, String, Quote, bool);

fn meanings(file: &EnvFile) -> Vec<Meaning> {
    file.entries()
        .iter()
        .map(|e| (e.key.clone(), e.value.clone(), e.quote, e.export))
        .collect()
}

/// The text with the edits applied must parse to the entries the edited file holds.
fn reparse(file: &EnvFile) -> EnvFile {
    let again = EnvFile::parse(file.render().as_bytes())
        .unwrap_or_else(|e| panic!("edited text does not parse: {e}\n{:?}", file.render()));
    assert_eq!(
        again.entries(),
        file.entries(),
        "re-parse differs from the edited file"
    );
    again
}

/// The byte offset where 1-based `line` starts (after a byte order mark on line 1).
fn line_start(text: &str, line: usize) -> usize {
    if line == 1 {
        return if text.starts_with('\u{feff}') { 3 } else { 0 };
    }
    text.match_indices('\n')
        .nth(line - 2)
        .map(|(i, _)| i + 1)
        .expect("an entry's line exists")
}

/// The end of the entry that starts at `start`: the shortest run of whole lines from there
/// that parses to that same entry (a quoted value may span several lines).
fn entry_end(text: &str, start: usize, want: &Meaning) -> usize {
    let rest = &text[start..];
    let ends = rest
        .match_indices('\n')
        .map(|(i, _)| start + i + 1)
        .chain(std::iter::once(text.len()));
    for end in ends {
        if let Ok(part) = EnvFile::parse(&text.as_bytes()[start..end]) {
            if meanings(&part).first() == Some(want) {
                return end;
            }
        }
    }
    panic!("entry {want:?} at byte {start} not found again");
}

/// A valid key from fuzzer bytes that is not in `file` yet.
fn new_key(u: &mut Unstructured, file: &EnvFile) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
    let len = u.int_in_range(0..=8).unwrap_or(0);
    let mut key: String = (0..len)
        .map(|_| CHARS[u.choose_index(CHARS.len()).unwrap_or(0)] as char)
        .collect();
    if key.is_empty() {
        key.push_str("NEW");
    }
    while file.get(&key).is_some() {
        key.push('_');
    }
    key
}

fn check_set_existing(file: &mut EnvFile, index: usize, value: &str) {
    let before_text = file.render().to_owned();
    let before = meanings(file);
    let key = before[index].0.clone();
    // `set` edits the last entry with that key, as `get` reads it.
    let edited = before.iter().rposition(|m| m.0 == key).expect("key exists");
    let entry = &file.entries()[edited];
    let start = line_start(&before_text, entry.line);
    let end = entry_end(&before_text, start, &before[edited]);

    file.set(&key, value, None);
    let after_file = reparse(file);
    let after = meanings(&after_file);

    assert_eq!(
        after_file.get(&key).map(|e| e.value.as_str()),
        Some(value),
        "get({key:?}) after set\nbefore: {before_text:?}\nafter:  {:?}",
        file.render()
    );
    assert_eq!(
        after.len(),
        before.len(),
        "set of an existing key changed the entry count"
    );
    assert_eq!(after[edited].0, key, "the edited entry moved");
    assert_eq!(
        after[edited].3, before[edited].3,
        "the edited entry lost or gained `export`"
    );
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if i != edited {
            assert_eq!(
                a,
                b,
                "set({key:?}) changed entry {i}\nbefore: {before_text:?}\nafter:  {:?}",
                file.render()
            );
        }
    }
    let text = file.render();
    let suffix = &before_text[end..];
    assert!(
        text.len() >= start + suffix.len()
            && text[..start] == before_text[..start]
            && text.ends_with(suffix),
        "set({key:?}) changed bytes outside its entry (bytes {start}..{end})\nbefore: {before_text:?}\nafter:  {text:?}"
    );
}

fn check_insert(file: &mut EnvFile, key: &str, value: &str, anchor: Option<usize>) {
    let before_text = file.render().to_owned();
    let before = meanings(file);
    let anchor_key = anchor.map(|i| before[i].0.clone());
    file.set(key, value, anchor_key.as_deref());
    let after_file = reparse(file);
    let mut after = meanings(&after_file);

    assert_eq!(
        after.len(),
        before.len() + 1,
        "set of new key {key:?} after {anchor_key:?} did not add exactly one entry\nbefore: {before_text:?}\nafter:  {:?}",
        file.render()
    );
    // The new entry comes right after the last entry named like the anchor, or last.
    let at = match &anchor_key {
        Some(a) => {
            before
                .iter()
                .rposition(|m| &m.0 == a)
                .expect("anchor exists")
                + 1
        }
        None => before.len(),
    };
    let inserted = after.remove(at);
    assert_eq!(
        inserted.0,
        key,
        "new key not right after its anchor\nafter: {:?}",
        file.render()
    );
    assert_eq!(
        inserted.1,
        value,
        "new key has another value\nafter: {:?}",
        file.render()
    );
    assert_eq!(
        after,
        before,
        "inserting {key:?} changed other entries\nbefore: {before_text:?}\nafter:  {:?}",
        file.render()
    );
}

fuzz_target!(|data: &[u8]| {
    let (text, control) = match data.iter().rposition(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let Ok(mut file) = EnvFile::parse(text) else {
        return;
    };
    assert_eq!(file.render().as_bytes(), text, "render() is not the input");

    let mut u = Unstructured::new(control);
    if !file.entries().is_empty() {
        let edits = u.int_in_range(1..=4).unwrap_or(1);
        for _ in 0..edits {
            let index = u.choose_index(file.entries().len()).unwrap_or(0);
            let value = String::arbitrary(&mut u).unwrap_or_default();
            check_set_existing(&mut file, index, &value);
        }
    }
    let key = new_key(&mut u, &file);
    let value = String::arbitrary(&mut u).unwrap_or_default();
    let anchor = match file.entries().len() {
        0 => None,
        n => Some(u.choose_index(n).unwrap_or(0)),
    };
    check_insert(&mut file, &key, &value, anchor);
});
