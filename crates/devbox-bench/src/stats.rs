//! Statistics and the report: min/median/max of samples, ratios of the controller to raw
//! Podman, the targets of issue 7, the table printed to stdout and the JSON written to a file.

use serde::Serialize;

/// min/median/p95/max (and count) of a set of samples, in the samples' unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    /// Nearest-rank 95th percentile (the max for fewer than 20 samples).
    pub p95: f64,
    pub max: f64,
}

impl Summary {
    /// None for no samples; NaN samples are ignored (they cannot be ordered).
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        // Nearest rank: the smallest sample with at least 95 % of the samples at or below it.
        let p95 = v[(n * 95).div_ceil(100).saturating_sub(1)];
        Some(Summary {
            n,
            min: v[0],
            median,
            p95,
            max: v[n - 1],
        })
    }
}

/// One operation done through devbox-ctl and with raw Podman in the same run (interleaved).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub operation: String,
    /// What the raw side does (the Podman commands), so the ratio can be read fairly.
    pub raw_means: String,
    /// Milliseconds through devbox-ctl (the CLI process included).
    pub ours_ms: Option<Summary>,
    /// Milliseconds with the raw `podman` CLI.
    pub raw_ms: Option<Summary>,
    /// median(ours) / median(raw).
    pub ratio_of_medians: Option<f64>,
    /// ours_i / raw_i for each interleaved pair (the same repetition).
    pub pairwise_ratio: Option<Summary>,
    /// Milliseconds with devboxd's engine over Podman's API socket, without the daemon.
    pub api_ms: Option<Summary>,
    /// median(ours) / median(api): the controller's own overhead.
    pub ratio_to_api: Option<f64>,
    /// ours_i / api_i for each interleaved repetition.
    pub pairwise_ratio_to_api: Option<Summary>,
}

fn ratios(ours: &[f64], base: &[f64]) -> (Option<f64>, Option<Summary>) {
    let of_medians = match (Summary::of(ours), Summary::of(base)) {
        (Some(o), Some(r)) if r.median > 0.0 => Some(o.median / r.median),
        _ => None,
    };
    let pairs: Vec<f64> = ours
        .iter()
        .zip(base)
        .filter(|(_, r)| **r > 0.0)
        .map(|(o, r)| o / r)
        .collect();
    (of_medians, Summary::of(&pairs))
}

impl Comparison {
    pub fn new(operation: &str, raw_means: &str, ours: &[f64], raw: &[f64]) -> Self {
        Self::with_api(operation, raw_means, ours, raw, &[])
    }

    pub fn with_api(
        operation: &str,
        raw_means: &str,
        ours: &[f64],
        raw: &[f64],
        api: &[f64],
    ) -> Self {
        let (ratio_of_medians, pairwise_ratio) = ratios(ours, raw);
        let (ratio_to_api, pairwise_ratio_to_api) = ratios(ours, api);
        Comparison {
            operation: operation.to_string(),
            raw_means: raw_means.to_string(),
            ours_ms: Summary::of(ours),
            raw_ms: Summary::of(raw),
            ratio_of_medians,
            pairwise_ratio,
            api_ms: Summary::of(api),
            ratio_to_api,
            pairwise_ratio_to_api,
        }
    }
}

/// A measurement without a raw counterpart.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    pub name: String,
    pub unit: String,
    pub summary: Option<Summary>,
}

impl Metric {
    pub fn new(name: &str, unit: &str, samples: &[f64]) -> Self {
        Metric {
            name: name.to_string(),
            unit: unit.to_string(),
            summary: Summary::of(samples),
        }
    }
}

/// A target of issue 7 and whether the run met it (judged on the worst sample where that is
/// what the target means, otherwise on the median; `basis` says which).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetResult {
    pub target: String,
    pub limit: f64,
    pub unit: String,
    pub basis: String,
    pub measured: Option<f64>,
    pub met: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Basis {
    Median,
    Max,
}

