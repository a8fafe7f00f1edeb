//! The cloud half: the one path of a request for the server and the browser's cloud
//! worker alike. A bitstream is decoded ([`CloudRuntime::decode_request`], refusing a
//! stream of another model or shape), the requested heads run and are read back, and
//! their outputs are post-processed into raw planes ([`CloudRuntime::compute`]);
//! `crate::api` then makes the response (JSON with PNGs, or the planes format).

use burn::prelude::*;

use super::{Task, TaskOutput, feature_shape};
use crate::api::{self, InferError, InferOptions, RawOutputs, Timings};
use crate::bitstream::Limits;
use crate::classes::NUM_CLASSES;
use crate::codec::prior::ModelTables;
use crate::codec::{CodecError, CodecId};
use crate::image::{argmax_classes, disparity_scale, unit_chw_to_rgb};
use crate::model::{CloudHeads, ModelConfig, WeightsError, load_module_bytes};
use crate::pipeline::{self, Decoded, PipelineError};
use crate::quant::BitDepth;
use crate::zoo::{ModelEntry, ModelId, ZooError};

/// Why a model's heads could not be loaded from its manifest entry and weights file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Verify(#[from] ZooError),
    #[error("{0}")]
    Weights(#[from] WeightsError),
}

/// The cloud half, ready to decode bitstreams of one model and run its heads.
#[derive(Debug)]
pub struct CloudRuntime {
    pub config: ModelConfig,
    pub heads: CloudHeads,
    pub model_id: ModelId,
    pub device: Device,
    /// The model's learned prior tables, to decode `prior` streams.
    pub tables: Option<ModelTables>,
}

impl CloudRuntime {
    pub fn load(
        config: ModelConfig,
        weights: &[u8],
        model_id: ModelId,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let heads = load_module_bytes(CloudHeads::new(&config, device), weights)?;
        Ok(Self {
            config,
            heads,
            model_id,
            device: device.clone(),
            tables: None,
        })
    }

    /// The same runtime with the model's prior tables (checked against its channels).
    pub fn with_tables(mut self, tables: ModelTables) -> Result<Self, CodecError> {
        tables.check(feature_shape(&self.config).channels.into())?;
        self.tables = Some(tables);
        Ok(self)
    }

    /// Decodes a stream, refusing one made by another model or of another shape.
    pub fn decode(&self, bytes: &[u8]) -> Result<Decoded, PipelineError> {
        let shape = feature_shape(&self.config);
        let limits = Limits {
            max_channels: shape.channels,
            max_height: shape.height,
            max_width: shape.width,
            max_elements: shape.len(),
            ..Limits::default()
        };
        // Parse the header alone first so that a foreign model or shape is reported as
        // such rather than as whatever limit it happens to exceed.
        let (header, _) = crate::bitstream::parse(bytes, &Limits::default())?;
        pipeline::expect_model(&header, self.model_id)?;
        pipeline::expect_shape(&header, shape)?;
        pipeline::decode_features_with(bytes, &limits, self.tables.as_ref())
    }

    /// Runs the requested heads on decoded features; tensors stay on the device.
    pub fn run_heads(&self, decoded: &Decoded, tasks: &[Task]) -> Vec<(Task, Tensor<4>)> {
        let x = self.features_tensor(decoded);
        tasks
            .iter()
            .map(|&t| (t, self.read_head(t, x.clone())))
            .collect()
    }

    /// Turns a head's read-back values (`[1, channels, H, W]`) into its output.
    pub fn postprocess(&self, task: Task, values: &[f32]) -> TaskOutput {
        let (h, w) = (self.config.input_height, self.config.input_width);
        match task {
            Task::Seg => TaskOutput::Seg(argmax_classes(values, NUM_CLASSES, h, w)),
            Task::Disp => {
                let scale = disparity_scale(w);
                TaskOutput::Disp(values.iter().map(|v| (v * scale).max(0.0)).collect())
            }
            Task::Recon => TaskOutput::Recon(unit_chw_to_rgb(values, h, w)),
        }
    }

    /// The heads of a manifest entry: `heads_weights` checked against the entry's
    /// size and sha256, then loaded into the entry's architecture.
    pub fn from_entry(
        entry: &ModelEntry,
        heads_weights: &[u8],
        device: &burn::prelude::Device,
    ) -> Result<Self, LoadError> {
        entry
            .config
            .validate()
            .map_err(|msg| ZooError::Manifest(format!("model {}: {msg}", entry.id)))?;
        entry.heads.verify(heads_weights)?;
        Ok(CloudRuntime::load(
            entry.config.clone(),
            heads_weights,
            entry.id,
            device,
        )?)
    }

