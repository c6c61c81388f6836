//! The scale run's picture: list/status latency and recovery time against the number of running
//! containers, as an SVG (plotters), committed next to the JSON and shown in docs/benchmarks.md.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::scale::ScaleReport;
use crate::stats::Summary;

/// A latency line: its label, which summary of a level, p95 (else median), colour.
type Series = (
    &'static str,
    fn(&crate::scale::Level) -> Option<Summary>,
    bool,
    RGBColor,
);

/// Two panels side by side: latency (ms) of devbox-ctl and the Podman CLI, and recovery (s).
pub fn scale_svg(r: &ScaleReport, path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (left, right) = root.split_horizontally(640);
    let max_n = r.levels.iter().map(|l| l.n).max().unwrap_or(1) as f64;
    latency_panel(&left, r, max_n)?;
    recovery_panel(&right, r, max_n)?;
    root.present().map_err(err)?;
    Ok(())
}

type Panel<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The left panel: median (and p95) latency of each read, ours and Podman's, against N.
fn latency_panel(area: &Panel<'_>, r: &ScaleReport, max_n: f64) -> Result<()> {
    let series: [Series; 6] = [
        ("devbox-ctl list --all, median", |l| l.list_ms, false, BLUE),
        ("devbox-ctl list --all, p95", |l| l.list_ms, true, BLUE),
        ("devbox-ctl status, median", |l| l.status_ms, false, RED),
        ("devbox-ctl status, p95", |l| l.status_ms, true, RED),
        ("podman ps, median", |l| l.podman_ps_ms, false, GREEN),
        (
            "podman inspect + exec, median",
            |l| l.podman_status_ms,
            false,
            MAGENTA,
        ),
    ];
    let pick = |s: Option<Summary>, p95: bool| s.map(|s| if p95 { s.p95 } else { s.median });
    let y_max = r
        .levels
        .iter()
        .flat_map(|l| series.iter().filter_map(|(_, f, p95, _)| pick(f(l), *p95)))
        .fold(1.0_f64, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption("Latency against running containers", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..max_n * 1.05, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("running containers")
        .y_desc("ms")
        .draw()
        .map_err(err)?;
    for (label, f, p95, color) in series {
        let points: Vec<(f64, f64)> = r
            .levels
            .iter()
            .filter_map(|l| pick(f(l), p95).map(|v| (l.n as f64, v)))
            .collect();
        let style = if p95 {
            ShapeStyle::from(color.mix(0.5)).stroke_width(1)
        } else {
            ShapeStyle::from(color).stroke_width(2)
        };
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, style.filled())))
            .map_err(err)?;
    }
    draw_legend(&mut chart)
}

/// The right panel: seconds from devboxd's restart until every container is ready, against N,
/// with the target's line.
fn recovery_panel(area: &Panel<'_>, r: &ScaleReport, max_n: f64) -> Result<()> {
    let recovery: Vec<(f64, f64)> = r
        .levels
        .iter()
        .filter_map(|l| l.recovery_ms.map(|ms| (l.n as f64, ms / 1000.0)))
        .collect();
    let y_max = recovery.iter().map(|p| p.1).fold(30.0_f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption("Recovery after a host restart", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d(0.0..max_n * 1.05, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("running containers")
        .y_desc("s until all ready")
        .draw()
        .map_err(err)?;
    let style = ShapeStyle::from(BLACK).stroke_width(2);
    chart
        .draw_series(LineSeries::new(recovery.clone(), style))
        .map_err(err)?
        .label("devboxd restart -> all ready")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    chart
        .draw_series(recovery.iter().map(|&p| Circle::new(p, 3, style.filled())))
        .map_err(err)?;
    let target = ShapeStyle::from(RED.mix(0.6)).stroke_width(1);
    chart
        .draw_series(LineSeries::new(
            vec![(0.0, 30.0), (max_n * 1.05, 30.0)],
            target,
        ))
        .map_err(err)?
        .label("target at 50: 30 s")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], target));
    draw_legend(&mut chart)
}

/// The series labels, boxed, in the upper left of a panel.
fn draw_legend<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing the plot: {e}")
}
