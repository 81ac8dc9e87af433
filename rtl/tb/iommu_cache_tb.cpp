// Testbench of iommu_iotlb, iommu_ddtc, iommu_pdtc, iommu_plru and iommu_cmd
// (through rtl/tb/iommu_cache_tb_top.sv) against an operation log recorded from
// the golden model: the model's Iotlb, Ddtc and Pdtc with Replacement::PseudoLru
// and the same geometry, and its command::decode and Iommu::execute.
//
// The log is one operation per line, hex fields, grouped in cycles:
//   G iotlb_sets iotlb_ways ddtc_sets ddtc_ways pdtc_sets pdtc_ways   (decimal)
//   C lo hi caps_nl caps_s caps_ats fctl_wsi KIND fields...   a command, decoded
//       KIND: ILL | VMA gv gscid pscv pscid av lo hi nl | GVMA gv gscid av lo hi nl
//           | DDT dv did | PDT did pid | FENCE av addr data wsi pr pw | ATS
//   T port gv gscid pv pscid iova access priv sum hit spa   IOTLB lookup + permits
//   TF gv gscid pv pscid page_shift iova spa gpa fs_shift gs_shift perm   IOTLB fill
//       (page_shift, fs_shift and gs_shift decimal)
//   D port did hit tc iohgatp ta fsc msiptp msi_mask msi_pattern   DDTC lookup
//   DF did tc iohgatp ta fsc msiptp msi_mask msi_pattern           DDTC fill
//   P port did pid hit ta fsc                                      PDTC lookup
//   PF did pid ta fsc                                              PDTC fill
//   E   end of cycle
// The model ran each cycle's operations in the RTL's clock-edge order: the
// command's invalidations, then lookups (port 0, then port 1), then fills. The
// testbench applies a cycle's operations together, compares every combinational
// output with the model's result (hit or miss, and the data of a hit; the
// decoder's verdict and operands), then clocks. A port the model does not use in
// a cycle keeps its last key with lkN_valid_i low, so a lookup that is not made
// must not touch the replacement state.
//
// Run: OBJ/iommu_cache_tb LOG [MIN_OPS_PER_CACHE]; TB_ALL=1 prints every
// mismatch, not only the first 20.
//
// Build (geometry as parameters, and again as TB_GEOM, which must match the log's
// G line; give the C++ file with an absolute path when --Mdir is elsewhere):
//   verilator --cc --exe --build -Wall --assert -Irtl rtl/iommu_base_pkg.sv \
//     rtl/iommu_plru.sv rtl/iommu_iotlb.sv rtl/iommu_ddtc.sv rtl/iommu_pdtc.sv \
//     rtl/iommu_cmd.sv rtl/tb/iommu_cache_tb_top.sv rtl/tb/iommu_cache_tb.cpp \
//     --top-module iommu_cache_tb_top -GIotlbSets=16 -GIotlbWays=4 \
//     -GDdtcSets=4 -GDdtcWays=4 -GPdtcSets=4 -GPdtcWays=4 \
//     -CFLAGS -DTB_GEOM=16,4,4,4,4,4 --Mdir OBJ -o iommu_cache_tb

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "Viommu_cache_tb_top.h"
#include "verilated.h"

#ifndef TB_GEOM
#error "define TB_GEOM as the RTL's geometry, e.g. -DTB_GEOM=16,4,4,4,4,4"
#endif

