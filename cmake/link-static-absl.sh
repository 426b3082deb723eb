#!/bin/sh
# Linker launcher (CXX_LINKER_LAUNCHER) for the binaries deviceapi_static_absl() names: runs the link
# command it is given with every shared Abseil library (…/libabsl_X.so[.N…]) taken out and the
# matching static archives (…/libabsl_X.a, same folder) put back at the end in one
# --start-group/--end-group, so the binary holds a single, static copy of Abseil and no libabsl*.so.
# Exits non-zero if an archive is missing rather than link a mix of the two.
set -eu
archives=""
n=$#
i=0
while [ "$i" -lt "$n" ]; do
  arg=$1
  shift
  i=$((i + 1))
  case $arg in
    */libabsl_*.so | */libabsl_*.so.*)
      a=${arg%%.so*}.a
      if [ ! -f "$a" ]; then
        echo "link-static-absl.sh: no static archive $a for $arg" >&2
        exit 1
      fi
      archives="$archives $a"
      ;;
    *) set -- "$@" "$arg" ;;
  esac
done
if [ -n "$archives" ]; then
  # shellcheck disable=SC2086 # the archive paths are word-split on purpose (no spaces in them)
  set -- "$@" -Wl,--start-group $archives -Wl,--end-group
fi
exec "$@"
