//! Which device runs the encoder: WebGPU where the browser has it and it was asked
//! for, else `flex`, burn's pure-Rust CPU device (wasm SIMD in the browser).

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;
use serde::Serialize;

/// The device an edge session runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's wgpu runtime on the browser's WebGPU.
    WebGpu,
    /// burn's `flex` CPU device.
    Cpu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::WebGpu => "webgpu",
            Backend::Cpu => "cpu",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    /// WebGPU or an error.
    WebGpu,
    /// The CPU device.
    Cpu,
    /// WebGPU where it initialises, else the CPU device.
    Auto,
}

impl FromStr for Preference {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "webgpu" | "gpu" => Ok(Preference::WebGpu),
            "cpu" | "flex" => Ok(Preference::Cpu),
            "auto" | "" => Ok(Preference::Auto),
            other => Err(format!(
                "unknown backend preference {other:?} (expected webgpu, cpu or auto)"
            )),
        }
    }
}

/// A device ready for tensors.
#[derive(Debug, Clone)]
pub struct Acquired {
    pub device: Device,
    pub backend: Backend,
    /// Why WebGPU is not used, when it was considered (`auto`) and failed.
    pub fallback_reason: Option<String>,
}

/// Initialises the device `preference` asks for. Only an explicit `webgpu` request
/// that cannot be met is an error (the message says why).
pub async fn acquire(preference: Preference) -> Result<Acquired, String> {
    let cpu = |fallback_reason| Acquired {
        device: Device::flex(),
        backend: Backend::Cpu,
        fallback_reason,
    };
    match preference {
        Preference::Cpu => Ok(cpu(None)),
        Preference::WebGpu => webgpu().await.map(|device| Acquired {
            device,
            backend: Backend::WebGpu,
            fallback_reason: None,
        }),
        Preference::Auto => Ok(match webgpu().await {
            Ok(device) => Acquired {
                device,
                backend: Backend::WebGpu,
                fallback_reason: None,
            },
            Err(why) => cpu(Some(why)),
        }),
    }
}

/// The page's WebGPU device. burn's wgpu runtime can be initialised once per page, so
/// the first outcome (device or error) is kept and handed to every later session.
#[cfg(target_family = "wasm")]
pub async fn webgpu() -> Result<Device, String> {
    use std::cell::RefCell;
    thread_local! {
        static WEBGPU: RefCell<Option<Result<Device, String>>> = const { RefCell::new(None) };
    }
    if let Some(done) = WEBGPU.with(|w| w.borrow().clone()) {
        return done;
    }
    let outcome = match has_navigator_gpu() {
        false => Err("this browser exposes no WebGPU (navigator.gpu is missing)".to_string()),
        true => Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| format!("WebGPU initialisation failed: {e}")),
    };
    // Two sessions may have raced here; the first stored outcome wins, since the
    // runtime refuses a second initialisation.
    WEBGPU.with(|w| w.borrow_mut().get_or_insert(outcome).clone())
}

#[cfg(target_family = "wasm")]
fn has_navigator_gpu() -> bool {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"navigator".into())
        .and_then(|nav| js_sys::Reflect::get(&nav, &"gpu".into()))
        .is_ok_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

/// Natively there is no browser WebGPU; native callers use the CPU device.
#[cfg(not(target_family = "wasm"))]
pub async fn webgpu() -> Result<Device, String> {
    Err("WebGPU is only available in the browser build".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_parse_and_auto_falls_back_to_cpu_natively() {
        assert_eq!("WebGPU".parse::<Preference>().unwrap(), Preference::WebGpu);
        assert_eq!("cpu".parse::<Preference>().unwrap(), Preference::Cpu);
        assert_eq!("auto".parse::<Preference>().unwrap(), Preference::Auto);
        assert!("cuda".parse::<Preference>().unwrap_err().contains("cuda"));

        let auto = futures_lite::future::block_on(acquire(Preference::Auto)).unwrap();
        assert_eq!(auto.backend, Backend::Cpu);
        assert!(auto.fallback_reason.is_some());
        assert!(futures_lite::future::block_on(acquire(Preference::WebGpu)).is_err());
        let cpu = futures_lite::future::block_on(acquire(Preference::Cpu)).unwrap();
        assert_eq!((cpu.backend, cpu.fallback_reason), (Backend::Cpu, None));
        assert_eq!(
            serde_json::to_string(&Backend::WebGpu).unwrap(),
            "\"webgpu\""
        );
    }
}
