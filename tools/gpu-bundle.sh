#!/usr/bin/env bash
# Packs what tools/gpu-check.sh needs on a lent GPU machine that cannot build (no network, no apt,
# maybe none of our Debian -dev packages) into one carryable folder, built from a local build that
# used -DSDXL_WITH_TORCH=ON against the same torch (2.11.0+cu130) as the GPU machine's venv.
#
# Usage (repository root): bash tools/gpu-bundle.sh [BUILD_DIR] [DEST]   (default: build .gpu)
#
# DEST/bin/      sdxl-tigris, libsdxl-engine.so, sdxl_parity_driver[, sdxl_text_driver,
#                sdxl_load_driver, sdxl_torch_test], debug info
#                stripped (a folder usable as SDXL_BUILD_DIR: the engine sits next to the binary)
# DEST/lib/      every shared library those need (ldd closure) except glibc, libstdc++/libgcc_s and
#                what comes from torch's or nvidia's pip folders (the GPU machine's venv has them:
#                gpu-check.sh puts its torch/lib and nvidia/*/lib on LD_LIBRARY_PATH)
# DEST/wheels/   pure-Python wheels the GPU machine lacks (diffusers and the dependencies its venv
#                does not have); gpu-check.sh installs each one whose module is missing there
# DEST/pysite/   open_clip/bpe_simple_vocab_16e6.txt.gz only: tools/clip_vocab.py reads CLIP's merges
#                from the open_clip package folder, and open-clip-torch (which imports torchvision)
#                is not on the GPU machine
# DEST.tar.xz    the same, compressed (ICU's data library alone is ~30 MiB): carry this one file;
#                gpu-check.sh unpacks it to /tmp
#
# Prints the sizes against the device tool's 64 MiB carry limit (tree + carried paths).
# /.gpu/ and /.gpu.tar.xz are listed in .git/info/exclude: ignored by git, carryable.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
BUILD=${1:-build}
DEST=${2:-.gpu}
DEST=${DEST%/}
PY=${PYTHON:-python3}
# Wheels the GPU machine's venv (torch, transformers 5.17, huggingface_hub 1.33, safetensors,
# pytest, pillow) lacks. diffusers 0.42.1 requires huggingface-hub>=1.32,<3 (1.33: fine),
# safetensors>=0.8, numpy, filelock, regex, Pillow (all there through transformers) and requests,
# which huggingface_hub 1.x no longer pulls in (diffusers/pipelines/pipeline_utils.py imports it and
# diffusers checks its version at import). importlib_metadata is only used on Python < 3.8.
# requests also needs idna and certifi: huggingface_hub's httpx brings both, but carry them anyway
# (~200 KiB; gpu-check.sh installs only the wheels whose module is missing on the machine).
# accelerate: without it diffusers' from_pretrained builds every model with random weights first
# (low_cpu_mem_usage=False): tens of seconds for full-size SDXL, which would skew diffusers' load
# time; it needs psutil (compiled: an abi3 manylinux wheel, any CPython >= 3.6).
WHEELS=(diffusers==0.42.1 requests==2.34.2 urllib3==2.8.0 charset_normalizer==3.5.3 idna==3.20
  certifi==2026.10.19.post1 accelerate==1.15.0)
BINARY_WHEELS=(psutil==7.2.2)

die() { echo "gpu-bundle: $*" >&2; exit 1; }

for f in sdxl-tigris libsdxl-engine.so sdxl_parity_driver; do
  [ -f "$BUILD/$f" ] || die "$BUILD/$f missing: build first (make build, -DSDXL_WITH_TORCH=ON)"
done
command -v strip >/dev/null || die "strip (binutils) not found"

torch_lib=$("$PY" -c 'import torch, os; print(os.path.dirname(torch.__file__) + "/lib")') ||
  die "python3 cannot import torch (needed to tell LibTorch's libraries apart)"
