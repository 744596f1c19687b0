#!/usr/bin/env bash
# Build, on a machine with Rust, everything scripts/gpu-check.sh runs, for a GPU machine without a
# toolchain: the release CLI, the release test executables and the benches, stripped, into one folder.
#
#   scripts/gpu-prebuild.sh [DIR]      # default DIR: .devbin; also writes DIR.tar.xz
#   # copy DIR (about 95 MB) or DIR.tar.xz (about 11 MB: each test executable links all of wgpu)
#   # to the GPU machine (same CPU architecture, glibc as new or newer), then there:
#   tar -xJf DIR.tar.xz      # if the archive was copied
#   scripts/gpu-check.sh --prebuilt DIR
#
# The CLI tests call the binary at the path it had when they were built (cli/tests/cli.rs:
# CARGO_BIN_EXE_wgpu-activations); that path is recorded in DIR/cli-path, and gpu-check.sh puts
# the binary there when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.devbin}"
rm -rf "$dir" && mkdir -p "$dir/tests"
cargo build --locked --release --bin wgpu-activations
cargo test --locked --release --no-run --message-format=json 2>/dev/null \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["target"]["name"], m["executable"])' \
    | while read -r name exe; do
        cp "$exe" "$dir/tests/$name"
    done
# The criterion benches too (each has a quick mode; see benches/common).
mkdir -p "$dir/benches"
cargo bench --locked --no-run --message-format=json 2>/dev/null \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])' \
    | while read -r name exe; do
        cp "$exe" "$dir/benches/$name"
    done
cp target/release/wgpu-activations "$dir/"
strip "$dir/wgpu-activations" "$dir"/tests/* "$dir"/benches/*
echo "$(pwd)/target/release/wgpu-activations" > "$dir/cli-path"
git rev-parse HEAD > "$dir/commit"
tar -cJf "$dir.tar.xz" -C "$(dirname "$dir")" "$(basename "$dir")"
du -sh "$dir" "$dir.tar.xz"; ls "$dir/tests"
