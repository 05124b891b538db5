#!/usr/bin/env bash
# Installs what minidl needs from Debian's archive, and nothing when it is all there already.
#   scripts/setup.sh                 # build and test dependencies
#   scripts/setup.sh --demo          # the same (the demo's dataset is already in the base list)
#   scripts/setup.sh --bench         # ... plus the benchmark peers (PyTorch)
set -euo pipefail

packages=(
  g++ cmake ninja-build                    # toolchain (present on a new machine; checked anyway)
  libdnnl-dev ocl-icd-opencl-dev           # oneDNN 2.6; its CMake package needs the OpenCL headers
  libopenblas-dev                          # OpenBLAS (pinned to one thread at run time)
  libfmt-dev catch2 nlohmann-json3-dev     # formatting, tests, configs
  zlib1g-dev                               # gzip'd dataset files
  libhdf5-dev                              # Keras-layout .weights.h5 files (HDF5 C API)
  libzip-dev pkg-config                    # .keras model archives (zip; found through pkg-config)
  graphviz                                 # md::plot_model renders graphs with `dot`
  dataset-fashion-mnist                    # the demo and tests/datasets (30 MB of IDX .gz files)
  libbenchmark-dev                         # bench/ (Google Benchmark)
  libopenmpi-dev openmpi-bin               # data-parallel training (md::distribution): Open MPI 4.1
  clang libclang-rt-14-dev libomp-14-dev   # the fuzz preset: clang 14, libFuzzer + sanitizers, OpenMP
)
for arg in "$@"; do
  case "$arg" in
    --demo) ;;
    --bench) packages+=(python3-torch python3-numpy) ;;
    *) echo "setup.sh: unknown option '$arg' (use --demo or --bench)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages are installed."
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: these Debian packages are missing: ${missing[*]}" >&2
  echo "setup: installing them needs root. Run: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done."