site=$(dirname "$(dirname "$torch_lib")")  # .../site-packages
torch_ver=$("$PY" -c 'import torch; print(torch.__version__)')
[ "$torch_ver" = "2.11.0+cu130" ] ||
  echo "gpu-bundle: warning: local torch is $torch_ver, the GPU machine has 2.11.0+cu130" >&2

stage="$DEST.new"
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib" "$stage/wheels" "$stage/pysite/open_clip"
trap 'rm -rf "$stage"' EXIT

# 1. Binaries, debug info stripped (the engine is ~50 MiB with it, a few MiB without).
bins=(sdxl-tigris libsdxl-engine.so sdxl_parity_driver)
[ -f "$BUILD/sdxl_text_driver" ] && bins+=(sdxl_text_driver)
[ -f "$BUILD/sdxl_load_driver" ] && bins+=(sdxl_load_driver)
for f in "${bins[@]}"; do
  strip --strip-debug -o "$stage/bin/$f" "$BUILD/$f"
  chmod 755 "$stage/bin/$f"
done
# The engine's unit tests (gpu-check.sh runs the staging ring's CUDA test from it).
if [ -f "$BUILD/src/sdxl/sdxl_torch_test" ]; then
  strip --strip-debug -o "$stage/bin/sdxl_torch_test" "$BUILD/src/sdxl/sdxl_torch_test"
  chmod 755 "$stage/bin/sdxl_torch_test"
fi

# 2. Shared libraries: ldd already lists the transitive closure (resolved through the build's
# RUNPATH, which points at the local torch/lib); keep what the GPU machine will not have.
is_system() {  # glibc, the C++ runtime, the kernel's vDSO
  case "$1" in
    linux-vdso.so* | ld-linux*.so* | libc.so* | libm.so* | libmvec.so* | libpthread.so* | \
      libdl.so* | librt.so* | libutil.so* | libresolv.so* | libanl.so* | libnsl.so* | \
      libBrokenLocale.so* | libnss_*.so* | libthread_db.so* | libstdc++.so* | libgcc_s.so*) return 0 ;;
  esac
  return 1
}
missing=0
declare -A seen=()
for f in "${bins[@]}"; do
  while read -r name arrow path _; do
    [ -n "$name" ] || continue
    if [ "$arrow" != "=>" ]; then continue; fi  # vDSO / loader lines: "name (addr)"
    is_system "$name" && continue
    if [ "$path" = "not" ]; then
      echo "gpu-bundle: $f: $name not found" >&2; missing=1; continue
    fi
    real=$(readlink -f "$path")
    case "$real" in
      "$(readlink -f "$torch_lib")"/* | "$(readlink -f "$site")"/nvidia/*) continue ;;
    esac
    [ -n "${seen[$name]:-}" ] && continue
    seen[$name]=1
    cp -L "$path" "$stage/lib/$name"
    chmod 644 "$stage/lib/$name"
  done < <(ldd "$BUILD/$f")
done
[ "$missing" = 0 ] || die "unresolved libraries (see above)"

# 3. Wheels (pip reuses what an earlier bundle downloaded).
if [ -d "$DEST/wheels" ]; then cp -p "$DEST"/wheels/*.whl "$stage/wheels/" 2>/dev/null || true; fi
for w in "${WHEELS[@]}"; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --platform any --python-version 3.12 \
    --implementation py --abi none -d "$stage/wheels" "$w" ||
    die "pip download $w failed (pure-Python wheel for Python 3.12 needed)"
done
for w in "${BINARY_WHEELS[@]}"; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
    --python-version 3.12 --implementation cp -d "$stage/wheels" "$w" ||
    die "pip download $w failed (manylinux x86_64 wheel for CPython 3.12 needed)"
done
# Drop wheels an earlier bundle had that are no longer listed.
for whl in "$stage"/wheels/*.whl; do
  base=$(basename "$whl" | cut -d- -f1 | tr 'A-Z-' 'a-z_')
  keep=0
  for w in "${WHEELS[@]}" "${BINARY_WHEELS[@]}"; do
    [ "$(echo "${w%%==*}" | tr 'A-Z-' 'a-z_')" = "$base" ] && keep=1
  done
  [ "$keep" = 1 ] || rm -f "$whl"
done

# 4. CLIP's BPE merges for tools/clip_vocab.py (a stand-in open_clip package holding only the file).
gz=$("$PY" -c 'import open_clip, os; print(os.path.dirname(open_clip.__file__))' 2>/dev/null)/bpe_simple_vocab_16e6.txt.gz ||
  true
[ -f "$gz" ] || die "open_clip's bpe_simple_vocab_16e6.txt.gz not found (pip install open-clip-torch)"
cp "$gz" "$stage/pysite/open_clip/"
cat > "$stage/pysite/open_clip/__init__.py" <<'PY'
"""Stand-in for open-clip-torch carried by tools/gpu-bundle.sh: only the BPE merges file that
tools/clip_vocab.py reads. Put on sys.path only where the real package is missing."""
__version__ = "0+bpe-only"
PY

# Where the build's sources were (a clean worktree of a commit, ideally) and what the binaries
# need from the machine's glibc / libstdc++ (the GPU machine: glibc >= 2.36 expected).
src_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt" 2>/dev/null)
src_dir=${src_dir:-.}
needs=$(for f in "$stage"/bin/* "$stage"/lib/*; do objdump -T "$f"; done 2>/dev/null |
  grep -oE '\b(GLIBC|GLIBCXX|CXXABI)_[0-9.]+\b' | sort -u |
  awk -F_ '{ v[$1] = v[$1] " " $2 } END { for (k in v) print k, v[k] }' |
  while read -r k vs; do echo "$k $(tr ' ' '\n' <<<"$vs" | sort -V | tail -1)"; done | sort | tr '\n' ' ' || true)
cat > "$stage/README" <<EOF
sdxl-tigris GPU bundle, made by tools/gpu-bundle.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)
from $BUILD ($(git -C "$src_dir" rev-parse --short HEAD 2>/dev/null || echo '?'), tree $(git -C "$src_dir" status --porcelain --untracked-files=no 2>/dev/null | wc -l) changed paths, sources $src_dir), torch $torch_ver.
Needs from the machine: ${needs:-?}(newest symbol versions used by bin/ and lib/).
Used by tools/gpu-check.sh. Needs the GPU machine's torch 2.11.0+cu130 (torch/lib, nvidia/*/lib).
EOF

