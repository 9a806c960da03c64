#!/bin/sh
# Make Debian's chromium available for the dashboard test; print its path on success.
# Installs it with apt-get when missing (needs root, or passwordless sudo, and the Debian
# archive). Exit status 0 with the path on stdout, non-zero with the reason on stderr.
set -u
for c in /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -x "$c" ]; then
        echo "$c"
        exit 0
    fi
done
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "chromium is not installed and this user cannot install packages (not root, no sudo)" >&2
    exit 3
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is not installed and apt-get is not available" >&2
    exit 3
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2 || { echo "apt-get update failed" >&2; exit 4; }
$SUDO apt-get install -y -q --no-install-recommends chromium >&2 || { echo "apt-get install chromium failed" >&2; exit 4; }
if [ -x /usr/bin/chromium ]; then
    echo /usr/bin/chromium
    exit 0
fi
echo "apt-get reported success but /usr/bin/chromium is missing" >&2
exit 4
