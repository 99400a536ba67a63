//! Imports flow one way (docs/architecture.md, "Layers"): the API crate (`api/`) is the lowest
//! layer and depends on no operator code and does no I/O; every module of `src/` belongs to a
//! layer, imports only from its own layer or a lower one, and no modules import each other in a
//! circle (within a layer either); the plan layer does no I/O. Read from the `use` lines and the
//! `crate::`/`super::` paths of the shipped code (tests left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first, as module-path prefixes (the longest prefix decides).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "base",
        &[
            "credentials",
            "duration",
            "error",
            "failpoint",
            "healthcheck",
            "leader",
            "metrics",
            "probe",
            "quiesce",
            "telemetry",
        ],
    ),
    ("provider and settings", &["provider", "config"]),
    (
        "plan (pure)",
        &[
            "controller::conditions",
            "controller::plan",
            "controller::validate",
        ],
    ),
    (
        "observe/act (I/O)",
        &[
            "controller::cache",
            "controller::claim",
            "controller::context",
            "controller::gateway",
            "controller::mappers",
            "controller::observe",
            "controller::providers",
            "controller::reconcile",
            "controller::rollout",
            "controller::streams",
            "controller::tenancy",
            "controller::verify",
            "controller::watch",
        ],
    ),
    ("controller wiring", &["controller", "server"]),
    ("main", &["crate"]),
];

/// What the plan layer must not use: it decides from what it is given.
const IO_IN_PLAN: &[&str] = &[
    "kube::",
    "reqwest::",
    "tokio::",
    "hyper::",
    "axum::",
    "std::fs",
    "::now(",
];

struct Module {
    name: String,
    path: PathBuf,
    /// The shipped code: the file without its `#[cfg(test)] mod tests { ... }`.
    code: String,
}

fn modules() -> Vec<Module> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                // Test modules and the binaries (crdgen) are no layer of the operator.
                if !matches!(name.as_str(), "tests" | "fuzz_tests" | "bin") {
                    walk(&path, out);
                }
            } else if name.ends_with(".rs") && name != "tests.rs" {
                out.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let name = if parts.is_empty() {
                "crate".to_string()
            } else {
                parts.join("::")
            };
            let text = std::fs::read_to_string(&path).unwrap();
            let code = shipped(&text);
            let code = code
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            Module { name, path, code }
        })
        .collect()
}

/// The shipped code of a file: without the declaration of a test module in another file
/// (`#[cfg(test)] mod tests;`, wherever it is) and without an inline test module
/// (`#[cfg(test)] mod tests { ... }`, its braces balanced).
fn shipped(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = rest[i + "#[cfg(test)]".len()..].trim_start();
        if let Some(module) = after.strip_prefix("mod ") {
            let end_of_name = module
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(module.len());
            let tail = module[end_of_name..].trim_start();
            if let Some(tail) = tail.strip_prefix(';') {
                rest = tail;
                continue;
            }
            if tail.starts_with('{') {
                let mut depth = 0;
                let mut end = tail.len();
                for (j, c) in tail.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = j + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &tail[end..];
                continue;
            }
        }
        // Another item under #[cfg(test)] (a test-only function): kept, it is read like the rest.
        out.push_str("#[cfg(test)]");
        rest = &rest[i + "#[cfg(test)]".len()..];
    }
    out.push_str(rest);
    out
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let Some(close) = tree.rfind('}').filter(|c| *c > open) else {
        return vec![tree[..open].to_string()];
    };
    let (prefix, inner) = (&tree[..open], &tree[open + 1..close]);
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .flat_map(|i| expand(i).into_iter().map(|e| format!("{prefix}{e}")))
        .collect()
}

/// The paths a module names: its `use` trees and every inline `crate::`/`super::` path.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    // `use` items start a line (after `pub` or `pub(crate)`) and run to their `;`.
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let item = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p));
        if item.is_some() {
            let start = offset + (line.len() - trimmed.len());
            let from = &code[start..];
            let body = &from[from.find("use ").unwrap() + 4..];
            if let Some(end) = body.find(';') {
                let tree: String = body[..end].split_whitespace().collect::<Vec<_>>().join(" ");
                out.extend(expand(&tree));
            }
        }
        offset += line.len();
    }
    for start in ["crate::", "super::"] {
        for (i, _) in code.match_indices(start) {
            if code[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let path: String = code[i..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            // `super::{a, b}` is a use tree, read above with its items.
            if !path.ends_with("::") {
                out.push(path);
            }
        }
    }
    out.into_iter()
        .map(|p| p.split(" as ").next().unwrap().trim().to_string())
        .collect()
}

/// The module a path names, from `module`: the longest known module prefix.
fn resolve(module: &str, path: &str, known: &BTreeSet<String>) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").map(str::trim).collect();
    let mut base: Vec<&str> = match parts.first() {
        Some(&"crate") => {
            parts.remove(0);
            Vec::new()
        }
        Some(&"super" | &"self") => {
            let mut base: Vec<&str> = module.split("::").filter(|p| *p != "crate").collect();
            while let Some(&first) = parts.first() {
                match first {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                parts.remove(0);
            }
            base
        }
        _ => return None,
    };
    base.extend(parts);
    (1..=base.len())
        .rev()
        .map(|n| base[..n].join("::"))
        .find(|candidate| known.contains(candidate))
}

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (name, prefixes))| prefixes.iter().map(move |p| (i, *name, *p)))
        .filter(|(_, _, p)| module == *p || module.starts_with(&format!("{p}::")))
        .max_by_key(|(_, _, p)| p.len())
        .map(|(i, name, _)| (i, name))
}

