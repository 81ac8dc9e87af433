// Self-checking testbench of iommu_dc_check and iommu_pc_check: replays a file
// of cases whose expected verdicts come from the golden model
// (DeviceContext::valid/check, ProcessContext::valid/check) and compares both
// modules' outputs on every case.
//
// One case a line, whitespace-separated: eleven hex words
//   capabilities fctl tc iohgatp ta fsc msiptp msi_mask msi_pattern pc_ta pc_fsc
// then four 0/1 flags
//   dc_valid dc_misconfigured pc_valid pc_misconfigured.
// Lines that are empty or start with '#' are skipped.
//
// Both modules are Verilated into one executable under different prefixes:
//   verilator --cc --build -Wall --prefix Vpc --top-module iommu_pc_check \
//     -Mdir OBJ_PC rtl/iommu_pc_check.sv
//   verilator --cc --exe --build -Wall --prefix Vdc --top-module iommu_dc_check \
//     -Mdir OBJ_DC rtl/iommu_dc_check.sv rtl/tb/iommu_ctx_check_tb.cpp \
//     -CFLAGS -IOBJ_PC -LDFLAGS OBJ_PC/Vpc__ALL.a -o iommu_ctx_check_tb
// Usage: iommu_ctx_check_tb CASES_FILE. Exit status 0 when every case agrees.

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "Vdc.h"
#include "Vpc.h"
#include "verilated.h"

namespace {

struct Case {
  uint64_t caps, fctl, tc, iohgatp, ta, fsc, msiptp, mask, pattern, pc_ta, pc_fsc;
  int dc_valid, dc_mis, pc_valid, pc_mis;
};

bool parse(const std::string& line, Case& c) {
  std::istringstream in(line);
  in >> std::hex >> c.caps >> c.fctl >> c.tc >> c.iohgatp >> c.ta >> c.fsc >> c.msiptp >>
      c.mask >> c.pattern >> c.pc_ta >> c.pc_fsc >> std::dec >> c.dc_valid >> c.dc_mis >>
      c.pc_valid >> c.pc_mis;
  return !in.fail();
}

}  // namespace

int main(int argc, char** argv) {
  Verilated::commandArgs(argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CASES_FILE\n", argv[0]);
    return 2;
  }
  std::ifstream file(argv[1]);
  if (!file) {
    std::fprintf(stderr, "cannot open %s\n", argv[1]);
    return 2;
  }

  std::unique_ptr<Vdc> dc(new Vdc);
  std::unique_ptr<Vpc> pc(new Vpc);

  uint64_t cases = 0, failed = 0, lineno = 0;
  std::string line;
  while (std::getline(file, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    Case c;
    if (!parse(line, c)) {
      std::fprintf(stderr, "line %" PRIu64 ": cannot parse: %s\n", lineno, line.c_str());
      return 2;
    }

    dc->capabilities_i = c.caps;
    dc->fctl_i = static_cast<uint32_t>(c.fctl);
    dc->dc_tc_i = c.tc;
    dc->dc_iohgatp_i = c.iohgatp;
    dc->dc_ta_i = c.ta;
    dc->dc_fsc_i = c.fsc;
    dc->dc_msiptp_i = c.msiptp;
    dc->dc_msi_mask_i = c.mask;
    dc->dc_msi_pattern_i = c.pattern;
    dc->eval();

    pc->capabilities_i = c.caps;
    pc->fctl_i = static_cast<uint32_t>(c.fctl);
    pc->dc_tc_i = c.tc;
    pc->dc_iohgatp_i = c.iohgatp;
    pc->dc_ta_i = c.ta;
    pc->dc_fsc_i = c.fsc;
    pc->dc_msiptp_i = c.msiptp;
    pc->dc_msi_mask_i = c.mask;
    pc->dc_msi_pattern_i = c.pattern;
    pc->pc_ta_i = c.pc_ta;
    pc->pc_fsc_i = c.pc_fsc;
    pc->eval();

    ++cases;
    const int got[4] = {dc->valid_o, dc->misconfigured_o, pc->valid_o, pc->misconfigured_o};
    const int want[4] = {c.dc_valid, c.dc_mis, c.pc_valid, c.pc_mis};
    if (std::memcmp(got, want, sizeof got) != 0) {
      if (++failed <= 20) {
        std::fprintf(stderr,
                     "line %" PRIu64 ": rtl dc v=%d mis=%d pc v=%d mis=%d, model dc v=%d mis=%d "
                     "pc v=%d mis=%d\n  %s\n",
                     lineno, got[0], got[1], got[2], got[3], want[0], want[1], want[2], want[3],
                     line.c_str());
      }
    }
  }

  dc->final();
  pc->final();
  std::printf("iommu_ctx_check_tb: %" PRIu64 " passed, %" PRIu64 " failed\n", cases - failed,
              failed);
  return failed == 0 && cases > 0 ? 0 : 1;
}
