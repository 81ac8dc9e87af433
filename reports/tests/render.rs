//! Writes whole reports to temporary folders and checks the files a reader would open.

use std::fs;
use std::io::Cursor;
use std::path::Path;
use std::time::Instant;

use iommu_reports::{write, Figure, FigureKind, Report, ReportError, Section, Series, Table};

/// The first Tableau colours, as the renderer gives them to series 0 and 1.
const BLUE: [u8; 3] = [0x4e, 0x79, 0xa7];
const ORANGE: [u8; 3] = [0xf2, 0x8e, 0x2b];

fn figure(id: &str, kind: FigureKind) -> Figure {
    Figure {
        id: id.into(),
        title: format!("Title of {id}"),
        x_label: format!("x axis of {id}"),
        y_label: format!("y axis of {id}"),
        x_log: false,
        y_range: None,
        kind,
    }
}

fn series(name: &str, points: &[(f64, f64)]) -> Series {
    Series { name: name.into(), points: points.to_vec() }
}

fn sample() -> Report {
    let mut lines = figure(
        "latency",
        FigureKind::Lines(vec![
            series("iotlb-hit", &[(4096.0, 12.0), (65536.0, 14.0), (1048576.0, 20.0), (f64::NAN, 3.0)]),
            series("walk-miss", &[(4096.0, 90.0), (65536.0, 140.0), (1048576.0, 260.0)]),
        ]),
    );
    lines.x_log = true;
    let cdf = figure(
        "cdf",
        FigureKind::Cdf(vec![
            series("one-device", &[(10.0, 0.25), (20.0, 0.5), (40.0, 0.9), (80.0, 1.0)]),
            series("four-devices", &[(15.0, 0.1), (30.0, 0.6), (f64::INFINITY, 0.8), (90.0, 1.0)]),
        ]),
    );
    let mut bars = figure(
        "hits",
        FigureKind::Bars {
            categories: vec!["sv39".into(), "sv48".into(), "sv57".into()],
            series: vec![("hit-rate".into(), vec![0.9, 0.8, 0.7]), ("miss-rate".into(), vec![0.1, 0.2, f64::NAN])],
        },
    );
    bars.y_range = Some((0.0, 1.0));
    Report {
        title: "IOMMU <perf> & friends".into(),
        intro: "First paragraph.\n\nSecond <script>alert(1)</script> paragraph.".into(),
        sections: vec![
            Section {
                title: "Latency".into(),
                text: "How long a translation takes.".into(),
                figures: vec![lines, cdf],
                tables: vec![Table {
                    title: "Summary".into(),
                    header: vec!["workload".into(), "p50 (ns)".into()],
                    rows: vec![vec!["one-device".into(), "42".into()], vec!["a<b".into(), "77".into()]],
                }],
                code: Some("iommu replay --trace t.trace > out\n<script>".into()),
            },
            Section { title: "Hit rates".into(), figures: vec![bars], ..Section::default() },
            Section::default(),
        ],
    }
}

/// Decodes a PNG file: (width, height, RGB pixels).
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let bytes = fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} lacks the PNG signature", path.display());
    let mut reader = png::Decoder::new(Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels = buf[..info.buffer_size()].chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    (info.width, info.height, pixels)
}

