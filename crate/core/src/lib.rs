//! splitfeat-core: everything the edge (browser), the cloud (server) and the trainer
//! share. One implementation of each step; device-agnostic (burn tensors carry a
//! runtime `Device`), builds for native and `wasm32-unknown-unknown`.

pub mod api;
pub mod bitstream;
pub mod classes;
pub mod codec;
pub mod context_model;
pub mod entropy_model;
pub mod evaluate;
pub mod image;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod multitask;
pub mod pipeline;
pub mod quant;
pub mod runtime;
pub mod tiling;
pub mod uncertainty;
pub mod viz;
pub mod zoo;
