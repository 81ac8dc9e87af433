// The speed of a model without the shim: a C++ loop that toggles the clock with
// constant inputs, as fast as Verilator goes. Exported per configuration as
//   uint64_t iommu_<name>_bare_loop(uint64_t cycles)
// which builds a model, holds reset for a few cycles, releases it, then times
// `cycles` clock cycles (eval with the clock low, eval with it high) and returns the
// nanoseconds they took, or UINT64_MAX if the model stopped or failed. Compare with
// the same loop through step() (iommu_cosim::speed) to see what the shim and the FFI
// cost.
#include <chrono>
#include <cstdint>

#include "shim.h"

namespace {

// Cycles of reset before the timed loop.
constexpr int kResetCycles = 4;

template <class Model>
std::uint64_t timed_loop(std::uint64_t cycles) {
    VerilatedContext ctx;
    Verilated::threadContextp(&ctx);
    Model m(&ctx, "TOP");
    IommuInputs in{};
    in.rsp_ready_i = true;
    in.mem_req_ready_i = true;
    iommu_cosim::apply_inputs(m, in);
    const auto tick = [&m] {
        m.clk_i = 0;
        m.eval();
        m.clk_i = 1;
        m.eval();
    };
    for (int i = 0; i < kResetCycles; ++i) tick();
    m.rst_ni = 1;
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t c = 0; c < cycles; ++c) tick();
    const auto end = std::chrono::steady_clock::now();
    m.final();
    if (iommu_cosim::take_thread_event(nullptr) != 0) return UINT64_MAX;
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
}

template <class Model>
std::uint64_t bare_loop(std::uint64_t cycles) noexcept {
    std::uint64_t ns = UINT64_MAX;
    try {
        ns = timed_loop<Model>(cycles);
    } catch (...) {
        iommu_cosim::take_thread_event(nullptr);
    }
    // The context is gone: leave no pointer to it in Verilator's thread state.
    Verilated::threadContextp(nullptr);
    return ns;
}

}  // namespace

#define IOMMU_EXPORT_BARE_LOOP(name, Model)                                        \
    extern "C" std::uint64_t iommu_##name##_bare_loop(std::uint64_t cycles) noexcept { \
        return bare_loop<Model>(cycles);                                           \
    }

IOMMU_FOR_EACH_CONFIG(IOMMU_EXPORT_BARE_LOOP)
