#!/usr/bin/env bash
# Builds the sdxl-tigris serve image (deploy/Containerfile) with no base image and no registry:
# the root filesystem is collected from a local build and this machine's libraries.
#
# Usage (repository root):
#   bash deploy/build-image.sh [--build DIR] [--tag NAME] [--context DIR] [--rootfs-only]
#
#   --build DIR     build folder with sdxl-tigris and libsdxl-engine.so (default: build; `make
#                   build` with LibTorch, against the pinned torch 2.11.0+cu130 wheel)
#   --tag NAME      image name (default: localhost/sdxl-tigris:dev)
#   --context DIR   where the build context is assembled (default: /var/tmp/sdxl-tigris-image;
#                   ~3.3 GB; library files are hard links when on the same file system)
#   --rootfs-only   collect the context and stop (no podman/buildah needed)
#
# Environment: PYTHON (python3: finds the torch wheel), CONTAINER_TOOL (podman or buildah; default:
# the first one found).
#
# What goes in (the image holds nothing else):
#   /usr/local/bin/       sdxl-tigris and libsdxl-engine.so, debug info stripped
#   /usr/local/lib/sdxl-tigris/
#                         LibTorch and CUDA libraries: the ldd closure of the engine (torch/lib,
#                         nvidia/*/lib of the wheel) plus what they dlopen() at run time and ldd
#                         cannot see: cuDNN's sub-libraries (libcudnn.so.9 is a loader for them)
#                         and NVRTC (cuDNN's runtime-compiled engines)
#   /usr/lib/x86_64-linux-gnu/, /usr/lib64/
#                         Debian's libraries in the ldd closure (glibc, libstdc++, libcurl, OpenSSL,
#                         ICU, ...) at their Debian paths, /lib and /lib64 as links into /usr
#   /etc/                 passwd/group (root, sdxl 10001), nsswitch.conf, CA certificates
#   /usr/bin/cat          for the Kubernetes readiness probe (`cat /var/run/cog/ready`)
#   /tmp (1777), /cache and /var/run/cog (owned by 10001), empty /proc /sys /dev mount points
# libcuda.so.1 is left out on purpose: the NVIDIA container runtime mounts the host driver's.
#
# Prints the image size and what dominates it. Exit status: 0 built, 1 failed, 2 usage.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

BUILD=build
TAG=localhost/sdxl-tigris:dev
CTX=/var/tmp/sdxl-tigris-image
ROOTFS_ONLY=0
PY=${PYTHON:-python3}
UID_=10001

die() { echo "build-image: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=${2:?}; shift 2 ;;
    --tag) TAG=${2:?}; shift 2 ;;
    --context) CTX=${2:?}; shift 2 ;;
    --rootfs-only) ROOTFS_ONLY=1; shift ;;
    -h | --help) usage ;;
    *) echo "build-image: unknown argument $1" >&2; usage ;;
  esac
done

bin="$BUILD/sdxl-tigris"
engine="$BUILD/libsdxl-engine.so"
[ -x "$bin" ] || die "$bin missing: run \`make build\` first (or pass --build DIR)"
[ -f "$engine" ] || die "$engine missing: the image needs the LibTorch engine; build with WITH_TORCH=ON"
for t in ldd strip readelf; do command -v $t >/dev/null || die "$t not found (binutils, libc-bin)"; done
if [ "$ROOTFS_ONLY" = 0 ]; then
  tool=${CONTAINER_TOOL:-}
  if [ -z "$tool" ]; then
    for t in podman buildah; do command -v $t >/dev/null && { tool=$t; break; }; done
  fi
  [ -n "$tool" ] || die "neither podman nor buildah found: apt-get install -y podman buildah"
fi

torch_lib=$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__) + "/lib")') ||
  die "$PY cannot import torch: the image's LibTorch comes from the pinned torch wheel (make deps)"
site=$(dirname "$(dirname "$torch_lib")")
torch_ver=$("$PY" -c 'import torch; print(torch.__version__)')
nv_dirs=$(find "$site/nvidia" -mindepth 2 -maxdepth 2 -type d -name lib 2>/dev/null | sort | tr '\n' ':')
# How the build's libraries resolve on this machine (the engine's RUNPATH already names torch/lib).
export LD_LIBRARY_PATH="$torch_lib:${nv_dirs%:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

t0=$(date +%s)
stage="$CTX.new"
rm -rf "$stage"
mkdir -p "$stage"/rootfs/{usr/local/bin,usr/local/lib/sdxl-tigris,usr/lib/x86_64-linux-gnu,usr/lib64,usr/bin,etc/ssl/certs,home/sdxl,tmp,proc,sys,dev}
mkdir -p "$stage"/owned/{cache,var/run/cog}
R="$stage/rootfs"
ln -s usr/lib "$R/lib"
ln -s usr/lib64 "$R/lib64"
ln -s usr/bin "$R/bin"
chmod 1777 "$R/tmp"
chown "$UID_:$UID_" "$R/home/sdxl" "$stage"/owned/cache "$stage"/owned/var/run/cog 2>/dev/null || true
chmod 755 "$stage"/owned/cache "$stage"/owned/var/run/cog

# place SRC DEST: a hard link when possible (same file system, nothing writes to it), else a copy.
place() { ln -f "$1" "$2" 2>/dev/null || cp -f "$1" "$2"; }

# 1. Our binaries, debug info stripped (the engine beside the binary: serve's default location).
strip --strip-debug -o "$R/usr/local/bin/sdxl-tigris" "$bin"
strip --strip-debug -o "$R/usr/local/bin/libsdxl-engine.so" "$engine"
chmod 755 "$R/usr/local/bin/sdxl-tigris" "$R/usr/local/bin/libsdxl-engine.so"

