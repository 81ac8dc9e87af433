// The C interface of the Verilator models, one set of functions per configuration
// of rtl/configs.txt (iommu_<name>_create, _destroy, _step, _trace_open,
// _trace_close, _coverage_write, _message, _walkers), declared on the Rust side by
// the bindings that build.rs generates (cosim/src/ffi.rs).
//
// One call of step() is one clock cycle: inputs applied with the clock low and
// evaluated (combinational outputs settle), outputs copied (this cycle's
// handshakes), then the rising edge evaluated. Trace time: cycle c's low phase is
// at c ns, its rising edge at c ns + 500 ps (build.rs passes
// --timescale-override 1ns/1ps), so the cursor time in ns is the cycle number.
//
// Verilator's $finish, $stop (and failed assertions) and fatal errors exit or abort
// the process by default; here they stop the model instead, and step() returns
// non-zero with a message, so that a co-simulation can report the cycle.
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "shim.h"

#if VM_TRACE
#include "verilated_fst_c.h"
#endif
#if VM_COVERAGE
#include "verilated_cov.h"
#endif

namespace {

// What stopped a model; the step() return codes.
enum Event : int {
    kRunning = 0,
    kFinish = 1,  // $finish
    kStop = 2,    // $stop or a failed assertion
    kFatal = 3,   // a fatal runtime error (the model's state is undefined)
};

// Return codes of trace_open().
enum TraceStatus : int {
    kTraceOk = 0,
    kTraceNotBuilt = -1,  // built without the `trace` feature
    kTraceFailed = -2,    // see message()
};

// Return codes of coverage_write().
enum CoverageStatus : int {
    kCoverageOk = 0,
    kCoverageNotBuilt = -1,  // built without the `coverage` feature
    kCoverageFailed = -2,    // see message()
};

// Simulation time of one clock cycle, in units of the time precision (1 ps).
constexpr std::uint64_t kPeriod = 1000;

// The first event of the current evaluation, recorded by the vl_* hooks below on the
// thread that runs eval() and taken by the Sim right after it.
thread_local int t_event = kRunning;
thread_local std::string t_message;

// Thrown by vl_fatal, which must not return into the model.
struct Fatal {};

void record(Event event, const char* what, const char* file, int line, const char* hier) {
    if (t_event != kRunning) return;
    t_event = event;
    t_message = what;
    if (file && file[0]) {
        t_message += " at ";
        t_message += file;
        t_message += ':';
        t_message += std::to_string(line);
    }
    if (hier && hier[0]) {
        t_message += " in ";
        t_message += hier;
    }
}

// One model with its own context (time, flags) and, when tracing, its FST writer.
template <class Model>
class Sim {
  public:
    Sim() : ctx_(new VerilatedContext) {
        Verilated::threadContextp(ctx_.get());
#if VM_TRACE
        ctx_->traceEverOn(true);
#endif
        model_.reset(new Model(ctx_.get(), "TOP"));
        model_->clk_i = 0;
    }

    // Runs the final blocks (unless a fatal error left the model undefined) and
    // closes the waveform; then the destructor frees the model and its context.
    void finish() {
        Verilated::threadContextp(ctx_.get());
        if (status_ != kFatal) {
            try {
                model_->final();
            } catch (...) {
            }
            take_event();
        }
        trace_close();
    }

    int step(const IommuInputs& in, IommuOutputs& out) {
        if (VL_UNLIKELY(status_ != kRunning)) return status_;
        if (VL_UNLIKELY(t_event != kRunning)) iommu_cosim::take_thread_event(nullptr);  // not ours
        Verilated::threadContextp(ctx_.get());
        try {
            Model& m = *model_;
            const std::uint64_t t = cycle_ * kPeriod;
            iommu_cosim::apply_inputs(m, in);
            m.clk_i = 0;
            ctx_->time(t);
            m.eval();
            dump(t);
            if (VL_UNLIKELY(t_event != kRunning)) return take_event();
            iommu_cosim::read_outputs(m, out);
            m.clk_i = 1;
            ctx_->time(t + kPeriod / 2);
            m.eval();
            dump(t + kPeriod / 2);
            if (VL_UNLIKELY(t_event != kRunning)) return take_event();
            ++cycle_;
            return kRunning;
        } catch (const Fatal&) {
            return take_event();
        } catch (const std::exception& e) {
            return fail(e.what());
        } catch (...) {
            return fail("unknown C++ exception");
        }
    }

    int trace_open(const char* path) {
#if VM_TRACE
        Verilated::threadContextp(ctx_.get());
        trace_close();
        try {
            std::unique_ptr<VerilatedFstC> fst(new VerilatedFstC);
            model_->trace(fst.get(), 99);
            fst->open(path);
            if (!fst->isOpen()) {
                message_ = std::string("cannot open ") + path;
                return kTraceFailed;
            }
            fst_ = std::move(fst);
            return kTraceOk;
        } catch (const Fatal&) {
            iommu_cosim::take_thread_event(&message_);
            return kTraceFailed;
        } catch (const std::exception& e) {
            message_ = e.what();
            return kTraceFailed;
        }
#else
        (void)path;
        return kTraceNotBuilt;
#endif
    }

    void trace_close() {
#if VM_TRACE
        if (fst_) {
            try {
                fst_->close();
            } catch (...) {
            }
            fst_.reset();
        }
#endif
    }

