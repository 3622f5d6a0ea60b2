#!/usr/bin/env bash
# Test set-up for tests/app/test_e2e_browser.py: Debian's chromium (Playwright drives it with
# executable_path=/usr/bin/chromium; `playwright install` needs a download we cannot rely on)
# and Debian's postgresql (server binaries only; the test starts its own throwaway server).
# Installs only what is missing, and only where apt-get is usable (root, or sudo without a
# password); otherwise it does nothing and those tests skip with their stated reason.
set -u

packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || packages+=(postgresql)
[ ${#packages[@]} -eq 0 ] && exit 0
command -v apt-get > /dev/null || exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
    as_root=(sudo -n)
else
    exit 0
fi

echo "tests/setup_browser.sh: installing ${packages[*]} with apt-get (once)"
# DECISION: a failed install must not stop `make test`: the browser tests then skip with the
# reason, and the rest of the suite still runs.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq > /dev/null 2>&1 || true
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    "${packages[@]}" > /dev/null 2>&1 || echo "tests/setup_browser.sh: apt-get install failed; browser tests will skip"
exit 0
