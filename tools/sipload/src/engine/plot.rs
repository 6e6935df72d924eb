//! The run as an SVG picture: completed transactions per second by kind (top) and their latency
//! percentiles p50 / p99 per second (bottom, log scale), with the phases (hold, traffic) marked.
//! plotters' SVG backend only: text is written as SVG `<text>`, no system fonts are needed.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use super::Report;

type Series = BTreeMap<String, Vec<(f64, f64)>>;

fn series(report: &Report, value: impl Fn(&super::report::TimelinePoint) -> f64) -> Series {
    let mut out: Series = BTreeMap::new();
    for p in &report.timeline {
        out.entry(p.kind.clone())
            .or_default()
            // At the end of its second: what completed in the second up to here.
            .push((p.t as f64 + 1.0, value(p)));
    }
    out
}

fn phase_lines<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    report: &Report,
    y: (f64, f64),
) -> Result<(), String> {
    // Labels one below the other, so that close phases stay readable.
    let steps = [
        (report.phases.up, "hold", 0),
        (report.phases.go, "traffic", 1),
        (report.phases.done, "end", 2),
    ];
    for (x, name, row) in steps {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, y.0), (x, y.1)],
                BLACK.mix(0.4).stroke_width(1),
            )))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x, y.1))
                    + Text::new(
                        format!("| {name}"),
                        (0, 2 + 13 * row),
                        ("sans-serif", 12).into_font().color(&BLACK.mix(0.6)),
                    ),
            ))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The legend's mark for a line of `color` and `width`.
fn legend_mark((x, y): (i32, i32), color: RGBAColor, width: u32) -> PathElement<(i32, i32)> {
    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
}

/// Draws the legend of the series labelled on `chart`.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// The end of the x axis: past the last second and the end of the run, with a margin.
fn t_max(report: &Report) -> f64 {
    report
        .timeline
        .iter()
        .map(|p| p.t as f64 + 1.0)
        .fold(report.phases.done.max(1.0), f64::max)
        * 1.06
}

/// Completions per second by kind, a second without completions of a kind being a zero, not a gap
/// in its line.
fn rates(report: &Report) -> Series {
    let mut rates = series(report, |p| p.ok as f64);
    for points in rates.values_mut() {
        let have: std::collections::BTreeMap<u64, f64> =
            points.iter().map(|&(x, y)| (x as u64, y)).collect();
        let (first, last) = (
            have.keys().next().copied().unwrap_or(0),
            have.keys().last().copied().unwrap_or(0),
        );
        *points = (first..=last)
            .map(|x| (x as f64, have.get(&x).copied().unwrap_or(0.0)))
            .collect();
    }
    rates
}

/// The top chart: completed transactions per second by kind.
fn draw_rates<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
    rates: &Series,
    t_max: f64,
) -> Result<(), String> {
    let y_max = rates
        .values()
        .flatten()
        .map(|&(_, y)| y)
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "sipload {} against {}: {} connections",
                report.scenario, report.target, report.connections
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_max, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("seconds")
        .y_desc("completed per second")
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (kind, points)) in rates.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(kind.clone())
            .legend(move |at| legend_mark(at, color, 2));
    }
    phase_lines(&mut chart, report, (0.0, y_max))?;
    draw_legend(&mut chart)
}

/// The bottom chart: latency p50 and p99 per second by kind (the kinds of `rates`, in its colors).
fn draw_latency<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
    rates: &Series,
    t_max: f64,
) -> Result<(), String> {
    let p50 = series(report, |p| p.latency.p50_us as f64 / 1000.0);
    let p99 = series(report, |p| p.latency.p99_us as f64 / 1000.0);
    let lat_max = p99.values().flatten().map(|&(_, y)| y).fold(1.0, f64::max) * 1.5;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "latency per second: p50 (thin), p99 (thick)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_max, (0.001..lat_max).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .y_label_formatter(&|v| format!("{v}"))
        .x_desc("seconds")
        .y_desc("ms")
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, kind) in rates.keys().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        for (data, width) in [(&p50, 1), (&p99, 3)] {
            if let Some(points) = data.get(kind) {
                let points = points.iter().map(|&(x, y)| (x, y.max(0.001)));
                let drawn = chart
                    .draw_series(
                        LineSeries::new(points, color.stroke_width(width)).point_size(width),
                    )
                    .map_err(|e| e.to_string())?;
                if width == 3 {
                    drawn
                        .label(format!("{kind} p99"))
                        .legend(move |at| legend_mark(at, color, 3));
                }
            }
        }
    }
    phase_lines(&mut chart, report, (0.001, lat_max))?;
    draw_legend(&mut chart)
}

/// Writes the plot of `report` to `path`.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), String> {
    let t_max = t_max(report);
    let rates = rates(report);
    let root = SVGBackend::new(path, (1100, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(380);
    draw_rates(&top, report, &rates, t_max)?;
    draw_latency(&bottom, report, &rates, t_max)?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::report::{KindPart, ProcReport, SecondPart};
    use super::*;

    #[test]
    fn writes_an_svg_with_the_kinds_in_its_legend() {
        let part = ProcReport {
            connections_ok: 2,
            kinds: [(
                "MESSAGE".to_owned(),
                KindPart {
                    ok: 30,
                    traffic_ok: 30,
                    latency_us: vec![(300, 30)],
                    ..KindPart::default()
                },
            )]
            .into(),
            timeline: (0..3)
                .map(|t| SecondPart {
                    t: 100 + t,
                    kind: "MESSAGE".into(),
                    ok: 10,
                    failed: 0,
                    latency_us: vec![(300 + t * 100, 10)],
                })
                .collect(),
            ..ProcReport::default()
        };
        let r = Report::merge(
            "message",
            "ws://x:1/",
            2,
            &[part],
            (3.0, 3.0),
            [100.0, 100.5, 103.0],
        );
        let dir = std::env::temp_dir().join(format!("sipload-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.svg");
        write_svg(&r, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("MESSAGE p99"));
        assert!(svg.contains("traffic"));
        assert!(
            svg.matches("<polyline").count() >= 3,
            "rate, p50 and p99 lines"
        );
    }
}
