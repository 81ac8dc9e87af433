//! The performance report: figures rendered with plotters to PNG and SVG, and an
//! HTML page that shows them with tables and text.
//!
//! The caller (replay, sweep, `iommu report`) computes the numbers; this crate only
//! lays them out. Text is drawn from the DejaVu Sans font shipped in `assets/`, so
//! nothing beyond Rust is needed to build it.

#![warn(missing_docs)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};

mod html;
mod plot;

/// A whole report.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The page title.
    pub title: String,
    /// A paragraph under the title.
    pub intro: String,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

/// A titled part of the report.
#[derive(Clone, Debug, Default)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// Paragraph text (plain text; blank lines separate paragraphs).
    pub text: String,
    /// Figures, each written as `<id>.png` and `<id>.svg`.
    pub figures: Vec<Figure>,
    /// Tables.
    pub tables: Vec<Table>,
    /// A preformatted block (a configuration file, a command line).
    pub code: Option<String>,
}

/// One plot.
#[derive(Clone, Debug)]
pub struct Figure {
    /// File stem (letters, digits, `-`, `_`): unique within the report.
    pub id: String,
    /// Title above the plot.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// Logarithmic x axis (base 2 tick labels are fine).
    pub x_log: bool,
    /// Fixed y range, or `None` to fit the data.
    pub y_range: Option<(f64, f64)>,
    /// What is drawn.
    pub kind: FigureKind,
}

/// The kind of plot.
#[derive(Clone, Debug)]
pub enum FigureKind {
    /// Lines with point markers, one per series.
    Lines(Vec<Series>),
    /// Cumulative distributions drawn as steps, one per series (y from 0 to 1).
    Cdf(Vec<Series>),
    /// Grouped bars: one group per category, one bar per series in each group.
    Bars {
        /// Category labels along the x axis.
        categories: Vec<String>,
        /// (series name, one value per category).
        series: Vec<(String, Vec<f64>)>,
    },
}

/// A named sequence of (x, y) points.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A table of text cells.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Caption.
    pub title: String,
    /// Column headings.
    pub header: Vec<String>,
    /// Rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
}

/// Writing the report failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// plotters could not draw a figure.
    #[error("drawing figure {id}: {message}")]
    Draw {
        /// The figure.
        id: String,
        /// What plotters said.
        message: String,
    },
    /// A figure or table is malformed (ids clash, rows of the wrong width, no data).
    #[error("bad report content: {0}")]
    Content(String),
}

/// Writes `report` into `dir` (created if needed): `index.html` and every figure as
/// PNG and SVG. Returns the path of `index.html`.
///
/// The whole report is checked before anything is written, and is refused with
/// [`ReportError::Content`] when a figure id is empty, uses characters other than ASCII
/// letters, digits, `-` and `_`, or repeats another (ignoring case, so that the files stay
/// distinct on case-insensitive file systems); when a table row is not as long as its
/// header; when a bar series does not have one value per category; when a `y_range` is
/// not finite and increasing; or when a figure has no finite value to draw. NaN and
/// infinite values are skipped, and so are points with `x <= 0` on a logarithmic axis.
///
/// Figures are 960 x 540 pixels. CDFs use y from 0 to 1 unless `y_range` says otherwise;
/// lines leaving a fixed y range are cut at its edges. Bars ignore `x_log`.
pub fn write(report: &Report, dir: &Path) -> Result<PathBuf, ReportError> {
    let mut seen = HashSet::new();
    let mut plots = Vec::new();
    for section in &report.sections {
        for table in &section.tables {
            if let Some(row) = table.rows.iter().find(|row| row.len() != table.header.len()) {
                return Err(ReportError::Content(format!(
                    "table {:?}: a row has {} cells for {} columns",
                    table.title,
                    row.len(),
                    table.header.len()
                )));
            }
        }
        for fig in &section.figures {
            let id = &fig.id;
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(ReportError::Content(format!("figure id {id:?} must be made of [A-Za-z0-9_-]")));
            }
            if !seen.insert(id.to_ascii_lowercase()) {
                return Err(ReportError::Content(format!("figure id {id:?} is used twice")));
            }
            let plot = plot::prepare(fig).map_err(|e| ReportError::Content(format!("figure {id}: {e}")))?;
            plots.push((fig, plot));
        }
    }

    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
    for (fig, plot) in &plots {
        let draw_error = |message| ReportError::Draw { id: fig.id.clone(), message };
        write_file(&dir.join(format!("{}.png", fig.id)), &plot::png(fig, plot).map_err(draw_error)?)?;
        write_file(&dir.join(format!("{}.svg", fig.id)), plot::svg(fig, plot).map_err(draw_error)?.as_bytes())?;
    }
    let index = dir.join("index.html");
    write_file(&index, html::page(report).as_bytes())?;
    Ok(index)
}

/// Writes `bytes` to `path`.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })
}
