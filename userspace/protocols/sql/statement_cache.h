// The per-connection memory of prepared statements a database protocol needs to name the SQL an
// execution runs: statement key (MySQL's numeric id, PostgreSQL's statement or portal name) →
// sanitized SQL. Bounded: past kMaxEntries the oldest key is forgotten, and executions of a
// forgotten statement are reported without query text.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace loupe {

template <typename Key>
class StatementCache {
 public:
  static constexpr size_t kMaxEntries = 256;

  // Remembers `sql` under `key`; a key already known keeps its place in the eviction order.
  void Put(const Key& key, std::string sql) {
    auto it = map_.find(key);
    if (it != map_.end()) {
      it->second = std::move(sql);
      return;
    }
    while (map_.size() >= kMaxEntries && !order_.empty()) {
      map_.erase(order_.front());
      order_.pop_front();
    }
    map_.emplace(key, std::move(sql));
    order_.push_back(key);
  }

  // The SQL under `key`, or null when it was never seen or was forgotten.
  const std::string* Get(const Key& key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }

  void Erase(const Key& key) {
    if (map_.erase(key) == 0) return;
    for (auto it = order_.begin(); it != order_.end(); ++it) {
      if (*it == key) {
        order_.erase(it);
        break;
      }
    }
  }

  size_t size() const { return map_.size(); }

 private:
  absl::flat_hash_map<Key, std::string> map_;
  std::deque<Key> order_;  // insertion order, for eviction
};

}  // namespace loupe
