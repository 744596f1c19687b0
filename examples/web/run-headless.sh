#!/usr/bin/env bash
# Build the page and run it in headless Chromium (Debian's `chromium`), printing the report the
# page shows. WebGPU then runs on Chromium's SwiftShader Vulkan (on a machine without a GPU).
# Needs: the wasm32-unknown-unknown target, wasm-bindgen-cli of the version in Cargo.lock,
# chromium, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -p wgpu-activations-web --release --target wasm32-unknown-unknown
wasm-bindgen --target web --out-dir examples/web/pkg \
    target/wasm32-unknown-unknown/release/wgpu_activations_web.wasm
port=${PORT:-8765}
# serve.py serves the page and exits with the report the page posts back when it finishes.
timeout ${PAGE_TIMEOUT:-900} python3 examples/web/serve.py "$port" > examples/web/pkg/report.txt &
server=$!
sleep 1
# --use-vulkan=native with --enable-unsafe-webgpu gives Dawn a Vulkan adapter (SwiftShader's, shipped
# with Debian's chromium).
timeout ${PAGE_TIMEOUT:-900} chromium --headless=new --no-sandbox --disable-gpu-sandbox \
    --enable-unsafe-webgpu --enable-features=Vulkan --use-vulkan=native --use-angle=vulkan \
    --ignore-gpu-blocklist "http://127.0.0.1:$port/index.html" >/dev/null 2>&1 &
browser=$!
status=0
wait $server || status=$?
kill $browser 2>/dev/null || true
cat examples/web/pkg/report.txt
exit $status
