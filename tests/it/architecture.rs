//! The crate's imports stand one way up (see ARCHITECTURE.md): entry points
//! → adapters → the application layer → the domain → the store → the base
//! types. This reads every file under `src/`, collects its `crate::<module>`
//! paths (in `use` lines, grouped `use crate::{...}`, inline paths and
//! `super::` paths that leave their module) and checks them against the
//! layers. A failure names the file and line of each offending path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, from the top: a module may use its own layer and those below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Base,
    Store,
    Domain,
    App,
    Adapter,
    Entry,
}

/// Every top-level module and its layer. A new module must be placed here.
const MODULES: &[(&str, Layer)] = &[
    ("main", Layer::Entry),
    ("cli", Layer::Entry),
    ("client_cli", Layer::Entry),
    ("startup", Layer::Entry),
    ("http", Layer::Adapter),
    ("mcp", Layer::Adapter),
    ("embed", Layer::Adapter),
    ("app", Layer::App),
    ("services", Layer::App),
    ("purchase", Layer::App),
    ("workflows", Layer::App),
    ("delivery", Layer::App),
    ("accounts", Layer::Domain),
    ("auth", Layer::Domain),
    ("cache", Layer::Domain),
    ("catalog", Layer::Domain),
    ("config", Layer::Domain),
    ("instances", Layer::Domain),
    ("ledger", Layer::Domain),
    ("telemetry", Layer::Domain),
    ("tools", Layer::Domain),
    ("store", Layer::Store),
    ("clock", Layer::Base),
    ("column", Layer::Base),
    ("html", Layer::Base),
    ("id", Layer::Base),
    ("money", Layer::Base),
    ("secret", Layer::Base),
];

/// Adapters use one another only here: the HTTP API serves the embed pages
/// it renders with `embed`, and the MCP transport's routes in its one route
/// table. MCP uses nothing of HTTP: both authenticate and check quotas
/// through the application layer.
const ADAPTER_EDGES: &[(&str, &str)] = &[("src/http", "embed"), ("src/http.rs", "mcp")];

/// Cycles between domain modules that are known and not yet broken: the
/// catalog holds the builtin tools, and the vendor proxy in `tools` reads
/// the catalog's products. No other cycle may appear.
const KNOWN_CYCLES: &[&[&str]] = &[&["catalog", "tools"]];

/// One `crate::<module>` path in a file.
#[derive(Debug, Clone)]
struct Reference {
    file: String,
    line: usize,
    from: String,
    to: String,
    text: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {} -> {}: {}",
            self.file,
            self.line,
            self.from,
            self.to,
            self.text.trim()
        )
    }
}

fn layer_of(module: &str) -> Layer {
    MODULES
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| {
            panic!(
                "the module `{module}` has no layer: add it to MODULES in tests/it/architecture.rs"
            )
        })
}

/// The module path of a file under `src/`: `http/error.rs` is `[http, error]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "lib" && stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules named by `crate::` (or, in the binary,
/// `tollgate::`) and `super::` paths in `text`, with the byte offset of each.
fn targets(text: &str, module: &[String], root: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(i) = text[at..].find(root) {
        let start = at + i;
        at = start + root.len();
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let rest = &text[at..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first segment of each item.
            let (mut depth, mut item_start) = (0usize, true);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphabetic() || c == '_') => {
                        item_start = false;
                        if depth == 0 {
                            found.push((start, ident_at(&group[j..]).to_string()));
                        }
                    }
                    _ => {}
                }
            }
        } else {
            found.push((start, ident_at(rest).to_string()));
        }
    }
    // `super::super::x` from `a/b/c.rs` is `a::x`; leaving `a` names `x`.
    // Inside an inline module (`mod tests`) it may not leave the file's
    // module, so only a name that is a top-level module counts.
    let mut at = 0;
    while let Some(i) = text[at..].find("super::") {
        let start = at + i;
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b':') {
            at = start + 1;
            continue;
        }
        let mut ups = 0;
        let mut rest = &text[start..];
        while let Some(r) = rest.strip_prefix("super::") {
            ups += 1;
            rest = r;
        }
        at = start + 7 * ups;
        let name = ident_at(rest);
        if ups >= module.len() && MODULES.iter().any(|(m, _)| *m == name) {
            found.push((start, name.to_string()));
        }
    }
    found
}

