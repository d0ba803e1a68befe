#pragma once

#include <vector>

#include "userspace/core/span.h"

namespace loupe {

// Hands each span to several sinks (OTLP and the --print_spans printer).
class FanOutSpanSink : public SpanSink {
 public:
  explicit FanOutSpanSink(std::vector<SpanSink*> sinks) : sinks_(std::move(sinks)) {}
  void Consume(Span span) override {
    for (size_t i = 0; i + 1 < sinks_.size(); ++i) sinks_[i]->Consume(span);
    if (!sinks_.empty()) sinks_.back()->Consume(std::move(span));
  }

 private:
  std::vector<SpanSink*> sinks_;
};

}  // namespace loupe
