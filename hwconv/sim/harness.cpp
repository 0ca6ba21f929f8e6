// hwconv fast frame harness: a C++ main for a Verilated hwconv stream design.
//
// Built by hwconv/sim/harness.py with
//   verilator --cc --exe --build --prefix Vtop --top-module hwconv_harness <top>.v wrap.v
//             harness.cpp
// hwconv_harness (wrap.v, written by harness.py) wraps the design, whose ports are clk, rst
// (synchronous, active high), i__valid, i__ready, i__payload, o__valid, o__ready,
// o__payload.  It registers the inputs on the rising edge of clk: rst, i_valid, i_payload
// and o_ready set before a rising edge are what the design sees in the cycle that edge
// starts, and i_ready, o_valid, o_payload after that edge are its answers in that cycle.
// So the design's input-dependent logic is evaluated once per cycle, after the edge,
// instead of in Verilator's input-combinational region at every eval (3x faster).
// Payloads of any width: each beat is stored in the files as ceil(width / 32) little-endian
// 32-bit words, least significant word first.
//
// Usage:
//   Vtop --in IN.bin --n-in N --in-words W --out OUT.bin --out-words W --result R.json
//        --frame-in FI --frame-out FO [--pattern NAME] [--idle P] [--backpressure P]
//        [--seed S] [--max-idle CYCLES] [--settle CYCLES] [--vcd FILE | --fst FILE]
//        [--progress MS]
//
// Timing is that of hwconv/sim/stream_bench.py: reset for 2 cycles, then in every cycle
// the source and sink drive valid/payload and ready and the handshakes are sampled; the
// cycle counter counts cycles after reset.  The source holds valid and payload until its
// beat is accepted; with probability `idle` it waits a cycle before presenting the next
// beat.  The sink drops ready with probability `backpressure` in each cycle.  After the
// last expected output beat the sink stays ready for `settle` more cycles and counts the
// beats that still come (extra beats).
//
// Writes OUT.bin (the expected number of output beats, or fewer if the design got stuck)
// and R.json: status ("ok" or "stuck"), cycles, extra, first_in (cycle the first beat of
// each input frame was accepted), first_out and last_out (cycle the first and the last
// beat of each output frame was taken), in_accepted, out_taken, sim_seconds (wall clock)
// and cpu_seconds (of this process) of the cycle loop; with HWCONV_PROFILE_WORDS defined
// (a design with the `prof` port of hwconv/sim/unit_profile.py), profile: the port's 32-bit
// words, least significant first, read in the cycle after the last expected output beat
// (so the counters include that beat's cycle).
// --progress MS: print "progress <out_taken> <in_accepted> <cycle>" on stdout at most
// every MS milliseconds (the clock is read every 16384 cycles), and once at the end.
// Waveforms: --vcd with a model built with --trace, --fst with one built with --trace-fst.
// Exit status: 0 ok, 3 stuck (no handshake for max-idle cycles), 2 usage or file errors.

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "Vtop.h"
#include "verilated.h"
#if VM_TRACE_FST
#include "verilated_fst_c.h"
typedef VerilatedFstC TraceFile;
#define TRACE_FORMAT "fst"
#elif VM_TRACE
#include "verilated_vcd_c.h"
typedef VerilatedVcdC TraceFile;
#define TRACE_FORMAT "vcd"
#endif

#define I_VALID i_valid
#define I_READY i_ready
#define I_PAYLOAD i_payload
#define O_VALID o_valid
#define O_READY o_ready
#define O_PAYLOAD o_payload

// ---------------------------------------------------------------------------------------
// Payload access for every width Verilator uses: CData/SData/IData/QData and VlWide<N>.

template <typename T>
static inline int words_of(const T&) {
    return sizeof(T) > 4 ? 2 : 1;
}
template <std::size_t N>
static inline int words_of(const VlWide<N>&) {
    return static_cast<int>(N);
}

template <typename T>
static inline void put_words(T& sig, const uint32_t* w) {
    if (sizeof(T) > 4)
        sig = static_cast<T>(static_cast<uint64_t>(w[0]) | (static_cast<uint64_t>(w[1]) << 32));
    else
        sig = static_cast<T>(w[0]);
}
template <std::size_t N>
static inline void put_words(VlWide<N>& sig, const uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) sig[i] = w[i];
}

template <typename T>
static inline void get_words(const T& sig, uint32_t* w) {
    const uint64_t v = static_cast<uint64_t>(sig);
    w[0] = static_cast<uint32_t>(v);
    if (sizeof(T) > 4) w[1] = static_cast<uint32_t>(v >> 32);
}
template <std::size_t N>
static inline void get_words(const VlWide<N>& sig, uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) w[i] = sig[i];
}

// ---------------------------------------------------------------------------------------
// splitmix64: a small deterministic PRNG; one stream for the source, one for the sink.

struct SplitMix64 {
    uint64_t s;
    explicit SplitMix64(uint64_t seed) : s(seed) {}
    inline uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    // uniform in [0, 1)
    inline double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
};

// ---------------------------------------------------------------------------------------

