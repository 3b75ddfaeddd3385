//! The message of a trapped request: the cause first, then a bounded backtrace.
//!
//! wasmtime's `{e:#}` of a trap starts with the whole Wasm backtrace ("error while executing at
//! wasm backtrace: 0: … 1: …") and ends with the cause; a deep Rust module's backtrace fills
//! the 512-byte outcome message before the cause is reached. Here the cause (the trap code or
//! the root error) comes first, then `; backtrace: ` and at most [`MAX_FRAMES`] frames, all within
//! [`MAX_LEN`] bytes, cut at a char boundary.

use wasmtime::{Trap, WasmBacktrace};

/// Frames named after the cause.
pub const MAX_FRAMES: usize = 8;
/// Bytes of one frame's function name.
const MAX_NAME: usize = 64;
/// Bytes kept free for ` (+N more)`.
const RESERVE: usize = 24;
/// How wasmtime's backtrace context begins.
const BACKTRACE_CONTEXT: &str = "error while executing at wasm backtrace";
/// Bytes of the whole message (the C outcome holds 511).
pub const MAX_LEN: usize = 480;

/// `cause; backtrace: #0 f, #1 g, … (+N more)`, at most [`MAX_LEN`] bytes.
pub fn describe(e: &wasmtime::Error) -> String {
    let cause = match e.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => {
            let root = e.root_cause().to_string();
            // A host error's chain (without the backtrace context) keeps what led to it.
            let chain: Vec<String> = e
                .chain()
                .map(|c| c.to_string())
                .filter(|c| !c.starts_with(BACKTRACE_CONTEXT))
                .collect();
            if chain.is_empty() {
                root
            } else {
                chain.join(": ")
            }
        }
    };
    let mut message = one_line(&cause);
    if let Some(backtrace) = e.downcast_ref::<WasmBacktrace>() {
        let frames = backtrace.frames();
        if !frames.is_empty() {
            message = truncate(message, MAX_LEN - RESERVE);
            message.push_str("; backtrace:");
            let mut shown = 0;
            for (i, frame) in frames.iter().take(MAX_FRAMES).enumerate() {
                let name = match frame.func_name() {
                    Some(name) => truncate(name.to_string(), MAX_NAME),
                    None => format!("func[{}]", frame.func_index()),
                };
                let piece = format!("{} #{i} {name}", if i == 0 { "" } else { "," });
                if message.len() + piece.len() + RESERVE > MAX_LEN {
                    break;
                }
                message.push_str(&piece);
                shown += 1;
            }
            if frames.len() > shown {
                message.push_str(&format!(" (+{} more)", frames.len() - shown));
            }
        }
    }
    truncate(message, MAX_LEN)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `s` cut to at most `max` bytes at a char boundary.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut n = max;
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s.truncate(n);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Config, Engine, Instance, Module, Store};

    /// A module whose `run` recurses `depth` times through distinct frames, then divides by zero.
    fn trap_deep() -> wasmtime::Error {
        let wat = r#"(module
            (func $deep_function_with_a_rather_long_name_to_fill_the_message (param i32) (result i32)
                local.get 0
                i32.eqz
                if (result i32)
                    i32.const 1
                    i32.const 0
                    i32.div_s
                else
                    local.get 0
                    i32.const 1
                    i32.sub
                    call $deep_function_with_a_rather_long_name_to_fill_the_message
                end)
            (func (export "run") (result i32)
                i32.const 200
                call $deep_function_with_a_rather_long_name_to_fill_the_message))"#;
        let engine = Engine::new(&Config::new()).unwrap();
        let module = Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let run = instance
            .get_typed_func::<(), i32>(&mut store, "run")
            .unwrap();
        run.call(&mut store, ()).unwrap_err()
    }

    #[test]
    fn the_cause_comes_first_and_the_backtrace_is_bounded() {
        let e = trap_deep();
        // What the old formatting wrote: the backtrace first, far longer than the outcome.
        assert!(format!("{e:#}").len() > 512);
        let message = describe(&e);
        assert!(
            message.starts_with("wasm trap: integer divide by zero; backtrace: #0 deep_"),
            "{message}"
        );
        assert!(message.ends_with(" more)"), "{message}");
        assert!(message.len() <= MAX_LEN);
    }

    #[test]
    fn a_host_error_keeps_its_chain() {
        let e = wasmtime::Error::msg("root cause").context("while doing X");
        assert_eq!(describe(&e), "while doing X: root cause");
    }

    #[test]
    fn truncation_stays_on_a_char_boundary() {
        let s = "é".repeat(300);
        let t = truncate(s, 101);
        assert_eq!(t.len(), 100);
    }
}
