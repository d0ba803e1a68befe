#include "userspace/protocols/sql/sql_sanitizer.h"

#include <cctype>

namespace loupe {
namespace {

bool IsIdentStart(unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; }
bool IsIdentChar(unsigned char c) { return std::isalnum(c) || c == '_' || c == '$' || c >= 0x80; }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }

// Index just past a quoted literal that starts at `pos` (the opening quote), honouring doubled
// quotes and backslash escapes; sql.size() when unterminated.
size_t SkipQuoted(std::string_view sql, size_t pos, char quote) {
  size_t i = pos + 1;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\\' && quote != '`') {
      i += 2;
      continue;
    }
    if (c == quote) {
      if (i + 1 < sql.size() && sql[i + 1] == quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    ++i;
  }
  return sql.size();
}

// If a dollar-quote tag ($$ or $tag$) starts at `pos`, returns its length, else 0.
size_t DollarTagLength(std::string_view sql, size_t pos) {
  size_t i = pos + 1;
  if (i < sql.size() && IsIdentStart(static_cast<unsigned char>(sql[i])) && sql[i] != '$') {
    while (i < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '_')) ++i;
  }
  if (i < sql.size() && sql[i] == '$') return i + 1 - pos;
  return 0;
}

size_t SkipNumber(std::string_view sql, size_t i) {
  if (sql[i] == '0' && i + 1 < sql.size() && (sql[i + 1] == 'x' || sql[i + 1] == 'X')) {
    i += 2;
    while (i < sql.size() && std::isxdigit(static_cast<unsigned char>(sql[i]))) ++i;
    return i;
  }
  while (i < sql.size() && (IsDigit(sql[i]) || sql[i] == '.' || sql[i] == '_')) ++i;
  if (i < sql.size() && (sql[i] == 'e' || sql[i] == 'E')) {
    size_t j = i + 1;
    if (j < sql.size() && (sql[j] == '+' || sql[j] == '-')) ++j;
    if (j < sql.size() && IsDigit(sql[j])) {
      while (j < sql.size() && IsDigit(sql[j])) ++j;
      i = j;
    }
  }
  return i;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Rewrites "IN (?, ?, ?)" as "IN (?)"; the list is already made of `?` after sanitizing.
std::string CollapseInLists(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const bool at_in = i + 2 <= s.size() && EqualsIgnoreCase(std::string_view(s).substr(i, 2), "IN") &&
                       (i == 0 || !IsIdentChar(static_cast<unsigned char>(s[i - 1]))) &&
                       (i + 2 == s.size() || !IsIdentChar(static_cast<unsigned char>(s[i + 2])));
    if (!at_in) {
      out += s[i++];
      continue;
    }
    out.append(s, i, 2);
    size_t j = i + 2;
    if (j < s.size() && s[j] == ' ') ++j;
    if (j + 1 < s.size() && s[j] == '(' && s[j + 1] == '?') {
      size_t k = j + 2;
      bool ok = true;
      while (k < s.size() && s[k] != ')') {
        if (s[k] == ',' || s[k] == ' ') {
          ++k;
        } else if (s[k] == '?' && (s[k - 1] == ',' || s[k - 1] == ' ')) {
          ++k;
        } else {
          ok = false;
          break;
        }
      }
      if (ok && k < s.size()) {
        out.append(s, i + 2, j - (i + 2));
        out += "(?)";
        i = k + 1;
        continue;
      }
    }
    i += 2;
  }
  return out;
}

}  // namespace

std::string SanitizeSql(std::string_view sql, SqlDialect dialect) {
  std::string out;
  out.reserve(sql.size() < kMaxSanitizedSqlBytes ? sql.size() : kMaxSanitizedSqlBytes);
  bool pending_space = false;
  auto emit = [&](std::string_view piece) {
    if (pending_space && !out.empty()) out += ' ';
    pending_space = false;
    out.append(piece);
  };

  size_t i = 0;
  // Stop scanning well past the cap; the cut below decides the final length.
  while (i < sql.size() && out.size() <= kMaxSanitizedSqlBytes) {
    const unsigned char c = static_cast<unsigned char>(sql[i]);
    if (std::isspace(c) || c == '\0') {
      pending_space = true;
      ++i;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
      pending_space = true;
    } else if (c == '#' && dialect == SqlDialect::kMySql) {
      while (i < sql.size() && sql[i] != '\n') ++i;
      pending_space = true;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      int depth = 0;  // PostgreSQL nests block comments
      while (i < sql.size()) {
        if (sql[i] == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (sql[i] == '*' && i + 1 < sql.size() && sql[i + 1] == '/') {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
      pending_space = true;
    } else if (c == '\'') {
      i = SkipQuoted(sql, i, '\'');
      emit("?");
    } else if (c == '"') {
      const size_t end = SkipQuoted(sql, i, '"');
      if (dialect == SqlDialect::kMySql) {
        emit("?");
      } else {
        emit(sql.substr(i, end - i));
      }
      i = end;
    } else if (c == '`') {
      const size_t end = SkipQuoted(sql, i, '`');
      emit(sql.substr(i, end - i));
      i = end;
    } else if (c == '$' && i + 1 < sql.size() && IsDigit(sql[i + 1])) {
      size_t j = i + 1;  // $1 placeholder: not a literal
      while (j < sql.size() && IsDigit(sql[j])) ++j;
      emit(sql.substr(i, j - i));
      i = j;
    } else if (c == '$' && DollarTagLength(sql, i) > 0) {
      const size_t tag_len = DollarTagLength(sql, i);
      const std::string_view tag = sql.substr(i, tag_len);
      const size_t close = sql.find(tag, i + tag_len);
      i = close == std::string_view::npos ? sql.size() : close + tag_len;
      emit("?");
    } else if (IsDigit(c) || (c == '.' && i + 1 < sql.size() && IsDigit(sql[i + 1]))) {
      i = SkipNumber(sql, i);
      emit("?");
    } else if (IsIdentStart(c)) {
      // E'..', B'..', X'..', N'..': a one-letter prefix glued to a string literal.
      if (i + 1 < sql.size() && sql[i + 1] == '\'' &&
          std::string_view("eEbBxXnN").find(static_cast<char>(c)) != std::string_view::npos) {
        i = SkipQuoted(sql, i + 1, '\'');
        emit("?");
        continue;
      }
      size_t j = i;
      while (j < sql.size() && IsIdentChar(static_cast<unsigned char>(sql[j]))) ++j;
      emit(sql.substr(i, j - i));
      i = j;
    } else {
      emit(sql.substr(i, 1));
      ++i;
    }
  }

  std::string collapsed = CollapseInLists(out);
  if (collapsed.size() > kMaxSanitizedSqlBytes || i < sql.size()) {
    size_t cut = collapsed.size() < kMaxSanitizedSqlBytes ? collapsed.size() : kMaxSanitizedSqlBytes;
    // Never split a UTF-8 sequence.
    while (cut > 0 && (static_cast<unsigned char>(collapsed[cut]) & 0xC0) == 0x80) --cut;
    collapsed.resize(cut);
    collapsed += "...";
  }
  return collapsed;
}

}  // namespace loupe
