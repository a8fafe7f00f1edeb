//! Homoscedastic uncertainty weighting of task losses (Kendall, Gal & Cipolla, 2018).

use burn::module::Param;
use burn::prelude::*;

/// One learned log-variance `s_t` per task. The weighted total is
/// `sum_t exp(-s_t) * L_t + s_t`: a task with a large loss learns a large `s_t` and
/// contributes less gradient; the `+ s_t` term keeps `s_t` from growing without bound
/// (at the optimum `exp(s_t) = L_t`). The same form is used for the classification and
/// the regression tasks (Kendall et al.'s classification form differs by constant
/// factors that the learned `s_t` absorbs).
#[derive(Module, Debug)]
pub struct UncertaintyWeights {
    pub log_vars: Param<Tensor<1>>,
}

impl UncertaintyWeights {
    pub fn new(tasks: usize, device: &Device) -> Self {
        Self {
            log_vars: Param::from_tensor(Tensor::zeros([tasks], device)),
        }
    }

    /// `losses`: one scalar per task, in the order of `log_vars`.
    pub fn combine(&self, losses: Vec<Tensor<1>>) -> Tensor<1> {
        self.task_terms(losses).sum()
    }

    /// [`Self::combine`] with a fixed priority per task:
    /// `sum_t p_t * (exp(-s_t) * L_t + s_t)`. The optimum of each `s_t` is unchanged
    /// (`exp(s_t) = L_t`), so the shared weights see `p_t * grad(L_t) / L_t`: a task's
    /// priority scales its say against the other tasks and against the rate term.
    pub fn combine_with_priorities(&self, losses: Vec<Tensor<1>>, priorities: &[f32]) -> Tensor<1> {
        let terms = self.task_terms(losses);
        if priorities.iter().all(|&p| p == 1.0) {
            return terms.sum();
        }
        let p = Tensor::<1>::from_data(
            TensorData::new(priorities.to_vec(), [priorities.len()]),
            &terms.device(),
        );
        (p * terms).sum()
    }

    /// Each task's weighted term `exp(-s_t) * L_t + s_t`, `[tasks]`.
    fn task_terms(&self, losses: Vec<Tensor<1>>) -> Tensor<1> {
        let s = self.log_vars.val();
        let l = Tensor::cat(losses, 0);
        (s.clone().neg().exp() * l) + s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combine_by_hand() {
        let device = Device::flex();
        let mut w = UncertaintyWeights::new(2, &device);
        w.log_vars = Param::from_tensor(Tensor::from_data([0.0f32, 2f32.ln()], &device));
        let losses = vec![
            Tensor::<1>::from_data([3.0f32], &device),
            Tensor::<1>::from_data([4.0f32], &device),
        ];
        // exp(0) * 3 + 0 + exp(-ln 2) * 4 + ln 2 = 5 + ln 2.
        let got = w.combine(losses).into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((got - (5.0 + 2f32.ln())).abs() < 1e-6);
    }

    #[test]
    fn priorities_scale_each_task_term_by_hand() {
        let device = Device::flex();
        let mut w = UncertaintyWeights::new(2, &device);
        w.log_vars = Param::from_tensor(Tensor::from_data([0.0f32, 2f32.ln()], &device));
        let losses = || {
            vec![
                Tensor::<1>::from_data([3.0f32], &device),
                Tensor::<1>::from_data([4.0f32], &device),
            ]
        };
        // 3 * (exp(0) * 3 + 0) + 1 * (exp(-ln 2) * 4 + ln 2) = 11 + ln 2.
        let got = w
            .combine_with_priorities(losses(), &[3.0, 1.0])
            .into_scalar::<f32>();
        assert!((got - (11.0 + 2f32.ln())).abs() < 1e-5, "{got}");
        let plain = w.combine(losses()).into_scalar::<f32>();
        let unit = w
            .combine_with_priorities(losses(), &[1.0, 1.0])
            .into_scalar::<f32>();
        assert_eq!(plain, unit);
    }
}
