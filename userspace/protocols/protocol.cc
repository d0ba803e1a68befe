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

const char* StreamLossName(StreamLoss loss) {
  switch (loss) {
    case StreamLoss::kTruncated: return "truncated";
    case StreamLoss::kLost: return "lost";
    case StreamLoss::kInvalid: return "invalid";
    case StreamLoss::kHeadTooLarge: return "head_too_large";
    case StreamLoss::kUpgraded: return "upgraded";
    case StreamLoss::kNoParser: return "no_parser";
  }
  return "unknown";
}

}  // namespace loupe
