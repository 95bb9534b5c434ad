//! The house plan of docs/architecture.md, enforced: every `crate::<room>` path in the library's
//! sources is one the table below allows, no room reaches another stage's `stage` module, and the
//! rooms import each other without a cycle. A new import that breaks the plan fails here with the
//! file that has it, not in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which rooms each room may import (docs/architecture.md, "Rooms, bottom to top").
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("progress", &["error"]),
    ("config", &["error"]),
    ("metrics", &["error"]),
    ("report", &["error"]),
    ("models", &["config", "error"]),
    ("cf", &["config", "error"]),
    ("pipeline", &["config", "error"]),
    ("analysis", &["cf", "config", "error"]),
    ("synth", &["cf", "config", "error", "models", "pipeline", "progress"]),
    ("ingest", &["cf", "config", "error", "pipeline", "progress"]),
    ("learn", &["config", "error", "ingest", "pipeline", "progress"]),
    ("assimilate", &["analysis", "cf", "config", "error", "ingest", "learn", "pipeline", "progress"]),
    ("kalman", &["analysis", "cf", "config", "error", "models", "pipeline", "progress"]),
    ("evaluate", &["analysis", "cf", "error", "metrics", "pipeline", "report"]),
    (
        "app",
        &[
            "analysis",
            "assimilate",
            "cf",
            "config",
            "error",
            "evaluate",
            "ingest",
            "kalman",
            "learn",
            "metrics",
            "models",
            "pipeline",
            "progress",
            "report",
            "synth",
        ],
    ),
];

/// The stage rooms: their `stage` module is glue only `app` may name.
const STAGE_ROOMS: &[&str] = &["synth", "ingest", "learn", "assimilate", "kalman", "evaluate"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::a::b...` path in `text` outside `//` comments, as its components.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let path: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            out.push(path.split("::").filter(|p| !p.is_empty()).map(str::to_string).collect());
            rest = after;
        }
    }
    out
}

#[test]
fn rooms_import_only_what_the_house_plan_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let room = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if ["lib", "main", "cli"].contains(&room.as_str()) {
            continue;
        }
        let Some(may) = allowed.get(room.as_str()) else {
            problems.push(format!("{}: room `{room}` is not in the house plan (tests/architecture.rs, docs/architecture.md)", rel.display()));
            continue;
        };
        for path in crate_paths(&std::fs::read_to_string(file).unwrap()) {
            let Some(target) = path.first() else { continue };
            // Crate-root items (`crate::GIT_REVISION`, macros) belong to no room.
            if target == &room || !allowed.contains_key(target.as_str()) {
                continue;
            }
            edges.entry(room.clone()).or_default().insert(target.clone());
            if !may.contains(&target.as_str()) {
                problems.push(format!("{}: `{room}` may not import `{target}` (crate::{})", rel.display(), path.join("::")));
            }
            if room != "app" && STAGE_ROOMS.contains(&target.as_str()) && path.get(1).is_some_and(|m| m == "stage") {
                problems.push(format!("{}: only app may name another room's stage module (crate::{})", rel.display(), path.join("::")));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The table itself is acyclic, so the imports are; check it anyway, in case it is edited.
    fn visit(room: &str, edges: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>) {
        assert!(!path.iter().any(|r| r == room), "import cycle: {} -> {room}", path.join(" -> "));
        path.push(room.to_string());
        for next in edges.get(room).into_iter().flatten() {
            visit(next, edges, path);
        }
        path.pop();
    }
    for room in edges.keys() {
        visit(room, &edges, &mut Vec::new());
    }
    for (room, _) in ALLOWED {
        assert!(src.join(room).is_dir() || src.join(format!("{room}.rs")).is_file(), "room `{room}` of the house plan has no source");
    }
}
