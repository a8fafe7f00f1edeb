//! splitfeat-web: the edge half of the split network, as the browser runs it.
//!
//! An [`session::EdgeSession`] holds one model's encoder on one device (WebGPU, or the
//! pure-Rust `flex` CPU device with wasm SIMD) and turns camera frames into feature
//! bitstreams: encoder -> read-back -> quantize -> tile -> code, all through
//! `splitfeat-core`, so the bytes are the ones the server and the trainer would make.
//!
//! This crate is glue. Everything here builds and is tested natively (on `flex`); the
//! JavaScript boundary (`#[wasm_bindgen]`) lives in one file, `bindings.rs`, compiled
//! for `wasm32` only.

pub mod clock;
pub mod device;
pub mod pixels;
pub mod session;

#[cfg(target_family = "wasm")]
mod bindings;

pub use device::{Backend, Preference};
pub use session::{EdgeSession, EncodeResult, SessionError};
