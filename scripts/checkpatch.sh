#!/usr/bin/env bash
# Runs the kernel's checkpatch.pl --strict over kernel-shim/ (our sources and
# the generated headers) and fails on any error, warning or check.
#
# Debian ships checkpatch.pl only inside linux-source-6.1; the first run
# fetches that package with apt and keeps the three files it needs in
# $KOFFLOAD_CHECKPATCH_DIR (default /var/cache/koffload/checkpatch).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${KOFFLOAD_CHECKPATCH_DIR:-/var/cache/koffload/checkpatch}"
files=(checkpatch.pl spelling.txt const_structs.checkpatch)

fetch() {
	local tmp deb tarball
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' RETURN
	echo "checkpatch: fetching checkpatch.pl from Debian's linux-source-6.1" >&2
	(cd "$tmp" && apt-get download -qq linux-source-6.1 >/dev/null 2>&1) || {
		apt-get update -qq && (cd "$tmp" && apt-get download -qq linux-source-6.1)
	}
	deb="$(ls "$tmp"/linux-source-6.1_*.deb)"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './usr/src/linux-source-6.1.tar.*'
	tarball="$(ls "$tmp"/usr/src/linux-source-6.1.tar.*)"
	tar -x -C "$tmp" -f "$tarball" --strip-components=2 \
		"${files[@]/#/linux-source-6.1/scripts/}"
	mkdir -p "$dir"
	for f in "${files[@]}"; do cp "$tmp/$f" "$dir/$f"; done
}

for f in "${files[@]}"; do
	[ -f "$dir/$f" ] || { fetch; break; }
done

cd "$repo"
mapfile -t sources < <(git ls-files 'kernel-shim/*.c' 'kernel-shim/*.h')
[ ${#sources[@]} -gt 0 ] || { echo "checkpatch: no kernel sources found" >&2; exit 1; }

status=0
for f in "${sources[@]}"; do
	out="$(perl "$dir/checkpatch.pl" --strict --no-tree --show-types -f "$f" 2>&1)" || true
	if ! grep -q "total: 0 errors, 0 warnings, 0 checks" <<<"$out"; then
		printf '%s\n' "$out"
		status=1
	fi
done
# The patches to F2FS, as patches (a new file needs a MAINTAINERS entry
# upstream, which a patch kept here cannot add).
mapfile -t patches < <(git ls-files 'kernel-shim/f2fs/patches/*.patch')
tmp_patch="$(mktemp --suffix=.patch)"
trap 'rm -f "$tmp_patch"' EXIT
for f in "${patches[@]}"; do
	# from outside the work tree: inside it, checkpatch reads a tracked
	# .patch file as a file added by the change under review
	cp "$f" "$tmp_patch"
	out="$(perl "$dir/checkpatch.pl" --strict --no-tree --show-types --ignore FILE_PATH_CHANGES "$tmp_patch" 2>&1)" || true
	if ! grep -q "total: 0 errors, 0 warnings, 0 checks" <<<"$out"; then
		printf '%s\n' "$out"
		status=1
	fi
done
if [ "$status" -eq 0 ]; then
	echo "checkpatch: ${#sources[@]} files and ${#patches[@]} patches clean (--strict)"
fi
exit "$status"
