#!/usr/bin/env bash
# Checks deployments/container/Dockerfile against the binaries the build produces, without a
# container engine (ctest deployments_images):
#   (a) the stages: one runtime stage per binary, named after it, that COPYs that binary from the
#       build stage to /usr/local/bin/<binary> and has it as its ENTRYPOINT; the build stage builds it;
#   (b) the packages: every shared library the binary loads (ldd) comes (dpkg -S) from a package its
#       stage apt-installs, or from libc6, libgcc-s1 or libstdc++6, which debian:12-slim already has;
#       and the stage installs no package that provides none of them;
#   (c) the ports: the stage's EXPOSE lists exactly the binary's default TCP ports, read from its
#       --help (and its subcommands' --help): the defaults of every --*-bind-address and --*-port flag;
#   (d) the users: the stage's USER is the one deployments/container/README.md documents for the
#       image, and only gpu-device-plugin runs as root.
#
# Usage: check_images.sh [--dockerfile FILE] [--readme FILE] SOURCE_DIR BINARY...
# Exit 0: all good; 1: a check failed (each failure is one line naming the image); 2: bad usage;
# 77: cannot check here (no ldd or dpkg: not a Debian host), reported to ctest as skipped.
set -euo pipefail

dockerfile=""
readme=""
while [ $# -gt 0 ]; do
  case $1 in
    --dockerfile) dockerfile=$2; shift 2 ;;
    --readme) readme=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "check_images.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 2 ]; then
  echo "usage: check_images.sh [--dockerfile FILE] [--readme FILE] SOURCE_DIR BINARY..." >&2
  exit 2
fi
src=$1
shift
dockerfile=${dockerfile:-$src/deployments/container/Dockerfile}
readme=${readme:-$src/deployments/container/README.md}
bins=("$@")

for tool in ldd dpkg; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check_images.sh: SKIP: no $tool here (the images are Debian 12; run this on Debian)"
    exit 77
  fi
done
for f in "$dockerfile" "$readme" "${bins[@]}"; do
  [ -r "$f" ] || { echo "check_images.sh: cannot read $f" >&2; exit 2; }
done

