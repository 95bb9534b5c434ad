//! The comparison report: score tables (Markdown and self-contained HTML) and PNG plots.

pub mod document;
pub mod plots;
pub mod table;
