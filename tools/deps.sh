#!/usr/bin/env bash
# Installs the Debian packages faultscope needs, only those that are missing.
# Sourced by tools/main.sh and tools/test.sh.
set -euo pipefail

FAULTSCOPE_PACKAGES=(g++ cmake ninja-build libboost1.81-dev libfmt-dev libsqlite3-dev
                     libgtest-dev libgmock-dev libbenchmark-dev libfiu-dev
                     clang-15)  # clang 15: the first with std::source_location; brings libFuzzer

faultscope_install_deps() {
  local missing=()
  for p in "${FAULTSCOPE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "faultscope: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
