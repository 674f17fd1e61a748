#!/usr/bin/env bash
# Lists every BSD-only code site in the tree and fails, naming it, when one is
# not covered by docs/bsd.md.
#
# A site is a line of Rust or Cargo.toml with one of
#   target_os = "freebsd" / "openbsd"  (cfg, cfg_attr, cfg!, Cargo [target.'cfg(..)'])
#   not(target_os = "linux") / not(any(target_os = "linux" ...   (the BSD side of a Linux split)
#   cfg!(target_os = ...)                                           (a run-time switch on the OS)
# Its stable identifier is `path::item`, without line numbers:
#   - an outer attribute line: the item it is attached to (fn, mod, const, static,
#     struct, enum, type, impl, trait; `use` gives `use`), looking past other
#     attribute, doc and comment lines;
#   - a cfg! in an item's own declaration line: that item;
#   - a cfg on a statement or block, or a cfg! expression: the enclosing fn;
#   - an inner attribute #![...]: the enclosing mod (or the file, as `path::<file>`);
#   - a Cargo.toml line: `path::[target]`.
# docs/bsd.md must contain each identifier literally (in backticks in its site
# table). Usage: tests/bsd-sites-check.sh [--list]
set -euo pipefail
cd "$(dirname "$0")/.."
doc=docs/bsd.md
pattern='target_os *= *"(freebsd|openbsd)"|not\((any\()?target_os *= *"linux"|cfg!\(target_os'

list_sites() {
  git ls-files '*.rs' '*Cargo.toml' | while read -r f; do
    grep -Eq "$pattern" "$f" || continue
    case "$f" in
      *Cargo.toml)
        grep -Eq "$pattern" "$f" && echo "$f::[target]"
        continue ;;
    esac
    awk -v file="$f" -v pat="$pattern" '
      { line[NR] = $0 }
      END {
        for (i = 1; i <= NR; i++) {
          if (line[i] !~ pat) continue
          print file "::" item(i)
        }
      }
      function decl_name(s,   m) {
        # strip visibility and qualifiers, then take the declared name
        sub(/^[ \t]*/, "", s)
        gsub(/pub(\([a-z:]+\))? /, "", s)
        gsub(/(unsafe|const|async|extern "C") (fn )/, "fn ", s)
        if (match(s, /^(fn|mod|struct|enum|type|trait|static|const) +[A-Za-z_][A-Za-z0-9_]*/)) {
          m = substr(s, RSTART, RLENGTH); sub(/^[a-z]+ +/, "", m); return m
        }
        if (s ~ /^impl[ <]/) { return "impl" }
        if (s ~ /^use /) { return "use" }
        if (s ~ /^macro_rules!/) { return "macro" }
        return ""
      }
      function enclosing(i, kind,   j, n, s) {
        for (j = i - 1; j >= 1; j--) {
          s = line[j]
          if (kind == "fn" && s ~ /(^|[ \t])(fn|const|static) [A-Za-z_]/) { n = decl_name(s); if (n != "") return n }
          if (kind == "mod" && s ~ /(^|[ \t])mod [A-Za-z_]/) { n = decl_name(s); if (n != "") return n }
        }
        return "<file>"
      }
      function item(i,   j, s, n) {
        s = line[i]
        if (s ~ /^[ \t]*#!\[/) return enclosing(i, "mod")
        if (s ~ /^[ \t]*#\[/) {
          for (j = i + 1; j <= NR && j <= i + 12; j++) {
            s = line[j]
            if (s ~ /^[ \t]*(#\[|\/\/)/ || s ~ /^[ \t]*$/) continue
            n = decl_name(s)
            if (n != "") return n
            break   # a statement or block: name the enclosing fn
          }
        }
        n = decl_name(line[i])   # e.g. const HOST = if cfg!(...)
        if (n != "") return n
        return enclosing(i, "fn")
      }
    ' "$f"
  done | sort -u
}

sites=$(list_sites)
if [ "${1:-}" = "--list" ]; then
  echo "$sites"
  exit 0
fi
[ -f "$doc" ] || { echo "bsd-sites-check: $doc is missing"; exit 1; }
missing=0
while read -r id; do
  [ -n "$id" ] || continue
  if ! grep -Fq "\`$id\`" "$doc"; then
    echo "bsd-sites-check: BSD site not in $doc: $id"
    missing=$((missing + 1))
  fi
done <<< "$sites"
n=$(grep -c . <<< "$sites")
if [ "$missing" -gt 0 ]; then
  echo "bsd-sites-check: FAIL ($missing of $n sites undocumented)"
  exit 1
fi
echo "bsd-sites-check: PASS ($n sites, all in $doc)"
