// Testbench of iommu_pte_check and iommu_pte_addr against cases answered by the
// golden model (StageWalk in model/src/walker.rs).
//
// Each line of the case file holds 19 hex fields:
//   pte level va access u_rule ade svpbmt svrsw table_ppn levels widen
//   walked va_ok pte_addr kind next_ppn new_pte page_shift pa
// The first eleven are the modules' inputs (level/levels/widen and va feed both).
// `walked` is 0 when the model refused the address before any read (va_ok = 0):
// only va_ok is compared then. Otherwise pte_addr is the model's address of the
// PTE at `level` (read from table_ppn), kind is the model's answer to that PTE
// (iommu_base_pkg::pte_kind_e), next_ppn is checked for PteNext, and new_pte,
// page_shift and pa for PteUpdate and PteLeaf (new_pte is the leaf as used, so
// pte | A/D for an update and pte itself for a leaf).
//
// Build (two Verilated models; the first is linked into the second):
//   verilator --cc --build -Wall rtl/iommu_base_pkg.sv rtl/iommu_pte_addr.sv \
//     --top-module iommu_pte_addr --Mdir OBJ/addr
//   verilator --cc --exe --build -Wall rtl/iommu_base_pkg.sv rtl/iommu_pte_check.sv \
//     --top-module iommu_pte_check rtl/tb/iommu_pte_tb.cpp --Mdir OBJ/check \
//     -CFLAGS -IOBJ/addr OBJ/addr/Viommu_pte_addr__ALL.a -o iommu_pte_tb
// Run: OBJ/check/iommu_pte_tb CASES [MIN_CASES]

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "Viommu_pte_addr.h"
#include "Viommu_pte_check.h"
#include "verilated.h"

namespace {

struct Case {
  uint64_t pte, level, va, access, u_rule, ade, svpbmt, svrsw, table, levels, widen;
  uint64_t walked, va_ok, pte_addr, kind, next_ppn, new_pte, page_shift, pa;
};

constexpr uint64_t kPteNext = 0;
constexpr uint64_t kPteUpdate = 1;
constexpr uint64_t kPteLeaf = 2;

bool read_case(FILE* f, Case& c) {
  return std::fscanf(f,
                     "%" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64
                     " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64
                     " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64
                     " %" SCNx64,
                     &c.pte, &c.level, &c.va, &c.access, &c.u_rule, &c.ade, &c.svpbmt, &c.svrsw,
                     &c.table, &c.levels, &c.widen, &c.walked, &c.va_ok, &c.pte_addr, &c.kind,
                     &c.next_ppn, &c.new_pte, &c.page_shift, &c.pa) == 19;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CASES [MIN_CASES]\n", argv[0]);
    return 2;
  }
  const uint64_t min_cases = argc > 2 ? std::strtoull(argv[2], nullptr, 0) : 100000;
  FILE* f = std::fopen(argv[1], "r");
  if (f == nullptr) {
    std::perror(argv[1]);
    return 2;
  }

  auto ctx = std::make_unique<VerilatedContext>();
  auto chk = std::make_unique<Viommu_pte_check>(ctx.get(), "chk");
  auto adr = std::make_unique<Viommu_pte_addr>(ctx.get(), "adr");

  uint64_t total = 0, failed = 0;
  uint64_t per_kind[4] = {0, 0, 0, 0};
  Case c;
  while (read_case(f, c)) {
    ++total;
    adr->table_ppn_i = c.table;
    adr->va_i = c.va;
    adr->level_i = c.level;
    adr->levels_i = c.levels;
    adr->widen_i = c.widen;
    adr->eval();

    chk->pte_i = c.pte;
    chk->level_i = c.level;
    chk->va_i = c.va;
    chk->access_i = c.access;
    chk->u_rule_i = c.u_rule;
    chk->ade_i = c.ade;
    chk->svpbmt_i = c.svpbmt;
    chk->svrsw_i = c.svrsw;
    chk->eval();

    bool ok = adr->va_ok_o == c.va_ok;
    if (c.walked) {
      ok = ok && adr->pte_addr_o == c.pte_addr && chk->kind_o == c.kind;
      if (c.kind == kPteNext) ok = ok && chk->next_ppn_o == c.next_ppn;
      if (c.kind == kPteUpdate || c.kind == kPteLeaf) {
        ok = ok && chk->new_pte_o == c.new_pte && chk->page_shift_o == c.page_shift &&
             chk->pa_o == c.pa;
      }
      ++per_kind[c.kind & 3];
    }
    if (!ok) {
      if (++failed <= 10) {
        std::printf(
            "MISMATCH line %" PRIu64 ": pte=%" PRIx64 " level=%" PRIu64 " va=%" PRIx64
            " access=%" PRIu64 " u_rule=%" PRIu64 " ade=%" PRIu64 " svpbmt=%" PRIu64
            " svrsw=%" PRIu64 " table=%" PRIx64 " levels=%" PRIu64 " widen=%" PRIu64 "\n"
            "  model: va_ok=%" PRIu64 " pte_addr=%" PRIx64 " kind=%" PRIu64 " next_ppn=%" PRIx64
            " new_pte=%" PRIx64 " page_shift=%" PRIu64 " pa=%" PRIx64 "\n"
            "  rtl:   va_ok=%u pte_addr=%" PRIx64 " kind=%u next_ppn=%" PRIx64 " new_pte=%" PRIx64
            " page_shift=%u pa=%" PRIx64 "\n",
            total, c.pte, c.level, c.va, c.access, c.u_rule, c.ade, c.svpbmt, c.svrsw, c.table,
            c.levels, c.widen, c.va_ok, c.pte_addr, c.kind, c.next_ppn, c.new_pte, c.page_shift,
            c.pa, static_cast<unsigned>(adr->va_ok_o), static_cast<uint64_t>(adr->pte_addr_o),
            static_cast<unsigned>(chk->kind_o), static_cast<uint64_t>(chk->next_ppn_o),
            static_cast<uint64_t>(chk->new_pte_o), static_cast<unsigned>(chk->page_shift_o),
            static_cast<uint64_t>(chk->pa_o));
      }
    }
  }
  std::fclose(f);
  chk->final();
  adr->final();

  std::printf("%" PRIu64 " cases, %" PRIu64 " agreed, %" PRIu64
              " failed (walked: next %" PRIu64 ", update %" PRIu64 ", leaf %" PRIu64
              ", fault %" PRIu64 "; refused VA %" PRIu64 ")\n",
              total, total - failed, failed, per_kind[0], per_kind[1], per_kind[2], per_kind[3],
              total - per_kind[0] - per_kind[1] - per_kind[2] - per_kind[3]);
  if (failed != 0) return 1;
  if (total < min_cases) {
    std::printf("too few cases: %" PRIu64 " < %" PRIu64 "\n", total, min_cases);
    return 1;
  }
  return 0;
}
