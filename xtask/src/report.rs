//! Writing benchmark results into `docs/benchmarks.md`: each bench owns one section between
//! `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers and rewrites only that, so that
//! `bench disk` and `bench store` results live side by side.

use std::path::Path;

use anyhow::{Context, Result};

/// Replaces (or appends) the section `name` of `doc` with a `## title` heading and `body`.
pub(crate) fn write_section(doc: &Path, name: &str, title: &str, body: &str) -> Result<()> {
    let old = match std::fs::read_to_string(doc) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_owned(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", doc.display())),
    };
    let new = replace_section(&old, name, title, body);
    std::fs::write(doc, new).with_context(|| format!("cannot write {}", doc.display()))
}

fn replace_section(old: &str, name: &str, title: &str, body: &str) -> String {
    let start = format!("<!-- bench:{name} -->");
    let end = format!("<!-- /bench:{name} -->");
    let section = format!("{start}\n## {title}\n\n{}\n{end}", body.trim_end());
    match (old.find(&start), old.find(&end)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{section}{}", &old[..a], &old[b + end.len()..])
        }
        _ => format!("{}\n\n{section}\n", old.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_or_appended() {
        let doc = replace_section("# Benchmarks\n\nintro\n", "disk", "Disk", "rows 1");
        assert_eq!(
            doc,
            "# Benchmarks\n\nintro\n\n<!-- bench:disk -->\n## Disk\n\nrows 1\n<!-- /bench:disk -->\n"
        );
        let doc = replace_section(&doc, "store", "Store", "s");
        let doc = replace_section(&doc, "disk", "Disk", "rows 2\n");
        assert!(doc.contains("rows 2\n<!-- /bench:disk -->"));
        assert!(!doc.contains("rows 1"));
        assert!(doc.contains("## Store\n\ns\n<!-- /bench:store -->"));
        assert!(doc.find("bench:disk").unwrap() < doc.find("bench:store").unwrap());
    }
}
