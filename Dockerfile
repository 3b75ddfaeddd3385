# An image with Apache httpd, the server pair (mod_wasm.so + libwasm_runtime.so) and the CLI.
#
#   docker build -t mod-wasm .
#   docker run --rm -p 8080:8080 mod-wasm            # serves the hello sample
#
# Built in two stages: a Rust toolchain builds the release artefacts, then a slim Debian image
# gets Apache and the artefacts only. (No Docker engine runs on this project's CI machines, so
# this file is not built by CI: the same steps run there through `make`.)

FROM rust:1.95-bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        apache2-dev clang lld wasi-libc libclang-rt-14-dev-wasm32 wabt \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The rpath baked into mod_wasm.so points at the runtime's final location in the image.
RUN make PROFILE=release rust wasm \
    && mkdir -p /out/lib /out/modules /out/bin \
    && cp target/release/libwasm_runtime.so /out/lib/ \
    && cp target/release/mod-wasm /out/bin/ \
    && mkdir -p build/apxs && cp mod_wasm/mod_wasm.c build/apxs/ \
    && cd build/apxs && apxs -c -I/src/runtime/include -L/src/target/release -lwasm_runtime \
        -Wl,-Wl,-rpath,/usr/lib/mod-wasm mod_wasm.c >/dev/null \
    && cp .libs/mod_wasm.so /out/modules/

FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        apache2 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/lib/libwasm_runtime.so /usr/lib/mod-wasm/libwasm_runtime.so
COPY --from=build /out/modules/mod_wasm.so /usr/lib/apache2/modules/mod_wasm.so
COPY --from=build /out/bin/mod-wasm /usr/local/bin/mod-wasm
COPY --from=build /src/build/wasm/hello.wasm /srv/mod-wasm/hello/hello.wasm
RUN printf 'app "hello"\nserver listen="0.0.0.0:8080"\nmodule "hello" source="hello.wasm"\nroute "/hello" module="hello"\n' \
        > /srv/mod-wasm/hello/app.kdl
EXPOSE 8080
WORKDIR /srv/mod-wasm/hello
CMD ["mod-wasm", "up", "app.kdl"]
