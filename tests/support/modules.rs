//! The module graph of a crate, read from its sources: which module's code names which
//! other module (`use crate::…`, `use super::…`, and inline `crate::…` / `super::…`
//! paths), and the cycles in it. Small on purpose: a lexer for paths, not a Rust parser.
//! Test modules (`#[cfg(test)]` to the end of a file) are left out: they may reach
//! across, the code they test may not.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// Module path (`auth::token`; the crate root is ``) → the modules its code names.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The module graph of the crate whose `lib.rs` or `main.rs` is in `src`.
pub fn graph(src: &Path) -> Graph {
    let files = rust_files(src);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let here = module_of(src, file);
        let text = std::fs::read_to_string(file).expect("readable source");
        let code = without_tests_and_comments(&text);
        let edges = graph.entry(here.clone()).or_default();
        for path in paths(&code) {
            let absolute = resolve(&here, &path);
            if let Some(target) = longest_module(&modules, &absolute)
                && target != here
            {
                edges.insert(target);
            }
        }
    }
    graph
}

/// Every cycle of the graph, as the modules of each strongly connected component with
/// more than one module (Tarjan's algorithm).
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// `src/auth/token.rs` → `auth::token`; `src/auth/mod.rs` → `auth`; `src/lib.rs` → ``.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src").with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file without its test module and without comments and string literals
/// (a doc comment naming `crate::x` is no dependency).
fn without_tests_and_comments(text: &str) -> String {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    let mut out = String::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let mut in_string = false;
        for ch in line.chars() {
            if ch == '"' {
                in_string = !in_string;
            } else if !in_string {
                out.push(ch);
            }
        }
        out.push('\n');
    }
    out
}

/// Every path starting at `crate` or `super` in `code`, use trees expanded:
/// `use crate::{a, b::{c, d}}` gives `crate::a`, `crate::b::c`, `crate::b::d`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let tokens = tokens(code);
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // `crate::…` or `super::…`, not the `crate` of `pub(crate)`.
        let starts = (tokens[i] == "crate" || tokens[i] == "super")
            && (i == 0 || tokens[i - 1] != "::")
            && tokens.get(i + 1).map(String::as_str) == Some("::");
        if starts {
            i = tree(&tokens, i, Vec::new(), &mut found);
        } else {
            i += 1;
        }
    }
    found
}

/// Reads one use tree from `tokens[i]` on, after `prefix`; returns where it ends.
fn tree(tokens: &[String], mut i: usize, mut prefix: Vec<String>, found: &mut Vec<Vec<String>>) -> usize {
    while i < tokens.len() {
        let token = &tokens[i];
        if token == "{" {
            i += 1;
            loop {
                i = tree(tokens, i, prefix.clone(), found);
                match tokens.get(i).map(String::as_str) {
                    Some(",") => i += 1,
                    Some("}") => return i + 1,
                    _ => return i,
                }
                if tokens.get(i).map(String::as_str) == Some("}") {
                    return i + 1;
                }
            }
        }
        if token.chars().all(|c| c.is_alphanumeric() || c == '_') {
            prefix.push(token.clone());
            if tokens.get(i + 1).map(String::as_str) == Some("::") {
                i += 2;
                continue;
            }
            i += 1;
        }
        break;
    }
    if !prefix.is_empty() {
        found.push(prefix);
    }
    i
}

fn tokens(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut word = c.to_string();
            while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_') {
                word.push(n);
                chars.next();
            }
            tokens.push(word);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            tokens.push("::".into());
        } else if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    tokens
}

/// `path` (from `crate` or `super`, as written in module `here`) from the crate root.
fn resolve(here: &str, path: &[String]) -> Vec<String> {
    let mut base: Vec<String> =
        if here.is_empty() { Vec::new() } else { here.split("::").map(str::to_owned).collect() };
    let mut rest = path;
    if rest.first().map(String::as_str) == Some("crate") {
        base.clear();
        rest = &rest[1..];
    }
    while rest.first().map(String::as_str) == Some("super") {
        base.pop();
        rest = &rest[1..];
    }
    base.extend(rest.iter().filter(|s| *s != "self").cloned());
    base
}

/// The longest prefix of `path` that is a module of the crate.
fn longest_module(modules: &BTreeSet<String>, path: &[String]) -> Option<String> {
    (0..=path.len()).rev().map(|n| path[..n].join("::")).find(|candidate| modules.contains(candidate))
}
