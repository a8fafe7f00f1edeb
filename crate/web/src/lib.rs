//! splitfeat-web: the edge half of the split network, as the browser runs it.
//!
//! An [`session::EdgeSession`] holds one model's encoder on one device (WebGPU, or the
//! pure-Rust `flex` CPU device with wasm SIMD) and turns camera frames into feature
//! bitstreams: encoder -> read-back -> quantize -> tile -> code, all through
//! `splitfeat-core`, so the bytes are the ones the server and the trainer would make.
//!
//! A [`cloud::CloudSession`] is the other half for pages without a cloud server (the
//! demo as static files): one model's task heads, answering bitstreams with the
//! response of `POST /v1/infer`, built by the same `splitfeat_core::api` code as the
//! server's. The page runs it in its own Web Worker.
//!
//! This crate is glue. Everything here builds and is tested natively (on `flex`); the
//! JavaScript boundary (`#[wasm_bindgen]`) lives in one file, `bindings.rs`, compiled
//! for `wasm32` only.

pub mod clock;
pub mod cloud;
pub mod device;
pub mod pixels;
pub mod session;

#[cfg(target_family = "wasm")]
mod bindings;

pub use cloud::CloudSession;
pub use device::{Backend, Preference};
pub use session::{EdgeSession, EncodeResult, SessionError};
