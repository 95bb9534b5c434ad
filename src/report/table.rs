//! Score tables: methods as rows, scores as columns, the best value of each column in bold.

/// Whether a smaller or a larger value of a score is better, or closeness to a target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Better {
    /// Smaller is better (RMSE, CRPS).
    Lower,
    /// Larger is better (recall, ESS).
    Higher,
    /// Closer to this value is better (spread/skill: 1; bias: 0).
    Near(f64),
    /// Not ranked (wall time shown for information).
    None,
}

/// A score table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column headers with their ranking rule.
    pub columns: Vec<(String, Better)>,
    /// Rows: method name and one value per column (NaN: not applicable).
    pub rows: Vec<(String, Vec<f64>)>,
}

impl Table {
    /// Index of the best row in column `c`, if any value is finite.
    pub fn best(&self, c: usize) -> Option<usize> {
        let key = |v: f64| match self.columns[c].1 {
            Better::Lower => Some(v),
            Better::Higher => Some(-v),
            Better::Near(t) => Some((v - t).abs()),
            Better::None => None,
        };
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.1[c].is_finite())
            .filter_map(|(i, r)| key(r.1[c]).map(|k| (i, k)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    fn cells(&self) -> Vec<Vec<(String, bool)>> {
        let best: Vec<Option<usize>> = (0..self.columns.len()).map(|c| self.best(c)).collect();
        self.rows.iter().enumerate().map(|(i, (_, vals))| vals.iter().enumerate().map(|(c, &v)| (format_value(v), best[c] == Some(i))).collect()).collect()
    }

    /// GitHub-flavoured Markdown.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "| method | {} |\n|---|{}\n",
            self.columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(" | "),
            "---:|".repeat(self.columns.len())
        );
        for ((name, _), cells) in self.rows.iter().zip(self.cells()) {
            let cells: Vec<String> = cells.into_iter().map(|(t, b)| if b { format!("**{t}**") } else { t }).collect();
            s += &format!("| {name} | {} |\n", cells.join(" | "));
        }
        s
    }

    /// An HTML `<table>`.
    pub fn html(&self) -> String {
        let mut s = String::from("<table>\n<tr><th>method</th>");
        for (c, _) in &self.columns {
            s += &format!("<th>{}</th>", escape(c));
        }
        s += "</tr>\n";
        for ((name, _), cells) in self.rows.iter().zip(self.cells()) {
            s += &format!("<tr><td>{}</td>", escape(name));
            for (t, b) in cells {
                s += &if b { format!("<td><b>{t}</b></td>") } else { format!("<td>{t}</td>") };
            }
            s += "</tr>\n";
        }
        s + "</table>\n"
    }
}

/// Four significant digits, "n/a" for NaN.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v == 0.0 {
        // log10(0) is -inf: handled apart (a perfect score is a common, not a corner, case).
        "0.000".into()
    } else if v.is_infinite() {
        format!("{v}")
    } else if v.abs() >= 1e5 || v.abs() < 1e-3 {
        format!("{v:.3e}")
    } else {
        let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{v:.digits$}")
    }
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_values_are_bold_by_their_rule() {
        let t = Table {
            columns: vec![
                ("RMSE".into(), Better::Lower),
                ("spread/skill".into(), Better::Near(1.0)),
                ("R@1".into(), Better::Higher),
                ("time s".into(), Better::None),
            ],
            rows: vec![("etkf".into(), vec![0.2, 1.3, f64::NAN, 1.0]), ("reweight".into(), vec![0.3, 0.95, 0.4, 2.0])],
        };
        let md = t.markdown();
        assert!(md.contains("| etkf | **0.2000** | 1.300 | n/a | 1.000 |"), "{md}");
        assert!(md.contains("| reweight | 0.3000 | **0.9500** | **0.4000** | 2.000 |"), "{md}");
        assert!(t.html().contains("<td><b>0.2000</b></td>"));
    }

    #[test]
    fn values_print_with_four_significant_digits() {
        assert_eq!(format_value(0.0), "0.000");
        assert_eq!(format_value(-0.0), "0.000");
        assert_eq!(format_value(1.23456), "1.235");
        assert_eq!(format_value(-12.5), "-12.50");
        assert_eq!(format_value(2.5e-4), "2.500e-4");
        assert_eq!(format_value(f64::INFINITY), "inf");
        assert_eq!(format_value(f64::NAN), "n/a");
    }
}