namespace {

using Dut = Viommu_cache_tb_top;

uint64_t hex(const char* s) { return std::strtoull(s, nullptr, 16); }
uint64_t dec(const char* s) { return std::strtoull(s, nullptr, 10); }

template <std::size_t N>
void set_words(VlWide<N>& w, const uint64_t* words, std::size_t n64) {
  for (std::size_t i = 0; i < n64; i++) {
    w[2 * i] = static_cast<uint32_t>(words[i]);
    w[2 * i + 1] = static_cast<uint32_t>(words[i] >> 32);
  }
}

template <std::size_t N>
uint64_t get_word(const VlWide<N>& w, std::size_t i) {
  return static_cast<uint64_t>(w[2 * i]) | (static_cast<uint64_t>(w[2 * i + 1]) << 32);
}

struct Stats {
  uint64_t lookups = 0, hits = 0, fills = 0, invals = 0;
  uint64_t ops() const { return lookups + fills + invals; }
};

struct Expect {
  // Kind of line and its fields, as tokens.
  std::vector<std::string> tok;
  uint64_t line = 0;
};

class Tb {
 public:
  explicit Tb(VerilatedContext* ctx) : dut_(new Dut{ctx}) {}

  void reset() {
    idle_inputs();
    dut_->clk_i = 0;
    dut_->rst_ni = 0;
    dut_->eval();
    dut_->clk_i = 1;
    dut_->eval();
    dut_->clk_i = 0;
    dut_->eval();
    dut_->rst_ni = 1;
    dut_->eval();
  }

  void idle_inputs() {
    dut_->cmd_valid_i = 0;
    dut_->t_lk0_valid_i = 0;
    dut_->t_lk1_valid_i = 0;
    dut_->t_fill_valid_i = 0;
    dut_->d_lk0_valid_i = 0;
    dut_->d_lk1_valid_i = 0;
    dut_->d_fill_valid_i = 0;
    dut_->p_lk0_valid_i = 0;
    dut_->p_lk1_valid_i = 0;
    dut_->p_fill_valid_i = 0;
  }

  // Applies one operation line's inputs; keeps what to compare.
  bool apply(const std::vector<std::string>& t, uint64_t line) {
    auto f = [&](std::size_t i) { return hex(t.at(i).c_str()); };
    const std::string& k = t[0];
    if (k == "C") {
      dut_->cmd_valid_i = 1;
      dut_->cmd_lo_i = f(1);
      dut_->cmd_hi_i = f(2);
      dut_->caps_nl_i = f(3);
      dut_->caps_s_i = f(4);
      dut_->caps_ats_i = f(5);
      dut_->fctl_wsi_i = f(6);
    } else if (k == "T") {
      bool p1 = f(1) == 1;
      (p1 ? dut_->t_lk1_valid_i : dut_->t_lk0_valid_i) = 1;
      (p1 ? dut_->t_lk1_gv_i : dut_->t_lk0_gv_i) = f(2);
      (p1 ? dut_->t_lk1_gscid_i : dut_->t_lk0_gscid_i) = f(3);
      (p1 ? dut_->t_lk1_pv_i : dut_->t_lk0_pv_i) = f(4);
      (p1 ? dut_->t_lk1_pscid_i : dut_->t_lk0_pscid_i) = f(5);
      (p1 ? dut_->t_lk1_iova_i : dut_->t_lk0_iova_i) = f(6);
      (p1 ? dut_->t_lk1_access_i : dut_->t_lk0_access_i) = f(7);
      (p1 ? dut_->t_lk1_priv_i : dut_->t_lk0_priv_i) = f(8);
      (p1 ? dut_->t_lk1_sum_i : dut_->t_lk0_sum_i) = f(9);
    } else if (k == "TF") {
      dut_->t_fill_valid_i = 1;
      dut_->t_fill_gv_i = f(1);
      dut_->t_fill_gscid_i = f(2);
      dut_->t_fill_pv_i = f(3);
      dut_->t_fill_pscid_i = f(4);
      dut_->t_fill_page_shift_i = dec(t.at(5).c_str());
      dut_->t_fill_iova_base_i = f(6);
      dut_->t_fill_spa_base_i = f(7);
      dut_->t_fill_gpa_base_i = f(8);
      dut_->t_fill_fs_shift_i = dec(t.at(9).c_str());
      dut_->t_fill_gs_shift_i = dec(t.at(10).c_str());
      dut_->t_fill_perm_i = f(11);
      tlb_.fills++;
    } else if (k == "D") {
      bool p1 = f(1) == 1;
      (p1 ? dut_->d_lk1_valid_i : dut_->d_lk0_valid_i) = 1;
      (p1 ? dut_->d_lk1_did_i : dut_->d_lk0_did_i) = f(2);
    } else if (k == "DF") {
      uint64_t w[7];
      for (int i = 0; i < 7; i++) w[i] = f(2 + i);
      dut_->d_fill_valid_i = 1;
      dut_->d_fill_did_i = f(1);
      set_words(dut_->d_fill_dc_i, w, 7);
      ddtc_.fills++;
    } else if (k == "P") {
      bool p1 = f(1) == 1;
      (p1 ? dut_->p_lk1_valid_i : dut_->p_lk0_valid_i) = 1;
      (p1 ? dut_->p_lk1_did_i : dut_->p_lk0_did_i) = f(2);
      (p1 ? dut_->p_lk1_pid_i : dut_->p_lk0_pid_i) = f(3);
    } else if (k == "PF") {
      uint64_t w[2] = {f(3), f(4)};
      dut_->p_fill_valid_i = 1;
      dut_->p_fill_did_i = f(1);
      dut_->p_fill_pid_i = f(2);
      set_words(dut_->p_fill_pc_i, w, 2);
      pdtc_.fills++;
    } else {
      return false;
    }
    if (k == "C" || k == "T" || k == "D" || k == "P") expects_.push_back({t, line});
    return true;
  }

