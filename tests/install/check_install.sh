#!/bin/sh
# Installs the build into a temporary destdir and uses it as an outside program would:
#   - pkg-config --cflags adds only include paths; --static --libs works;
#   - a program using only agg.h builds with -march=native -Werror -Wall -Wextra, links
#     against the installed libpennant.so and prints the right median;
#   - its header dependencies (gcc -M) contain no DPDK or rdma-core header;
#   - libpennant.so exports only pn_ symbols (and pn_version);
#   - no benchmark is installed into bin/; the LICENSE is installed.
# usage: check_install.sh BUILD_ROOT SOURCE_ROOT PREFIX LIBDIR
set -eu
build=$1 src=$2 prefix=$3 libdir=$4
tmp=$(mktemp -d /tmp/pn-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

meson install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log" >&2; fail "meson install"; }
root="$tmp/dest$prefix"
pc="$root/$libdir/pkgconfig"
[ -f "$pc/pennant.pc" ] || fail "no pennant.pc in $pc"
export PKG_CONFIG_PATH="$pc"
PKG_CONFIG_LIBDIR="$pc"; export PKG_CONFIG_LIBDIR   # only our .pc: no fallback to the system's
cflags=$(pkg-config --define-variable=prefix="$root" --cflags pennant) || fail "pkg-config --cflags"
libs=$(pkg-config --define-variable=prefix="$root" --libs pennant) || fail "pkg-config --libs"
pkg-config --define-variable=prefix="$root" --static --libs pennant >/dev/null || fail "pkg-config --static --libs"
for f in $cflags; do
	case "$f" in
	-I*) ;;
	*) fail "pkg-config --cflags adds '$f' (only include paths allowed): $cflags" ;;
	esac
done

gcc -std=c17 -march=native -Werror -Wall -Wextra $cflags "$src/tests/install/external_agg.c" \
	$libs -o "$tmp/external" || fail "external program does not build"
out=$(LD_LIBRARY_PATH="$root/$libdir" "$tmp/external") || fail "external program failed"
expected="2 2 4 4
used=3 status0=used"
[ "$out" = "$expected" ] || fail "external program printed '$out', expected '$expected'"

deps=$(gcc -M $cflags "$src/tests/install/external_agg.c")
if echo "$deps" | grep -Eq 'dpdk|rte_|infiniband|rdma'; then
	fail "agg.h pulls in DPDK/rdma headers: $(echo "$deps" | grep -Eo '[^ ]*(dpdk|rte_|infiniband|rdma)[^ ]*' | head -3)"
fi

so="$root/$libdir/libpennant.so"
[ -e "$so" ] || fail "no $so"
others=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^pn_' || true)
[ -z "$others" ] || fail "libpennant.so exports non-pn_ symbols: $(echo $others | head -c 300)"
nm -D --defined-only "$so" | grep -q ' pn_version$' || fail "pn_version is not exported"

if ls "$root/bin" 2>/dev/null | grep -q bench; then
	fail "benchmarks installed into bin/: $(ls "$root/bin" | grep bench)"
fi
[ -f "$root/share/doc/pennant/LICENSE" ] || fail "LICENSE not installed"
echo "install check passed: cflags='$cflags'"
