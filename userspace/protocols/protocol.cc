#include "userspace/protocols/protocol.h"

namespace loupe {

const char* ParseStateName(ParseState state) {
  switch (state) {
    case ParseState::kOk: return "ok";
    case ParseState::kNeedsMoreData: return "needs_more_data";
    case ParseState::kInvalid: return "invalid";
    case ParseState::kIgnored: return "ignored";
  }
  return "unknown";
}

}  // namespace loupe