    /// A valid stream for this model (synthetic features, PNG, 8 bits), for warming
    /// up and self-testing a freshly loaded model through the whole request path.
    pub fn synthetic_stream(&self) -> Vec<u8> {
        let [c, h, w] = self.config.bottleneck_shape();
        let shape = pipeline::FeatureShape::new(c as u16, h as u16, w as u16);
        let values: Vec<f32> = (0..shape.len()).map(|i| (i % 17) as f32 / 17.0).collect();
        pipeline::encode_features(&values, shape, self.model_id, CodecId::Png, BitDepth::EIGHT)
            .expect("synthetic features of the model's own shape always encode")
            .bytes
    }

    /// Decodes a request body: empty bodies and streams this model cannot take are
    /// refused with their error codes.
    pub fn decode_request(&self, body: &[u8]) -> Result<Decoded, InferError> {
        if body.is_empty() {
            return Err(InferError::EmptyBody);
        }
        Ok(self.decode(body)?)
    }

    /// (width, height) of every output image: the model's input size.
    pub fn output_size(&self) -> (usize, usize) {
        (self.config.input_width, self.config.input_height)
    }

    /// The model's part of a request: each requested head run, read back, timed on its
    /// own and post-processed into its raw plane ([`api::finish`]). Natively the tasks
    /// run at once, each on its own thread with the backend's operations kept on that
    /// one thread ([`parallel_tasks`]); the browser has one thread and runs them in
    /// turn. `clock` reads milliseconds (any origin).
    pub async fn compute(
        &self,
        decoded: &Decoded,
        options: &InferOptions,
        clock: impl Fn() -> f64 + Sync,
    ) -> Result<(RawOutputs, Timings), InferError> {
        let features = self.features_tensor(decoded);
        let run_task = |task: Task, values: Vec<f32>, head_ms: f64| {
            let finished = api::finish(self, task, &values, options.max_disparity, &clock);
            (task, head_ms, finished)
        };

        #[cfg(not(target_family = "wasm"))]
        let done = parallel_tasks::run(&options.tasks, |task| {
            let t = clock();
            let values = self.read_head(task, features.clone()).try_into_data();
            let values = read_back_values(task, values.map_err(|e| format!("{e:?}")))?;
            Ok(run_task(task, values, api::round_ms(clock() - t)))
        })?;

        #[cfg(target_family = "wasm")]
        let done = {
            let mut done = Vec::with_capacity(options.tasks.len());
            for &task in &options.tasks {
                let t = clock();
                let data = self
                    .read_head(task, features.clone())
                    .into_data_async()
                    .await;
                let values = read_back_values(task, data.map_err(|e| format!("{e:?}")))?;
                done.push(run_task(task, values, api::round_ms(clock() - t)));
            }
            done
        };

        let mut timings = Timings::default();
        let mut finished = Vec::with_capacity(done.len());
        for (task, head_ms, f) in done {
            timings.heads.set(task, head_ms);
            finished.push(f);
        }
        let (width, height) = self.output_size();
        let outputs = api::gather(finished, width, height, &mut timings);
        Ok((outputs, timings))
    }

    /// One head's output for `features`; the tensor stays on the device.
    fn read_head(&self, task: Task, features: Tensor<4>) -> Tensor<4> {
        let head = match task {
            Task::Seg => &self.heads.segmentation,
            Task::Disp => &self.heads.disparity,
            Task::Recon => &self.heads.reconstruction,
        };
        head.forward(features)
    }

    /// Decoded features as the `[1, C, H, W]` input of the heads.
    fn features_tensor(&self, decoded: &Decoded) -> Tensor<4> {
        let [c, h, w] = self.config.bottleneck_shape();
        Tensor::<4>::from_data(
            TensorData::new(decoded.values.clone(), [1, c, h, w]),
            &self.device,
        )
    }
}

/// A head's read-back data as f32 values, or the request's internal error.
fn read_back_values(task: Task, data: Result<TensorData, String>) -> Result<Vec<f32>, InferError> {
    data.and_then(|data| data.try_to_vec::<f32>().map_err(|e| format!("{e:?}")))
        .map_err(|e| InferError::Internal(format!("reading back the {} head: {e}", task.name())))
}

