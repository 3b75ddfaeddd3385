//! The plain-HTTP policy: a registry that is not on loopback is reached over HTTPS unless it is
//! listed as insecure. A real `docker-registry` serving plain HTTP on this machine's
//! non-loopback address is refused (the TLS handshake fails: unreachable, with a hint naming
//! `--insecure`), and works once listed.

mod common;

use common::{Env, Registry, read, wasm_module};
use mod_wasm_oci::{
    Cache, Error, Layout, ModuleRequest, OciClient, RegistryOptions, ResolveOptions, no_progress,
};

/// This machine's address on its default route (not loopback).
fn non_loopback_address() -> String {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("UDP socket");
    // connect() on UDP sends nothing: it only picks the route and so the local address.
    socket
        .connect("192.0.2.1:9")
        .expect("this test needs a non-loopback network interface with a route (none found)");
    let ip = socket.local_addr().unwrap().ip();
    assert!(
        !ip.is_loopback() && !ip.is_unspecified(),
        "no non-loopback address found: {ip}"
    );
    ip.to_string()
}

#[test]
fn plain_http_only_for_listed_registries_off_loopback() {
    let host = non_loopback_address();
    let registry = Registry::start_on(&host);
    assert!(!mod_wasm_oci::is_loopback(&registry.addr));
    let env = Env::new();
    let reference = registry.reference("wasm/insecure:v1");
    let wasm = wasm_module("insecure");

    let err = env
        .client()
        .push_bytes(wasm.clone(), &reference, Layout::Cncf)
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert!(
        err.hint().unwrap().contains("--insecure"),
        "{:?}",
        err.hint()
    );

    let insecure = OciClient::new(
        Cache::new(env.cache_root()),
        RegistryOptions {
            insecure: vec![registry.addr.clone()],
            docker_config: Some(env.docker_config()),
        },
    )
    .unwrap();
    insecure
        .push_bytes(wasm.clone(), &reference, Layout::Cncf)
        .unwrap();
    let req = ModuleRequest {
        name: "i".into(),
        reference,
    };
    let res = insecure
        .resolve(&[req], None, &ResolveOptions::default(), &no_progress)
        .unwrap();
    assert_eq!(read(&res.modules[0].path), wasm);
}
