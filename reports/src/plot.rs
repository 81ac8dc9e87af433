//! Figures: checking a [`Figure`] into a [`Plot`] with finite data and fixed axis ranges,
//! then drawing it with plotters onto a PNG (bitmap) or SVG back end.

use std::ops::Range;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{AsRangedCoord, KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::{Figure, FigureKind};

/// Width of every figure, in pixels.
pub(crate) const WIDTH: u32 = 960;
/// Height of every figure, in pixels.
pub(crate) const HEIGHT: u32 = 540;

/// The font family all text is drawn with. It is only a key into plotters' font table
/// (which holds the bundled DejaVu Sans under it), but the SVG back end copies it into
/// `font-family`, where it reads as a CSS list: viewers without DejaVu Sans fall back to
/// their own sans-serif font.
const FONT: &str = "DejaVu Sans, sans-serif";

/// DejaVu Sans, so that text needs no system fonts.
static FONT_DATA: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Series colours (Tableau 10), reused in order when there are more series.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

/// The colour of the `i`th series.
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A figure reduced to what is drawn: finite values only and axis ranges that plotters
/// can lay ticks on.
#[derive(Debug)]
pub(crate) enum Plot {
    /// Lines (with point markers) or CDF steps.
    Xy {
        /// (name, points) per series; CDF series are already expanded into steps.
        series: Vec<(String, Vec<(f64, f64)>)>,
        /// X range; positive when `log_x`.
        x: (f64, f64),
        /// Y range.
        y: (f64, f64),
        /// Logarithmic (base 2) x axis.
        log_x: bool,
        /// Draw a marker at each point (lines, not CDF steps).
        markers: bool,
    },
    /// Grouped bars; a `None` value (NaN or infinite input) leaves a gap.
    Bars { categories: Vec<String>, series: Vec<(String, Vec<Option<f64>>)>, y: (f64, f64) },
}

/// Checks `fig` and computes its axis ranges. The error is a message for
/// [`crate::ReportError::Content`].
pub(crate) fn prepare(fig: &Figure) -> Result<Plot, String> {
    let fixed_y = match fig.y_range {
        None => None,
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => {
            Some(fit_linear(lo, hi, 0.0).ok_or("y_range too wide")?)
        }
        Some((lo, hi)) => return Err(format!("y_range ({lo}, {hi}) is not an increasing finite range")),
    };
    match &fig.kind {
        FigureKind::Lines(list) | FigureKind::Cdf(list) => {
            let cdf = matches!(fig.kind, FigureKind::Cdf(_));
            // Keep finite points (positive x on a log axis), in x order.
            let usable = |&&(x, y): &&(f64, f64)| x.is_finite() && y.is_finite() && (!fig.x_log || x > 0.0);
            let mut series: Vec<(String, Vec<(f64, f64)>)> = list
                .iter()
                .map(|s| {
                    let mut pts: Vec<(f64, f64)> = s.points.iter().filter(usable).copied().collect();
                    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                    (text(&s.name), pts)
                })
                .collect();
            let all = || series.iter().flat_map(|(_, p)| p.iter());
            let (Some(x), Some(y)) = (min_max(all().map(|p| p.0)), min_max(all().map(|p| p.1))) else {
                return Err("no finite data points".into());
            };
            let x = if fig.x_log { fit_log(x.0, x.1) } else { fit_linear(x.0, x.1, 0.02) };
            let x = x.ok_or("x values span too wide a range to plot")?;
            let y = match fixed_y {
                Some(y) => y,
                None if cdf => (0.0, 1.0),
                None => fit_linear(y.0, y.1, 0.05).ok_or("y values span too wide a range to plot")?,
            };
            if cdf {
                for (_, pts) in &mut series {
                    *pts = steps(pts);
                }
            }
            Ok(Plot::Xy { series, x, y, log_x: fig.x_log, markers: !cdf })
        }
        FigureKind::Bars { categories, series } => {
            if let Some((name, v)) = series.iter().find(|(_, v)| v.len() != categories.len()) {
                return Err(format!("bar series {name:?} has {} values for {} categories", v.len(), categories.len()));
            }
            let series: Vec<(String, Vec<Option<f64>>)> = series
                .iter()
                .map(|(name, v)| (text(name), v.iter().map(|&v| v.is_finite().then_some(v)).collect()))
                .collect();
            let Some((lo, hi)) = min_max(series.iter().flat_map(|(_, v)| v.iter().flatten().copied())) else {
                return Err("no finite bar values".into());
            };
            let y = match fixed_y {
                Some(y) => y,
                // Bars grow from zero, so the range always holds it; headroom above.
                None => {
                    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
                    let hi = if hi > lo { hi + (hi - lo) * 0.05 } else { lo + 1.0 };
                    fit_linear(lo, hi, 0.0).ok_or("bar values span too wide a range to plot")?
                }
            };
            Ok(Plot::Bars { categories: categories.iter().map(|c| text(c)).collect(), series, y })
        }
    }
}

/// `s` for drawing: control characters (newlines, and those XML forbids in the SVG)
/// become spaces.
fn text(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Smallest and largest of `values`, or `None` if there are none.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// `lo..hi` padded by `pad` of its span on each side; a range too narrow for its
/// magnitude (a single value, say) is widened around its middle. `None` if the span
/// overflows. Both guard plotters' tick search, which can loop forever on an infinite
/// span or one far below the values' precision.
fn fit_linear(lo: f64, hi: f64, pad: f64) -> Option<(f64, f64)> {
    let magnitude = lo.abs().max(hi.abs());
    let min_span = if magnitude > 1e-200 { magnitude * 1e-6 } else { 1.0 };
    let (lo, hi) = if hi - lo < min_span {
        let mid = lo / 2.0 + hi / 2.0;
        (mid - min_span / 2.0, mid + min_span / 2.0)
    } else {
        let p = (hi - lo) * pad;
        (lo - p, hi + p)
    };
    (hi - lo).is_finite().then_some((lo, hi))
}

/// A positive log-axis range around `lo..hi` (both positive), padded by a small factor;
/// `None` if the ratio of its ends is not finite (plotters' log ticks would not end).
fn fit_log(lo: f64, hi: f64) -> Option<(f64, f64)> {
    let (lo, hi) = if hi / lo < 1.0 + 1e-6 { (lo / 2.0, hi * 2.0) } else { (lo / 1.07, hi * 1.07) };
    (lo > 0.0 && (hi / lo).is_finite()).then_some((lo, hi))
}

/// A CDF drawn as steps: each value holds until the next point's x.
fn steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, &(x, y)) in points.iter().enumerate() {
        if i > 0 {
            out.push((x, points[i - 1].1));
        }
        out.push((x, y));
    }
    out
}

