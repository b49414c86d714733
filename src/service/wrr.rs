//! Smooth weighted round robin (nginx's algorithm): every pick adds each eligible handler's
//! weight to its current score, takes the highest and subtracts the total from it. Weights 3:1
//! give `a a b a`, never `a a a b`. The state lives in the registry so a configuration swap that
//! keeps the same handlers keeps the rotation where it was.

use std::sync::Mutex;

/// Current scores, one per handler.
#[derive(Debug, Default)]
pub(crate) struct WrrState {
    current: Mutex<Vec<i64>>,
}

impl WrrState {
    pub fn new(len: usize) -> WrrState {
        WrrState {
            current: Mutex::new(vec![0; len]),
        }
    }

    /// Picks among handlers with `eligible(i)`; `None` when none is.
    pub fn pick(&self, weights: &[u32], eligible: impl Fn(usize) -> bool) -> Option<usize> {
        let mut current = match self.current.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if current.len() != weights.len() {
            current.clear();
            current.resize(weights.len(), 0);
        }
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        for (i, w) in weights.iter().enumerate() {
            if *w == 0 || !eligible(i) {
                continue;
            }
            let w = i64::from(*w);
            current[i] += w;
            total += w;
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        if let Some(b) = best {
            current[b] -= total;
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_sequence() {
        let s = WrrState::new(3);
        let picks: Vec<usize> = (0..7)
            .filter_map(|_| s.pick(&[5, 1, 1], |_| true))
            .collect();
        assert_eq!(picks, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn skips_ineligible() {
        let s = WrrState::new(2);
        let picks: Vec<usize> = (0..4).filter_map(|_| s.pick(&[1, 1], |i| i == 1)).collect();
        assert_eq!(picks, vec![1, 1, 1, 1]);
        assert_eq!(s.pick(&[1, 1], |_| false), None);
    }
}