/// Every cross-module path under `src/`.
fn references() -> Vec<Reference> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    crate::harness::rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut refs = Vec::new();
    for file in files {
        let relative = file.strip_prefix(root.join("src")).unwrap();
        let module = module_path(relative);
        let Some(from) = module.first().cloned() else {
            continue; // lib.rs only declares the modules.
        };
        let prefix = if from == "main" {
            "tollgate::"
        } else {
            "crate::"
        };
        let source = std::fs::read_to_string(&file).unwrap();
        // Comments are left out, so a doc link is not an import.
        let code: String = source
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("//") {
                    ""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let lines: Vec<&str> = source.lines().collect();
        for (offset, to) in targets(&code, &module, prefix) {
            if to.is_empty() || to == from || to == "self" {
                continue;
            }
            let line = code[..offset].matches('\n').count();
            refs.push(Reference {
                file: format!("src/{}", relative.display()),
                line: line + 1,
                from: from.clone(),
                to,
                text: lines.get(line).copied().unwrap_or_default().to_string(),
            });
        }
    }
    refs
}

fn allowed_between_adapters(r: &Reference) -> bool {
    ADAPTER_EDGES.iter().any(|(file, to)| {
        *to == r.to && (r.file == *file || r.file.starts_with(&format!("{file}/")))
    })
}

/// Why a reference breaks the layers, if it does.
fn violation(r: &Reference) -> Option<&'static str> {
    let (from, to) = (layer_of(&r.from), layer_of(&r.to));
    if from == Layer::Store && to > Layer::Store {
        return Some("the store uses nothing above it");
    }
    if from < Layer::Adapter && to >= Layer::Adapter {
        return Some("nothing below the adapters uses an adapter or an entry point");
    }
    if to > from {
        return Some("a module uses only its own layer and the layers below");
    }
    if from == Layer::Adapter && to == Layer::Adapter && !allowed_between_adapters(r) {
        return Some("adapters do not use one another");
    }
    None
}