/// The parts of the polyline `points` that lie within `lo..=hi` in y, each a run of
/// points to draw as one line. Values far outside the axis would overflow plotters'
/// pixel arithmetic, and clipping (rather than clamping) keeps the slopes true. On a log
/// x axis, the cut points are interpolated in log space so the cuts sit on the line.
fn clip(points: &[(f64, f64)], lo: f64, hi: f64, log_x: bool) -> Vec<Vec<(f64, f64)>> {
    let at = |a: (f64, f64), b: (f64, f64), t: f64| {
        let x = if log_x { (a.0.ln() * (1.0 - t) + b.0.ln() * t).exp() } else { a.0 * (1.0 - t) + b.0 * t };
        (x.clamp(a.0.min(b.0), a.0.max(b.0)), (a.1 * (1.0 - t) + b.1 * t).clamp(lo, hi))
    };
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // The part of the segment, as t in 0..=1, whose y is inside the range (halved
        // to keep differences of huge values finite).
        let (t0, t1) = if a.1 == b.1 {
            if (lo..=hi).contains(&a.1) {
                (0.0, 1.0)
            } else {
                (1.0, 0.0)
            }
        } else {
            let d = b.1 / 2.0 - a.1 / 2.0;
            let (u, v) = ((lo / 2.0 - a.1 / 2.0) / d, (hi / 2.0 - a.1 / 2.0) / d);
            (u.min(v).max(0.0), u.max(v).min(1.0))
        };
        if t0 > t1 {
            continue;
        }
        let (start, end) = (at(a, b, t0), at(a, b, t1));
        if run.last() != Some(&start) {
            if !run.is_empty() {
                runs.push(std::mem::take(&mut run));
            }
            run.push(start);
        }
        run.push(end);
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// A number as an axis label: whole numbers in full up to 10^10, others without float
/// noise, in exponent form when very large or small.
pub(crate) fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if a < 1e10 && v.fract() == 0.0 {
        format!("{v}")
    } else if (1e-3..1e6).contains(&a) {
        trim(format!("{v:.4}"))
    } else {
        let s = format!("{v:.2e}");
        match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim(m.to_string())),
            None => s,
        }
    }
}

/// Registers the bundled font with plotters, once per process.
fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, FONT_DATA).is_ok());
    ok.then_some(()).ok_or_else(|| "the bundled font could not be loaded".into())
}