static void usage_fail(const std::string& msg) {
    std::fprintf(stderr, "hwconv harness: %s\n", msg.c_str());
    std::exit(2);
}

static std::string json_list(const std::vector<uint64_t>& v) {
    std::string s = "[";
    char buf[32];
    for (std::size_t i = 0; i < v.size(); ++i) {
        std::snprintf(buf, sizeof buf, i ? ",%" PRIu64 : "%" PRIu64, v[i]);
        s += buf;
    }
    return s + "]";
}

static std::string json_string(const std::string& v) {
    std::string s = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\') s += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) s += c;
    }
    return s + "\"";
}

int main(int argc, char** argv) {
    std::string in_path, out_path, result_path, trace_path, trace_format, pattern = "none";
    uint64_t n_in = 0, frame_in = 1, frame_out = 1, seed = 0, max_idle = 1000000, settle = 64;
    long progress_ms = -1;
    int in_words = -1, out_words = -1;
    double idle_p = 0.0, bp_p = 0.0;

    for (int a = 1; a < argc; ++a) {
        const std::string opt = argv[a];
        if (a + 1 >= argc) usage_fail("option " + opt + " needs a value");
        const char* val = argv[++a];
        if (opt == "--in") in_path = val;
        else if (opt == "--out") out_path = val;
        else if (opt == "--result") result_path = val;
        else if (opt == "--vcd" || opt == "--fst") {
            trace_path = val;
            trace_format = opt.substr(2);
        }
        else if (opt == "--progress") progress_ms = std::atol(val);
        else if (opt == "--pattern") pattern = val;
        else if (opt == "--n-in") n_in = std::strtoull(val, nullptr, 10);
        else if (opt == "--in-words") in_words = std::atoi(val);
        else if (opt == "--out-words") out_words = std::atoi(val);
        else if (opt == "--frame-in") frame_in = std::strtoull(val, nullptr, 10);
        else if (opt == "--frame-out") frame_out = std::strtoull(val, nullptr, 10);
        else if (opt == "--seed") seed = std::strtoull(val, nullptr, 10);
        else if (opt == "--max-idle") max_idle = std::strtoull(val, nullptr, 10);
        else if (opt == "--settle") settle = std::strtoull(val, nullptr, 10);
        else if (opt == "--idle") idle_p = std::atof(val);
        else if (opt == "--backpressure") bp_p = std::atof(val);
        else usage_fail("unknown option " + opt);
    }
    if (in_path.empty() || out_path.empty() || result_path.empty())
        usage_fail("--in, --out and --result are required");
    if (frame_in == 0 || frame_out == 0) usage_fail("--frame-in and --frame-out must be > 0");
    if (n_in % frame_in) usage_fail("--n-in is not a whole number of input frames");

    const std::unique_ptr<VerilatedContext> ctx{new VerilatedContext};
    ctx->commandArgs(1, argv);
    const std::unique_ptr<Vtop> top{new Vtop{ctx.get(), "TOP"}};

    const int iw = words_of(top->I_PAYLOAD), ow = words_of(top->O_PAYLOAD);
    if (in_words != iw || out_words != ow)
        usage_fail("payload words: the design has " + std::to_string(iw) + " in, " +
                   std::to_string(ow) + " out; the caller said " + std::to_string(in_words) +
                   ", " + std::to_string(out_words));

    std::vector<uint32_t> in(static_cast<std::size_t>(n_in) * iw + 1);
    {
        FILE* f = std::fopen(in_path.c_str(), "rb");
        if (!f) usage_fail("cannot open " + in_path);
        const std::size_t want = static_cast<std::size_t>(n_in) * iw;
        const std::size_t got = std::fread(in.data(), sizeof(uint32_t), want, f);
        std::fclose(f);
        if (got != want) usage_fail(in_path + " is shorter than --n-in beats");
    }
    const uint64_t n_out = n_in / frame_in * frame_out;
    std::vector<uint32_t> out(static_cast<std::size_t>(n_out) * ow + 1);
    std::vector<uint64_t> first_in, first_out, last_out;
    first_in.reserve(n_in / frame_in);
    first_out.reserve(n_in / frame_in);
    last_out.reserve(n_in / frame_in);
#ifdef HWCONV_PROFILE_WORDS
    std::vector<uint32_t> profile(static_cast<std::size_t>(words_of(top->prof)));
    bool profiled = false;
#endif

#if VM_TRACE
    std::unique_ptr<TraceFile> tfp;
    if (!trace_path.empty()) {
        if (trace_format != TRACE_FORMAT)
            usage_fail("this harness was built to write " TRACE_FORMAT ", not " + trace_format);
        Verilated::traceEverOn(true);
        tfp.reset(new TraceFile);
        top->trace(tfp.get(), 99);
        tfp->set_time_unit("1ns");
        tfp->set_time_resolution("1ns");
        tfp->open(trace_path.c_str());
    }
#define DUMP(t) \
    do { if (tfp) tfp->dump(static_cast<uint64_t>(t)); } while (0)
#else
    if (!trace_path.empty())
        usage_fail("this harness was built without tracing; no " + trace_format);
#define DUMP(t) \
    do { } while (0)
#endif

    // One eval per clock edge; the inputs for a cycle are set before its rising edge.
    // Time: 10 ns per cycle, rising edges at 10 * (n + 2) for cycle n (reset: n = -2, -1).
    uint64_t t = 0;
    top->clk = 0;
    top->rst = 1;
    top->I_VALID = 0;
    top->O_READY = 0;
    top->eval();
    for (int r = 0; r < 2; ++r) {
        top->clk = 1;
        top->eval();
        DUMP(t);
        top->clk = 0;
        top->eval();
        DUMP(t + 5);
        t += 10;
    }
    top->rst = 0;

    SplitMix64 src_rng(seed * 2 + 0x5EED0001ULL), snk_rng(seed * 2 + 0x5EED0002ULL);
    const bool use_idle = idle_p > 0.0, use_bp = bp_p > 0.0;
    uint64_t cycle = 0, k = 0, n_taken = 0, extra = 0, idle_run = 0, settle_left = settle;
    bool presenting = false, stuck = false;

    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    auto last_progress = t0;
    auto report_progress = [&]() {
        std::printf("progress %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", n_taken, k, cycle);
        std::fflush(stdout);
    };
    while (n_taken < n_out || settle_left > 0) {
        const bool done = n_taken >= n_out;
        if (!presenting && k < n_in && !(use_idle && src_rng.uniform() < idle_p)) {
            presenting = true;
            put_words(top->I_PAYLOAD, &in[static_cast<std::size_t>(k) * iw]);
        }
        top->I_VALID = presenting;
        const bool ready = done || !(use_bp && snk_rng.uniform() < bp_p);
        top->O_READY = ready;
        top->clk = 1;
        top->eval();
        DUMP(t);
#ifdef HWCONV_PROFILE_WORDS
        if (done && !profiled) {  // the first cycle after the last expected output beat
            get_words(top->prof, profile.data());
            profiled = true;
        }
#endif

        bool progressed = false;
        if (presenting && top->I_READY) {
            if (k % frame_in == 0) first_in.push_back(cycle);
            ++k;
            presenting = false;
            progressed = true;
        }
        if (ready && top->O_VALID) {
            if (done) {
                ++extra;
            } else {
                get_words(top->O_PAYLOAD, &out[static_cast<std::size_t>(n_taken) * ow]);
                if (n_taken % frame_out == 0) first_out.push_back(cycle);
                ++n_taken;
                if (n_taken % frame_out == 0) last_out.push_back(cycle);
            }
            progressed = true;
        }
        if (done) --settle_left;
        idle_run = progressed ? 0 : idle_run + 1;
        top->clk = 0;
        top->eval();
        DUMP(t + 5);
        t += 10;
        if (idle_run >= max_idle) {
            stuck = true;
            break;
        }
        if (progress_ms >= 0 && (cycle & 0x3FFF) == 0) {
            const auto now = std::chrono::steady_clock::now();
            if (now - last_progress >= std::chrono::milliseconds(progress_ms)) {
                last_progress = now;
                report_progress();
            }
        }
        ++cycle;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu_seconds = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    if (progress_ms >= 0) report_progress();
#ifdef HWCONV_PROFILE_WORDS
    if (!profiled) get_words(top->prof, profile.data());  // stuck, or no settle cycles
    std::vector<uint64_t> profile64(profile.begin(), profile.end());
#endif
#if VM_TRACE
    if (tfp) tfp->close();
#endif
    top->final();

    {
        FILE* f = std::fopen(out_path.c_str(), "wb");
        if (!f) usage_fail("cannot write " + out_path);
        std::fwrite(out.data(), sizeof(uint32_t), static_cast<std::size_t>(n_taken) * ow, f);
        std::fclose(f);
    }
    {
        FILE* f = std::fopen(result_path.c_str(), "w");
        if (!f) usage_fail("cannot write " + result_path);
        std::fprintf(f,
                     "{\"status\": %s, \"pattern\": %s, \"cycles\": %" PRIu64
                     ", \"extra\": %" PRIu64 ", \"in_accepted\": %" PRIu64
                     ", \"n_in\": %" PRIu64 ", \"out_taken\": %" PRIu64 ", \"n_out\": %" PRIu64
                     ", \"idle_run\": %" PRIu64 ", \"max_idle\": %" PRIu64
                     ", \"sim_seconds\": %.6f, \"cpu_seconds\": %.6f, \"first_in\": %s, "
                     "\"first_out\": %s, \"last_out\": %s",
                     stuck ? "\"stuck\"" : "\"ok\"", json_string(pattern).c_str(), cycle, extra,
                     k, n_in, n_taken, n_out, idle_run, max_idle, seconds, cpu_seconds,
                     json_list(first_in).c_str(), json_list(first_out).c_str(),
                     json_list(last_out).c_str());
#ifdef HWCONV_PROFILE_WORDS
        std::fprintf(f, ", \"profile\": %s", json_list(profile64).c_str());
#endif
        std::fprintf(f, "}\n");
        std::fclose(f);
    }
    return stuck ? 3 : 0;
}
