#!/usr/bin/env bash
# Build the page and run it in headless Chromium (Debian's `chromium`, driven by playwright-core),
# once with `Context::new_async` and once with the page's own device (`Context::from_device_async`),
# printing the page's console and its report. WebGPU then runs on Chromium's SwiftShader Vulkan
# on a machine without a GPU. Exit status 0 only if both runs finish.
# Needs: the wasm32-unknown-unknown target, wasm-bindgen-cli of the version in Cargo.lock,
# chromium, node + npm, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -p wgpu-activations-web --release --target wasm32-unknown-unknown
wasm-bindgen --target web --out-dir examples/web/pkg \
    target/wasm32-unknown-unknown/release/wgpu_activations_web.wasm
[ -d examples/web/node_modules/playwright-core ] || (cd examples/web && npm install --no-audit --no-fund)
port=${PORT:-8765}
python3 -m http.server --bind 127.0.0.1 -d examples/web "$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 1
status=0
for query in "" "?own-device"; do
    echo "== index.html$query"
    node examples/web/run-page.mjs "http://127.0.0.1:$port/index.html$query" "${PAGE_TIMEOUT:-600}" || status=1
done
exit $status