# Packages debian:12-slim already holds that a C++ binary needs: libc6 (libc, libm, libpthread,
# libdl, the loader; Priority: required), libgcc-s1 (required) and libstdc++6 (a dependency of apt,
# which is required). Anything else must be installed by the image's own stage, even a package the
# slim image happens to carry (zlib1g): the list then says what the binary needs.
base_pkgs=" libc6 libgcc-s1 libstdc++6 "

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# --- The Dockerfile as logical instructions: "stage<TAB>INSTRUCTION<TAB>arguments", comments dropped,
# continuation lines joined, stage "" before the first named FROM.
instructions=$(awk '
  function emit(l,   n, w, instr, rest) {
    sub(/^[ \t]+/, "", l)
    if (l == "") return
    n = split(l, w, /[ \t]+/)
    instr = toupper(w[1])
    rest = l
    sub(/^[^ \t]+[ \t]*/, "", rest)
    if (instr == "FROM") {
      stage = ""
      if (n >= 4 && toupper(w[n - 1]) == "AS") stage = w[n]
    }
    printf "%s\t%s\t%s\n", stage, instr, rest
  }
  /^[ \t]*#/ { next }
  {
    line = $0
    if (line ~ /\\[ \t]*$/) { sub(/\\[ \t]*$/, " ", line); buf = buf line; next }
    emit(buf line)
    buf = ""
  }
  END { if (buf != "") emit(buf) }
' "$dockerfile")

stage_lines() {  # stage instruction -> that instruction's arguments, one line each
  awk -F '\t' -v s="$1" -v i="$2" '$1 == s && $2 == i { print $3 }' <<<"$instructions"
}

# Packages a stage apt-installs: the words after "apt-get install" / "apt install" in its RUN
# commands, options and version pins dropped.
stage_packages() {
  stage_lines "$1" RUN | tr ';|&' '\n' | awk '
    {
      for (i = 1; i < NF; i++) {
        if (($i == "apt-get" || $i == "apt") && $(i + 1) == "install") {
          for (j = i + 2; j <= NF; j++) {
            if ($j ~ /^-/) continue
            p = $j
            sub(/=.*/, "", p)
            print p
          }
          break
        }
      }
    }' | sort -u
}

# libowner[path]: the package that owns each library the binaries load, from one dpkg -S over all of
# them (usrmerge means dpkg may know a file under /usr or without it: each path's spellings are asked).
declare -A libowner=()
load_owners() {
  local bin path real line pkgs c
  local -A owner=() paths=()
  local -a cands=()
  for bin in "$@"; do
    while IFS= read -r path; do
      [ -z "${paths[$path]:-}" ] || continue
      real=$(readlink -f "$path")
      paths[$path]="$path /usr$path ${path#/usr} $real /usr$real ${real#/usr}"
      # shellcheck disable=SC2206 # the spellings are split on purpose (no spaces in library paths)
      cands+=(${paths[$path]})
    done < <(ldd "$bin" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
  done
  [ ${#cands[@]} -gt 0 ] || return 0
  while IFS= read -r line; do
    case $line in diversion* | *": /"*": /"*) continue ;; esac
    pkgs=${line%%: /*}
    owner[/${line#*: /}]=${pkgs%%[:,]*}
  done < <(dpkg -S "${cands[@]}" 2>/dev/null || true)
  for path in "${!paths[@]}"; do
    for c in ${paths[$path]}; do
      if [ -n "${owner[$c]:-}" ]; then
        libowner[$path]=${owner[$c]}
        break
      fi
    done
  done
}

# Default TCP ports of a binary: the defaults of its --*-bind-address (host:port) and --*-port flags
# in its --help and in each of its subcommands' --help.
default_ports() {
  local bin=$1 help subs s
  help=$("$bin" --help 2>&1) || true
  subs=$(awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }' <<<"$help")
  for s in $subs; do
    help+=$'\n'$("$bin" "$s" --help 2>&1) || true
  done
  grep -oE -- '--[a-z0-9-]*(bind-address|port) (TEXT|INT)=[^ ]+' <<<"$help" |
    sed -E 's/.*=//; s/.*://' | grep -E '^[0-9]+$' | grep -vx '0' | sort -un || true
}

# The README's image table: "| `binary` | `uid:gid` | ports | ... |".
documented_user() {
  awk -F '|' -v b="\`$1\`" '{ gsub(/[ \t]/, "", $2); gsub(/[ \t`]/, "", $3) } $2 == b { print $3; exit }' "$readme"
}

load_owners "${bins[@]}"
stages=$(awk -F '\t' '$2 == "FROM" && $1 != "" { print $1 }' <<<"$instructions")
build_run=$(stage_lines build RUN)
names=" "
for bin in "${bins[@]}"; do names+="$(basename "$bin") "; done
list=${names# }
list=${list% }  # for messages

# (a) Every stage but "build" is a runtime stage named after a binary the build produces.
for st in $stages; do
  [ "$st" = build ] && continue
  case $names in
    *" $st "*) ;;
    *) fail "stage $st: not one of the binaries the build produces: $list" ;;
  esac
done

for bin in "${bins[@]}"; do
  name=$(basename "$bin")
  if ! grep -qx -- "$name" <<<"$stages"; then
    fail "$name: no runtime stage 'FROM ... AS $name' in $dockerfile"
    continue
  fi

  # (a) the build stage builds it; COPY and ENTRYPOINT name it.
  grep -qw -- "$name" <<<"$build_run" || fail "$name: the build stage does not build it (no '$name' in its RUN)"
  copies=$(stage_lines "$name" COPY)
  if [ -z "$copies" ]; then
    fail "$name: its stage has no COPY of the binary"
  fi
  while IFS= read -r c; do
    [ -n "$c" ] || continue
    read -r -a words <<<"$c"
    from="" ; files=()
    for w in "${words[@]}"; do
      case $w in
        --from=*) from=${w#--from=} ;;
        --*) ;;
        *) files+=("$w") ;;
      esac
    done
    [ "$from" = build ] || fail "$name: COPY '$c' is not from the build stage"
    for f in "${files[@]}"; do
      b=$(basename "$f")
      case $names in
        *" $b "*) [ "$b" = "$name" ] || fail "$name: COPY '$c' copies $b, another image's binary" ;;
        *) fail "$name: COPY '$c' names $b, not a binary the build produces: $list" ;;
      esac
    done
    [ "${files[-1]}" = "/usr/local/bin/$name" ] || fail "$name: COPY '$c' does not install it as /usr/local/bin/$name"
  done <<<"$copies"
  entry=$(stage_lines "$name" ENTRYPOINT | tail -n 1)
  first=$(sed -E 's/^\[[[:space:]]*"([^"]*)".*/\1/; t; s/^([^[:space:]]+).*/\1/' <<<"$entry")
  [ "$first" = "/usr/local/bin/$name" ] || fail "$name: ENTRYPOINT is '$entry', not [\"/usr/local/bin/$name\"]"

  # (b) shared libraries -> packages.
  installed=$(stage_packages "$name")
  if ! ldd_out=$(ldd "$bin" 2>&1); then
    fail "$name: ldd $bin failed: $ldd_out"
    continue
  fi
  installed_words=" $(tr '\n' ' ' <<<"$installed")"
  needed_pkgs=" "
  while IFS= read -r l; do
    case $l in
      *"not found"*) fail "$name: $l (the library is missing on this machine)"; continue ;;
      *" => /"*) ;;
      *) continue ;;  # linux-vdso, the loader's own line
    esac
    lib=${l#*=> }
    lib=${lib%% (*}
    pkg=${libowner[$lib]:-}
    if [ -z "$pkg" ]; then
      fail "$name: $lib belongs to no Debian package (dpkg -S): the image cannot install it"
      continue
    fi
    case $needed_pkgs in *" $pkg "*) continue ;; esac
    needed_pkgs+="$pkg "
    case $base_pkgs in *" $pkg "*) continue ;; esac
    case $installed_words in
      *" $pkg "*) ;;
      *) fail "$name: its stage does not apt-install $pkg (provides ${lib##*/})" ;;
    esac
  done <<<"$ldd_out"
  for p in $installed; do
    case $needed_pkgs in
      *" $p "*) ;;
      *) fail "$name: its stage apt-installs $p, which provides none of the binary's shared libraries" ;;
    esac
  done

  # (c) ports.
  want=$(default_ports "$bin" | tr '\n' ' ' | sed 's/ $//')
  have=$(stage_lines "$name" EXPOSE | tr ' ' '\n' | sed -E '/^$/d; s#/tcp$##' | sort -un | tr '\n' ' ' | sed 's/ $//')
  [ "$have" = "$want" ] || fail "$name: EXPOSE '${have}' but the binary's default TCP ports are '${want}'"

  # (d) users.
  user=$(stage_lines "$name" USER | tail -n 1 | tr -d ' ')
  doc=$(documented_user "$name")
  if [ -z "$user" ]; then
    fail "$name: no USER line (state the user, root included)"
  elif [ -z "$doc" ]; then
    fail "$name: $readme documents no user for it (table row '| \`$name\` | \`uid:gid\` | ...')"
  elif [ "$user" != "$doc" ]; then
    fail "$name: USER $user but $readme documents $doc"
  fi
  case $user in
    0 | 0:* | root | root:*) [ "$name" = gpu-device-plugin ] || fail "$name: runs as root ($user); only gpu-device-plugin needs it" ;;
  esac

  echo "ok: $name: packages [$(tr '\n' ' ' <<<"$installed" | sed 's/ $//')], EXPOSE [${have}], USER $user"
done

if [ "$failures" -gt 0 ]; then
  echo "check_images.sh: $failures problem(s) in $dockerfile"
  exit 1
fi
echo "check_images.sh: $dockerfile matches ${#bins[@]} binaries"