impl TargetResult {
    /// `measured < limit` (or `<=` when `inclusive`) on the chosen basis; no data is not met.
    pub fn check(
        target: &str,
        limit: f64,
        inclusive: bool,
        unit: &str,
        basis: Basis,
        summary: Option<Summary>,
    ) -> Self {
        let measured = summary.map(|s| match basis {
            Basis::Median => s.median,
            Basis::Max => s.max,
        });
        let met = measured.is_some_and(|m| if inclusive { m <= limit } else { m < limit });
        TargetResult {
            target: target.to_string(),
            limit,
            unit: unit.to_string(),
            basis: match basis {
                Basis::Median => "median",
                Basis::Max => "max",
            }
            .to_string(),
            measured,
            met,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_total_kib: u64,
    pub kernel: String,
    pub os: String,
    pub podman_version: String,
    /// /proc/loadavg at the start and at the end of the run (a noisy shared machine shows here).
    pub loadavg_start: String,
    pub loadavg_end: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub started_at: String,
    pub duration_secs: f64,
    pub machine: Machine,
    pub repetitions: usize,
    pub containers: usize,
    pub image: String,
    pub comparisons: Vec<Comparison>,
    pub metrics: Vec<Metric>,
    pub targets: Vec<TargetResult>,
    pub notes: Vec<String>,
}

fn fmt_opt(s: Option<Summary>, digits: usize) -> String {
    match s {
        Some(s) => format!(
            "{:.d$} / {:.d$} / {:.d$}",
            s.min,
            s.median,
            s.max,
            d = digits
        ),
        None => "-".to_string(),
    }
}

fn digits_for(unit: &str) -> usize {
    match unit {
        "ms" | "KiB" => 0,
        _ => 2,
    }
}

impl Report {
    /// The human table (stdout).
    pub fn table(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "machine: {} ({} cores, {} MiB), kernel {}, {}, podman {}\nload average: start {} / end {}\nrepetitions: {}, containers for list/recovery: {}, image {}\n\n",
            m.cpu_model,
            m.cores,
            m.memory_total_kib / 1024,
            m.kernel,
            m.os,
            m.podman_version,
            m.loadavg_start,
            m.loadavg_end,
            self.repetitions,
            self.containers,
            self.image
        );
        out.push_str(&self.comparisons_table());
        out.push('\n');
        out.push_str(&self.metrics_table());
        out.push('\n');
        out.push_str(&self.targets_table());
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }

    /// Each operation: ours, the raw CLI's and the engine API's times, and the ratios.
    fn comparisons_table(&self) -> String {
        let mut out = format!(
            "{:<19} {:>17} {:>17} {:>6} {:>18} {:>17} {:>6}\n",
            "operation (ms)",
            "devbox-ctl",
            "raw podman CLI",
            "ratio",
            "pairwise ratio",
            "engine API only",
            "ratio"
        );
        out.push_str(&format!(
            "{:<19} {:>17} {:>17} {:>6} {:>18} {:>17} {:>6}\n",
            "",
            "min / med / max",
            "min / med / max",
            "ours/",
            "min / med / max",
            "min / med / max",
            "ours/"
        ));
        let ratio = |r: Option<f64>| r.map(|r| format!("{r:.2}")).unwrap_or_else(|| "-".into());
        for c in &self.comparisons {
            out.push_str(&format!(
                "{:<19} {:>17} {:>17} {:>6} {:>18} {:>17} {:>6}\n",
                c.operation,
                fmt_opt(c.ours_ms, 0),
                fmt_opt(c.raw_ms, 0),
                ratio(c.ratio_of_medians),
                fmt_opt(c.pairwise_ratio, 2),
                fmt_opt(c.api_ms, 0),
                ratio(c.ratio_to_api),
            ));
        }
        out
    }

    fn metrics_table(&self) -> String {
        let mut out = format!(
            "{:<44} {:>6} {:>4} {:>30}\n",
            "measurement", "unit", "n", "min / median / max"
        );
        for x in &self.metrics {
            out.push_str(&format!(
                "{:<44} {:>6} {:>4} {:>30}\n",
                x.name,
                x.unit,
                x.summary.map(|s| s.n).unwrap_or(0),
                fmt_opt(x.summary, digits_for(&x.unit)),
            ));
        }
        out
    }

    fn targets_table(&self) -> String {
        let mut out = format!(
            "{:<44} {:>12} {:>12} {:>7} {:>6}\n",
            "target", "limit", "measured", "basis", "met"
        );
        for t in &self.targets {
            out.push_str(&format!(
                "{:<44} {:>12} {:>12} {:>7} {:>6}\n",
                t.target,
                format!("{} {}", t.limit, t.unit),
                t.measured
                    .map(|v| format!("{:.d$}", v, d = digits_for(&t.unit)))
                    .unwrap_or_else(|| "-".into()),
                t.basis,
                if t.met { "yes" } else { "NO" }
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_odd_and_even_counts() {
        let s = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.n, s.min, s.median, s.max), (3, 1.0, 3.0, 5.0));
        let s = Summary::of(&[4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.n, s.min, s.median, s.max), (4, 1.0, 3.0, 10.0));
    }

    #[test]
    fn p95_is_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(Summary::of(&v).unwrap().p95, 95.0);
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(Summary::of(&v).unwrap().p95, 19.0);
        assert_eq!(Summary::of(&[3.0, 1.0, 2.0]).unwrap().p95, 3.0);
        assert_eq!(Summary::of(&[7.0]).unwrap().p95, 7.0);
    }

    #[test]
    fn summary_of_nothing_or_nan_is_none() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[f64::NAN]), None);
        let s = Summary::of(&[f64::NAN, 2.0]).unwrap();
        assert_eq!((s.n, s.median), (1, 2.0));
    }

    #[test]
    fn comparison_ratios_are_ours_over_raw() {
        let c = Comparison::new(
            "stop",
            "podman stop",
            &[120.0, 100.0, 300.0],
            &[100.0, 100.0, 100.0],
        );
        assert_eq!(c.ratio_of_medians, Some(1.2));
        let p = c.pairwise_ratio.unwrap();
        assert_eq!((p.min, p.median, p.max), (1.0, 1.2, 3.0));
        // No raw samples: no ratio, no panic; a zero raw sample is left out of the pairs.
        let c = Comparison::new("x", "", &[1.0], &[]);
        assert_eq!(c.ratio_of_medians, None);
        assert!(c.pairwise_ratio.is_none());
        let c = Comparison::new("x", "", &[1.0, 2.0], &[0.0, 1.0]);
        assert_eq!(c.pairwise_ratio.unwrap().n, 1);
        // The API baseline has its own ratio.
        let c = Comparison::with_api("x", "", &[150.0], &[300.0], &[100.0]);
        assert_eq!(c.ratio_of_medians, Some(0.5));
        assert_eq!(c.ratio_to_api, Some(1.5));
        assert_eq!(c.pairwise_ratio_to_api.unwrap().median, 1.5);
    }

    #[test]
    fn targets_judge_on_their_basis_and_bounds() {
        let s = Summary::of(&[10.0, 40.0, 60.0]);
        let t = TargetResult::check("list", 50.0, false, "ms", Basis::Median, s);
        assert!(t.met);
        assert_eq!(t.measured, Some(40.0));
        let t = TargetResult::check("list", 50.0, false, "ms", Basis::Max, s);
        assert!(!t.met);
        let s = Summary::of(&[1.2]);
        assert!(TargetResult::check("ratio", 1.2, true, "x", Basis::Median, s).met);
        assert!(!TargetResult::check("ratio", 1.2, false, "x", Basis::Median, s).met);
        assert!(!TargetResult::check("none", 1.0, true, "x", Basis::Median, None).met);
    }

    #[test]
    fn table_and_json_carry_every_row() {
        let r = Report {
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_secs: 1.0,
            machine: Machine {
                cpu_model: "Test CPU".into(),
                cores: 2,
                memory_total_kib: 2048 * 1024,
                kernel: "6.1".into(),
                os: "Debian".into(),
                podman_version: "4.3.1".into(),
                loadavg_start: "0.1".into(),
                loadavg_end: "0.2".into(),
            },
            repetitions: 3,
            containers: 7,
            image: "img".into(),
            comparisons: vec![Comparison::new("create", "raw", &[110.0], &[100.0])],
            metrics: vec![Metric::new("devboxd RSS idle", "KiB", &[9000.0])],
            targets: vec![TargetResult::check(
                "devboxd RSS < 30 MB",
                30000.0,
                false,
                "KiB",
                Basis::Max,
                Summary::of(&[9000.0]),
            )],
            notes: vec!["a note".into()],
        };
        let t = r.table();
        for needle in [
            "Test CPU",
            "create",
            "1.10",
            "devboxd RSS idle",
            "9000",
            "yes",
            "note: a note",
        ] {
            assert!(t.contains(needle), "{needle} missing from\n{t}");
        }
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["machine"]["podmanVersion"], "4.3.1");
        assert_eq!(j["comparisons"][0]["ratioOfMedians"], 1.1);
        assert_eq!(j["targets"][0]["met"], true);
    }
}
