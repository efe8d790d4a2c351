#!/usr/bin/env bash
# Install the reference implementation `llm-dna` 1.0.1 into its own venv (.bench-venv), idempotently.
# Heavy shared dependencies (torch, transformers, sentence-transformers, ...) are NOT reinstalled: a .pth
# file appends our .venv's site-packages to the bench venv's path, so pip sees them as installed and only
# llm-dna and its remaining dependencies land in .bench-venv. Our .venv is read, never written.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BENCH="$ROOT/.bench-venv"
OURS="$ROOT/.venv"
PY="$OURS/bin/python"
if [ -x "$BENCH/bin/python" ] && "$BENCH/bin/python" -c "import importlib.metadata as m; assert m.version('llm-dna') == '1.0.1'" 2>/dev/null; then
  echo "reference ready: $BENCH (llm-dna 1.0.1)"
  exit 0
fi
BASE=$("$PY" -c "import sys; print(sys.base_prefix)")/bin/python3
"$BASE" -m venv "$BENCH"
OURS_SITE=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
BENCH_SITE=$("$BENCH/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$OURS_SITE" > "$BENCH_SITE/zz-dnakb-shared.pth"   # appended after the bench venv's own packages
"$BENCH/bin/python" -m pip install -q "llm-dna==1.0.1"
"$BENCH/bin/python" -c "import importlib.metadata as m; print('reference ready:', '$BENCH', 'llm-dna', m.version('llm-dna'))"
