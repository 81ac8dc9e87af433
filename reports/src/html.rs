//! The HTML page: one self-contained file (inline CSS, no scripts, no external resources)
//! that shows the figures as PNG images next to the figure files.

use std::fmt::Write as _;

use crate::plot::{HEIGHT, WIDTH};
use crate::{Report, Section, Table};

const CSS: &str = "\
body{font-family:'DejaVu Sans',system-ui,sans-serif;color:#222;background:#fff;margin:0;line-height:1.5}
main{max-width:1000px;margin:0 auto;padding:1.5em}
h1{font-size:1.8em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
figure{margin:1.5em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
caption{text-align:left;font-weight:bold;padding-bottom:.3em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
tbody tr:nth-child(even){background:#fafafa}
pre{background:#f6f6f6;border:1px solid #e3e3e3;padding:.8em;overflow-x:auto;font-size:.88em}
";

/// `text` with the characters that are special in HTML text and attribute values escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page for `report`; figure `id` is shown from `id.png` and linked to `id.svg`.
pub(crate) fn page(report: &Report) -> String {
    let title = escape(&report.title);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n"
    );
    paragraphs(&mut out, &report.intro);
    for section in &report.sections {
        section_html(&mut out, section);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// Appends one section.
fn section_html(out: &mut String, section: &Section) {
    let _ = writeln!(out, "<section>\n<h2>{}</h2>", escape(&section.title));
    paragraphs(out, &section.text);
    for fig in &section.figures {
        let (id, title) = (escape(&fig.id), escape(&fig.title));
        let _ = writeln!(
            out,
            "<figure>\n<a href=\"{id}.svg\"><img src=\"{id}.png\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
             alt=\"{title}\"></a>\n<figcaption>{title} (<a href=\"{id}.svg\">SVG</a>)</figcaption>\n</figure>"
        );
    }
    for table in &section.tables {
        table_html(out, table);
    }
    if let Some(code) = &section.code {
        let _ = writeln!(out, "<pre><code>{}</code></pre>", escape(code));
    }
    out.push_str("</section>\n");
}

/// Appends `text` as paragraphs: blank lines separate them.
fn paragraphs(out: &mut String, text: &str) {
    let mut para: Vec<&str> = Vec::new();
    for line in text.lines().chain([""]) {
        if line.trim().is_empty() {
            if !para.is_empty() {
                let _ = writeln!(out, "<p>{}</p>", escape(&para.join("\n")));
                para.clear();
            }
        } else {
            para.push(line.trim());
        }
    }
}

/// Appends `table`.
fn table_html(out: &mut String, table: &Table) {
    out.push_str("<table>\n");
    if !table.title.is_empty() {
        let _ = writeln!(out, "<caption>{}</caption>", escape(&table.title));
    }
    let row = |out: &mut String, cells: &[String], tag: &str| {
        out.push_str("<tr>");
        for cell in cells {
            let _ = write!(out, "<{tag}>{}</{tag}>", escape(cell));
        }
        out.push_str("</tr>\n");
    };
    if !table.header.is_empty() {
        out.push_str("<thead>\n");
        row(out, &table.header, "th");
        out.push_str("</thead>\n");
    }
    out.push_str("<tbody>\n");
    for cells in &table.rows {
        row(out, cells, "td");
    }
    out.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn blank_lines_separate_paragraphs() {
        let mut out = String::new();
        paragraphs(&mut out, "one\ntwo\n\n  \nthree <b>\n");
        assert_eq!(out, "<p>one\ntwo</p>\n<p>three &lt;b&gt;</p>\n");
        out.clear();
        paragraphs(&mut out, "\n \n");
        assert!(out.is_empty());
    }
}