#[test]
fn writes_figures_and_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/report");
    let start = Instant::now();
    let index = write(&sample(), &out).unwrap();
    eprintln!("sample report written in {:?}", start.elapsed());
    assert_eq!(index, out.join("index.html"));

    for (id, colours) in [("latency", vec![BLUE, ORANGE]), ("cdf", vec![BLUE, ORANGE]), ("hits", vec![BLUE, ORANGE])] {
        let (w, h, pixels) = decode_png(&out.join(format!("{id}.png")));
        assert_eq!((w, h), (960, 540));
        assert_eq!(pixels.len(), 960 * 540);
        // Mostly white background, but the series are drawn in their colours and
        // the text and axes in dark grey.
        let white = pixels.iter().filter(|p| **p == [255, 255, 255]).count();
        assert!(white > pixels.len() / 2 && white < pixels.len() * 99 / 100, "{id}: {white} white pixels");
        for colour in colours {
            let n = pixels.iter().filter(|p| **p == colour).count();
            assert!(n > 100, "{id}: only {n} pixels of {colour:?}");
        }
        assert!(pixels.iter().any(|p| p.iter().all(|&c| c < 60)), "{id}: no dark (text or axis) pixels");

        let svg = fs::read_to_string(out.join(format!("{id}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{id}.svg is not a whole SVG");
        for text in [format!("Title of {id}"), format!("x axis of {id}"), format!("y axis of {id}")] {
            assert!(svg.contains(&text), "{id}.svg lacks {text:?}");
        }
        assert!(svg.contains("DejaVu Sans"), "{id}.svg does not name the font");
    }
    let svg = |id: &str| fs::read_to_string(out.join(format!("{id}.svg"))).unwrap();
    for name in ["iotlb-hit", "walk-miss"] {
        assert!(svg("latency").contains(name));
    }
    for name in ["one-device", "four-devices"] {
        assert!(svg("cdf").contains(name));
    }
    for name in ["hit-rate", "miss-rate", "sv39", "sv48", "sv57"] {
        assert!(svg("hits").contains(name));
    }
    // The log axis is labelled in powers of two, without float noise.
    assert!(svg("latency").contains("\n65536\n</text>") && svg("latency").contains("\n1048576\n</text>"));
    assert!(!svg("latency").contains("65536.0"));

    let html = fs::read_to_string(&index).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<title>IOMMU &lt;perf&gt; &amp; friends</title>"));
    assert!(html.contains("<h1>IOMMU &lt;perf&gt; &amp; friends</h1>"));
    assert!(!html.contains("<script>") && !html.contains("<perf>"), "user text reached the page unescaped");
    assert!(html.contains("<p>Second &lt;script&gt;alert(1)&lt;/script&gt; paragraph.</p>"));
    assert!(html.contains("<p>First paragraph.</p>"));
    for id in ["latency", "cdf", "hits"] {
        assert!(html.contains(&format!("<img src=\"{id}.png\"")), "no image for {id}");
        assert!(html.contains(&format!("<a href=\"{id}.svg\">")), "no SVG link for {id}");
    }
    assert!(html.contains("<h2>Latency</h2>") && html.contains("<h2>Hit rates</h2>"));
    assert!(html.contains("<caption>Summary</caption>"));
    assert!(html.contains("<th>workload</th><th>p50 (ns)</th>"));
    assert!(html.contains("<td>one-device</td><td>42</td>"));
    assert!(html.contains("<td>a&lt;b</td><td>77</td>"));
    assert!(html.contains("<pre><code>iommu replay --trace t.trace &gt; out\n&lt;script&gt;</code></pre>"));
    // Self-contained: inline style, nothing fetched from elsewhere.
    assert!(html.contains("<style>"));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<link"));
}

/// The error `write` gives, after checking that it wrote nothing.
fn refused(report: &Report) -> ReportError {
    let dir = tempfile::tempdir().unwrap();
    let err = write(report, dir.path()).unwrap_err();
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "files were written for a refused report");
    err
}

fn one_figure(fig: Figure) -> Report {
    Report { sections: vec![Section { figures: vec![fig], ..Section::default() }], ..Report::default() }
}

fn content_error(report: &Report, words: &str) {
    match refused(report) {
        ReportError::Content(m) => assert!(m.contains(words), "{m:?} does not mention {words:?}"),
        e => panic!("expected a content error about {words:?}, got {e:?}"),
    }
}

#[test]
fn duplicate_ids_are_refused() {
    let mut report = sample();
    let copy = report.sections[0].figures[0].clone();
    report.sections[1].figures.push(copy);
    content_error(&report, "used twice");
    // Case-insensitive file systems would merge these.
    let mut report = sample();
    let mut copy = report.sections[0].figures[0].clone();
    copy.id = "LATENCY".into();
    report.sections[1].figures.push(copy);
    content_error(&report, "used twice");
}

#[test]
fn bad_ids_are_refused() {
    for id in ["", "a/b", "../x", "a b", "é", "x.png"] {
        content_error(&one_figure(figure(id, FigureKind::Lines(vec![series("s", &[(1.0, 1.0)])]))), "figure id");
    }
}

#[test]
fn ragged_tables_are_refused() {
    let mut report = sample();
    report.sections[0].tables[0].rows.push(vec!["only one cell".into()]);
    content_error(&report, "a row has 1 cells for 2 columns");
}

