#!/bin/sh
# Makes node_modules/ match package-lock.json (playwright-core only) with
# "npm ci", when it does not already. Never downloads a browser: the
# browser is Debian's chromium (util/install-deps.sh browser).

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

for c in node npm; do
    command -v "$c" >/dev/null 2>&1 || {
        echo "node-deps.sh: no $c on PATH: util/install-deps.sh browser" >&2
        exit 1
    }
done

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
    echo "node-deps.sh: node $(node -v) is too old, playwright-core needs 18" \
         "or later" >&2
    exit 1
fi

# the version the lock wants, and the one installed (if any)
want=$(node -p 'require("./package-lock.json").packages["node_modules/playwright-core"].version')
have=$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch (e) { "" }')

if [ "$want" != "$have" ]; then
    echo "node-deps.sh: npm ci (playwright-core $want, no browser download)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
        --loglevel=error
fi
