#!/usr/bin/env bash
# Installs the Debian packages auditor needs: WeasyPrint's libraries (pango, harfbuzz-subset) and
# fonts for the demo; with --test also Chromium (the HTML report is tested in a real browser).
# Does nothing for packages already present; uses sudo when not root.
set -euo pipefail

packages=(python3-venv libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core shared-mime-info)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(chromium)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "auditor: please install these system packages (or their equivalents): ${missing[*]}" >&2
  exit 1
fi
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
echo "auditor: installing system packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
