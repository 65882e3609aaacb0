#!/bin/sh
# meson install puts the pennant package into site-packages with _install_paths.py naming
# the installed library, and the installed package imports and loads it.
# usage: check_python_install.sh BUILD_ROOT PREFIX PY_INSTALL_DIR PYTHON
set -eu
build=$1 prefix=$2 pydir=$3 python=$4
tmp=$(mktemp -d /tmp/pn-pyinstall-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
meson install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log" >&2; fail "meson install"; }
pydir=${pydir%/}
case "$pydir" in /*) ;; *) pydir="$prefix/$pydir" ;; esac
site="$tmp/dest$pydir"
for f in __init__.py _lib.py torch.py launch.py rendezvous.py _install_paths.py; do
	[ -f "$site/pennant/$f" ] || fail "pennant/$f not installed in $site"
done
# The installed _install_paths.py names the installed library (under the destdir here).
lib=$(cd "$tmp" && PYTHONPATH="$site" "$python" -c \
	'import importlib.util as u, sys; s = u.spec_from_file_location("p", sys.argv[1]); m = u.module_from_spec(s); s.loader.exec_module(m); print(m.LIBDIR + "/libpennant.so." + m.SOVERSION)' \
	"$site/pennant/_install_paths.py") || fail "_install_paths.py does not load"
case "$lib" in "$prefix"/*) ;; *) fail "installed library path $lib is not under $prefix" ;; esac
[ -e "$tmp/dest$lib" ] || fail "$lib (from _install_paths.py) is not what meson installed"
# The installed package imports (from outside the source tree) and loads that library.
out=$(cd "$tmp" && env -u PENNANT_BUILD_DIR PENNANT_LIB="$tmp/dest$lib" PYTHONPATH="$site" "$python" -c \
	'import pennant, pennant.torch, pennant.launch, pennant.rendezvous; print(pennant.__file__, pennant.version())') ||
	fail "the installed package does not import"
case "$out" in "$site/pennant/__init__.py "*) ;; *) fail "imported the wrong package: $out" ;; esac
echo "ok: installed pennant package: $out; library $lib"
