#!/usr/bin/env bash
# Regenerate the README's accuracy table from a real run of `wgpu-activations accuracy` on this
# machine's adapter. Usage: scripts/update-readme.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
cargo build --release --bin wgpu-activations >/dev/null
table=$(./target/release/wgpu-activations accuracy)
python3 - "$table" <<'PY'
import re, sys
table = sys.argv[1]
text = open("README.md").read()
new = "<!-- accuracy:begin (scripts/update-readme.sh) -->\n" + table.strip() + "\n<!-- accuracy:end -->"
text, n = re.subn(r"<!-- accuracy:begin.*?<!-- accuracy:end -->", lambda _: new, text, flags=re.S)
if n != 1:
    sys.exit("README.md has no accuracy markers")
open("README.md", "w").write(text)
PY
echo "README.md accuracy table updated"
