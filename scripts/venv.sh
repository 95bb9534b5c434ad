# Sourced by the benchmark scripts: `ensure_venv VENV PACKAGE VERSION [MORE PACKAGES...]` makes the
# virtual environment VENV with PACKAGE==VERSION (and the others) unless it already holds exactly
# that version. Installation chatter goes to stderr, so stdout stays the benchmark's.
ensure_venv() {
    local venv="$1" package="$2" version="$3"
    shift 3
    if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$package') != '$version')" 2>/dev/null; then
        echo "installing $package==$version into $venv" >&2
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet "$package==$version" "$@" >&2
    fi
}