    // Writes the line coverage counted so far by this model (its context's
    // database) to `path`, in Verilator's coverage format (verilator_coverage).
    int coverage_write(const char* path) {
#if VM_COVERAGE
        Verilated::threadContextp(ctx_.get());
        try {
            ctx_->coveragep()->write(path);
            return kCoverageOk;
        } catch (const Fatal&) {
            iommu_cosim::take_thread_event(&message_);
            return kCoverageFailed;
        } catch (const std::exception& e) {
            message_ = e.what();
            return kCoverageFailed;
        }
#else
        (void)path;
        return kCoverageNotBuilt;
#endif
    }

    const char* message() const { return message_.c_str(); }

  private:
    void dump(std::uint64_t time) {
#if VM_TRACE
        if (fst_) fst_->dump(time);
#else
        (void)time;
#endif
    }

    // Makes the event recorded during eval() this model's (sticky) status.
    int take_event() {
        if (t_event == kRunning) return status_;
        status_ = iommu_cosim::take_thread_event(&message_);
        // Verilator printed the assertion's own message with printf: show it now,
        // before the caller reports the stop.
        std::fflush(stdout);
        return status_;
    }

    int fail(const char* what) {
        status_ = kFatal;
        message_ = what;
        return status_;
    }

    // Destroyed in reverse order: the waveform, then the model, then its context.
    std::unique_ptr<VerilatedContext> ctx_;
    std::unique_ptr<Model> model_;
#if VM_TRACE
    std::unique_ptr<VerilatedFstC> fst_;
#endif
    std::uint64_t cycle_ = 0;
    int status_ = kRunning;
    std::string message_;
};

template <class Model>
void* create() noexcept {
    try {
        return new Sim<Model>();
    } catch (...) {
        iommu_cosim::take_thread_event(nullptr);
        return nullptr;
    }
}

template <class Model>
void destroy(void* handle) noexcept {
    if (!handle) return;
    auto* sim = static_cast<Sim<Model>*>(handle);
    sim->finish();
    try {
        delete sim;
    } catch (...) {
    }
    // The context is gone: leave no pointer to it in Verilator's thread state.
    Verilated::threadContextp(nullptr);
}

}  // namespace

int iommu_cosim::take_thread_event(std::string* message) {
    const int event = t_event;
    if (event == kRunning) return event;
    if (message) *message = std::move(t_message);
    t_message.clear();
    t_event = kRunning;
    return event;
}

// Replacements of verilated.cpp's hooks (it is compiled with VL_USER_FINISH,
// VL_USER_STOP and VL_USER_FATAL defined). The originals call exit() on a second
// $finish and abort() on fatal errors. (Its vl_stop_maybe, which counts the error in
// the thread's context and calls vl_stop, stays: step() sets that context first.)
void vl_finish(const char* file, int line, const char* hier) VL_MT_UNSAFE {
    record(kFinish, "$finish", file, line, hier);
}

void vl_stop(const char* file, int line, const char* hier) VL_MT_UNSAFE {
    record(kStop, "$stop or a failed assertion", file, line, hier);
}

void vl_fatal(const char* file, int line, const char* hier, const char* msg) VL_MT_UNSAFE {
    record(kFatal, msg, file, line, hier);
    throw Fatal{};
}

// Per configuration: the exported functions (see the comment at the top).
#define IOMMU_EXPORT(name, Model)                                                          \
    extern "C" void* iommu_##name##_create() noexcept { return create<Model>(); }          \
    extern "C" void iommu_##name##_destroy(void* h) noexcept { destroy<Model>(h); }        \
    extern "C" int iommu_##name##_step(void* h, const IommuInputs* in,                     \
                                       IommuOutputs* out) noexcept {                       \
        return static_cast<Sim<Model>*>(h)->step(*in, *out);                               \
    }                                                                                      \
    extern "C" int iommu_##name##_trace_open(void* h, const char* path) noexcept {         \
        return static_cast<Sim<Model>*>(h)->trace_open(path);                              \
    }                                                                                      \
    extern "C" void iommu_##name##_trace_close(void* h) noexcept {                         \
        static_cast<Sim<Model>*>(h)->trace_close();                                        \
    }                                                                                      \
    extern "C" int iommu_##name##_coverage_write(void* h, const char* path) noexcept {     \
        return static_cast<Sim<Model>*>(h)->coverage_write(path);                          \
    }                                                                                      \
    extern "C" const char* iommu_##name##_message(void* h) noexcept {                      \
        return static_cast<Sim<Model>*>(h)->message();                                     \
    }                                                                                      \
    extern "C" unsigned iommu_##name##_walkers() noexcept {                                \
        return iommu_cosim::walkers<Model>();                                              \
    }

IOMMU_FOR_EACH_CONFIG(IOMMU_EXPORT)

// The layout of the port structs, for the Rust side's test of its mirror.
#define IOMMU_FIELD_INPUT(f) {#f, offsetof(IommuInputs, f)},
#define IOMMU_FIELD_OUTPUT(f) {#f, offsetof(IommuOutputs, f)},

extern "C" IommuLayout iommu_cosim_inputs_layout() noexcept {
    static const IommuField fields[] = {IOMMU_INPUT_FIELDS(IOMMU_FIELD_INPUT)};
    return {sizeof(IommuInputs), sizeof fields / sizeof fields[0], fields};
}

extern "C" IommuLayout iommu_cosim_outputs_layout() noexcept {
    static const IommuField fields[] = {IOMMU_OUTPUT_FIELDS(IOMMU_FIELD_OUTPUT)};
    return {sizeof(IommuOutputs), sizeof fields / sizeof fields[0], fields};
}
