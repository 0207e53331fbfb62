//! The documentation's links resolve: every relative link of README.md and docs/*.md names a file
//! or folder of the repository, and every `#fragment` names a heading (GitHub's anchor for it) or an
//! explicit `<a id>` of the page it points to. External (`http(s):`, `mailto:`) links are not
//! fetched: CI runs offline. Also: the README stays a front door (what it is, the two commands, the
//! request flow, where to read next), with the reference one link away under docs/.

use harness::paths::workspace_root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// The markdown files a reader follows links through: the front door and the docs tree.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    out.extend(docs);
    out
}

/// The lines of `text` outside fenced code blocks, with their numbers (1-based).
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        match fence {
            Some(f) if t.starts_with(f) => fence = None,
            Some(_) => {}
            None if t.starts_with("```") => fence = Some("```"),
            None if t.starts_with("~~~") => fence = Some("~~~"),
            None => out.push((i + 1, line)),
        }
    }
    out
}

/// `line` without its inline code spans (a link inside backticks is not a link).
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + ticks..];
        let closing = "`".repeat(ticks);
        match after.find(&closing) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                out.push_str(&rest[start..]);
                return out;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The targets of inline links and images on one line: `[text](target "title")`.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut out = Vec::new();
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let mut depth = 0usize;
        let mut end = None;
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = Some(i);
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let Some(end) = end else { break };
        let inner = after[..end].trim();
        let target = if let Some(stripped) = inner.strip_prefix('<') {
            stripped.split('>').next().unwrap_or("")
        } else {
            inner.split_whitespace().next().unwrap_or("")
        };
        out.push(target.to_string());
        rest = &after[end + 1..];
    }
    out
}

/// GitHub's anchor for a heading: lower case, markup and punctuation dropped (letters, digits,
/// `-`, `_` and spaces kept), spaces turned into `-`; repeated anchors get `-1`, `-2`, ….
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor a page defines: its headings' slugs (numbered when repeated) and `<a id=...>` /
/// `<a name=...>` tags.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        if let Some(h) = line.strip_prefix('#') {
            let h = h.trim_start_matches('#');
            if h.starts_with(' ') {
                let s = slug(h);
                let n = seen.entry(s.clone()).or_insert(0);
                out.insert(if *n == 0 {
                    s.clone()
                } else {
                    format!("{s}-{n}")
                });
                *n += 1;
            }
        }
        for attr in ["<a id=\"", "<a name=\""] {
            let mut rest = line;
            while let Some(at) = rest.find(attr) {
                let after = &rest[at + attr.len()..];
                if let Some(end) = after.find('"') {
                    out.insert(after[..end].to_string());
                }
                rest = after;
            }
        }
    }
    out
}

/// `base/rel` with `.` and `..` resolved lexically (links are read by GitHub, not the shell).
fn resolve(base: &Path, rel: &str) -> PathBuf {
    let mut out = base.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    out
}

/// Every broken relative link of `pages`, as `file:line: target (why)`.
fn broken_links(root: &Path, pages: &[PathBuf]) -> Vec<String> {
    let mut broken = Vec::new();
    for page in pages {
        let text = std::fs::read_to_string(page).expect("read page");
        let name = page
            .strip_prefix(root)
            .unwrap_or(page)
            .display()
            .to_string();
        for (n, line) in prose_lines(&text) {
            for target in link_targets(line) {
                if target.is_empty()
                    || ["http://", "https://", "mailto:"]
                        .iter()
                        .any(|p| target.starts_with(p))
                {
                    continue;
                }
                let (path, fragment) = match target.split_once('#') {
                    Some((p, f)) => (p, Some(f)),
                    None => (target.as_str(), None),
                };
                let file = if path.is_empty() {
                    page.clone()
                } else {
                    resolve(page.parent().expect("page dir"), path)
                };
                if !file.starts_with(root) {
                    broken.push(format!("{name}:{n}: {target} (outside the repository)"));
                    continue;
                }
                if !file.exists() {
                    broken.push(format!("{name}:{n}: {target} (no such file)"));
                    continue;
                }
                if let Some(f) = fragment {
                    if file.extension().is_some_and(|x| x == "md") {
                        let target_text = std::fs::read_to_string(&file).expect("read target");
                        if !anchors(&target_text).contains(f) {
                            broken.push(format!("{name}:{n}: {target} (no such heading)"));
                        }
                    }
                }
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_of_the_docs_resolves_to_a_file_and_heading() {
    let root = workspace_root();
    let pages = pages(&root);
    assert!(pages.len() > 5, "README.md and the docs tree: {pages:?}");
    let broken = broken_links(&root, &pages);
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_check_finds_a_missing_file_a_missing_heading_and_ignores_code() {
    let dir = std::env::temp_dir().join(format!("docs-links-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("docs")).expect("dir");
    std::fs::write(
        dir.join("docs/a.md"),
        "# Page A\n## Settings (`EDGE_CONFIG`)\n## Settings (`EDGE_CONFIG`)\n<a id=\"x\"></a>\n",
    )
    .expect("a");
    let readme =
        "# R\n[ok](docs/a.md#settings-edge_config) [ok2](docs/a.md#settings-edge_config-1) \
                  [ok3](docs/a.md#x) [self](#r) [web](https://example.com/nope)\n\
                  [gone](docs/b.md) [nohead](docs/a.md#nope) `[code](docs/c.md)`\n\
                  ```\n[fenced](docs/d.md)\n```\n![img](docs/a.md)\n[out](../../etc/passwd)\n";
    std::fs::write(dir.join("README.md"), readme).expect("readme");
    let broken = broken_links(&dir, &[dir.join("README.md"), dir.join("docs/a.md")]);
    assert_eq!(
        broken,
        vec![
            "README.md:3: docs/b.md (no such file)".to_string(),
            "README.md:3: docs/a.md#nope (no such heading)".to_string(),
            "README.md:8: ../../etc/passwd (outside the repository)".to_string(),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn github_anchors_follow_githubs_rules() {
    assert_eq!(
        slug(" Local gateway (`scripts/run.sh`)"),
        "local-gateway-scriptsrunsh"
    );
    assert_eq!(slug(" Deploy steps"), "deploy-steps");
    assert_eq!(
        slug(" The sample app (optional, `EnableSampleApp=true`)"),
        "the-sample-app-optional-enablesampleapptrue"
    );
    assert_eq!(
        slug(" crud — every user's items"),
        "crud--every-users-items"
    );
}

#[test]
fn the_readme_is_a_front_door_and_links_every_reference_page() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines: reference material belongs under docs/"
    );
    let linked: BTreeSet<String> = prose_lines(&readme)
        .into_iter()
        .flat_map(|(_, l)| link_targets(l))
        .map(|t| t.split('#').next().unwrap_or("").to_string())
        .collect();
    let unlinked: Vec<String> = pages(&root)
        .into_iter()
        .skip(1)
        .map(|p| {
            p.strip_prefix(&root)
                .expect("under root")
                .display()
                .to_string()
        })
        .filter(|p| !linked.contains(p))
        .collect();
    assert!(
        unlinked.is_empty(),
        "docs pages the README does not link: {unlinked:?}"
    );
}
