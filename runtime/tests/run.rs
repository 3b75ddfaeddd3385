//! Per-request execution: output streaming, CGI header handling, exits, traps and limits.

mod common;

use std::time::{Duration, Instant};

use common::{echo, module, printer, run, runtime};
use wasm_runtime::{HeadersAnswer, Limits, MemoryIo, Request, RunStatus};

#[test]
fn prints_to_the_body() {
    let rt = runtime();
    let (outcome, io) = run(&rt, &printer(b"hello\n"), false, Limits::default(), b"");
    assert_eq!(outcome.status, RunStatus::Ok);
    assert_eq!(io.output(), b"hello\n");
    assert_eq!(outcome.body_bytes, 6);
    assert!(outcome.output_started);
}

#[test]
fn stdin_is_the_request_body_and_output_streams_in_chunks() {
    let rt = runtime();
    let body: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let (outcome, io) = run(&rt, &echo(b""), false, Limits::default(), &body);
    assert_eq!(outcome.status, RunStatus::Ok);
    assert_eq!(io.output(), body);
    assert!(
        io.chunks.len() > 10,
        "output was streamed, not buffered whole"
    );
    assert!(
        io.chunks
            .iter()
            .all(|c| c.len() <= 2 * wasm_runtime::streams::BODY_CHUNK)
    );
}

#[test]
fn cgi_headers_are_split_from_the_body() {
    let rt = runtime();
    let wasm = printer(b"Status: 201 Created\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nbody");
    let (outcome, io) = run(&rt, &wasm, true, Limits::default(), b"");
    assert_eq!(outcome.status, RunStatus::Ok);
    assert_eq!(
        io.headers.as_deref(),
        Some(&b"Status: 201 Created\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n"[..])
    );
    assert_eq!(io.output(), b"body");
}

#[test]
fn header_injection_is_refused_before_anything_is_sent() {
    let rt = runtime();
    let wasm = printer(b"X-A: a\rSet-Cookie: injected\n\nbody");
    let (outcome, io) = run(&rt, &wasm, true, Limits::default(), b"");
    assert!(
        matches!(outcome.status, RunStatus::BadHeaders(_)),
        "{outcome:?}"
    );
    assert!(io.headers.is_none());
    assert!(io.output().is_empty());
    assert!(!outcome.output_started);
}

#[test]
fn unterminated_cgi_headers_are_an_error() {
    let rt = runtime();
    let (outcome, io) = run(
        &rt,
        &printer(b"Content-Type: text/plain\n"),
        true,
        Limits::default(),
        b"",
    );
    assert!(
        matches!(outcome.status, RunStatus::BadHeaders(_)),
        "{outcome:?}"
    );
    assert!(io.headers.is_none());
}

#[test]
fn discarded_body_is_not_delivered() {
    let rt = runtime();
    let dir = common::tempdir();
    let path = dir.join("m.wasm");
    std::fs::write(&path, printer(b"Location: /elsewhere\n\nignored body")).unwrap();
    let module = rt.load_module(&path).unwrap();
    let mut io = MemoryIo {
        headers_answer: Some(HeadersAnswer::DiscardBody),
        ..Default::default()
    };
    let req = common::request(&module, true);
    let outcome = rt.run(&req, &mut io);
    assert_eq!(outcome.status, RunStatus::Ok);
    assert!(io.headers.is_some());
    assert!(io.output().is_empty());
}

#[test]
fn exit_codes() {
    let rt = runtime();
    let (ok, _) = run(
        &rt,
        &module(b"", "(call $proc_exit (i32.const 0))"),
        false,
        Limits::default(),
        b"",
    );
    assert_eq!(ok.status, RunStatus::Ok);
    let (fail, io) = run(
        &rt,
        &module(b"", "(call $proc_exit (i32.const 3))"),
        false,
        Limits::default(),
        b"",
    );
    assert_eq!(fail.status, RunStatus::ExitFailure(3));
    assert!(!fail.output_started);
    assert!(io.output().is_empty());
    // Output written before a failing exit is the program's response: delivered whole, as
    // mod_cgi delivers a CGI program's output whatever its exit status.
    let wasm = module(
        b"page",
        "(call $write (i32.const 4096) (i32.const 4)) (call $proc_exit (i32.const 2))",
    );
    let (late, io) = run(&rt, &wasm, false, Limits::default(), b"");
    assert_eq!(late.status, RunStatus::ExitAfterResponse(2));
    assert_eq!(io.output(), b"page");
    assert!(late.output_started);
    // A status of 126 or more (PHP exits 255 after a fatal error) is an exit, not a trap.
    let (high, _) = run(
        &rt,
        &module(b"", "(call $proc_exit (i32.const 255))"),
        false,
        Limits::default(),
        b"",
    );
    assert_eq!(high.status, RunStatus::ExitFailure(255));
    // With CGI, a program that never completed its headers has no response to deliver.
    let wasm = module(
        b"Status: 200",
        "(call $write (i32.const 4096) (i32.const 11)) (call $proc_exit (i32.const 255))",
    );
    let (partial, io) = run(&rt, &wasm, true, Limits::default(), b"");
    assert_eq!(partial.status, RunStatus::ExitFailure(255));
    assert!(io.output().is_empty() && io.headers.is_none());
}