# 2. Libraries. Roots: our two files, plus what LibTorch/cuDNN dlopen() (invisible to ldd).
roots=("$bin" "$engine")
for f in "$site"/nvidia/cudnn/lib/libcudnn*.so.[0-9]* "$site"/nvidia/cu13/lib/libnvrtc.so.[0-9]* \
  "$site"/nvidia/cu13/lib/libnvrtc-builtins.so.[0-9]*; do
  [ -f "$f" ] && roots+=("$f")
done
declare -A placed=()
manifest="$stage/libs.tsv"  # bytes, group, image path, source
: > "$manifest"
add_lib() {  # add_lib SOURCE_PATH
  local src=$1 name real dest group
  name=$(basename "$src")
  [ -n "${placed[$name]:-}" ] && return 0
  real=$(readlink -f "$src")
  case "$real" in
    "$torch_lib"/*) dest="/usr/local/lib/sdxl-tigris/$name"; group=torch ;;
    "$site"/nvidia/*) dest="/usr/local/lib/sdxl-tigris/$name"; group=cuda ;;
    /lib/x86_64-linux-gnu/* | /usr/lib/x86_64-linux-gnu/*)
      group=debian
      case "$src" in  # the dynamic loader stays where the ELF headers name it
        /lib64/* | /usr/lib64/*) dest="/usr/lib64/$name" ;;
        *) dest="/usr/lib/x86_64-linux-gnu/$name" ;;
      esac ;;
    *) die "$src ($real): not from Debian or the torch wheel; refusing to guess where it goes" ;;
  esac
  case "$name" in libcuda.so* | libnvidia-*) return 0 ;; esac  # the host driver's, never ours
  place "$real" "$R$dest"
  placed[$name]=1
  printf '%s\t%s\t%s\t%s\n' "$(stat -c %s "$real")" "$group" "$dest" "$real" >> "$manifest"
}
for root in "${roots[@]}"; do
  case "$root" in "$bin" | "$engine") ;; *) add_lib "$root" ;; esac
  out=$(ldd "$root" 2>&1) || die "ldd $root failed: $out"
  if grep -q 'not found' <<<"$out"; then
    die "ldd $root: unresolved libraries:"$'\n'"$(grep 'not found' <<<"$out")"
  fi
  while read -r a b c _; do
    if [ "$b" = "=>" ] && [ -n "$c" ] && [ "${c#/}" != "$c" ]; then
      add_lib "$c"
    elif [ "${a#/}" != "$a" ]; then
      add_lib "$a"  # the dynamic loader
    fi
  done <<<"$out"
done

# 3. The few files a process expects under /etc, and cat for the readiness probe.
place /usr/bin/cat "$R/usr/bin/cat"
for l in $(ldd /usr/bin/cat | awk '/=>/ {print $3} /^\t\// {print $1}'); do add_lib "$l"; done
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || die "$ca missing: apt-get install -y ca-certificates (libcurl needs it for https)"
cp "$ca" "$R$ca"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nsdxl:x:%s:%s:sdxl-tigris:/home/sdxl:/usr/sbin/nologin\n' \
  "$UID_" "$UID_" > "$R/etc/passwd"
printf 'root:x:0:\nsdxl:x:%s:\n' "$UID_" > "$R/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$R/etc/nsswitch.conf"
cp deploy/Containerfile "$stage/Containerfile"
{
  echo "sdxl-tigris image context"
  echo "from: $bin ($(stat -c %y "$bin" | cut -d. -f1)), torch $torch_ver ($site)"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
} > "$stage/README"

rm -rf "$CTX"
mv "$stage" "$CTX"
manifest="$CTX/libs.tsv"

# 4. What the image holds, by group.
human() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }
ours=$(( $(stat -c %s "$CTX/rootfs/usr/local/bin/sdxl-tigris") + $(stat -c %s "$CTX/rootfs/usr/local/bin/libsdxl-engine.so") ))
total=$(du -sb --apparent-size "$CTX/rootfs" | cut -f1)
echo "build-image: context $CTX ($(human "$total"), $(wc -l < "$manifest") libraries) in $(( $(date +%s) - t0 )) s"
printf '  %-26s %10s\n' "sdxl-tigris + engine" "$(human "$ours")"
for g in torch cuda debian; do
  printf '  %-26s %10s\n' "$g libraries" "$(human "$(awk -F'\t' -v g=$g '$2 == g {s += $1} END {print s + 0}' "$manifest")")"
done
echo "  largest files:"
sort -rn "$manifest" | head -8 | awk -F'\t' '{ printf "    %6.0f MiB  %s\n", $1 / 1048576, $3 }'

[ "$ROOTFS_ONLY" = 1 ] && exit 0

# 5. The image. Nothing is pulled: FROM scratch, COPY only, no RUN (no shell is needed to build).
t1=$(date +%s)
case "$tool" in
  podman) podman build --pull=never --layers=false -f "$CTX/Containerfile" -t "$TAG" "$CTX" ;;
  buildah) buildah bud --pull-never --layers=false -f "$CTX/Containerfile" -t "$TAG" "$CTX" ;;
  *) die "CONTAINER_TOOL=$tool: use podman or buildah" ;;
esac
size=$("$tool" inspect --format '{{.Size}}' "$TAG" 2>/dev/null || echo "")
if [ -z "$size" ] && [ "$tool" = buildah ]; then size=$total; fi
echo "build-image: $TAG built with $tool in $(( $(date +%s) - t1 )) s; image size $(human "${size:-$total}") (uncompressed)"
