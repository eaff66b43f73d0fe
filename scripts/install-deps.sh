#!/usr/bin/env bash
# Installs the system packages Tessera needs on Debian/Ubuntu: the Vulkan
# loader and headers, Mesa's Vulkan drivers (including the Lavapipe CPU
# driver), the validation layers, the glslc shader compiler, Xvfb, and the
# X11 headers GLFW builds against (the viewer window).
#
# Idempotent: only packages that are not yet installed are installed, and
# `apt-get update` runs only when something has to be installed. Uses sudo
# when not running as root. Set TESSERA_SKIP_DEPS=1 to skip the package
# step (for example on a non-Debian system with the dependencies in place).
set -euo pipefail

PACKAGES=(libvulkan1 libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers glslc xvfb
	libx11-dev libxrandr-dev libxinerama-dev libxcursor-dev libxi-dev libxxf86vm-dev libgl1-mesa-dev x11-apps)
MIN_GO_MINOR=26 # Go 1.26

log() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

# --- Go -----------------------------------------------------------------------
if ! command -v go >/dev/null 2>&1; then
	die "'go' not found on PATH; install Go >= 1.26 (https://go.dev/dl/) and try again"
fi
go_version=$(go env GOVERSION 2>/dev/null || true) # e.g. go1.26.8
if [[ $go_version =~ ^go1\.([0-9]+) ]]; then
	if ((BASH_REMATCH[1] < MIN_GO_MINOR)); then
		die "found $go_version; install Go >= 1.26 (https://go.dev/dl/) and try again"
	fi
fi

# --- system packages ---------------------------------------------------------
if [[ ${TESSERA_SKIP_DEPS:-0} == 1 ]]; then
	log "TESSERA_SKIP_DEPS=1: not checking system packages"
	exit 0
fi
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	die "this script supports Debian/Ubuntu (dpkg-query and apt-get); install the equivalents of: ${PACKAGES[*]} (or set TESSERA_SKIP_DEPS=1)"
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	if [[ $status != "install ok installed" ]]; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]} == 0)); then
	log "all system packages present (${PACKAGES[*]})"
	exit 0
fi

if ((EUID == 0)); then
	as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
	as_root() { sudo "$@"; }
else
	die "must install ${missing[*]} but not running as root and sudo is not available; run as root or install them manually"
fi

log "installing: ${missing[*]}"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# Recommends are kept: xvfb-run needs xauth, which xvfb only recommends.
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
log "installed: ${missing[*]}"