  // Compares the combinational outputs with the model's results of this cycle.
  void check() {
    dut_->eval();
    for (const Expect& e : expects_) {
      const auto& t = e.tok;
      auto f = [&](std::size_t i) { return hex(t.at(i).c_str()); };
      const std::string& k = t[0];
      if (k == "C") {
        check_command(e);
      } else if (k == "T") {
        bool p1 = f(1) == 1;
        uint64_t hit = p1 ? dut_->t_lk1_hit_o : dut_->t_lk0_hit_o;
        uint64_t spa = p1 ? dut_->t_lk1_spa_o : dut_->t_lk0_spa_o;
        tlb_.lookups++;
        tlb_.hits += f(10);
        expect(e, "iotlb hit", hit, f(10));
        if (f(10)) expect(e, "iotlb spa", spa, f(11));
      } else if (k == "D") {
        bool p1 = f(1) == 1;
        uint64_t hit = p1 ? dut_->d_lk1_hit_o : dut_->d_lk0_hit_o;
        ddtc_.lookups++;
        ddtc_.hits += f(3);
        expect(e, "ddtc hit", hit, f(3));
        if (f(3)) {
          for (std::size_t i = 0; i < 7; i++) {
            uint64_t got = get_word(p1 ? dut_->d_lk1_dc_o : dut_->d_lk0_dc_o, i);
            expect(e, "ddtc dc word", got, f(4 + i));
          }
        }
      } else if (k == "P") {
        bool p1 = f(1) == 1;
        uint64_t hit = p1 ? dut_->p_lk1_hit_o : dut_->p_lk0_hit_o;
        pdtc_.lookups++;
        pdtc_.hits += f(4);
        expect(e, "pdtc hit", hit, f(4));
        if (f(4)) {
          expect(e, "pdtc ta", get_word(p1 ? dut_->p_lk1_pc_o : dut_->p_lk0_pc_o, 0), f(5));
          expect(e, "pdtc fsc", get_word(p1 ? dut_->p_lk1_pc_o : dut_->p_lk0_pc_o, 1), f(6));
        }
      }
    }
    expects_.clear();
  }

  void clock() {
    dut_->clk_i = 1;
    dut_->eval();
    dut_->clk_i = 0;
    dut_->eval();
    idle_inputs();
  }

