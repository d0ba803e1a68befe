#include "userspace/protocols/sql/sql_statement.h"

#include <cctype>
#include <vector>

#include "absl/strings/ascii.h"

namespace loupe {
namespace {

// A token of the lexical scan: a word (identifier or keyword, possibly quoted, with its dotted
// parts joined: schema.table) or one punctuation character. Literals become "?".
struct Token {
  std::string text;
  bool is_word = false;
  int depth = 0;  // parenthesis depth the token is at
};

bool IsWordChar(unsigned char c) { return std::isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

// Scans at most `max_tokens` tokens; enough for the cheap facts we want.
std::vector<Token> Lex(std::string_view sql, size_t max_tokens) {
  std::vector<Token> tokens;
  int depth = 0;
  size_t i = 0;
  while (i < sql.size() && tokens.size() < max_tokens) {
    const unsigned char c = static_cast<unsigned char>(sql[i]);
    if (std::isspace(c) || c == '\0') {
      ++i;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const size_t end = sql.find("*/", i + 2);
      i = end == std::string_view::npos ? sql.size() : end + 2;
    } else if (c == '\'') {
      ++i;
      while (i < sql.size() && sql[i] != '\'') i += sql[i] == '\\' ? 2 : 1;
      ++i;
      tokens.push_back({"?", false, depth});
    } else if (IsWordChar(c) || c == '"' || c == '`') {
      // A possibly dotted, possibly quoted name: a.b, "A"."b", `x`.
      std::string word;
      while (i < sql.size()) {
        const char q = sql[i];
        if (q == '"' || q == '`') {
          const size_t end = sql.find(q, i + 1);
          const size_t stop = end == std::string_view::npos ? sql.size() : end;
          word.append(sql.substr(i + 1, stop - i - 1));
          i = stop + 1;
        } else if (IsWordChar(static_cast<unsigned char>(q))) {
          while (i < sql.size() && IsWordChar(static_cast<unsigned char>(sql[i]))) word += sql[i++];
        } else {
          break;
        }
        if (i < sql.size() && sql[i] == '.' && i + 1 < sql.size() &&
            (IsWordChar(static_cast<unsigned char>(sql[i + 1])) || sql[i + 1] == '"' || sql[i + 1] == '`')) {
          word += '.';
          ++i;
          continue;
        }
        break;
      }
      tokens.push_back({std::move(word), true, depth});
    } else {
      if (c == ')') depth = depth > 0 ? depth - 1 : 0;
      tokens.push_back({std::string(1, static_cast<char>(c)), false, depth});
      if (c == '(') ++depth;
      ++i;
    }
  }
  return tokens;
}

bool Is(const Token& t, std::string_view upper_keyword) {
  return t.is_word && absl::AsciiStrToUpper(t.text) == upper_keyword;
}

bool IsMainVerb(const Token& t) {
  static constexpr std::string_view kVerbs[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "VALUES", "TABLE"};
  if (!t.is_word) return false;
  const std::string upper = absl::AsciiStrToUpper(t.text);
  for (std::string_view v : kVerbs) {
    if (upper == v) return true;
  }
  return false;
}

// Statement verbs we name operations by. Anything else (a typo, a garbled prefix) yields "" so
// that db_operation_name stays a small, bounded set.
bool IsKnownVerb(std::string_view upper) {
  static constexpr std::string_view kVerbs[] = {
      "ABORT", "ALTER", "ANALYZE", "BEGIN", "CALL", "CHECKPOINT", "CLOSE", "CLUSTER", "COMMENT",
      "COMMIT", "COPY", "CREATE", "DEALLOCATE", "DECLARE", "DELETE", "DESC", "DESCRIBE", "DISCARD",
      "DO", "DROP", "END", "EXECUTE", "EXPLAIN", "FETCH", "FLUSH", "GRANT", "HANDLER", "IMPORT",
      "INSERT", "KILL", "LISTEN", "LOAD", "LOCK", "MERGE", "MOVE", "NOTIFY", "OPTIMIZE", "PREPARE",
      "REFRESH", "REINDEX", "RELEASE", "RENAME", "REPLACE", "RESET", "REVOKE", "ROLLBACK",
      "SAVEPOINT", "SECURITY", "SELECT", "SET", "SHOW", "START", "TABLE", "TRUNCATE", "UNLISTEN",
      "UNLOCK", "UPDATE", "USE", "VACUUM", "VALUES", "WITH", "XA"};
  for (std::string_view v : kVerbs) {
    if (upper == v) return true;
  }
  return false;
}

// The name at tokens[i] if it is a plain table name, lower-cased; "" otherwise. A comma or JOIN
// after it at the same depth (before the clause that ends the table list) means several tables.
std::string TableAt(const std::vector<Token>& tokens, size_t i) {
  if (i >= tokens.size() || !tokens[i].is_word || tokens[i].text.empty()) return "";
  static constexpr std::string_view kEndOfTables[] = {"WHERE", "SET", "VALUES", "SELECT", "ORDER",
                                                      "GROUP", "LIMIT", "RETURNING", "HAVING",
                                                      "UNION", "FOR", "ON", "DEFAULT", "OFFSET"};
  for (size_t k = i + 1; k < tokens.size(); ++k) {
    if (tokens[k].depth < tokens[i].depth) break;
    if (tokens[k].depth > tokens[i].depth) continue;
    if (tokens[k].text == "," || Is(tokens[k], "JOIN")) return "";
    if (tokens[k].text == ";") break;
    bool end = false;
    for (std::string_view w : kEndOfTables) end = end || Is(tokens[k], w);
    if (end) break;
  }
  return absl::AsciiStrToLower(tokens[i].text);
}

}  // namespace

std::string SqlOperation(std::string_view sql) {
  const std::vector<Token> tokens = Lex(sql, 512);
  size_t i = 0;
  while (i < tokens.size() && tokens[i].text == "(") ++i;
  if (i >= tokens.size() || !tokens[i].is_word) return "";
  std::string verb = absl::AsciiStrToUpper(tokens[i].text);
  if (!IsKnownVerb(verb)) return "";
  if (verb != "WITH") return verb;
  const int depth = tokens[i].depth;
  for (size_t k = i + 1; k < tokens.size(); ++k) {
    if (tokens[k].depth == depth && IsMainVerb(tokens[k])) return absl::AsciiStrToUpper(tokens[k].text);
  }
  return verb;
}

std::string SqlCollection(std::string_view sql) {
  const std::vector<Token> tokens = Lex(sql, 256);
  const std::string op = SqlOperation(sql);
  size_t first = 0;
  while (first < tokens.size() && tokens[first].text == "(") ++first;
  if (first >= tokens.size()) return "";
  const int depth = tokens[first].depth;
  auto find_top = [&](std::string_view keyword, size_t from) -> size_t {
    for (size_t k = from; k < tokens.size(); ++k) {
      if (tokens[k].depth == depth && Is(tokens[k], keyword)) return k;
    }
    return tokens.size();
  };
  auto skip_words = [&](size_t k, std::initializer_list<std::string_view> words) {
    bool moved = true;
    while (moved && k < tokens.size()) {
      moved = false;
      for (std::string_view w : words) {
        // A match moves k on: it may now be past the last token ("UPDATE ONLY" alone; found by
        // the long fuzz run as a read past the vector's end).
        if (k < tokens.size() && Is(tokens[k], w)) {
          ++k;
          moved = true;
        }
      }
    }
    return k;
  };
  if (Is(tokens[first], "WITH")) return "";  // the CTEs make it more than one simple statement
  if (op == "SELECT" || op == "DELETE") {
    const size_t from = find_top("FROM", first + 1);
    return TableAt(tokens, skip_words(from + 1, {"ONLY"}));
  }
  if (op == "INSERT" || op == "REPLACE") {
    const size_t into = find_top("INTO", first + 1);
    return TableAt(tokens, into + 1);
  }
  if (op == "UPDATE") return TableAt(tokens, skip_words(first + 1, {"ONLY", "LOW_PRIORITY", "IGNORE"}));
  if (op == "TABLE" || op == "COPY") return TableAt(tokens, first + 1);
  if (op == "TRUNCATE") return TableAt(tokens, skip_words(first + 1, {"TABLE", "ONLY"}));
  if (op == "CREATE" || op == "DROP" || op == "ALTER") {
    size_t k = skip_words(first + 1, {"TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL"});
    if (k >= tokens.size() || !Is(tokens[k], "TABLE")) return "";
    k = skip_words(k + 1, {"IF", "NOT", "EXISTS", "ONLY"});
    if (k + 1 < tokens.size() && tokens[k + 1].text == ",") return "";
    return k < tokens.size() && tokens[k].is_word ? absl::AsciiStrToLower(tokens[k].text) : "";
  }
  return "";
}

}  // namespace loupe