/// Module -> the modules it imports. Its descendants are left out (a parent declares its
/// children), and with `ancestors: false` its ancestors too (a child uses its parent's
/// private items: for circles, not for layers, where a child importing from a parent in a
/// higher layer is an upward import like any other).
fn graph(modules: &[Module], ancestors: bool) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<String> = modules.iter().map(|m| m.name.clone()).collect();
    let descends = |a: &str, b: &str| b == "crate" || a.starts_with(&format!("{b}::"));
    let skip = |m: &str, dep: &str| {
        m == dep
            || dep.starts_with(&format!("{m}::"))
            || m == "crate"
            || (!ancestors && descends(m, dep))
    };
    modules
        .iter()
        .map(|m| {
            let deps = paths(&m.code)
                .iter()
                .filter_map(|p| resolve(&m.name, p, &known))
                .filter(|d| !skip(&m.name, d))
                .collect();
            (m.name.clone(), deps)
        })
        .collect()
}

#[test]
fn every_module_imports_only_from_its_layer_or_below() {
    let modules = modules();
    assert!(modules.len() > 40, "only {} modules found", modules.len());
    let graph = graph(&modules, true);
    let mut upward = Vec::new();
    for (module, deps) in &graph {
        let (layer, name) = layer_of(module).unwrap_or_else(|| panic!("{module}: in no layer"));
        for dep in deps {
            let (dep_layer, dep_name) = layer_of(dep).unwrap();
            if dep_layer > layer {
                upward.push(format!("{module} ({name}) imports {dep} ({dep_name})"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports from a layer above:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let graph = graph(&modules(), false);
    // Depth-first search; a back edge closes a circle, reported with its modules in order.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, bool>,
        stack: &mut Vec<&'a str>,
        circles: &mut Vec<String>,
    ) {
        state.insert(node, true);
        stack.push(node);
        for dep in graph.get(node).into_iter().flatten() {
            match state.get(dep.as_str()) {
                Some(true) => {
                    let from = stack.iter().position(|n| *n == dep).unwrap();
                    circles.push(format!("{} -> {dep}", stack[from..].join(" -> ")));
                }
                Some(false) => {}
                None => visit(dep, graph, state, stack, circles),
            }
        }
        stack.pop();
        state.insert(node, false);
    }
    let (mut state, mut circles) = (BTreeMap::new(), Vec::new());
    for node in graph.keys() {
        if !state.contains_key(node.as_str()) {
            visit(node, &graph, &mut state, &mut Vec::new(), &mut circles);
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_plan_layer_does_no_io() {
    let mut found = Vec::new();
    for m in modules() {
        if layer_of(&m.name).is_some_and(|(_, name)| name == "plan (pure)") {
            for io in IO_IN_PLAN {
                if m.code.contains(io) {
                    found.push(format!("{} uses {io}", m.path.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_layers_are_those_docs_architecture_md_lists() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    let section = docs
        .split("## Layers")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/architecture.md has a Layers section");
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| layer ") && !l.starts_with("|---"))
        .collect();
    let mut problems = Vec::new();
    // The API crate's row, then one row per layer of src/, in the same order.
    if !rows.first().is_some_and(|r| r.starts_with("| api ")) {
        problems.push("the first row is not the API crate's".to_string());
    }
    let documented: Vec<&str> = rows
        .iter()
        .skip(1)
        .map(|r| r.split(" | ").next().unwrap().trim_start_matches("| "))
        .collect();
    let layers: Vec<&str> = LAYERS.iter().map(|(name, _)| *name).collect();
    if documented != layers {
        problems.push(format!(
            "layers documented {documented:?}, tested {layers:?}"
        ));
    }
    for (name, modules) in LAYERS {
        let Some(row) = rows.iter().find(|r| r.starts_with(&format!("| {name} |"))) else {
            continue;
        };
        let listed = row.split(" | ").nth(1).unwrap_or_default();
        for module in *modules {
            let short = module.rsplit("::").next().unwrap();
            if !listed.contains(&format!("`{module}`")) && !listed.contains(&format!("`{short}`")) {
                problems.push(format!("{module} is in layer {name} but not in its row"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The `[dependencies]` of a Cargo manifest: each name with its line.
fn dependencies(manifest: &str) -> Vec<(String, String)> {
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.']).next().unwrap().trim().to_string();
            out.push((name, line.to_string()));
        }
    }
    out
}

#[test]
fn the_api_crate_depends_on_no_operator_code_and_does_no_io() {
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("api");
    let manifest = std::fs::read_to_string(api.join("Cargo.toml")).unwrap();
    let deps = dependencies(&manifest);
    assert!(
        deps.iter().any(|(n, _)| n == "kube"),
        "no dependencies read from api/Cargo.toml: {deps:?}"
    );
    let mut found = Vec::new();
    for (name, line) in &deps {
        if [
            "proxy-order-operator",
            "proxy-order-testkit",
            "proxy-solutions-sim",
            "tokio",
            "reqwest",
            "axum",
            "hyper",
        ]
        .contains(&name.as_str())
        {
            found.push(format!("api/Cargo.toml depends on {name}"));
        }
        if name == "kube"
            && (line.contains("workspace") || !line.contains("default-features = false"))
        {
            found.push(format!("api/Cargo.toml: kube beyond its derive: {line}"));
        }
        for feature in ["client", "runtime"] {
            if name == "kube" && line.contains(&format!("\"{feature}\"")) {
                found.push(format!("api/Cargo.toml: kube with {feature}: {line}"));
            }
        }
    }
    // The provider's models come from wire/ without its command-line flags (clap).
    match deps.iter().find(|(n, _)| n == "proxy-solutions-wire") {
        Some((_, line)) if line.contains("\"cli\"") => {
            found.push(format!("api/Cargo.toml takes wire's command line: {line}"))
        }
        _ => {}
    }
    let wire = std::fs::read_to_string(api.join("../wire/Cargo.toml")).unwrap();
    if let Some((_, line)) = dependencies(&wire).into_iter().find(|(n, _)| n == "clap")
        && !line.contains("optional = true")
    {
        found.push(format!("wire/Cargo.toml: clap is not optional: {line}"));
    }
    // The library's code (crdgen, which prints, and the tests left out).
    let mut files = Vec::new();
    let mut dirs = vec![api.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() && name != "bin" {
                dirs.push(path);
            } else if name.ends_with(".rs") && name != "tests.rs" {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 5, "only {files:?} in api/src");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        // `kube::` is its CustomResource derive here (the manifest check above keeps the
        // client and runtime out).
        let io = IO_IN_PLAN.iter().filter(|io| **io != "kube::");
        for io in io.chain(&["std::net", "std::process", "std::env"]) {
            if code.contains(io) {
                found.push(format!("{} uses {io}", file.display()));
            }
        }
        if code.contains("proxy_order_operator") {
            found.push(format!("{} names the operator crate", file.display()));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_reader_sees_what_it_must() {
    // A grouped import, a nested one, a renamed one, an inline path, a `super` path.
    let code = "use crate::{a::{b, c::D}, e as f};\nfn x() { crate::g::h(); super::i::j(); }";
    let paths = paths(code);
    for want in [
        "crate::a::b",
        "crate::a::c::D",
        "crate::e",
        "crate::g::h",
        "super::i::j",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
    }
    let known: BTreeSet<String> = ["a", "a::c", "x::i"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        resolve("x::y", "crate::a::c::D", &known).as_deref(),
        Some("a::c")
    );
    assert_eq!(
        resolve("x::y", "super::i::j", &known).as_deref(),
        Some("x::i")
    );
    assert_eq!(resolve("x::y", "std::fmt", &known), None);
    assert_eq!(
        layer_of("controller::plan::decide").unwrap().1,
        "plan (pure)"
    );
    assert_eq!(layer_of("controller").unwrap().1, "controller wiring");
    assert_eq!(layer_of("crate").unwrap().1, "main");
    let manifest = "[package]\nname = \"x\"\n[dependencies]\n# note\nkube = { version = \"5\" }\nserde.workspace = true\n[dev-dependencies]\ntokio = \"1\"\n";
    let names: Vec<String> = dependencies(manifest).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["kube", "serde"]);
    // Test modules are left out wherever they are declared, and only they.
    let text = "#[cfg(test)]\nmod tests;\nuse crate::a::B;\n#[cfg(test)]\nmod more {\n    use crate::x::Y;\n    fn f() {}\n}\nfn g() { crate::c::d(); }\n";
    let code = shipped(text);
    assert!(
        code.contains("use crate::a::B;") && code.contains("crate::c::d()"),
        "{code}"
    );
    assert!(
        !code.contains("crate::x::Y") && !code.contains("mod tests"),
        "{code}"
    );
    // A module of no layer is found, not taken for the top one.
    assert_eq!(layer_of("newmodule"), None);
}