#[test]
fn traps_are_reported_and_buffered_output_dropped() {
    let rt = runtime();
    let wasm = module(
        b"partial",
        "(call $write (i32.const 4096) (i32.const 7)) unreachable",
    );
    let (outcome, io) = run(&rt, &wasm, false, Limits::default(), b"");
    match &outcome.status {
        RunStatus::Trap(what) => assert!(what.contains("unreachable"), "{what}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(io.output().is_empty(), "a clean 500 is still possible");
    let (oob, _) = run(
        &rt,
        &module(b"", "(drop (i32.load (i32.const 0x7ffffff0)))"),
        false,
        Limits::default(),
        b"",
    );
    assert!(
        matches!(oob.status, RunStatus::Trap(ref w) if w.contains("out of bounds")),
        "{oob:?}"
    );
    let (div, _) = run(
        &rt,
        &module(b"", "(drop (i32.div_s (i32.const 1) (i32.const 0)))"),
        false,
        Limits::default(),
        b"",
    );
    assert!(
        matches!(div.status, RunStatus::Trap(ref w) if w.contains("divide by zero")),
        "{div:?}"
    );
}

#[test]
fn stack_overflow_is_a_trap() {
    let rt = runtime();
    let wat = r#"(module (memory (export "memory") 1)
        (func $f (param i32) (result i32) (call $f (i32.add (local.get 0) (i32.const 1))))
        (func (export "_start") (drop (call $f (i32.const 0)))))"#;
    let (outcome, _) = run(
        &rt,
        &wat::parse_str(wat).unwrap(),
        false,
        Limits::default(),
        b"",
    );
    assert!(
        matches!(outcome.status, RunStatus::Trap(ref w) if w.contains("stack")),
        "{outcome:?}"
    );
}

#[test]
fn endless_loop_hits_the_time_limit() {
    let rt = runtime();
    let limits = Limits {
        timeout: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let started = Instant::now();
    let (outcome, _) = run(&rt, &module(b"", "(loop (br 0))"), false, limits, b"");
    assert_eq!(
        outcome.status,
        RunStatus::Timeout(Duration::from_millis(200))
    );
    // Not a performance claim: only that the loop was stopped at all.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn memory_growth_fails_inside_the_module_past_the_limit() {
    let rt = runtime();
    // Grow one page at a time until memory.grow fails; then print how many pages we have.
    let body = r#"
        (block $full (loop $grow
            (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
            (br $grow)))
        (i32.store8 (i32.const 100) (i32.add (i32.const 48) (i32.div_u (memory.size) (i32.const 100))))
        (i32.store8 (i32.const 101) (i32.add (i32.const 48) (i32.rem_u (i32.div_u (memory.size) (i32.const 10)) (i32.const 10))))
        (i32.store8 (i32.const 102) (i32.add (i32.const 48) (i32.rem_u (memory.size) (i32.const 10))))
        (call $write (i32.const 100) (i32.const 3))"#;
    let limits = Limits {
        memory: Some(4 << 20),
        ..Default::default()
    };
    let (outcome, io) = run(&rt, &module(b"", body), false, limits, b"");
    assert_eq!(outcome.status, RunStatus::Ok);
    assert_eq!(
        io.output(),
        b"064",
        "4 MiB = 64 pages, and growth beyond failed softly"
    );
}

#[test]
fn output_flood_stops_at_the_limit() {
    let rt = runtime();
    let wasm = module(
        &[b'x'; 4096],
        "(loop (call $write (i32.const 4096) (i32.const 4096)) (br 0))",
    );
    let limits = Limits {
        output: Some(1 << 20),
        ..Default::default()
    };
    let (outcome, io) = run(&rt, &wasm, false, limits, b"");
    assert_eq!(outcome.status, RunStatus::OutputLimit(1 << 20));
    assert!(io.output().len() <= 1 << 20);
}

#[test]
fn a_client_that_went_away_stops_the_module() {
    let rt = runtime();
    let dir = common::tempdir();
    let path = dir.join("flood.wasm");
    std::fs::write(
        &path,
        module(
            &[b'y'; 4096],
            "(loop (call $write (i32.const 4096) (i32.const 4096)) (br 0))",
        ),
    )
    .unwrap();
    let module = rt.load_module(&path).unwrap();
    let mut io = MemoryIo {
        gone_after: Some(200_000),
        ..Default::default()
    };
    let req = common::request(&module, false);
    let outcome = rt.run(&req, &mut io);
    assert_eq!(outcome.status, RunStatus::ClientGone);
}

#[test]
fn stderr_lines_are_logged_one_by_one() {
    let rt = runtime();
    let wasm = module(
        b"one\ntwo\nthree",
        "(drop (call $write_fd (i32.const 2) (i32.const 4096) (i32.const 13)))",
    );
    let (outcome, io) = run(&rt, &wasm, false, Limits::default(), b"");
    assert_eq!(outcome.status, RunStatus::Ok);
    assert_eq!(io.stderr_lines, vec!["one", "two", "three"]);
}

#[test]
fn missing_entry_point_is_a_setup_failure() {
    let rt = runtime();
    let dir = common::tempdir();
    let path = dir.join("m.wasm");
    std::fs::write(&path, printer(b"x")).unwrap();
    let module = rt.load_module(&path).unwrap();
    let mut io = MemoryIo::default();
    let req = Request {
        entry_point: "nope",
        ..common::request(&module, false)
    };
    let outcome = rt.run(&req, &mut io);
    assert!(matches!(outcome.status, RunStatus::SetupFailed(ref w) if w.contains("nope")));
}

#[test]
fn pending_output_is_pushed_out_before_waiting_for_the_body() {
    // Writes a prefix, then echoes stdin: the prefix must reach the host (and be flushed)
    // before the first read of the body, or a duplex client would deadlock.
    let rt = runtime();
    let (outcome, io) = run(&rt, &echo(b"ready\n"), false, Limits::default(), b"abc");
    assert_eq!(outcome.status, RunStatus::Ok);
    assert_eq!(io.output(), b"ready\nabc");
    assert_eq!(
        io.flushed_at.first(),
        Some(&6),
        "flushed right after the prefix"
    );
}
