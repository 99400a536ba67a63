//! The Ready-over-time chart of the convergence phase: as ASCII art for the markdown and as a
//! PNG next to it.

use std::{fmt::Write as _, path::Path};

use anyhow::{Result, anyhow};

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

/// Ready count over time as an 800×400 PNG at `path`: the Ready line over [0, t_end] × [0, n]
/// and a dashed marker at `create_done`, when all creates had been issued.
pub(crate) fn png_chart(
    series: &[(f64, usize)],
    n: usize,
    t_end: f64,
    create_done: f64,
    path: &Path,
) -> Result<()> {
    use plotters::prelude::*;
    const SIZE: (u32, u32) = (800, 400);
    // Noto Sans from the ttf-noto-sans crate: text needs no system font.
    plotters::style::register_font("sans-serif", FontStyle::Normal, ttf_noto_sans::REGULAR)
        .map_err(|_| anyhow!("the embedded Noto Sans font does not load"))?;
    // Some headroom above N, so that the line at N stays clear of the frame.
    let (t_end, top) = (t_end.max(0.001), n + n.div_ceil(20));
    let mut rgb = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("N={n}: Ready ProxyOrders over time"),
                ("sans-serif", 22),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(0.0..t_end, 0..top)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the first create")
            .y_desc("Ready ProxyOrders")
            .x_label_formatter(&|t| {
                if t_end >= 10.0 {
                    format!("{t:.0}")
                } else {
                    format!("{t:.1}")
                }
            })
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        chart
            .draw_series(DashedLineSeries::new(
                [(create_done, 0), (create_done, top)],
                6,
                4,
                RED.stroke_width(1),
            ))?
            .label(format!("all creates issued ({create_done:.1} s)"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        chart
            .draw_series(LineSeries::new(
                series.iter().copied(),
                BLUE.stroke_width(2),
            ))?
            .label("Ready")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE)
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        root.present()?;
    }
    // Encoded in memory, so that every write error reaches the caller.
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, SIZE.0, SIZE.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    std::fs::write(path, bytes)?;
    Ok(())
}