/// The cycles of the module graph: its strongly connected components of
/// more than one module (Tarjan's algorithm).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<BTreeSet<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flatten() {
                if !self.index.contains_key(w.as_str()) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w.as_str()]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w.as_str()) {
                    let low = self.low[v].min(self.index[w.as_str()]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    component.insert(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn every_module_has_a_layer_and_the_references_find_the_known_ones() {
    let refs = references();
    for r in &refs {
        layer_of(&r.from);
        layer_of(&r.to);
    }
    // The reader sees use lines, grouped imports and inline paths alike.
    let has = |file: &str, to: &str| refs.iter().any(|r| r.file == file && r.to == to);
    assert!(has("src/startup.rs", "http"), "startup wires the router");
    assert!(has("src/purchase.rs", "ledger"), "purchase uses the ledger");
    assert!(has("src/main.rs", "cli"), "main runs the CLI");
}

#[test]
fn no_layer_uses_a_layer_above_it() {
    let broken: Vec<String> = references()
        .iter()
        .filter_map(|r| violation(r).map(|why| format!("{r}\n    ({why})")))
        .collect();
    assert!(
        broken.is_empty(),
        "imports that break the layers (see ARCHITECTURE.md):\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_modules_form_no_new_import_cycle() {
    let refs = references();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &refs {
        graph
            .entry(r.from.clone())
            .or_default()
            .insert(r.to.clone());
    }
    let known: Vec<BTreeSet<String>> = KNOWN_CYCLES
        .iter()
        .map(|c| c.iter().map(|m| m.to_string()).collect())
        .collect();
    let new: Vec<String> = cycles(&graph)
        .into_iter()
        .filter(|c| !known.contains(c))
        .map(|c| {
            // One reference for each edge of the cycle.
            let mut edges = BTreeSet::new();
            let witnesses: Vec<String> = refs
                .iter()
                .filter(|r| c.contains(&r.from) && c.contains(&r.to))
                .filter(|r| edges.insert((r.from.clone(), r.to.clone())))
                .map(|r| format!("    {r}"))
                .collect();
            format!("{c:?}:\n{}", witnesses.join("\n"))
        })
        .collect();
    assert!(
        new.is_empty(),
        "import cycles between modules:\n{}",
        new.join("\n")
    );
}

/// Handlers parse, authorise, call one service and map its result: no
/// adapter (HTTP, MCP, the embed pages) reads or writes the store or the
/// ledger itself. A failure names the file and line of each such call.
#[test]
fn adapters_reach_the_store_and_the_ledger_only_through_services() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for adapter in ["http", "mcp", "embed"] {
        crate::harness::rust_files(&root.join(adapter), &mut files);
        files.push(root.join(format!("{adapter}.rs")));
    }
    files.sort();
    let mut calls = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = source.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.trim();
            if code.starts_with("//") {
                continue;
            }
            // `state.store.x()`, or `.store` ending a line that the next
            // line's `.x()` continues, as rustfmt breaks long chains.
            let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
            let reaches = |field: &str| {
                code.contains(&format!(".{field}."))
                    || (code.ends_with(&format!(".{field}")) && next.starts_with('.'))
                    || code == format!(".{field}")
            };
            if reaches("store") || reaches("ledger") {
                calls.push(format!(
                    "{}:{}: {code}",
                    file.strip_prefix(&root).unwrap().display(),
                    i + 1
                ));
            }
        }
    }
    assert!(
        calls.is_empty(),
        "adapters calling the store or the ledger instead of a service:\n{}",
        calls.join("\n")
    );
}

/// Money moves only through the ledger engine's batches. The SQLite ledger
/// writer also keeps wallets, open grants and budget counters between
/// batches (`store/sqlite_sync/rows.rs`): another connection's commit makes
/// it forget them, but a trigger or cascade run by its own writes would
/// not, and the next batch would charge from stale rows. So no SQL outside
/// the batches' writes changes those tables, but the insert of a new user's
/// wallet, and no migration gives them a trigger or a cascade.
#[test]
fn only_the_ledger_batches_write_wallets_grants_and_budget_counters() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    crate::harness::rust_files(&root.join("src"), &mut files);
    let writers = [
        "src/store/sqlite_sync/batch.rs",
        "src/store/postgres/ledger/writes.rs",
    ];
    // Statements may span lines: every run of white space counts as one.
    let flat = |text: &str| {
        text.to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut found = Vec::new();
    for file in files {
        let relative = format!(
            "src/{}",
            file.strip_prefix(root.join("src")).unwrap().display()
        );
        if writers.contains(&relative.as_str()) {
            continue;
        }
        let code: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let code = flat(&code);
        for table in ["wallets", "grants", "budget_counters"] {
            for verb in ["update", "into", "delete from"] {
                for end in [" ", "("] {
                    let statement = format!("{verb} {table}{end}");
                    let new_wallet = relative == "src/store/sql/accounts.rs"
                        && code.matches(&statement).count() == 1
                        && code
                            .contains("insert into wallets (user_id, balance_credits, updated_at)");
                    if code.contains(&statement)
                        && !(verb == "into" && table == "wallets" && new_wallet)
                    {
                        found.push(format!("{relative}: {statement}"));
                    }
                }
            }
        }
    }
    let mut migrations = Vec::new();
    for dir in ["migrations/sqlite", "migrations/postgres"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            migrations.push(entry.unwrap().path());
        }
    }
    for file in migrations {
        let sql = flat(&std::fs::read_to_string(&file).unwrap());
        for risky in ["create trigger", "on delete cascade", "on update cascade"] {
            if sql.contains(risky) {
                found.push(format!("{}: {risky}", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "only the ledger's batches may write these tables:\n{}",
        found.join("\n")
    );
}
