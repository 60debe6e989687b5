//! The rooms and their arrows: `ballot-core` depends on nothing of AWS, Lambda, HTTP or
//! an async runtime, and no crate's modules import each other in a cycle.

use std::path::Path;

use ballot_tests::modules::{Graph, cycles, graph};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace")
}

#[test]
fn given_the_core_crate_when_its_normal_dependencies_are_listed_then_none_is_aws_lambda_http_or_a_runtime() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "-p", "ballot-core", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(root())
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8(out.stdout).unwrap();
    let forbidden =
        ["lambda_http", "lambda_runtime", "aws_lambda_events", "aws-sdk-", "aws-config", "reqwest", "tokio", "hyper"];
    let found: Vec<&str> = tree.lines().filter(|line| forbidden.iter().any(|f| line.starts_with(f))).collect();
    assert!(tree.lines().count() > 5, "cargo tree listed the crate's dependencies:\n{tree}");
    assert!(found.is_empty(), "ballot-core depends on {found:?}");
}

#[test]
fn given_each_crate_when_its_module_graph_is_read_then_it_has_no_cycle() {
    let mut crates = vec![root().join("core/src"), root().join("shared/src")];
    for entry in std::fs::read_dir(root().join("functions")).unwrap() {
        crates.push(entry.unwrap().path().join("src"));
    }
    let mut found = Vec::new();
    for src in &crates {
        let graph = graph(src);
        assert!(!graph.is_empty(), "{} has modules", src.display());
        for cycle in cycles(&graph) {
            found.push(format!("{}: {}", src.display(), cycle.join(" → ")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn given_a_cycle_when_the_graph_is_read_then_it_is_found() {
    let dir = std::env::temp_dir().join(format!("ballot-cycle-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod a;\npub mod b;\npub mod c;\n").unwrap();
    std::fs::write(dir.join("a/mod.rs"), "pub mod inner;\nuse crate::{b::{self, X}, c};\n").unwrap();
    std::fs::write(dir.join("a/inner.rs"), "// use crate::c; only a comment\nfn f() { let _ = \"crate::b\"; }\n")
        .unwrap();
    std::fs::write(dir.join("b.rs"), "pub struct X;\nfn f() -> super::a::inner::Y { todo!() }\n").unwrap();
    std::fs::write(dir.join("c.rs"), "#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n").unwrap();
    let graph: Graph = graph(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(graph["a"].iter().collect::<Vec<_>>(), ["b", "c"]);
    assert!(graph["a::inner"].is_empty(), "comments and strings name nothing");
    assert_eq!(graph["b"].iter().collect::<Vec<_>>(), ["a::inner"]);
    assert!(graph["c"].is_empty(), "test modules may reach across");
    // a → b → a::inner: no cycle yet; a::inner → b closes one.
    assert!(cycles(&graph).is_empty());
    let mut closed = graph.clone();
    closed.get_mut("a::inner").unwrap().insert("a".into());
    assert_eq!(cycles(&closed), [vec!["a".to_owned(), "a::inner".to_owned(), "b".to_owned()]]);
}
