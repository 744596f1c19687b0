#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU (and no network): build in release, run the test
# suite, run `wgpu-activations bench --full --json`, and print the summary table. Meant to finish
# in under 8 minutes on a 16-core host with an H100.
#
#   scripts/gpu-check.sh            # the full sweep (bench --full)
#   scripts/gpu-check.sh --quick    # the default quick sweep instead (a smoke run of the script)
#   scripts/gpu-check.sh -- ARGS    # extra arguments for bench (e.g. -- --ops relu,gelu)
#   scripts/gpu-check.sh --prebuilt DIR   # no toolchain there: run what scripts/gpu-prebuild.sh
#                                         # built into DIR instead of building
#
# Environment:
#   GPU_CHECK_OUT      where bench.json, bench.svg, bench.txt and the logs go
#                      (default: $OUT when set, else target/gpu-check)
#   WGPU_ADAPTER_NAME  the adapter to use; defaults to "nvidia" when nvidia-smi sees a GPU, so a
#                      missing NVIDIA Vulkan driver fails loudly instead of timing lavapipe
#   CARGO_VENDOR_DIR   a `cargo vendor` folder to build from offline (default: ./vendor if present)
#   SKIP_TESTS=1       skip the test suite
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
prebuilt=
bench_extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --prebuilt) shift; prebuilt="$(cd "${1:?--prebuilt needs a folder}" && pwd)" ;;
        --) shift; bench_extra=("$@"); break ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

out_dir="${GPU_CHECK_OUT:-${OUT:-target/gpu-check}}"
mkdir -p "$out_dir"
start=$(date +%s)
stage() { echo; echo "== $1 ($(( $(date +%s) - start )) s elapsed)"; }

# The Vulkan loader complains without it; nothing here needs a display.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

stage "machine"
echo "host: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'), $(nproc) threads"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    export WGPU_ADAPTER_NAME="${WGPU_ADAPTER_NAME:-nvidia}"
    # Container images often put the NVIDIA ICD outside the loader's search path.
    if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] \
        && ! ls /usr/share/vulkan/icd.d/nvidia*.json /etc/vulkan/icd.d/nvidia*.json >/dev/null 2>&1; then
        for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json; do
            if [ -f "$f" ]; then
                export VK_DRIVER_FILES="$f"
                echo "using the NVIDIA Vulkan driver at $f"
                break
            fi
        done
    fi
else
    echo "warning: no NVIDIA GPU visible (nvidia-smi); running on whatever adapter wgpu finds"
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    echo "warning: no libvulkan.so.1 in the linker cache: install the Vulkan loader (libvulkan1)"
fi

if [ -n "$prebuilt" ]; then
    stage "prebuilt binaries from $prebuilt (commit $(cat "$prebuilt/commit" 2>/dev/null || echo '?'))"
    bin="$prebuilt/wgpu-activations"
    cli_path="$(cat "$prebuilt/cli-path")"
    if [ ! -x "$cli_path" ]; then
        mkdir -p "$(dirname "$cli_path")" && cp "$bin" "$cli_path"
    fi
else
    # Offline builds: a vendored source tree if there is one, else cargo's cache.
    cargo_args=()
    vendor="${CARGO_VENDOR_DIR:-vendor}"
    if [ -d "$vendor" ]; then
        vendor="$(cd "$vendor" && pwd)"
        cargo_args=(--offline --config "source.crates-io.replace-with='vendored'" \
            --config "source.vendored.directory='$vendor'")
        echo "building from the vendored crates in $vendor"
    elif ! timeout 60 cargo fetch --locked >/dev/null 2>&1; then
        cargo_args=(--offline)
        echo "no network: building offline from cargo's cache"
    fi
    stage "build (release)"
    cargo build "${cargo_args[@]}" --locked --release --bin wgpu-activations
    bin=target/release/wgpu-activations
fi
"$bin" info | tee "$out_dir/info.txt"

run_tests() {
    if [ -n "$prebuilt" ]; then
        local rc=0 t
        for t in "$prebuilt"/tests/*; do
            echo "running $(basename "$t")"
            "$t" || rc=1
        done
        return $rc
    fi
    cargo test "${cargo_args[@]}" --locked --release
}

if [ "${SKIP_TESTS:-0}" != 1 ]; then
    stage "tests (release profile)"
    set +e
    run_tests 2>&1 | tee "$out_dir/tests.log" \
        | grep --line-buffered -E '^(running [a-z_]+$|test result|error|failures:|---- )|FAILED|panicked|SKIPPED'
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" != 0 ]; then
        echo "error: the test suite failed (log: $out_dir/tests.log)" >&2
        exit 1
    fi
fi

# Three trials per point: the full sweep's 2^26 points are dominated by end-to-end transfers
# (about a second a call over a VM's PCIe), and five trials ran past the 8-minute budget on an H100.
sweep=(--full --trials 3)
[ "$quick" = 1 ] && sweep=()
stage "bench ${sweep[*]:-(quick sweep)}"
"$bin" bench "${sweep[@]}" --json "$out_dir/bench.json" --plot "$out_dir/bench.svg" \
    "${bench_extra[@]}" > "$out_dir/bench.txt"

# f16 against f32 at 2^24 (the f16 target: at least 85% of f32's bytes per second), forward.
stage "bench f16 vs f32"
"$bin" bench --ops relu,gelu,sigmoid,softmax --sizes 2^24 --modes forward --dtypes f32,f16 \
    --trials 3 --json "$out_dir/bench-f16.json" > "$out_dir/bench-f16.txt"
sed -n '/^Summary/,$p' "$out_dir/bench-f16.txt"

stage "summary"
# The header (adapter, host, timing method) and the summary table; the full table is in bench.txt.
sed -n '1,/^$/p' "$out_dir/bench.txt"
sed -n '/^Summary/,$p' "$out_dir/bench.txt"
total=$(( $(date +%s) - start ))
echo
echo "gpu-check done in ${total} s; outputs in $out_dir: bench.txt, bench.json, bench.svg, bench-f16.txt, bench-f16.json, info.txt"
if [ "$total" -gt 480 ]; then
    echo "warning: over the 8-minute budget (${total} s)"
fi
