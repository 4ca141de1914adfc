//! The layout of `src/` (docs/architecture.md): the layers' imports point down, no two files
//! import each other (directly or through others), only adapters build command lines, no
//! file holds more than 500 lines of code besides its tests, no function more than 80, and no
//! folder more than 15 files (`src/` itself 6). Reads the sources with `syn`, so `use` trees
//! and paths in code count, comments and strings do not.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Every module file under `src/` but `main.rs` and `lib.rs`, by module path.
fn modules() -> BTreeMap<String, PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut todo = vec![src.clone()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if path.extension().is_none_or(|e| e != "rs") || parts == ["main"] || parts == ["lib"] {
                continue;
            }
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            out.insert(parts.join("::"), path);
        }
    }
    out
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// The `crate::`/`super::` paths a file names outside its test module.
#[derive(Default)]
struct Refs(Vec<Vec<String>>);

impl Refs {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.push(prefix, Some(n.ident.to_string())),
            syn::UseTree::Rename(r) => self.push(prefix, Some(r.ident.to_string())),
            syn::UseTree::Glob(_) => self.push(prefix, None),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }

    fn push(&mut self, prefix: &[String], last: Option<String>) {
        let mut path = prefix.to_vec();
        path.extend(last.filter(|l| l != "self"));
        if !path.is_empty() {
            self.0.push(path);
        }
    }
}

impl<'ast> Visit<'ast> for Refs {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let path: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        self.push(&path, None);
        syn::visit::visit_path(self, p);
    }
}

/// The module (of `modules`) a path from module `here` lands in.
fn module_of(path: &[String], here: &str, modules: &BTreeMap<String, PathBuf>) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut rest = path;
    let here_parts = || here.split("::").map(str::to_owned).collect::<Vec<_>>();
    match rest.first().map(String::as_str) {
        Some("crate") => rest = &rest[1..],
        Some("super") => {
            parts = here_parts();
            // A folder's mod.rs is the folder itself: `super` from it leaves the folder.
            while rest.first().is_some_and(|p| p == "super") {
                parts.pop();
                rest = &rest[1..];
            }
        }
        Some("self") => {
            parts = here_parts();
            rest = &rest[1..];
        }
        // A path that starts with a child module of this one (`mod x;` then `x::f`).
        Some(first) if modules.contains_key(&format!("{here}::{first}")) => parts = here_parts(),
        _ => return None,
    }
    parts.extend(rest.iter().cloned());
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| modules.contains_key(m))
}

/// Which files each file imports.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let mut edges = BTreeMap::new();
    for (module, path) in &modules {
        let file = syn::parse_file(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut refs = Refs::default();
        refs.visit_file(&file);
        let targets: BTreeSet<String> = refs
            .0
            .iter()
            .filter_map(|p| module_of(p, module, &modules))
            .filter(|m| m != module)
            // A folder's mod.rs declares and re-exports its children: not a dependency the
            // other way round.
            .filter(|m| !m.starts_with(&format!("{module}::")))
            .collect();
        edges.insert(module.clone(), targets);
    }
    edges
}

/// The rank of a module's layer; higher layers may use lower ones. The files at the top of
/// `src/` (settings, errors, shared helpers) are the base, below everything.
fn rank(module: &str) -> u8 {
    match module.split("::").next().unwrap() {
        "commands" => 5,
        "pipeline" => 4,
        "adapters" | "resolve" => 3,
        "formats" => 2,
        _ => 1,
    }
}

#[test]
fn imports_point_down_the_layers() {
    let edges = imports();
    let base_may_use_formats = |a: &str, b: &str| rank(a) == 1 && rank(b) == 2;
    let up: Vec<String> = edges
        .iter()
        .flat_map(|(a, bs)| bs.iter().map(move |b| (a, b)))
        .filter(|(a, b)| rank(b) > rank(a) && !base_may_use_formats(a, b))
        // `resolve` runs skopeo and credential helpers through the runner seam, and the
        // crate's error wraps the runner's.
        .filter(|(a, b)| {
            !((a.starts_with("resolve") || a.as_str() == "error")
                && b.as_str() == "adapters::runner")
        })
        .map(|(a, b)| format!("{a} -> {b}"))
        .collect();
    assert!(up.is_empty(), "imports that point up:\n{}", up.join("\n"));
    assert!(edges.len() > 40, "{} files found", edges.len());
}

#[test]
fn no_two_files_import_each_other() {
    let edges = imports();
    // Tarjan's strongly connected components.
    struct State<'e> {
        edges: &'e BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'e str, usize>,
        low: BTreeMap<&'e str, usize>,
        stack: Vec<&'e str>,
        cycles: Vec<Vec<&'e str>>,
    }
    fn strong<'e>(s: &mut State<'e>, v: &'e str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for w in &s.edges[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                strong(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.cycles.push(comp);
            }
        }
    }
    let mut state = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        cycles: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v.as_str()) {
            strong(&mut state, v);
        }
    }
    assert!(
        state.cycles.is_empty(),
        "files that import each other: {:?}",
        state.cycles
    );
}

#[test]
fn only_adapters_and_resolvers_build_command_lines() {
    let mut found = Vec::new();
    for (module, path) in modules() {
        if !matches!(
            module.split("::").next().unwrap(),
            "commands" | "pipeline" | "formats"
        ) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for needle in [
            "Cmd::new",
            "Cmd::from_words",
            "Command::new",
            "std::process",
        ] {
            if code.contains(needle) {
                found.push(format!("{module}: {needle}"));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn no_file_holds_more_than_500_lines_of_code() {
    let mut big = Vec::new();
    for (module, path) in modules() {
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("\n#[cfg(test)]\nmod tests").next().unwrap();
        let lines = code.lines().count();
        if lines > 500 {
            big.push(format!("{module}: {lines} lines"));
        }
    }
    assert!(big.is_empty(), "{}", big.join("\n"));
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let mut long = Vec::new();
    for (module, path) in modules() {
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("\n#[cfg(test)]\n").next().unwrap();
        let lines: Vec<&str> = code.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let is_fn = ["fn ", "pub fn ", "pub(crate) fn ", "pub(super) fn "]
                .iter()
                .any(|p| trimmed.starts_with(p));
            if !is_fn || trimmed.ends_with(';') {
                continue;
            }
            // The body ends at the first `}` line at the same indentation.
            let close = format!("{indent}}}");
            if let Some(end) = lines[i..].iter().position(|l| *l == close) {
                if end > 80 {
                    let name = trimmed.split(['(', '<']).next().unwrap_or(trimmed);
                    long.push(format!("{module}: `{name}` has {end} lines"));
                }
            }
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn no_folder_is_a_flat_room_of_more_than_15_files() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut rooms = Vec::new();
    let mut todo = vec![src.clone()];
    while let Some(dir) = todo.pop() {
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files += 1;
            }
        }
        let limit = if dir == src { 6 } else { 15 };
        if files > limit {
            rooms.push(format!(
                "{}: {files} files (at most {limit})",
                dir.display()
            ));
        }
    }
    assert!(rooms.is_empty(), "{}", rooms.join("\n"));
}

#[test]
fn formats_use_nothing_outside_formats() {
    let outside: Vec<String> = imports()
        .iter()
        .filter(|(a, _)| a.starts_with("formats"))
        .flat_map(|(a, bs)| {
            bs.iter()
                .filter(|b| !b.starts_with("formats"))
                .map(move |b| format!("{a} -> {b}"))
        })
        .collect();
    assert!(
        outside.is_empty(),
        "formats that use other layers:\n{}",
        outside.join("\n")
    );
}
