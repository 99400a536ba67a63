//! The Ready-over-time chart of the convergence phase: as ASCII art for the markdown and as an
//! SVG next to it.

use std::{fmt::Write as _, path::Path};

use anyhow::Result;

/// Ready count over time as ASCII art: `width` columns over [0, t_end], `height` rows over
/// [0, n].
pub(crate) fn ascii_chart(
    series: &[(f64, usize)],
    n: usize,
    t_end: f64,
    width: usize,
    height: usize,
) -> String {
    let t_end = t_end.max(0.001);
    let value_at = |t: f64| -> usize {
        series
            .iter()
            .take_while(|(ts, _)| *ts <= t + 1e-9)
            .last()
            .map(|(_, v)| *v)
            .unwrap_or(0)
    };
    let cols: Vec<usize> = (0..width)
        .map(|c| value_at(t_end * (c + 1) as f64 / width as f64))
        .collect();
    let label_w = n.to_string().len().max(5);
    let mut out = String::new();
    for row in (1..=height).rev() {
        let threshold = n as f64 * row as f64 / height as f64;
        let label = if row == height {
            n.to_string()
        } else if row == height.div_ceil(2) {
            (n / 2).to_string()
        } else {
            String::new()
        };
        let line: String = cols
            .iter()
            .map(|&v| {
                if v as f64 >= threshold - 1e-9 {
                    '#'
                } else {
                    ' '
                }
            })
            .collect();
        let _ = writeln!(out, "{label:>label_w$} |{}", line.trim_end());
    }
    let _ = writeln!(out, "{:>label_w$} +{}", 0, "-".repeat(width));
    let end_label = format!("{t_end:.1} s");
    let _ = writeln!(
        out,
        "{:>label_w$}  0 s{}{end_label}",
        "",
        " ".repeat(width.saturating_sub(3 + end_label.len()))
    );
    let _ = write!(
        out,
        "{:>label_w$}  Ready ProxyOrders over time since the first create",
        ""
    );
    out
}

/// Ready count over time as an 800×400 SVG at `path`: the Ready line over [0, t_end] × [0, n],
/// a dashed marker at `create_done` (when all creates had been issued), axes with ticks and
/// labels. Written by hand: a few lines of SVG need no drawing library.
pub(crate) fn svg_chart(
    series: &[(f64, usize)],
    n: usize,
    t_end: f64,
    create_done: f64,
    path: &Path,
) -> Result<()> {
    const W: f64 = 800.0;
    const H: f64 = 400.0;
    // The plot area inside the margins for the caption, the axes' labels and their titles.
    let (left, right, top, bottom) = (80.0, W - 20.0, 50.0, H - 60.0);
    // Some headroom above N, so that the line at N stays clear of the frame.
    let (t_end, y_max) = (t_end.max(0.001), (n + n.div_ceil(20)).max(1) as f64);
    let x = |t: f64| left + (right - left) * t / t_end;
    let y = |v: f64| bottom - (bottom - top) * v / y_max;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="30" font-size="22" text-anchor="middle">N={n}: Ready ProxyOrders over time</text>"#,
        W / 2.0
    );
    // Axes, ticks and their labels: five steps each way.
    let _ = writeln!(
        svg,
        r#"<path d="M{left},{top} V{bottom} H{right}" fill="none" stroke="black"/>"#
    );
    for i in 0..=5 {
        let t = t_end * f64::from(i) / 5.0;
        let v = (y_max * f64::from(i) / 5.0).round();
        let label = if t_end >= 10.0 {
            format!("{t:.0}")
        } else {
            format!("{t:.1}")
        };
        let _ = writeln!(
            svg,
            r#"<path d="M{0:.1},{bottom} v5 M{left},{1:.1} h-5" stroke="black"/><path d="M{left},{1:.1} H{right}" stroke="\#ddd"/>"#,
            x(t),
            y(v)
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" font-size="14" text-anchor="middle">{label}</text><text x="{}" y="{:.1}" font-size="14" text-anchor="end">{v}</text>"#,
            x(t),
            bottom + 20.0,
            left - 8.0,
            y(v) + 5.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="16" text-anchor="middle">seconds since the first create</text>"#,
        (left + right) / 2.0,
        H - 15.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="20" y="{}" font-size="16" text-anchor="middle" transform="rotate(-90 20 {})">Ready ProxyOrders</text>"#,
        (top + bottom) / 2.0,
        (top + bottom) / 2.0
    );
    // When all creates had been issued, and the Ready line.
    let _ = writeln!(
        svg,
        r#"<path d="M{0:.1},{top} V{bottom}" stroke="red" stroke-dasharray="6 4"/>"#,
        x(create_done)
    );
    let points: Vec<String> = series
        .iter()
        .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v as f64)))
        .collect();
    let _ = writeln!(
        svg,
        r#"<polyline points="{}" fill="none" stroke="blue" stroke-width="2"/>"#,
        points.join(" ")
    );
    // The legend, upper left.
    let (lx, ly) = (left + 15.0, top + 15.0);
    let _ = writeln!(
        svg,
        r#"<rect x="{lx}" y="{ly}" width="260" height="48" fill="white" stroke="black"/><path d="M{},{} h20" stroke="blue" stroke-width="2"/><text x="{}" y="{}" font-size="14">Ready</text><path d="M{},{} h20" stroke="red" stroke-dasharray="6 4"/><text x="{}" y="{}" font-size="14">all creates issued ({create_done:.1} s)</text>"#,
        lx + 8.0,
        ly + 16.0,
        lx + 34.0,
        ly + 21.0,
        lx + 8.0,
        ly + 36.0,
        lx + 34.0,
        ly + 41.0
    );
    let _ = writeln!(svg, "</svg>");
    std::fs::write(path, svg)?;
    Ok(())
}
