// Turns SQL text into something safe to export as db.query.text: every literal becomes `?`.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace loupe {

// Dialect differences that change what is a literal.
enum class SqlDialect : uint8_t {
  kPostgres = 0,  // "x" is an identifier; $$...$$ and $tag$...$tag$ are strings
  kMySql = 1,     // "x" is a string (default sql_mode); `x` is an identifier; # starts a comment
};

inline constexpr size_t kMaxSanitizedSqlBytes = 2048;

// Replaces string, dollar-quoted and numeric literals with `?`, collapses `IN (?, ?, ...)` to
// `IN (?)`, drops comments, collapses whitespace and caps the result at kMaxSanitizedSqlBytes
// (then appends "..."). Keeps keywords (TRUE/FALSE/NULL), identifiers and $1 / ? placeholders.
// Unterminated literals (the text may be a cut prefix) are replaced up to the end, never copied.
std::string SanitizeSql(std::string_view sql, SqlDialect dialect = SqlDialect::kPostgres);

}  // namespace loupe
