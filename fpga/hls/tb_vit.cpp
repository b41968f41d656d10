// C-simulation testbench of the vitsdk ViT accelerator (plain C++17, also Vitis HLS csim/cosim).
//
// usage: csim INPUTS OUTPUTS [REPEAT]
//   INPUTS:  int32 count, int32 N_PATCH*PATCH_DIM, then count images of int8 patches
//   OUTPUTS: int32 count, int32 NUM_CLASSES, then count rows of int32 logits
// Prints "seconds S" (inference loop wall time) and "images N". Without arguments it runs the
// project's reference inputs and compares with tb/expected.bin (exit code 1 on any mismatch), which
// is what `csim_design` in build_prj.tcl runs.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "vit_top.h"

static bool read_file(const char* path, std::vector<char>& data) {
    FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    std::fseek(f, 0, SEEK_END);
    long size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    data.resize(size);
    bool ok = std::fread(data.data(), 1, size, f) == (size_t)size;
    std::fclose(f);
    return ok;
}

int main(int argc, char** argv) {
    const char* in_path = argc > 1 ? argv[1] : "tb/inputs.bin";
    const char* out_path = argc > 2 ? argv[2] : "tb/csim_outputs.bin";
    const int repeat = argc > 3 ? std::atoi(argv[3]) : 1;
    std::vector<char> in;
    if (!read_file(in_path, in) || in.size() < 8) {
        std::fprintf(stderr, "cannot read %s\n", in_path);
        return 2;
    }
    const int32_t count = reinterpret_cast<const int32_t*>(in.data())[0];
    const int32_t width = reinterpret_cast<const int32_t*>(in.data())[1];
    if (width != N_PATCH * PATCH_DIM || in.size() != 8 + (size_t)count * width) {
        std::fprintf(stderr, "%s: expected %d int8 values per image\n", in_path, N_PATCH * PATCH_DIM);
        return 2;
    }
    const vit::act_t* patches = reinterpret_cast<const vit::act_t*>(in.data() + 8);
    std::vector<int32_t> out(2 + (size_t)count * NUM_CLASSES);
    out[0] = count;
    out[1] = NUM_CLASSES;
    auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < repeat; ++r)
        for (int n = 0; n < count; ++n)
            vit_top(patches + (size_t)n * width, &out[2 + (size_t)n * NUM_CLASSES]);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    FILE* f = std::fopen(out_path, "wb");
    if (!f) {
        std::fprintf(stderr, "cannot write %s\n", out_path);
        return 2;
    }
    std::fwrite(out.data(), sizeof(int32_t), out.size(), f);
    std::fclose(f);
    std::printf("seconds %.6f\nimages %d\n", seconds, count * repeat);
    if (argc <= 1) {  // self-check against the Python integer reference
        std::vector<char> expected;
        if (!read_file("tb/expected.bin", expected) || expected.size() != out.size() * sizeof(int32_t)) {
            std::fprintf(stderr, "cannot read tb/expected.bin\n");
            return 2;
        }
        const int32_t* ref = reinterpret_cast<const int32_t*>(expected.data());
        long mismatches = 0;
        for (size_t i = 2; i < out.size(); ++i) mismatches += out[i] != ref[i];
        std::printf("mismatches %ld\n", mismatches);
        return mismatches ? 1 : 0;
    }
    return 0;
}
