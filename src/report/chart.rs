//! Inline SVG line charts, for the run report (values per window, phases shaded) and the
//! daemon's plan pages (figures per run, failed and regressed runs marked). No script: the
//! chart is markup, readable with JavaScript off and scaled to any width.

use super::escape::esc;
use std::fmt::Write;

/// One line: (x, value) points; a point without a value breaks the line, so a gap shows as
/// a gap, never as 0.
pub struct Line {
    pub label: String,
    pub color: &'static str,
    pub points: Vec<(f64, Option<f64>)>,
}

/// What is drawn around the lines.
pub struct Frame {
    /// The x axis runs from 0 to this.
    pub x_max: f64,
    /// Shaded spans (start, end, label), e.g. the load phases.
    pub bands: Vec<(f64, f64, String)>,
    /// Texts under the left and right ends of the x axis.
    pub x_labels: (String, String),
    /// Vertical marks (x, colour, tooltip), e.g. a failed run.
    pub marks: Vec<(f64, &'static str, String)>,
}

/// Colours of lines that are not fixed figures (one per workload).
pub const PALETTE: [&str; 6] = [
    "#0969da", "#1a7f37", "#bf8700", "#8250df", "#cf222e", "#57606a",
];

/// The chart as an `<svg>` element; `unit` follows the y-axis values.
pub fn svg(lines: &[Line], frame: &Frame, unit: &str) -> String {
    let (w, ht, left, bottom) = (900.0, 260.0, 56.0, 24.0);
    let x_max = frame.x_max.max(1e-9);
    let y_max = lines
        .iter()
        .flat_map(|l| l.points.iter().filter_map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    let x = |t: f64| left + (t / x_max) * (w - left - 8.0);
    let y = |v: f64| (ht - bottom) - (v / y_max) * (ht - bottom - 8.0);
    let mut o = format!("<svg viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"chart\">");
    for (i, (start, end, name)) in frame.bands.iter().enumerate() {
        let fill = if i % 2 == 0 { "#eef1f5" } else { "#f7f8fa" };
        let _ = write!(o, "<rect x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"/><text x=\"{:.1}\" y=\"12\" font-size=\"11\" fill=\"#57606a\">{}</text>", x(*start), (x(*end) - x(*start)).max(0.0), ht - bottom, x(*start) + 3.0, esc(name));
    }
    for (at, color, title) in &frame.marks {
        let _ = write!(o, "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"30\" y2=\"{1:.1}\" stroke=\"{color}\" stroke-width=\"1\" stroke-dasharray=\"3 3\"><title>{2}</title></line>", x(*at), ht - bottom, esc(title));
    }
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let _ = write!(o, "<line x1=\"{left}\" x2=\"{w}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#d0d7de\" stroke-width=\"0.5\"/><text x=\"{1}\" y=\"{0:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#57606a\">{2:.1}{unit}</text>", y(v), left - 4.0, v);
    }
    let _ = write!(o, "<text x=\"{left}\" y=\"{}\" font-size=\"11\" fill=\"#57606a\">{}</text><text x=\"{w}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"#57606a\">{}</text>", ht - 6.0, esc(&frame.x_labels.0), ht - 6.0, esc(&frame.x_labels.1));
    for (k, line) in lines.iter().enumerate() {
        let color = line.color;
        for run in line
            .points
            .split(|p| p.1.is_none())
            .filter(|r| !r.is_empty())
        {
            let pts: Vec<String> = run
                .iter()
                .filter_map(|(t, v)| Some(format!("{:.1},{:.1}", x(*t), y((*v)?))))
                .collect();
            let _ = write!(
                o,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\" points=\"{}\"/>",
                pts.join(" ")
            );
            if let [(t, Some(v))] = run {
                // A lone value between gaps is a dot.
                let _ = write!(
                    o,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{color}\"/>",
                    x(*t),
                    y(*v)
                );
            }
        }
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"26\" font-size=\"12\" fill=\"{color}\">{}</text>",
            left + 8.0 + 110.0 * k as f64,
            esc(&line.label)
        );
    }
    o.push_str("</svg>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_break_lines_and_labels_are_escaped() {
        let line = Line {
            label: "<b>p95</b>".into(),
            color: PALETTE[0],
            points: vec![
                (0.0, Some(1.0)),
                (1.0, Some(2.0)),
                (2.0, None),
                (3.0, Some(4.0)),
            ],
        };
        let frame = Frame {
            x_max: 3.0,
            bands: vec![(0.0, 1.5, "warm<up".into())],
            x_labels: ("a&b".into(), "c".into()),
            marks: vec![(1.0, "#cf222e", "failed <run>".into())],
        };
        let s = svg(&[line], &frame, " ms");
        assert_eq!(
            s.matches("<polyline").count(),
            2,
            "the gap splits the line: {s}"
        );
        assert_eq!(s.matches("<circle").count(), 1, "the lone point is a dot");
        assert!(s.contains("&lt;b&gt;p95") && s.contains("warm&lt;up") && s.contains("a&amp;b"));
        assert!(s.contains("<title>failed &lt;run&gt;</title>"));
    }
}
