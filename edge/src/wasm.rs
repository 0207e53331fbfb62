//! The WebAssembly ABI used by the Lambda@Edge Node.js handler (`edge/node/index.js`).
//!
//! Plain `extern "C"` functions over linear memory, JSON in and out, no bindings generator:
//! - `edge_alloc(len) -> ptr` / `edge_free(ptr, len)`: buffers the host fills or reads.
//! - `edge_init(ptr, len) -> u64`: the configuration JSON; answers
//!   `{"ok":{"warnings":[...],"rollout":{"source":…,"ttl_seconds":…,…}|null}}` or
//!   `{"error":"..."}` (never quoting a secret or the value behind a type error; non-secret
//!   entries such as an origin or a header name may be named). Must succeed once before
//!   `edge_handle`.
//! - `edge_handle(ptr, len, now_ms, r0, r1, r2, r3) -> u64`: one CloudFront event (JSON), the
//!   time (Unix ms, as f64) and 16 random bytes (four u32); answers `{"ok": <request or
//!   response>, "log": [<decision log line>...]}` or `{"error":"..."}`. The host prints each log
//!   line as a JSON line (the native binary logs the same decisions).
//! - `edge_rollout(ptr, len, now_ms) -> u64`: the rollout state document just read from
//!   `canary.rollout.source`; answers `{"ok":{"weight_percent":…,"kill":…}}` or `{"error":…}`
//!   (the previous state is kept).
//!
//! A result is a buffer the host must `edge_free`; the u64 packs `ptr << 32 | len`.

use std::sync::OnceLock;

use crate::{Context, Edge};

static EDGE: OnceLock<Edge> = OnceLock::new();

#[no_mangle]
pub extern "C" fn edge_alloc(len: usize) -> *mut u8 {
    Box::into_raw(vec![0u8; len].into_boxed_slice()) as *mut u8
}

/// # Safety
/// `ptr`/`len` must come from `edge_alloc(len)` or a result, and be freed once.
#[no_mangle]
pub unsafe extern "C" fn edge_free(ptr: *mut u8, len: usize) {
    if !ptr.is_null() {
        // SAFETY: the caller passes back a pointer and length this module handed out.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }
}

fn give(bytes: Vec<u8>) -> u64 {
    let len = bytes.len();
    let ptr = Box::into_raw(bytes.into_boxed_slice()) as *mut u8;
    ((ptr as usize as u64) << 32) | len as u64
}

fn error(msg: &str) -> u64 {
    give(serde_json::to_vec(&serde_json::json!({ "error": msg })).unwrap_or_default())
}

/// # Safety
/// `ptr`/`len` must describe a live buffer from `edge_alloc`.
#[no_mangle]
pub unsafe extern "C" fn edge_init(ptr: *const u8, len: usize) -> u64 {
    // SAFETY: the host wrote `len` bytes at `ptr`, a buffer from `edge_alloc`.
    let config = unsafe { std::slice::from_raw_parts(ptr, len) };
    if EDGE.get().is_some() {
        return error("edge already initialised");
    }
    match Edge::from_json(config) {
        Ok(edge) => {
            let warnings = edge.warnings().to_vec();
            let rollout = edge.rollout().cloned();
            if EDGE.set(edge).is_err() {
                return error("edge already initialised");
            }
            give(
                serde_json::to_vec(
                    &serde_json::json!({ "ok": { "warnings": warnings, "rollout": rollout } }),
                )
                .unwrap_or_default(),
            )
        }
        Err(e) => error(&e.to_string()),
    }
}

/// # Safety
/// `ptr`/`len` must describe a live buffer from `edge_alloc`.
#[no_mangle]
pub unsafe extern "C" fn edge_handle(
    ptr: *const u8,
    len: usize,
    now_ms: f64,
    r0: u32,
    r1: u32,
    r2: u32,
    r3: u32,
) -> u64 {
    let Some(edge) = EDGE.get() else {
        return error("edge not initialised");
    };
    // SAFETY: the host wrote `len` bytes at `ptr`, a buffer from `edge_alloc`.
    let event = unsafe { std::slice::from_raw_parts(ptr, len) };
    let mut random = [0u8; 16];
    for (chunk, word) in random.chunks_exact_mut(4).zip([r0, r1, r2, r3]) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    let now_ms = if now_ms.is_finite() && now_ms > 0.0 {
        now_ms as u64
    } else {
        0
    };
    let event: crate::event::Event = match serde_json::from_slice(event) {
        Ok(e) => e,
        Err(e) => {
            return error(
                &crate::EdgeError::InvalidEvent(crate::config::redacted_json_error(&e, ""))
                    .to_string(),
            )
        }
    };
    match edge.handle_detailed(event, &Context { now_ms, random }) {
        Ok(h) => give(
            serde_json::to_vec(&serde_json::json!({ "ok": h.output, "log": h.log_lines() }))
                .unwrap_or_default(),
        ),
        Err(e) => error(&e.to_string()),
    }
}

/// # Safety
/// `ptr`/`len` must describe a live buffer from `edge_alloc`.
#[no_mangle]
pub unsafe extern "C" fn edge_rollout(ptr: *const u8, len: usize, now_ms: f64) -> u64 {
    let Some(edge) = EDGE.get() else {
        return error("edge not initialised");
    };
    // SAFETY: the host wrote `len` bytes at `ptr`, a buffer from `edge_alloc`.
    let doc = unsafe { std::slice::from_raw_parts(ptr, len) };
    let now_ms = if now_ms.is_finite() && now_ms > 0.0 {
        now_ms as u64
    } else {
        0
    };
    match edge.load_rollout(doc, now_ms) {
        Ok(s) => give(
            serde_json::to_vec(&serde_json::json!({ "ok": {
                "weight_percent": s.weight_percent, "kill": s.kill,
                "effective_weight": s.effective_weight() } }))
            .unwrap_or_default(),
        ),
        Err(e) => error(&e.to_string()),
    }
}
