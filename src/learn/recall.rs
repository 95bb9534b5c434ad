//! Retrieval recall R@k in both directions from a score matrix `S_ij = s(u_i, v_j)`.
//!
//! State -> observation: for state `u_i`, rank every observation by `S_ij`; R@k is the fraction of
//! states whose own observation `v_i` is among the top k. Observation -> state ranks the column.
//! Ties count against the truth (a constant encoder scores 0, not 100%), and a non-finite true
//! score is a miss. Matrices too large for memory are scored in row blocks ([`truth_ranks`]).

use std::cmp::Ordering;

use ndarray::ArrayView2;

/// R@1 and R@5 in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Recall {
    /// Number of query pairs.
    pub n: usize,
    /// State -> observation R@1.
    pub u_to_v_at_1: f64,
    /// State -> observation R@5.
    pub u_to_v_at_5: f64,
    /// Observation -> state R@1.
    pub v_to_u_at_1: f64,
    /// Observation -> state R@5.
    pub v_to_u_at_5: f64,
}

impl Recall {
    /// Recall from the 0-based ranks of the truth in each direction (rank 0 = retrieved first).
    pub fn from_ranks(u_to_v: &[usize], v_to_u: &[usize]) -> Recall {
        Recall { n: u_to_v.len(), u_to_v_at_1: at_k(u_to_v, 1), u_to_v_at_5: at_k(u_to_v, 5), v_to_u_at_1: at_k(v_to_u, 1), v_to_u_at_5: at_k(v_to_u, 5) }
    }

    /// Recall of a whole square score matrix held in memory.
    pub fn from_scores(scores: ArrayView2<f32>) -> Recall {
        Recall::from_ranks(&truth_ranks(scores, 0), &truth_ranks(scores.t(), 0))
    }
}

/// Fraction of ranks below `k`.
pub fn at_k(ranks: &[usize], k: usize) -> f64 {
    if ranks.is_empty() {
        return 0.0;
    }
    ranks.iter().filter(|&&r| r < k).count() as f64 / ranks.len() as f64
}

/// For a block of rows of a score matrix whose row `r` has its true match in column
/// `first_row + r`: the rank of that entry in its row (entries greater or equal, itself excluded;
/// a NaN entry counts as greater).
pub fn truth_ranks(block: ArrayView2<f32>, first_row: usize) -> Vec<usize> {
    block
        .rows()
        .into_iter()
        .enumerate()
        .map(|(r, row)| {
            let truth = row[first_row + r];
            if !truth.is_finite() {
                return row.len();
            }
            row.iter().enumerate().filter(|&(c, x)| c != first_row + r && x.partial_cmp(&truth) != Some(Ordering::Less)).count()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn recall_of_a_hand_made_matrix() {
        // Rows: states; columns: observations; the truth is the diagonal.
        let s = array![
            [9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],      // truth first
            [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],      // truth 1.0: five entries above -> rank 5
            [0.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0],      // rank 1
            [0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 5.0],      // tie with column 6 -> rank 1
            [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],      // all tied -> rank 6
            [0.0, 0.0, 0.0, 0.0, 9.0, 8.0, 7.0],      // rank 1
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, f32::NAN], // NaN truth -> miss (rank 7)
        ];
        let ranks = truth_ranks(s.view(), 0);
        assert_eq!(ranks, vec![0, 5, 1, 1, 6, 1, 7]);
        let recall = Recall::from_scores(s.view());
        assert_eq!(recall.n, 7);
        assert!((recall.u_to_v_at_1 - 1.0 / 7.0).abs() < 1e-12);
        assert!((recall.u_to_v_at_5 - 4.0 / 7.0).abs() < 1e-12);
        // Columns: col 0 truth 9 is the max (rank 0); col 1 truth 1.0 ties 1.0 (row 0) and row 4
        // and is below 3.0 (row 2) -> rank 3; col 2 truth 2: ties row 0/1 -> rank 2; col 3 truth 5:
        // rank 0; col 4 truth 1: below 4 (rows 0, 1) and 9 (row 5) -> rank 3; col 5 truth 8:
        // rank 0; col 6: NaN -> 7.
        assert_eq!(truth_ranks(s.t(), 0), vec![0, 3, 2, 0, 3, 0, 7]);
        assert!((recall.v_to_u_at_1 - 3.0 / 7.0).abs() < 1e-12);
        assert!((recall.v_to_u_at_5 - 6.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn blocks_give_the_same_ranks_as_the_whole() {
        let s = array![[3.0, 1.0, 0.0], [2.0, 2.5, 0.0], [0.0, 4.0, 1.0f32]];
        let whole = truth_ranks(s.view(), 0);
        let mut blocked = truth_ranks(s.slice(ndarray::s![0..2, ..]), 0);
        blocked.extend(truth_ranks(s.slice(ndarray::s![2..3, ..]), 2));
        assert_eq!(whole, blocked);
        assert_eq!(whole, vec![0, 0, 1]);
    }
}