  void report() const {
    std::printf("iotlb: %" PRIu64 " ops (%" PRIu64 " lookups, %" PRIu64 " hits, %" PRIu64
                " fills, %" PRIu64 " invalidations)\n",
                tlb_.ops(), tlb_.lookups, tlb_.hits, tlb_.fills, tlb_.invals);
    std::printf("ddtc:  %" PRIu64 " ops (%" PRIu64 " lookups, %" PRIu64 " hits, %" PRIu64
                " fills, %" PRIu64 " invalidations)\n",
                ddtc_.ops(), ddtc_.lookups, ddtc_.hits, ddtc_.fills, ddtc_.invals);
    std::printf("pdtc:  %" PRIu64 " ops (%" PRIu64 " lookups, %" PRIu64 " hits, %" PRIu64
                " fills, %" PRIu64 " invalidations)\n",
                pdtc_.ops(), pdtc_.lookups, pdtc_.hits, pdtc_.fills, pdtc_.invals);
    std::printf("commands: %" PRIu64 " (%" PRIu64 " illegal); comparisons %" PRIu64
                ", mismatches %" PRIu64 "\n",
                commands_, illegal_, compares_, mismatches_);
  }

  uint64_t mismatches() const { return mismatches_; }
  uint64_t min_ops() const {
    uint64_t m = tlb_.ops();
    if (ddtc_.ops() < m) m = ddtc_.ops();
    if (pdtc_.ops() < m) m = pdtc_.ops();
    return m;
  }

 private:
  void expect(const Expect& e, const char* what, uint64_t got, uint64_t want) {
    compares_++;
    if (got == want) return;
    if (mismatches_ < 20 || std::getenv("TB_ALL") != nullptr) {
      std::string line;
      for (const auto& s : e.tok) line += s + " ";
      std::printf("MISMATCH line %" PRIu64 ": %s: rtl %" PRIx64 ", model %" PRIx64 "\n  %s\n",
                  e.line, what, got, want, line.c_str());
    }
    mismatches_++;
  }

  void check_command(const Expect& e) {
    const auto& t = e.tok;
    auto f = [&](std::size_t i) { return hex(t.at(i).c_str()); };
    const std::string& kind = t.at(7);
    commands_++;
    bool vma = kind == "VMA", gvma = kind == "GVMA", ddt = kind == "DDT", pdt = kind == "PDT";
    bool fence = kind == "FENCE", ats = kind == "ATS", ill = kind == "ILL";
    illegal_ += ill;
    expect(e, "illegal", dut_->illegal_o, ill);
    expect(e, "iotlb_vma", dut_->iotlb_vma_o, vma);
    expect(e, "iotlb_gvma", dut_->iotlb_gvma_o, gvma);
    expect(e, "ddtc_inv", dut_->ddtc_inv_o, ddt);
    expect(e, "pdtc_inv", dut_->pdtc_inv_o, ddt || pdt);
    expect(e, "fence", dut_->fence_o, fence);
    expect(e, "ats", dut_->ats_o, ats);
    if (vma || gvma) {
      tlb_.invals++;
      std::size_t i = 8;
      expect(e, "gv", dut_->iotlb_gv_o, f(i));
      if (f(i)) expect(e, "gscid", dut_->iotlb_gscid_o, f(i + 1));
      i += 2;
      if (vma) {
        expect(e, "pscv", dut_->iotlb_pscv_o, f(i));
        if (f(i)) expect(e, "pscid", dut_->iotlb_pscid_o, f(i + 1));
        i += 2;
      } else {
        expect(e, "pscv", dut_->iotlb_pscv_o, 0);
      }
      expect(e, "av", dut_->iotlb_av_o, f(i));
      if (f(i)) {
        expect(e, "range lo", dut_->iotlb_lo_o, f(i + 1));
        expect(e, "range hi", dut_->iotlb_hi_o, f(i + 2));
      }
      expect(e, "nl", dut_->iotlb_nl_o, f(i + 3));
    } else if (ddt) {
      ddtc_.invals++;
      pdtc_.invals++;
      expect(e, "ddtc_dv", dut_->ddtc_dv_o, f(8));
      expect(e, "pdtc_dv", dut_->pdtc_dv_o, f(8));
      expect(e, "pdtc_pv", dut_->pdtc_pv_o, 0);
      if (f(8)) {
        expect(e, "ddtc_did", dut_->ddtc_did_o, f(9));
        expect(e, "pdtc_did", dut_->pdtc_did_o, f(9));
      }
    } else if (pdt) {
      pdtc_.invals++;
      expect(e, "pdtc_dv", dut_->pdtc_dv_o, 1);
      expect(e, "pdtc_pv", dut_->pdtc_pv_o, 1);
      expect(e, "pdtc_did", dut_->pdtc_did_o, f(8));
      expect(e, "pdtc_pid", dut_->pdtc_pid_o, f(9));
    } else if (fence) {
      expect(e, "fence_av", dut_->fence_av_o, f(8));
      if (f(8)) {
        expect(e, "fence_addr", dut_->fence_addr_o, f(9));
        expect(e, "fence_data", dut_->fence_data_o, f(10));
      }
      expect(e, "fence_wsi", dut_->fence_wsi_o, f(11));
      expect(e, "fence_pr", dut_->fence_pr_o, f(12));
      expect(e, "fence_pw", dut_->fence_pw_o, f(13));
    }
  }

