#!/usr/bin/env bash
# What tests/test_report_page.py (the slow tier) opens report pages with: Debian's Chromium and
# Playwright's Python client, which drives it (no browser download: it runs /usr/bin/chromium).
# README's full check runs this first; as root it installs Chromium with apt, else with sudo.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
pip install -q "playwright>=1.49"
