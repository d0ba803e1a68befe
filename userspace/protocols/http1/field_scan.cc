#include "userspace/protocols/http1/field_scan.h"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "userspace/protocols/http1/http1_message.h"

namespace loupe::http1 {
namespace {

constexpr std::array<bool, 256> MakeTokenTable() {
  std::array<bool, 256> table{};
  for (int b = 0; b < 256; ++b) table[b] = IsTokenChar(static_cast<char>(b));
  return table;
}
constexpr std::array<bool, 256> kTokenTable = MakeTokenTable();

bool IsToken(char c) { return kTokenTable[static_cast<uint8_t>(c)]; }

}  // namespace

// Sixteen bytes per step where SSE2 exists (every x86-64), then eight through a word test that
// can flag a byte above a real match (borrow), never below one, so the lowest flagged byte is
// exact; bytes >= 0x80 are never flagged. Header values are tens of bytes long.
size_t FindControlByte(const char* data, size_t from, size_t size) {
  size_t i = from;
#if defined(__SSE2__)
  const __m128i max_control = _mm_set1_epi8(0x1f);
  while (i + 16 <= size) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    // Unsigned v <= 0x1f exactly when min(v, 0x1f) == v.
    const auto control = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, max_control), v)));
    if (control != 0) return i + static_cast<size_t>(std::countr_zero(control));
    i += 16;
  }
#endif
  static_assert(std::endian::native == std::endian::little, "the lowest bit is the first byte");
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  while (i + 8 <= size) {
    uint64_t word;
    std::memcpy(&word, data + i, sizeof(word));
    const uint64_t below_0x20 = (word - kOnes * 0x20) & ~word & (kOnes * 0x80);
    if (below_0x20 != 0) return i + static_cast<size_t>(std::countr_zero(below_0x20) >> 3);
    i += 8;
  }
  while (i < size && static_cast<uint8_t>(data[i]) >= 0x20) ++i;
  return i;
}

// Field names are nearly all letters, digits and '-', which SSE2 recognises sixteen at a time;
// the first other byte is judged by the table, and only a rarer token byte ('_', '.', '!', ...)
// sends the scan on.
size_t SkipTokenBytes(const char* data, size_t from, size_t size) {
  size_t i = from;
#if defined(__SSE2__)
  while (i + 16 <= size) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    // OR 0x20 folds A-Z onto a-z and maps no other byte into a-z. The compares are signed: bytes
    // >= 0x80 are negative and fall outside both ranges.
    const __m128i folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(folded, _mm_set1_epi8('a' - 1)),
                                         _mm_cmplt_epi8(folded, _mm_set1_epi8('z' + 1)));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    const __m128i dash = _mm_cmpeq_epi8(v, _mm_set1_epi8('-'));
    const auto common = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), dash)));
    if (common == 0xffff) {
      i += 16;
      continue;
    }
    i += static_cast<size_t>(std::countr_one(common));
    if (!IsToken(data[i])) return i;
    ++i;
  }
#endif
  while (i < size && IsToken(data[i])) ++i;
  return i;
}

}  // namespace loupe::http1
