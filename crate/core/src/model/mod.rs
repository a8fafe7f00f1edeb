//! The split network: an [`Edge`] encoder (backbone + bottleneck) that runs in the
//! browser, and [`CloudHeads`] (segmentation, disparity, reconstruction) that run on
//! the server. The two halves are separate modules with separate weight files, so the
//! browser loads only the edge and the server only the heads.

mod blocks;
mod config;
mod edge;
mod heads;
mod weights;

pub use blocks::{BasicBlock, ConvBnRelu, UpBlock};
pub use config::{ConfigError, ModelConfig, Preset, StageConfig, limits};
pub use edge::Edge;
pub use heads::{CloudHeads, Decoder, HeadOutputs};
pub use weights::{WeightsError, load_module_bytes, module_to_bytes};