/// Draws `plot` as a PNG image of [`WIDTH`] x [`HEIGHT`] pixels.
pub(crate) fn png(fig: &Figure, plot: &Plot) -> Result<Vec<u8>, String> {
    register()?;
    let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, fig, plot)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Draws `plot` as an SVG document of [`WIDTH`] x [`HEIGHT`] pixels.
pub(crate) fn svg(fig: &Figure, plot: &Plot) -> Result<String, String> {
    register()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, fig, plot)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Turns any plotters error into its message.
fn msg(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Draws the whole figure onto `root`.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure, plot: &Plot) -> Result<(), String> {
    root.fill(&WHITE).map_err(msg)?;
    let mut builder = ChartBuilder::on(root);
    builder.caption(text(&fig.title), (FONT, 24)).margin(16).x_label_area_size(52).y_label_area_size(76);
    match plot {
        Plot::Xy { series, x, y, log_x: true, markers } => {
            xy(&mut builder, fig, (x.0..x.1).log_scale().base(2.0), y.0..y.1, series, *markers, true)
        }
        Plot::Xy { series, x, y, log_x: false, markers } => {
            xy(&mut builder, fig, x.0..x.1, y.0..y.1, series, *markers, false)
        }
        Plot::Bars { categories, series, y } => bars(&mut builder, fig, categories, series, y.0..y.1),
    }
}

/// Draws line or step series on a linear or logarithmic x axis.
fn xy<DB: DrawingBackend, X: AsRangedCoord<Value = f64>>(
    builder: &mut ChartBuilder<'_, '_, DB>,
    fig: &Figure,
    x: X,
    y: Range<f64>,
    series: &[(String, Vec<(f64, f64)>)],
    markers: bool,
    log_x: bool,
) -> Result<(), String>
where
    X::CoordDescType: ValueFormatter<f64>,
{
    let (lo, hi) = (y.start, y.end);
    let mut chart = builder.build_cartesian_2d(x, y).map_err(msg)?;
    chart
        .configure_mesh()
        .x_desc(text(&fig.x_label))
        .y_desc(text(&fig.y_label))
        .axis_desc_style((FONT, 17))
        .label_style((FONT, 14))
        // Few enough labels that a log axis shows only its powers of two.
        .x_labels(8)
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        // plotters puts a log axis' light lines off the powers of two, so none there.
        .x_max_light_lines(if log_x { 0 } else { 4 })
        .y_max_light_lines(4)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(msg)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let style = color(i).filled().stroke_width(2);
        for run in clip(points, lo, hi, log_x) {
            chart.draw_series(LineSeries::new(run, style)).map_err(msg)?;
        }
        let inside = points.iter().filter(|p| markers && (lo..=hi).contains(&p.1));
        let drawn = chart.draw_series(inside.map(|&p| Circle::new(p, 3, style))).map_err(msg)?;
        if !name.is_empty() {
            drawn.label(name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
        }
    }
    if series.iter().any(|(name, _)| !name.is_empty()) {
        let position = if markers { SeriesLabelPosition::UpperLeft } else { SeriesLabelPosition::LowerRight };
        legend(&mut chart, position)?;
    }
    Ok(())
}

/// Draws grouped bars: one group per category, one bar per series.
fn bars<DB: DrawingBackend>(
    builder: &mut ChartBuilder<'_, '_, DB>,
    fig: &Figure,
    categories: &[String],
    series: &[(String, Vec<Option<f64>>)],
    y: Range<f64>,
) -> Result<(), String> {
    let base = 0f64.clamp(y.start, y.end);
    let mut chart = builder.build_cartesian_2d(Categories(categories.to_vec()), y.clone()).map_err(msg)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(text(&fig.x_label))
        .y_desc(text(&fig.y_label))
        .axis_desc_style((FONT, 17))
        .label_style((FONT, 14))
        .x_labels(categories.len())
        .y_label_formatter(&|v| fmt_num(*v))
        .y_max_light_lines(4)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(msg)?;
    // Each group takes 80% of its slot, shared equally by the series.
    let width = 0.8 / series.len().max(1) as f64;
    for (j, (name, values)) in series.iter().enumerate() {
        let fill = color(j).filled();
        let x0 = 0.1 + j as f64 * width;
        let rects = values.iter().enumerate().filter_map(|(i, v)| {
            let (v, left) = ((*v)?.clamp(y.start, y.end), i as f64 + x0);
            Some(Rectangle::new([(left, v.max(base)), (left + width, v.min(base))], fill))
        });
        let drawn = chart.draw_series(rects).map_err(msg)?;
        if !name.is_empty() {
            drawn.label(name).legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], fill));
        }
    }
    if series.iter().any(|(name, _)| !name.is_empty()) {
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// Draws the legend box of `chart`.
fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(msg)
}

