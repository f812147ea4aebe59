#!/usr/bin/env bash
# Chorus: install build/run dependencies. Safe to run any number of times.
#
#   scripts/deps.sh                  apt packages + FerretDB (when no mongod on PATH)
#                                    + schemathesis in var/venv
#   scripts/deps.sh --ferretdb-only  only make sure var/tools/ferretdb exists
#   scripts/deps.sh --apt-only       only the Debian packages
#
# May be run (bash scripts/deps.sh) or sourced; when sourced it does not change
# the caller's current directory or shell options.
#
# Environment:
#   CHORUS_FORCE_FERRETDB=1   provide FerretDB even when mongod is on PATH
#   CHORUS_QUIET=1            print only warnings and errors

# _chorus_deps_main ARGS...: the whole script (a function, so that a caller
# that sources this file keeps its options: it runs in a subshell then).
_chorus_deps_main() {
    set -euo pipefail
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    local root="$CHORUS_ROOT"

    local want_apt=1 want_ferretdb=1 want_venv=1 arg
    for arg in "$@"; do
        case "$arg" in
            --ferretdb-only) want_apt=0; want_venv=0 ;;
            --apt-only) want_ferretdb=0; want_venv=0 ;;
            -h|--help)
                lib_usage "${BASH_SOURCE[0]}"
                return 0 ;;
            *) echo "$LIB_TAG deps.sh: unknown argument: $arg" >&2; return 2 ;;
        esac
    done

    local FERRETDB_VERSION=v1.24.2
    local FERRETDB_MODULE=github.com/FerretDB/FerretDB
    local tools="$root/var/tools"

    # _say MESSAGE...: say, unless CHORUS_QUIET=1.
    _say() { [[ "${CHORUS_QUIET:-0}" == 1 ]] || say "$@"; }

    local SUDO=""
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="__nosudo__"; fi
    fi

    local apt_updated=0
    # _apt_install PACKAGE...: apt-get install (after one apt-get update), as
    # root or through sudo.
    _apt_install() {
        if [[ "$SUDO" == "__nosudo__" ]]; then
            err "not root and sudo not available; please install: $*"
            return 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        if [[ $apt_updated -eq 0 ]]; then
            _say "apt-get update"
            $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq || { err "apt-get update failed"; return 1; }
            apt_updated=1
        fi
        _say "apt-get install $*"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
            || { err "apt-get install $* failed"; return 1; }
    }

    # _pkg_installed PACKAGE: true when the Debian package is installed.
    _pkg_installed() {
        [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
    }

    # ---------------------------------------------------------------- apt
    local summary=()
    if [[ $want_apt -eq 1 ]]; then
        local pkgs=(build-essential cmake pkg-config libmongoc-dev libbson-dev
                    libcivetweb-dev libwebsockets-dev libcmocka-dev libsodium-dev
                    libicu-dev  # Unicode tables of hashtags (entities.h)
                    zlib1g-dev  # the web client's files gzipped (static.h)
                    libvips-dev  # decoding and re-encoding uploaded images (image.h)
                    libcurl4-openssl-dev curl python3
                    sqlite3  # scripts/ferretdb-id-index.sh (FerretDB only)
                    clang-format  # the C style (.clang-format), unit.test_format
                    clang-14 libclang-rt-14-dev  # libFuzzer, tests/fuzz/run.sh
                    python3-venv  # schemathesis (var/venv), integration.test_openapi
                    nginx)  # load balancer: run.sh --lb, the failover test
        local missing=() p
        for p in "${pkgs[@]}"; do
            _pkg_installed "$p" || missing+=("$p")
        done
        if [[ ${#missing[@]} -gt 0 ]]; then
            _say "missing Debian packages: ${missing[*]}"
            _apt_install "${missing[@]}"
        fi
        summary+=("Debian packages present")
        # Headless browser for the end-to-end test (tests/e2e, ctest label e2e).
        if ! dpkg -s chromium >/dev/null 2>&1; then
            _say "chromium not installed (needed by the e2e test)"
            _apt_install chromium
        fi
        # Emoji in the e2e test's screenshots (docs/screenshots) drawn as
        # emoji, not as empty boxes.
        if ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
            _apt_install fonts-noto-color-emoji
        fi
    fi

    # ---------------------------------------------------------------- FerretDB
    _ferretdb_ok() {
        # Capture first: `... | grep -q` under pipefail fails when grep exits early.
        local out
        [[ -x "$tools/ferretdb" ]] || return 1
        out="$("$tools/ferretdb" --version 2>/dev/null)" || return 1
        [[ $'\n'"$out"$'\n' == *$'\n'"version: ${FERRETDB_VERSION}"$'\n'* ]]
    }

    # _go_minor: prints the minor version of `go` (1.X), or 0.
    _go_minor() {
        local v
        v="$(go env GOVERSION 2>/dev/null || go version 2>/dev/null | awk '{print $3}')"
        v="${v#go}"
        if [[ "$v" =~ ^1\.([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
    }

    # _ensure_go: a go that can build FerretDB on PATH (installing golang-go,
    # or choosing a newer toolchain).
    _ensure_go() {
        if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
            export PATH="$PATH:/usr/local/go/bin"
        fi
        if ! command -v go >/dev/null 2>&1; then
            _say "go not found; installing golang-go"
            _apt_install golang-go || return 1
        fi
        command -v go >/dev/null 2>&1 || { err "go still not found after installing golang-go"; return 1; }
        local minor
        minor="$(_go_minor)"
        if [[ "$minor" -lt 21 ]]; then
            err "FerretDB ${FERRETDB_VERSION} needs Go >= 1.24; found $(go version) which cannot switch toolchains"
            return 1
        elif [[ "$minor" -lt 24 ]]; then
            # Go 1.21+ can fetch a newer toolchain through the module proxy.
            _say "$(go version) is older than 1.24; using GOTOOLCHAIN=go1.24.3"
            export GOTOOLCHAIN=go1.24.3
        fi
        return 0
    }

    # _build_ferretdb: builds var/tools/ferretdb (go install, else from the
    # module source); one build at a time.
    _build_ferretdb() {
        mkdir -p "$tools"
        # One build at a time (e.g. run.sh and test.sh started together).
        if command -v flock >/dev/null 2>&1; then
            local lockfd
            exec {lockfd}>"$tools/.ferretdb.lock"
            flock "$lockfd"
            if _ferretdb_ok; then return 0; fi
        fi
        _ensure_go || return 1
        # No VCS stamping: var/tools lives inside this git repository.
        export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"

        # 1) the plain way.
        _say "building FerretDB ${FERRETDB_VERSION} (go install; may take a few minutes)"
        local log="$tools/ferretdb-build.log"
        : >"$log"
        if (cd "$tools" && GOBIN="$tools" go install "$FERRETDB_MODULE/cmd/ferretdb@${FERRETDB_VERSION}") >>"$log" 2>&1 \
            && _ferretdb_ok; then
            return 0
        fi
        _say "go install did not give a working binary (see $log); building from the module source instead"
        rm -f "$tools/ferretdb"

        # 2) download the module source, add build/version/version.txt, build.
        local json dir
        if ! json="$(cd "$tools" && go mod download -json "$FERRETDB_MODULE@${FERRETDB_VERSION}" 2>>"$log")"; then
            err "go mod download $FERRETDB_MODULE@${FERRETDB_VERSION} failed:"
            tail -n 20 "$log" >&2
            return 1
        fi
        if command -v python3 >/dev/null 2>&1; then
            dir="$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Dir",""))')"
        else
            dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}[[:space:]]*$/\1/p' | sed -n 1p)"
        fi
        if [[ -z "$dir" || ! -f "$dir/go.mod" ]]; then
            err "could not find the downloaded FerretDB source (go mod download -json gave Dir='$dir')"
            return 1
        fi
        local src="$tools/ferretdb-src"
        rm -rf "$src" "$src.tmp"
        cp -r "$dir" "$src.tmp"
        chmod -R u+w "$src.tmp"
        mkdir -p "$src.tmp/build/version"
        echo "${FERRETDB_VERSION}" >"$src.tmp/build/version/version.txt"
        mv "$src.tmp" "$src"
        _say "go build ./cmd/ferretdb in var/tools/ferretdb-src (may take a few minutes)"
        if ! (cd "$src" && go build -o "$tools/ferretdb.new" ./cmd/ferretdb) >>"$log" 2>&1; then
            err "go build of FerretDB failed:"
            tail -n 30 "$log" >&2
            rm -f "$tools/ferretdb.new"
            return 1
        fi
        mv -f "$tools/ferretdb.new" "$tools/ferretdb"
        if ! _ferretdb_ok; then
            err "built var/tools/ferretdb but '--version' does not report ${FERRETDB_VERSION}:"
            "$tools/ferretdb" --version 2>&1 | head -n 20 >&2 || true
            return 1
        fi
        return 0
    }

    if [[ $want_ferretdb -eq 1 ]]; then
        if command -v mongod >/dev/null 2>&1 && [[ "${CHORUS_FORCE_FERRETDB:-0}" != 1 && $want_apt -eq 1 ]]; then
            summary+=("mongod found at $(command -v mongod), FerretDB not needed")
        elif _ferretdb_ok; then
            summary+=("FerretDB ${FERRETDB_VERSION} at var/tools/ferretdb")
        else
            if ! _build_ferretdb; then
                err "FerretDB ${FERRETDB_VERSION} could not be obtained (see messages above)"
                return 1
            fi
            _say "FerretDB ${FERRETDB_VERSION} installed at var/tools/ferretdb"
            summary+=("FerretDB ${FERRETDB_VERSION} at var/tools/ferretdb")
        fi
    fi

    # ---------------------------------------------------------------- schemathesis
    # The contract test (integration.test_openapi, tests/contract/README.md):
    # schemathesis from PyPI in a virtualenv of the repository's own.
    local SCHEMATHESIS_VERSION=4.32.5
    local venv="$root/var/venv"
    if [[ $want_venv -eq 1 ]]; then
        local have=""
        have="$("$venv/bin/schemathesis" --version 2>/dev/null || true)"
        if [[ "$have" != *"version ${SCHEMATHESIS_VERSION}"* ]]; then
            _say "installing schemathesis ${SCHEMATHESIS_VERSION} in var/venv"
            if [[ ! -x "$venv/bin/pip" ]]; then
                rm -rf "$venv"
                python3 -m venv "$venv" || { err "python3 -m venv var/venv failed"; return 1; }
            fi
            "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
                "schemathesis==${SCHEMATHESIS_VERSION}" </dev/null \
                || { err "pip install schemathesis==${SCHEMATHESIS_VERSION} failed"; return 1; }
        fi
        summary+=("schemathesis ${SCHEMATHESIS_VERSION} in var/venv")
    fi

    local joined="" item
    for item in "${summary[@]}"; do joined="${joined:+$joined; }$item"; done
    _say "dependencies OK ($joined)"
    return 0
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # sourced: keep the caller's shell options and directory
    _chorus_deps_saved_opts="$(set +o)"
    _chorus_deps_rc=0
    ( _chorus_deps_main "$@" ) || _chorus_deps_rc=$?
    eval "$_chorus_deps_saved_opts"
    if [[ -d /usr/local/go/bin && ":$PATH:" != *":/usr/local/go/bin:"* ]]; then
        export PATH="$PATH:/usr/local/go/bin"
    fi
    return $_chorus_deps_rc
else
    _chorus_deps_main "$@"
fi
