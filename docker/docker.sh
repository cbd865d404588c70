#!/usr/bin/env bash
# Builds a build-environment image from FOLDER/Dockerfile when it is missing
# and opens an interactive container in it, as upstream MigTD's
# sh_script/docker.sh does. With -b it runs the whole migtd-repro pipeline
# build instead: pinned builder image, networking off, measured outputs.
set -euo pipefail

FOLDER=""
TAG="migtd-repro.build.env:latest"
PIPELINE=0

usage() {
    cat << EOM
Usage: $(basename "$0") [OPTION]... [-- BUILD_OPTION...]
  -f <folder>          Folder that contains the Dockerfile.
  -t <tag>             Image tag to build and run (default: ${TAG}).
  -b                   Run the full pipeline build ('migtd-repro build') instead
                       of an interactive container; -f is then not needed and
                       arguments after '--' go to 'migtd-repro build'
                       (see 'migtd-repro build --help').
  -h                   Show this help.

Exit status: 0 success, 2 invalid option or missing Dockerfile, 3 no Docker
engine; with -b, the exit status of 'migtd-repro build'.
EOM
}

error() {
    echo "ERROR: $*" >&2
    exit "${2:-2}"
}

process_args() {
    while getopts ":f:t:bh" option; do
        case "$option" in
            f) FOLDER=$OPTARG;;
            t) TAG=$OPTARG;;
            b) PIPELINE=1;;
            h) usage
               exit 0
               ;;
            :) echo "Option '-$OPTARG' needs a value." >&2
               usage >&2
               exit 2
               ;;
            *) echo "Invalid option '-$OPTARG'." >&2
               usage >&2
               exit 2
               ;;
        esac
    done
}

process_args "$@"
shift $((OPTIND - 1))
[[ "${1:-}" == "--" ]] && shift

if ((PIPELINE)); then
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    exec node "${root}/dist/bin/migtd-repro.cjs" build "$@"
fi

if (($#)); then
    error "unexpected argument '$1'; build options need -b (see -h)."
fi
if [[ -z "${FOLDER}" ]]; then
    error "give the folder that contains the Dockerfile with -f (see -h)."
fi
if [[ ! -f "${FOLDER}/Dockerfile" ]]; then
    error "${FOLDER}/Dockerfile does not exist; give the folder that contains it with -f."
fi
if ! docker info > /dev/null 2>&1; then
    error "no Docker engine answers; start one with docker/setup-host.sh." 3
fi

# Build the image only when it is missing, so a rerun opens the same environment.
if ! docker image inspect "${TAG}" > /dev/null 2>&1; then
    build_args=()
    for proxy in http_proxy https_proxy no_proxy; do
        [[ -n "${!proxy:-}" ]] && build_args+=(--build-arg "${proxy}=${!proxy}")
    done
    docker build -t "${TAG}" "${build_args[@]}" "${FOLDER}"
fi

# A terminal gets an interactive shell; otherwise the image's command runs
# with standard input attached, so scripts can feed it.
terminal=()
[[ -t 0 && -t 1 ]] && terminal=(-t)
exec docker run -i "${terminal[@]}" --rm "${TAG}"
