//! A millisecond clock for stage timings. Core has none (`std::time::Instant` panics
//! on wasm32), so the glue times stages itself.

/// Milliseconds since an arbitrary origin, sub-millisecond where the platform allows:
/// `performance.now()` in browsers (windows and workers alike), else `Date.now()`.
#[cfg(target_family = "wasm")]
pub fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    let global = js_sys::global();
    let performance = js_sys::Reflect::get(&global, &"performance".into()).ok();
    if let Some(perf) = performance.filter(|p| !p.is_undefined() && !p.is_null()) {
        let now = js_sys::Reflect::get(&perf, &"now".into()).ok();
        let time = now
            .as_ref()
            .and_then(|n| n.dyn_ref::<js_sys::Function>())
            .and_then(|f| f.call0(&perf).ok())
            .and_then(|v| v.as_f64());
        if let Some(t) = time {
            return t;
        }
    }
    js_sys::Date::now()
}

/// Milliseconds since the first call.
#[cfg(not(target_family = "wasm"))]
pub fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_measures_elapsed_milliseconds() {
        let a = super::now_ms();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = super::now_ms();
        // A sleep lasts at least its duration; a clock in other units, or a stopped one, fails.
        assert!(b - a >= 20.0 && b - a < 20_000.0, "{a} -> {b}");
    }
}
