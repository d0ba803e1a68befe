// A stand-in for libFuzzer's main when the build does not use clang's -fsanitize=fuzzer: it feeds
// every file under the given folders, then a bounded number of random and mutated inputs, to
// LLVMFuzzerTestOneInput. It proves the target survives junk; `make fuzz` does the real fuzzing.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> LoadSeeds(const std::vector<std::string>& roots) {
  std::vector<std::string> seeds;
  for (const auto& root : roots) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (ec || !it->is_regular_file()) continue;
      std::ifstream in(it->path(), std::ios::binary);
      seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  return seeds;
}

std::string Mutate(std::string input, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < edits; ++i) {
    switch (rng() % 4) {
      case 0:  // flip a byte
        if (!input.empty()) input[rng() % input.size()] = static_cast<char>(rng());
        break;
      case 1:  // truncate
        if (!input.empty()) input.resize(rng() % input.size());
        break;
      case 2:  // insert a byte
        input.insert(input.begin() + static_cast<long>(input.empty() ? 0 : rng() % input.size()),
                     static_cast<char>(rng()));
        break;
      default:  // duplicate a slice
        if (!input.empty()) {
          size_t from = rng() % input.size();
          input += input.substr(from, rng() % 64);
        }
    }
  }
  return input;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 10000;
  std::vector<std::string> roots;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--runs=", 7) == 0) {
      runs = std::strtol(argv[i] + 7, nullptr, 10);
    } else {
      roots.emplace_back(argv[i]);
    }
  }
  const std::vector<std::string> seeds = LoadSeeds(roots);
  for (const auto& seed : seeds) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(seed.data()), seed.size());
  }
  std::mt19937_64 rng(0x10095);
  for (long i = 0; i < runs; ++i) {
    std::string input;
    if (!seeds.empty() && rng() % 4 != 0) {
      input = Mutate(seeds[rng() % seeds.size()], rng);
    } else {
      input.resize(rng() % 512);
      for (auto& c : input) c = static_cast<char>(rng());
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::printf("fuzz smoke: %zu seeds, %ld generated inputs, no crash\n", seeds.size(), runs);
  return 0;
}