/// A category axis: category `i` spans `i..i + 1` and is labelled at its middle.
struct Categories(Vec<String>);

impl Ranged for Categories {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let n = self.0.len().max(1) as f64;
        limit.0 + ((limit.1 - limit.0) as f64 * value / n).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let max = hint.max_num_points();
        if max == 0 {
            return Vec::new();
        }
        let stride = self.0.len().div_ceil(max).max(1);
        (0..self.0.len()).step_by(stride).map(|i| i as f64 + 0.5).collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.0.len() as f64
    }
}

impl ValueFormatter<f64> for Categories {
    fn format_ext(&self, value: &f64) -> String {
        let i = value.floor();
        if i >= 0.0 {
            self.0.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_labelled_without_float_noise() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(1024.0), "1024");
        assert_eq!(fmt_num(0.1 + 0.2), "0.3");
        assert_eq!(fmt_num(-2.5), "-2.5");
        assert_eq!(fmt_num(1048576.0), "1048576");
        assert_eq!(fmt_num(3.0e10), "3e10");
        assert_eq!(fmt_num(2.5e6), "2500000");
        assert_eq!(fmt_num(1234567.5), "1.23e6");
        assert_eq!(fmt_num(1.25e-5), "1.25e-5");
    }

    #[test]
    fn ranges_are_widened_or_refused() {
        assert_eq!(fit_linear(0.0, 10.0, 0.1), Some((-1.0, 11.0)));
        let (lo, hi) = fit_linear(5.0, 5.0, 0.1).unwrap();
        assert!(lo < 5.0 && hi > 5.0);
        assert_eq!(fit_linear(0.0, 0.0, 0.0), Some((-0.5, 0.5)));
        assert_eq!(fit_linear(-1e308, 1e308, 0.0), None);
        assert_eq!(fit_log(4.0, 4.0), Some((2.0, 8.0)));
        assert_eq!(fit_log(f64::MIN_POSITIVE / 1e10, 1e300), None);
    }

    #[test]
    fn cdf_steps_hold_each_value_until_the_next_x() {
        assert_eq!(steps(&[(1.0, 0.5), (2.0, 1.0)]), vec![(1.0, 0.5), (2.0, 0.5), (2.0, 1.0)]);
        assert!(steps(&[]).is_empty());
    }

    #[test]
    fn lines_are_cut_where_they_leave_the_y_range() {
        // Up through the top edge and back down: two runs, cut at y = 1.
        let pts = [(0.0, 0.0), (2.0, 2.0), (4.0, 0.0), (5.0, 0.5)];
        assert_eq!(
            clip(&pts, 0.0, 1.0, false),
            vec![vec![(0.0, 0.0), (1.0, 1.0)], vec![(3.0, 1.0), (4.0, 0.0), (5.0, 0.5)]]
        );
        // Entirely outside: nothing; a single point: no line.
        assert!(clip(&[(0.0, 5.0), (1.0, 6.0)], 0.0, 1.0, false).is_empty());
        assert!(clip(&[(0.0, 0.5)], 0.0, 1.0, false).is_empty());
        // Huge values stay finite.
        let runs = clip(&[(0.0, -1e308), (1.0, 1e308)], 0.0, 1.0, false);
        assert_eq!(runs.len(), 1);
        assert!(runs[0].iter().all(|p| p.0.is_finite() && (0.0..=1.0).contains(&p.1)));
        // On a log axis the cut is halfway in log space.
        let runs = clip(&[(1.0, 0.0), (16.0, 2.0)], 0.0, 1.0, true);
        assert!((runs[0][1].0 - 4.0).abs() < 1e-9, "{runs:?}");
    }

    #[test]
    fn category_axis_labels_the_middle_of_each_slot() {
        let axis = Categories(vec!["a".into(), "b".into(), "c".into()]);
        assert_eq!(axis.key_points(10), vec![0.5, 1.5, 2.5]);
        assert_eq!(axis.key_points(2), vec![0.5, 2.5]);
        assert_eq!(axis.format_ext(&1.5), "b");
        assert_eq!(axis.format_ext(&7.0), "");
        assert_eq!(axis.map(&1.5, (0, 300)), 150);
    }
}