#[test]
fn figures_without_data_are_refused() {
    content_error(&one_figure(figure("a", FigureKind::Lines(vec![]))), "no finite data");
    content_error(&one_figure(figure("a", FigureKind::Cdf(vec![series("s", &[])]))), "no finite data");
    let nan = [(f64::NAN, 1.0), (1.0, f64::INFINITY), (f64::NEG_INFINITY, f64::NAN)];
    content_error(&one_figure(figure("a", FigureKind::Lines(vec![series("s", &nan)]))), "no finite data");
    let mut log = figure("a", FigureKind::Lines(vec![series("s", &[(0.0, 1.0), (-4.0, 2.0)])]));
    log.x_log = true;
    content_error(&one_figure(log), "no finite data");
    let bars = FigureKind::Bars { categories: vec!["a".into()], series: vec![("s".into(), vec![f64::NAN])] };
    content_error(&one_figure(figure("a", bars)), "no finite bar values");
    let bars = FigureKind::Bars { categories: vec![], series: vec![] };
    content_error(&one_figure(figure("a", bars)), "no finite bar values");
}

#[test]
fn bar_series_must_match_categories() {
    let bars = FigureKind::Bars {
        categories: vec!["a".into(), "b".into()],
        series: vec![("ok".into(), vec![1.0, 2.0]), ("short".into(), vec![1.0])],
    };
    content_error(&one_figure(figure("a", bars)), "\"short\" has 1 values for 2 categories");
}

#[test]
fn bad_y_ranges_are_refused() {
    for range in [(1.0, 1.0), (2.0, 1.0), (0.0, f64::NAN), (f64::NEG_INFINITY, 0.0)] {
        let mut fig = figure("a", FigureKind::Lines(vec![series("s", &[(1.0, 1.0)])]));
        fig.y_range = Some(range);
        content_error(&one_figure(fig), "y_range");
    }
}

#[test]
fn io_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    fs::write(&file, "not a folder").unwrap();
    match write(&sample(), &file) {
        Err(ReportError::Io { path, .. }) => assert_eq!(path, file),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn awkward_values_are_drawn_without_panicking() {
    let awkward: Vec<Vec<(f64, f64)>> = vec![
        vec![(1.0, 5.0)],                                                  // a single point
        vec![(3.0, 7.0), (3.0, 7.0)],                                      // all equal
        vec![(1e15, 1.0), (1e15 + 1.0, 2.0)],                              // a span far below the magnitude
        vec![(-1e300, -1e300), (1e300, 1e300)],                            // huge but finite span
        vec![(-1e308, 0.0), (1e308, 1.0)],                                 // a span that overflows
        vec![(f64::MIN_POSITIVE, 1e-300), (2.0 * f64::MIN_POSITIVE, 0.0)], // tiny values
        vec![(5e-324, 1.0), (1e300, 2.0)],                                 // a log ratio that overflows
        vec![(2.0, 1.0), (1.0, 2.0), (-3.0, 0.5)],                         // out of order
    ];
    let mut drawn = 0;
    for points in awkward {
        for log in [false, true] {
            for cdf in [false, true] {
                let s = vec![series("", &points), series("<&>", &points)];
                let mut fig = figure("f", if cdf { FigureKind::Cdf(s) } else { FigureKind::Lines(s) });
                fig.x_log = log;
                fig.title = "\u{1F600} ünïcode <title> & \"quotes\"\n\u{1}".into();
                let dir = tempfile::tempdir().unwrap();
                match write(&one_figure(fig), dir.path()) {
                    Ok(_) => {
                        assert!(dir.path().join("f.png").exists());
                        let svg = fs::read_to_string(dir.path().join("f.svg")).unwrap();
                        assert!(svg.contains("ünïcode &lt;title&gt; &amp; &quot;quotes&quot;  \n"), "{svg}");
                        assert!(svg.contains("&lt;&amp;&gt;"), "series names are escaped in the legend");
                        drawn += 1;
                    }
                    Err(ReportError::Content(m)) => eprintln!("{points:?} (log {log}, cdf {cdf}): {m}"),
                    Err(e) => panic!("{points:?} (log {log}, cdf {cdf}): {e}"),
                }
            }
        }
    }
    // Only the overflowing spans and the all-non-positive log cases are refused.
    assert_eq!(drawn, 26);
    // Negative bars, below a fixed range's floor, and a large group.
    let categories: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
    let values: Vec<f64> = (0..40).map(|i| (i as f64 - 20.0) * 1e3).collect();
    let mut fig = figure(
        "bars",
        FigureKind::Bars { categories, series: (0..12).map(|j| (format!("s{j}"), values.clone())).collect() },
    );
    let dir = tempfile::tempdir().unwrap();
    write(&one_figure(fig.clone()), dir.path()).unwrap();
    fig.y_range = Some((5.0, 6.0));
    write(&one_figure(fig), dir.path()).unwrap();
}

#[test]
fn an_empty_report_is_just_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let index = write(&Report::default(), dir.path()).unwrap();
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["index.html"]);
    assert!(fs::read_to_string(index).unwrap().contains("</html>"));
}
