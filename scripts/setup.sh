#!/usr/bin/env bash
# Installs what Mekong's build, demo and tests need on a fresh Debian machine:
# system packages through apt, and the independent readers the tests use
# (pyarrow, DuckDB, the jsonschema validator) from PyPI into the project's
# .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# libhyperscan-dev and libpcre2-dev: the rule engine's prefilter and pcre (mekong-signatures).
# chromium and fonts-dejavu-core: the analyzer's report is checked in a real headless browser, in the font its style names.
# tcpreplay, iproute2 and procps (sysctl): the live sensor's tests on a veth pair; systemd: its unit is verified.
packages=(tshark tcpdump libpcap-dev libhyperscan-dev libpcre2-dev build-essential tcpreplay iproute2 procps systemd pkg-config openssl python3 python3-venv chromium fonts-dejavu-core)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A Python that is not Debian's (pyenv) already has venv: do not require the packages for it.
if command -v python3 >/dev/null && python3 -c "import venv, ensurepip" 2>/dev/null; then
  missing=("${missing[@]/python3-venv/}")
  missing=("${missing[@]/python3/}")
fi
wanted=()
for p in "${missing[@]}"; do [ -n "$p" ] && wanted+=("$p"); done

if [ "${#wanted[@]}" -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${wanted[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "setup: installing ${wanted[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${wanted[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: cargo (Rust toolchain) is required" >&2; exit 1; }

# The tests use this interpreter (.venv/bin/python3), never the python3 on PATH.
# pyspark: the analyzer's results are checked against Spark's on the same tree (local mode, Java 17).
if ! .venv/bin/python3 -c "import pyarrow, duckdb, jsonschema, pyspark" 2>/dev/null; then
  echo "setup: installing pyarrow, duckdb, jsonschema and pyspark into .venv" >&2
  [ -x .venv/bin/python3 ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "pyarrow>=15" "duckdb>=1.0" "jsonschema>=4.18" "pyspark>=3.5"
fi
# Spark runs on Java 17 (Debian's openjdk-17-jre-headless when no java is there).
if ! command -v java >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
