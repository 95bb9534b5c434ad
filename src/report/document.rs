//! A report as a list of blocks (headings, text, tables, images), rendered twice from the same
//! content: GitHub-flavoured Markdown that links its PNG files, and one self-contained HTML page
//! with the PNGs embedded as base64 `data:` URIs, so it can be mailed or archived on its own.

use std::path::Path;

use base64::Engine;

use super::table::{Table, escape};
use crate::error::{Error, Result};

/// One piece of a report.
#[derive(Debug, Clone)]
pub enum Block {
    /// A heading of level 1 to 6.
    Heading(usize, String),
    /// A paragraph; text between backticks is code.
    Text(String),
    /// A bulleted list; backticks as in [`Block::Text`].
    List(Vec<String>),
    /// A score table.
    Table(Table),
    /// A PNG file beside the report, with its caption.
    Image {
        /// File name, relative to the report's directory.
        file: String,
        /// Caption and alternative text.
        caption: String,
    },
}

/// A report: a title and blocks.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// Title (the level-1 heading and the HTML `<title>`).
    pub title: String,
    /// Content, in order.
    pub blocks: Vec<Block>,
}

impl Document {
    /// The PNG files the document shows, in order.
    pub fn images(&self) -> Vec<&str> {
        self.blocks.iter().filter_map(|b| if let Block::Image { file, .. } = b { Some(file.as_str()) } else { None }).collect()
    }

    /// Markdown; images are links to the files.
    pub fn markdown(&self) -> String {
        let mut s = format!("# {}\n\n", self.title);
        for b in &self.blocks {
            match b {
                Block::Heading(level, text) => s += &format!("{} {text}\n\n", "#".repeat((*level).clamp(1, 6))),
                Block::Text(text) => s += &format!("{text}\n\n"),
                Block::List(items) => s += &(items.iter().map(|i| format!("- {i}\n")).collect::<String>() + "\n"),
                Block::Table(t) => s += &format!("{}\n", t.markdown()),
                Block::Image { file, caption } => s += &format!("![{caption}]({file})\n\n"),
            }
        }
        s
    }

    /// A self-contained HTML page; each image is read from `dir` and embedded.
    pub fn html(&self, dir: &Path) -> Result<String> {
        let mut s = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for b in &self.blocks {
            match b {
                Block::Heading(level, text) => {
                    let l = (*level).clamp(1, 6);
                    s += &format!("<h{l}>{}</h{l}>\n", inline(text));
                }
                Block::Text(text) => s += &format!("<p>{}</p>\n", inline(text)),
                Block::List(items) => s += &format!("<ul>\n{}</ul>\n", items.iter().map(|i| format!("<li>{}</li>\n", inline(i))).collect::<String>()),
                Block::Table(t) => s += &t.html(),
                Block::Image { file, caption } => {
                    let path = dir.join(file);
                    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                    s += &format!(
                        "<figure><img src=\"data:image/png;base64,{data}\" alt=\"{}\"><figcaption>{}</figcaption></figure>\n",
                        escape(caption).replace('"', "&quot;"),
                        inline(caption)
                    );
                }
            }
        }
        Ok(s + "</body>\n</html>\n")
    }
}

const STYLE: &str = "body { font-family: 'DejaVu Sans', sans-serif; max-width: 1400px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #eee; }
img { max-width: 100%; }
figure { margin: 1.5em 0; }
figcaption { color: #555; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.2em; }
";

/// Escapes text for HTML and turns `backtick` spans into `<code>`.
fn inline(text: &str) -> String {
    text.split('`').enumerate().map(|(i, part)| if i % 2 == 1 { format!("<code>{}</code>", escape(part)) } else { escape(part) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::table::Better;

    #[test]
    fn markdown_and_html_carry_the_same_content() {
        let dir = tempfile::tempdir().unwrap();
        let png = b"\x89PNG\r\n\x1a\nrest";
        std::fs::write(dir.path().join("a.png"), png).unwrap();
        let doc = Document {
            title: "Scores".into(),
            blocks: vec![
                Block::Heading(2, "psi".into()),
                Block::Text("RMSE of `mean` < 1".into()),
                Block::List(vec!["one".into()]),
                Block::Table(Table { columns: vec![("RMSE".into(), Better::Lower)], rows: vec![("a".into(), vec![1.0]), ("b".into(), vec![2.0])] }),
                Block::Image { file: "a.png".into(), caption: "map".into() },
            ],
        };
        let md = doc.markdown();
        assert!(
            md.starts_with("# Scores\n") && md.contains("## psi") && md.contains("- one") && md.contains("| a | **1.000** |") && md.contains("![map](a.png)"),
            "{md}"
        );
        assert_eq!(doc.images(), vec!["a.png"]);
        let html = doc.html(dir.path()).unwrap();
        assert!(html.contains("<h2>psi</h2>") && html.contains("RMSE of <code>mean</code> &lt; 1") && html.contains("<td><b>1.000</b></td>"), "{html}");
        // "\x89PNG\r\n\x1a\nrest" in base64 (RFC 4648 alphabet, padded).
        assert!(html.contains("src=\"data:image/png;base64,iVBORw0KGgpyZXN0\""), "{html}");
        assert!(!html.contains("a.png"), "the HTML must not depend on the PNG files");
        assert!(doc.html(Path::new("/nonexistent")).is_err());
    }
}