/// Natively, the requested tasks of one request at once, each on its own thread.
///
/// The CPU backend spreads each operation over rayon's pool, but a head is a chain of
/// small operations (8x16 to 128x256 pixels, 24-64 channels), and with the browser or
/// other requests on the same cores each operation waits for its slowest thread. Each
/// task instead runs inside a one-thread pool of its own, so its operations stay on
/// its thread and the three heads share the cores at the grain of whole heads
/// (docs/results-web.md, "The heads at once").
#[cfg(not(target_family = "wasm"))]
pub mod parallel_tasks {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::{Mutex, OnceLock, PoisonError};

    use rayon::{ThreadPool, ThreadPoolBuilder};

    use super::Task;
    use crate::api::InferError;

    /// One single-thread pool per task, made once and shared by every request: on
    /// concurrent requests the same task of each takes its turn.
    fn pools() -> &'static [ThreadPool] {
        static POOLS: OnceLock<Vec<ThreadPool>> = OnceLock::new();
        POOLS.get_or_init(|| {
            Task::ALL
                .iter()
                .map(|task| {
                    ThreadPoolBuilder::new()
                        .num_threads(1)
                        .thread_name(move |_| format!("splitfeat-{}-head", task.name()))
                        .build()
                        .expect("a one-thread rayon pool can be built")
                })
                .collect()
        })
    }

    /// `work` for each of `tasks`, at once, results in the order of `tasks`. Each task's
    /// work is spawned into its own pool from scopes that the calling thread waits on,
    /// so a request starts no thread of its own.
    pub fn run<T: Send>(
        tasks: &[Task],
        work: impl Fn(Task) -> Result<T, InferError> + Sync,
    ) -> Result<Vec<T>, InferError> {
        let [seg, disp, recon] = pools() else {
            unreachable!("one pool per task")
        };
        let slots: Vec<Mutex<Option<Result<T, InferError>>>> =
            tasks.iter().map(|_| Mutex::new(None)).collect();
        let work = &work;
        seg.in_place_scope(|in_seg| {
            disp.in_place_scope(|in_disp| {
                recon.in_place_scope(|in_recon| {
                    for (&task, slot) in tasks.iter().zip(&slots) {
                        let job = move |_: &_| {
                            let result = catch_unwind(AssertUnwindSafe(|| work(task)))
                                .unwrap_or_else(|_| {
                                    Err(InferError::Internal(format!(
                                        "the {} head's work panicked",
                                        task.name()
                                    )))
                                });
                            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
                        };
                        match task {
                            Task::Seg => in_seg.spawn(job),
                            Task::Disp => in_disp.spawn(job),
                            Task::Recon => in_recon.spawn(job),
                        }
                    }
                })
            })
        });
        slots
            .into_iter()
            .map(|slot| {
                slot.into_inner()
                    .unwrap_or_else(PoisonError::into_inner)
                    .unwrap_or_else(|| {
                        Err(InferError::Internal("a head's work did not run".into()))
                    })
            })
            .collect()
    }
}

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use super::Task;
    use super::parallel_tasks::run;
    use crate::api::InferError;

    #[test]
    fn tasks_run_on_their_own_threads_and_answer_in_request_order() {
        let tasks = [Task::Recon, Task::Seg];
        let got = run(&tasks, |task| {
            Ok((task, std::thread::current().name().map(str::to_owned)))
        })
        .unwrap();
        assert_eq!(
            got,
            vec![
                (Task::Recon, Some("splitfeat-recon-head".to_owned())),
                (Task::Seg, Some("splitfeat-seg-head".to_owned())),
            ]
        );
    }

    #[test]
    fn a_failing_or_panicking_task_is_an_error_not_a_crash() {
        let failing = run(&Task::ALL, |task| match task {
            Task::Disp => Err(InferError::Internal("no disparity".into())),
            _ => Ok(task),
        });
        assert!(matches!(failing, Err(InferError::Internal(m)) if m == "no disparity"));
        let panicking = run(&Task::ALL, |task| {
            assert!(task != Task::Recon, "boom");
            Ok(task)
        });
        assert!(matches!(panicking, Err(InferError::Internal(m)) if m.contains("recon")));
        // The pools survive a panic.
        assert_eq!(run(&Task::ALL, Ok).unwrap(), Task::ALL.to_vec());
    }
}
