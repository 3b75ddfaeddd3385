# An image with Apache httpd, the server pair (mod_wasm.so + libwasm_runtime.so) and the CLI, installed
# from the very Debian packages `make deb` builds (the files tests/e2e/test_packages.py installs on the
# system Apache), serving the demo:
#
#   scripts/install-deps.sh && make all python deb    # build/deb/*.deb, build/wasm/, build/python/
#   docker build -t mod-wasm .
#   docker run --rm -p 8080:8080 mod-wasm             # the demo on http://127.0.0.1:8080/
#
# No container engine runs on this project's CI machines, so CI does not build this file; a test
# checks that everything it copies exists after `make deb` and that the packaged paths it uses are in
# the packages.

FROM debian:bookworm-slim
COPY build/deb/libapache2-mod-wasm_*.deb build/deb/mod-wasm_*.deb /tmp/debs/
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends apache2 /tmp/debs/*.deb \
    && rm -rf /var/lib/apt/lists/* /tmp/debs

# The demo, laid out as in the repository (its manifest names ../../build/... and ../python/app).
WORKDIR /srv/mod-wasm
COPY samples/demo/ samples/demo/
COPY samples/python/app/ samples/python/app/
COPY build/wasm/hello.wasm build/wasm/cgi_echo.wasm build/wasm/
COPY build/python/python-3.11.3.wasm build/python/
COPY build/python/python-3.11.3-stdlib/ build/python/python-3.11.3-stdlib/
# What `make up` does, with the packaged template: the demo's additions appended to httpd.conf.j2.
# Building here fills the CLI's compiled-code cache, so `up` starts without compiling.
RUN mkdir -p build/demo/templates \
    && { cat /usr/share/mod-wasm/templates/httpd.conf.j2; \
         sed 's|@DEMO@|/srv/mod-wasm/samples/demo|g' samples/demo/demo.conf.in; } \
       > build/demo/templates/httpd.conf.j2 \
    && mod-wasm build samples/demo/app.kdl --templates build/demo/templates --out build/demo/bundle

EXPOSE 8080
CMD ["mod-wasm", "up", "samples/demo/app.kdl", "--templates", "build/demo/templates", \
     "--out", "build/demo/bundle", "--listen", "0.0.0.0:8080"]