# 5. Swap in, then the compressed copy.
trap - EXIT
rm -rf "$DEST.old"
[ -e "$DEST" ] && mv "$DEST" "$DEST.old"
mv "$stage" "$DEST"
rm -rf "$DEST.old"
tar -C "$(dirname "$DEST")" -cf - "$(basename "$DEST")" | xz -T0 -6 > "$DEST.tar.xz.tmp"
mv "$DEST.tar.xz.tmp" "$DEST.tar.xz"

# 6. git: ignored (so `git status` stays clean) but carryable. Local to this clone.
exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
for pat in "/$(basename "$DEST")/" "/$(basename "$DEST").tar.xz"; do
  grep -qxF "$pat" "$exclude" 2>/dev/null || echo "$pat" >> "$exclude"
done

# 7. Sizes.
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
for d in bin lib wheels pysite; do
  printf '  %-8s %s\n' "$d/" "$(mib "$(du -sb "$DEST/$d" | cut -f1)")"
done
ls -1 "$DEST/lib" | sed 's/^/    lib: /'
raw=$(du -sb "$DEST" | cut -f1)
xzb=$(stat -c %s "$DEST.tar.xz")
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) |
  xargs -0 -r stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
echo "bundle $DEST: $(mib "$raw") unpacked, $DEST.tar.xz: $(mib "$xzb")"
echo "tree (tracked + untracked-not-ignored): $(mib "$tree")"
echo "carry $DEST.tar.xz: tree + archive = $(mib $((tree + xzb))) of the 64 MiB limit"
echo "carry $DEST/:      tree + folder  = $(mib $((tree + raw))) of the 64 MiB limit"
