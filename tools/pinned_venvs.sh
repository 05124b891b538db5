# Sourced by tools/keras_reference/setup.sh and tools/peers/setup.sh: makes Python virtual
# environments whose every package is pinned in <requirements dir>/requirements-<env>.txt (a
# pip freeze of a working install). They are tools, never a dependency of the build or tests.
#   make_pinned_envs LABEL REQUIREMENTS_DIR ENVS_DIR ENV...
# Prints the python path of each environment it made or found.
make_pinned_envs() {
  local label=$1 requirements_dir=$2 envs_dir=$3
  shift 3
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "$label: python3-venv is missing; run: sudo apt-get install python3-venv" >&2
      return 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  local env requirements dir known
  for env in "$@"; do
    requirements="$requirements_dir/requirements-$env.txt"
    if [ ! -f "$requirements" ]; then
      known=$(cd "$requirements_dir" && ls requirements-*.txt | sed 's/^requirements-//; s/\.txt$//' | paste -sd, -)
      echo "$label: unknown environment '$env' (one of: $known, or all)" >&2
      return 2
    fi
    dir="$envs_dir/$env"
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
    # --no-deps with a full freeze: exactly these versions, nothing resolved anew.
    "$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
    echo "$dir/bin/python"
  done
}