  std::unique_ptr<Dut> dut_;
  std::vector<Expect> expects_;
  Stats tlb_, ddtc_, pdtc_;
  uint64_t commands_ = 0, illegal_ = 0, compares_ = 0, mismatches_ = 0;
};

std::vector<std::string> split(const char* s) {
  std::vector<std::string> out;
  std::string cur;
  for (; *s; s++) {
    if (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += *s;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s LOG [MIN_OPS_PER_CACHE]\n", argv[0]);
    return 2;
  }
  uint64_t min_ops = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  FILE* in = std::fopen(argv[1], "r");
  if (!in) {
    std::perror(argv[1]);
    return 2;
  }
  auto ctx = std::make_unique<VerilatedContext>();
  ctx->commandArgs(argc, argv);
  Tb tb(ctx.get());
  tb.reset();

  static char buf[4096];
  uint64_t line = 0, cycles = 0;
  while (std::fgets(buf, sizeof buf, in)) {
    line++;
    auto t = split(buf);
    if (t.empty()) continue;
    if (t[0] == "G") {
      static const unsigned kGeom[6] = {TB_GEOM};
      std::string g = t.at(1) + " " + t.at(2) + " " + t.at(3) + " " + t.at(4) + " " + t.at(5) +
                      " " + t.at(6);
      std::string built;
      for (unsigned v : kGeom) built += (built.empty() ? "" : " ") + std::to_string(v);
      if (g != built) {
        std::fprintf(stderr, "log geometry \"%s\" but the RTL was built as \"%s\"\n", g.c_str(),
                     built.c_str());
        return 2;
      }
      std::printf("geometry (iotlb, ddtc, pdtc sets ways): %s\n", g.c_str());
    } else if (t[0] == "E") {
      tb.check();
      tb.clock();
      cycles++;
    } else if (!tb.apply(t, line)) {
      std::fprintf(stderr, "line %" PRIu64 ": unknown operation %s\n", line, t[0].c_str());
      return 2;
    }
  }
  std::fclose(in);
  std::printf("cycles: %" PRIu64 "\n", cycles);
  tb.report();
  if (tb.mismatches() != 0) {
    std::printf("FAIL\n");
    return 1;
  }
  if (tb.min_ops() < min_ops) {
    std::printf("FAIL: fewer than %" PRIu64 " operations on some cache\n", min_ops);
    return 1;
  }
  std::printf("PASS\n");
  return 0;
}
