#include "userspace/core/redact.h"

#include <array>
#include <cctype>
#include <span>

namespace loupe {
namespace {

constexpr std::string_view kMask = "***";

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (Lower(text[i]) != prefix[i]) return false;
  }
  return true;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
}

std::string_view Basename(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// ---- one word ---------------------------------------------------------------------------------

// The secret-looking key that ends right before `w[end]` ('=' or ':'), or "" if none: a run of
// key characters, possibly in double quotes (JSON), leading dashes dropped. `key_begin` is where
// the run (or its opening quote) starts.
std::string_view KeyBefore(std::string_view w, size_t end, size_t* key_begin, bool* quoted) {
  *quoted = end > 0 && w[end - 1] == '"';
  size_t stop = *quoted ? end - 1 : end;
  size_t begin = stop;
  while (begin > 0 && IsKeyChar(w[begin - 1])) --begin;
  std::string_view key = w.substr(begin, stop - begin);
  if (*quoted) {
    if (begin == 0 || w[begin - 1] != '"') return {};
    --begin;
  }
  *key_begin = begin;
  while (!key.empty() && key.front() == '-') key.remove_prefix(1);
  return LooksSecretKey(key) ? key : std::string_view{};
}

size_t FindAny(std::string_view w, size_t from, std::string_view chars) {
  const size_t at = w.find_first_of(chars, from);
  return at == std::string_view::npos ? w.size() : at;
}

// Masks what the generic rules find in one word (see RedactCommandLine).
std::string RedactWord(std::string_view w) {
  if (StartsWithNoCase(w, "bearer ") || StartsWithNoCase(w, "basic ")) {
    return std::string(w.substr(0, w.find(' ') + 1)) + std::string(kMask);
  }
  std::string out;
  out.reserve(w.size());
  bool in_url = false;
  size_t i = 0;
  while (i < w.size()) {
    const char c = w[i];
    if (c == ':' && w.substr(i, 3) == "://") {
      out += "://";
      i += 3;
      const size_t authority_end = FindAny(w, i, "/?# \t");
      const size_t at = w.substr(i, authority_end - i).rfind('@');
      if (at != std::string_view::npos) {
        out += kMask;
        i += at;  // the '@' and the host are copied as they are
      }
      in_url = true;
      continue;
    }
    if (IsSpace(c)) in_url = false;
    if (in_url && (c == '?' || c == '#')) {
      // Query strings carry tokens and signatures (?token=, ?X-Amz-Signature=): all of it goes.
      out += c;
      out += kMask;
      i = FindAny(w, i, " \t");
      in_url = false;
      continue;
    }
    if (c == '=' || c == ':') {
      size_t key_begin = 0;
      bool quoted = false;
      if (!KeyBefore(w, i, &key_begin, &quoted).empty()) {
        out += c;
        ++i;
        size_t value_end = w.size();
        if (quoted && c == ':') {
          // "password": "x" in JSON: the string (or the scalar up to , or }) goes.
          while (i < w.size() && IsSpace(w[i])) out += w[i++];
          if (i < w.size() && w[i] == '"') {
            const size_t close = w.find('"', i + 1);
            out += '"';
            out += kMask;
            if (close == std::string_view::npos) return out;
            i = close;  // the closing quote is copied
            continue;
          }
          value_end = FindAny(w, i, ",}");
        } else if (c == ':') {
          // A header: "Authorization: Bearer x" -> "Authorization: ***".
          if (i < w.size() && w[i] == ' ') out += w[i++];
        } else {
          // The whole word for "--password=x" / "PGPASSWORD=x"; inside a longer string
          // ("host=h password=x dbname=d") up to the next separator.
          const bool word_is_pair = w.find_first_not_of('-') >= key_begin;
          if (!word_is_pair) value_end = FindAny(w, i, " \t;&,");
        }
        out += kMask;
        i = value_end;
        continue;
      }
    }
    out += c;
    ++i;
  }
  return out;
}

// ---- shell words ----------------------------------------------------------------------------

// Splits a `sh -c` script into words the way the shell would (quotes and backslashes), without
// expansions. Operators stay inside words unless spaced ("a && b" gives "&&").
std::vector<std::string> SplitShellWords(std::string_view s) {
  std::vector<std::string> words;
  std::string current;
  bool in_word = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (IsSpace(c)) {
      if (in_word) words.push_back(std::move(current));
      current.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const size_t close = s.find('\'', i + 1);
      const size_t end = close == std::string_view::npos ? s.size() : close;
      current.append(s.substr(i + 1, end - i - 1));
      i = end;
    } else if (c == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && std::string_view("\"\\$`").find(s[i + 1]) !=
                                                    std::string_view::npos) {
          ++i;
        }
        current += s[i];
      }
    } else if (c == '\\' && i + 1 < s.size()) {
      current += s[++i];
    } else {
      current += c;
    }
  }
  if (in_word) words.push_back(std::move(current));
  return words;
}

std::string JoinShellWords(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& word : words) {
    if (!out.empty()) out += ' ';
    if (!word.empty() && word.find_first_of(" \t\n'\"\\") == std::string::npos) {
      out += word;
      continue;
    }
    out += '\'';
    for (char c : word) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

// ---- program rules --------------------------------------------------------------------------

enum class Value : uint8_t {
  kSecret,  // masked whole
  kHeader,  // "Name: value": the value masked when the name is secret-looking
  kScript,  // a shell script: split into words and redacted like a command line
  kPlain,   // not secret (generic rules only); named so positional arguments are told apart
};

struct Option {
  std::string_view name;  // "-p", "--command"
  Value value;
  // The value counts only attached ("-pX", "--name=X"): the bare option takes none (mysql's
  // bare -p prompts for the password, and the next word is the database).
  bool attached_only = false;
};

struct Program {
  std::span<const std::string_view> names;  // basenames; a trailing '*' matches a prefix
  std::span<const Option> options;
  // Keep the first positional argument (redis-cli's command, sqlite3's database), mask the
  // later ones (the command's arguments, the SQL).
  bool mask_after_first_positional = false;
  // Short-option clusters ending in one of these letters take the next word as `cluster_value`
  // (bash -lc SCRIPT, perl -ne CODE).
  std::string_view cluster_letters = {};
  Value cluster_value = Value::kSecret;
};

constexpr std::string_view kMysqlNames[] = {"mysql*", "mariadb*"};
constexpr Option kMysqlOptions[] = {{"-p", Value::kSecret, true},
                                    {"--password", Value::kSecret, true},
                                    {"-e", Value::kSecret},
                                    {"--execute", Value::kSecret}};
constexpr std::string_view kPsqlNames[] = {"psql"};
constexpr Option kPsqlOptions[] = {{"-c", Value::kSecret}, {"--command", Value::kSecret}};
constexpr std::string_view kSqliteNames[] = {"sqlite3", "sqlite"};
constexpr Option kSqliteOptions[] = {{"-cmd", Value::kSecret},
                                     {"-separator", Value::kPlain},
                                     {"-newline", Value::kPlain},
                                     {"-nullvalue", Value::kPlain},
                                     {"-init", Value::kPlain}};
constexpr std::string_view kClickhouseNames[] = {"clickhouse-client", "clickhouse"};
constexpr Option kClickhouseOptions[] = {{"-q", Value::kSecret}, {"--query", Value::kSecret}};
constexpr std::string_view kRedisNames[] = {"redis-cli", "valkey-cli", "keydb-cli"};
constexpr Option kRedisOptions[] = {
    {"-a", Value::kSecret},       {"--pass", Value::kSecret},    {"--user", Value::kPlain},
    {"-h", Value::kPlain},        {"-p", Value::kPlain},         {"-s", Value::kPlain},
    {"-t", Value::kPlain},        {"-u", Value::kPlain},         {"-r", Value::kPlain},
    {"-i", Value::kPlain},        {"-n", Value::kPlain},         {"-d", Value::kPlain},
    {"-D", Value::kPlain},        {"-X", Value::kPlain},         {"--sni", Value::kPlain},
    {"--cacert", Value::kPlain},  {"--cacertdir", Value::kPlain}, {"--cert", Value::kPlain},
    {"--key", Value::kPlain},     {"--tls-ciphers", Value::kPlain},
    {"--tls-ciphersuites", Value::kPlain}, {"--pattern", Value::kPlain},
    {"--count", Value::kPlain},   {"--rdb", Value::kPlain},      {"--pipe-timeout", Value::kPlain},
    {"--memkeys-samples", Value::kPlain}, {"--intrinsic-latency", Value::kPlain},
    {"--eval", Value::kPlain},    {"--lru-test", Value::kPlain}};
constexpr std::string_view kCurlNames[] = {"curl"};
constexpr Option kCurlOptions[] = {
    {"-u", Value::kSecret},          {"--user", Value::kSecret},
    {"-U", Value::kSecret},          {"--proxy-user", Value::kSecret},
    {"-b", Value::kSecret},          {"--cookie", Value::kSecret},
    {"--oauth2-bearer", Value::kSecret},
    {"-d", Value::kSecret},          {"--data", Value::kSecret},
    {"--data-raw", Value::kSecret},  {"--data-binary", Value::kSecret},
    {"--data-ascii", Value::kSecret}, {"--data-urlencode", Value::kSecret},
    {"-F", Value::kSecret},          {"--form", Value::kSecret},
    {"--form-string", Value::kSecret}, {"--json", Value::kSecret},
    {"-E", Value::kSecret},          {"--cert", Value::kSecret},
    {"--proxy-cert", Value::kSecret},
    {"-H", Value::kHeader},          {"--header", Value::kHeader},
    {"--proxy-header", Value::kHeader}};
constexpr std::string_view kWgetNames[] = {"wget"};
constexpr Option kWgetOptions[] = {{"--header", Value::kHeader},
                                   {"--post-data", Value::kSecret},
                                   {"--body-data", Value::kSecret}};
constexpr std::string_view kHttpieNames[] = {"http", "https", "httpie"};
constexpr Option kHttpieOptions[] = {{"-a", Value::kSecret}, {"--auth", Value::kSecret}};
constexpr std::string_view kLdappasswdNames[] = {"ldappasswd"};
constexpr Option kLdappasswdOptions[] = {
    {"-w", Value::kSecret}, {"-s", Value::kSecret}, {"-a", Value::kSecret}};
constexpr std::string_view kLdapNames[] = {"ldap*"};
constexpr Option kLdapOptions[] = {{"-w", Value::kSecret}};
constexpr std::string_view kSshpassNames[] = {"sshpass"};
constexpr Option kSshpassOptions[] = {{"-p", Value::kSecret}};
constexpr std::string_view kMosquittoNames[] = {"mosquitto_*"};
constexpr Option kMosquittoOptions[] = {{"-P", Value::kSecret}, {"--pw", Value::kSecret}};
constexpr std::string_view kMongoNames[] = {"mongo*"};
constexpr Option kMongoOptions[] = {{"-p", Value::kSecret}, {"--eval", Value::kSecret}};
constexpr std::string_view kSmbNames[] = {"smbclient", "rpcclient", "smbmap"};
constexpr Option kSmbOptions[] = {{"-U", Value::kSecret}, {"--user", Value::kSecret}};
constexpr std::string_view kContainerCliNames[] = {"docker", "podman", "nerdctl"};
constexpr Option kContainerCliOptions[] = {{"-p", Value::kSecret}};
constexpr std::string_view kShellNames[] = {"sh", "bash", "dash", "zsh", "ash", "ksh", "busybox"};
constexpr Option kShellOptions[] = {{"-c", Value::kScript}};
constexpr std::string_view kPythonNames[] = {"python*", "pypy*"};
constexpr Option kPythonOptions[] = {{"-c", Value::kSecret}};
constexpr std::string_view kNodeNames[] = {"node", "nodejs", "bun"};
constexpr Option kNodeOptions[] = {{"-e", Value::kSecret},
                                   {"--eval", Value::kSecret},
                                   {"-p", Value::kSecret},
                                   {"--print", Value::kSecret}};
constexpr std::string_view kPerlNames[] = {"perl*"};
constexpr Option kPerlOptions[] = {{"-e", Value::kSecret}, {"-E", Value::kSecret}};
constexpr std::string_view kRubyNames[] = {"ruby*"};
constexpr Option kRubyOptions[] = {{"-e", Value::kSecret}};
constexpr std::string_view kPhpNames[] = {"php*"};
constexpr Option kPhpOptions[] = {{"-r", Value::kSecret}};

// First match wins: exact names before the prefixes that would also match them.
constexpr Program kPrograms[] = {
    {.names = kMysqlNames, .options = kMysqlOptions},
    {.names = kPsqlNames, .options = kPsqlOptions},
    {.names = kSqliteNames, .options = kSqliteOptions, .mask_after_first_positional = true},
    {.names = kClickhouseNames, .options = kClickhouseOptions},
    {.names = kRedisNames, .options = kRedisOptions, .mask_after_first_positional = true},
    {.names = kCurlNames, .options = kCurlOptions},
    {.names = kWgetNames, .options = kWgetOptions},
    {.names = kHttpieNames, .options = kHttpieOptions},
    {.names = kLdappasswdNames, .options = kLdappasswdOptions},
    {.names = kLdapNames, .options = kLdapOptions},
    {.names = kSshpassNames, .options = kSshpassOptions},
    {.names = kMosquittoNames, .options = kMosquittoOptions},
    {.names = kMongoNames, .options = kMongoOptions},
    {.names = kSmbNames, .options = kSmbOptions},
    {.names = kContainerCliNames, .options = kContainerCliOptions},
    {.names = kShellNames, .options = kShellOptions, .cluster_letters = "c",
     .cluster_value = Value::kScript},
    {.names = kPythonNames, .options = kPythonOptions, .cluster_letters = "c"},
    {.names = kNodeNames, .options = kNodeOptions},
    {.names = kPerlNames, .options = kPerlOptions, .cluster_letters = "eE"},
    {.names = kRubyNames, .options = kRubyOptions, .cluster_letters = "e"},
    {.names = kPhpNames, .options = kPhpOptions},
};

const Program* ProgramOf(std::string_view word) {
  const std::string_view name = Basename(word);
  if (name.empty()) return nullptr;
  for (const Program& program : kPrograms) {
    for (std::string_view pattern : program.names) {
      if (!pattern.empty() && pattern.back() == '*') {
        if (name.substr(0, pattern.size() - 1) == pattern.substr(0, pattern.size() - 1)) {
          return &program;
        }
      } else if (name == pattern) {
        return &program;
      }
    }
  }
  return nullptr;
}

bool IsShellOperator(std::string_view word) {
  return word == "&&" || word == "||" || word == "|" || word == ";" || word == "&";
}

// Secret-named options that take no value: the word after them is not theirs.
bool IsValuelessSecretOption(std::string_view option) {
  if (option.substr(0, 5) == "--no-") return true;
  constexpr std::array<std::string_view, 5> kFlags = {
      "--askpass", "--ask-password", "--password-stdin", "--auth-no-challenge", "--hotkeys"};
  for (std::string_view flag : kFlags) {
    if (option == flag) return true;
  }
  return option.size() > 6 && option.substr(option.size() - 6) == "-stdin";
}

std::vector<std::string> RedactWords(const std::vector<std::string>& words);

std::string RedactValue(Value kind, std::string_view value) {
  switch (kind) {
    case Value::kSecret:
      return std::string(kMask);
    case Value::kHeader: {
      const size_t colon = value.find(':');
      if (colon != std::string_view::npos && colon > 0 &&
          LooksSecretKey(value.substr(0, colon))) {
        return std::string(value.substr(0, colon)) + ": " + std::string(kMask);
      }
      return RedactWord(value);
    }
    case Value::kScript:
      return JoinShellWords(RedactWords(SplitShellWords(value)));
    case Value::kPlain:
      break;
  }
  return RedactWord(value);
}

// Applies `program`'s option rules to words[*i]. True when the word (and the value it took,
// advancing *i) is written to `out`.
bool ApplyOption(const Program& program, const std::vector<std::string>& words, size_t* i,
                 std::vector<std::string>* out) {
  const std::string_view word = words[*i];
  const auto take_next = [&](Value kind) {
    out->emplace_back(word);
    if (*i + 1 < words.size()) out->push_back(RedactValue(kind, words[++*i]));
    return true;
  };
  for (const Option& option : program.options) {
    if (word == option.name) {
      if (option.attached_only) {
        out->emplace_back(word);  // takes no value: nothing to mask, nothing to consume
        return true;
      }
      return take_next(option.value);
    }
    const bool is_long = option.name.substr(0, 2) == "--";
    if (is_long && word.size() > option.name.size() + 1 &&
        word.substr(0, option.name.size()) == option.name && word[option.name.size()] == '=') {
      out->push_back(std::string(option.name) + "=" +
                     RedactValue(option.value, word.substr(option.name.size() + 1)));
      return true;
    }
    // "-pSECRET": a short option with its value attached.
    if (!is_long && option.name.size() == 2 && word.size() > 2 &&
        word.substr(0, 2) == option.name && word[1] != '-') {
      out->push_back(std::string(option.name) + RedactValue(option.value, word.substr(2)));
      return true;
    }
  }
  // "-lc SCRIPT", "-ne CODE": a cluster of short options whose last one takes the next word.
  if (!program.cluster_letters.empty() && word.size() > 2 && word[0] == '-' && word[1] != '-' &&
      program.cluster_letters.find(word.back()) != std::string_view::npos) {
    for (char c : word.substr(1)) {
      if (std::isalpha(static_cast<unsigned char>(c)) == 0) return false;
    }
    return take_next(program.cluster_value);
  }
  return false;
}

std::vector<std::string> RedactWords(const std::vector<std::string>& words) {
  std::vector<std::string> out;
  out.reserve(words.size());
  const Program* program = nullptr;
  bool seen_positional = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string_view word = words[i];
    const bool is_option = word.size() > 1 && word[0] == '-';
    if (IsShellOperator(word)) {
      program = nullptr;
      seen_positional = false;
      out.emplace_back(word);
      continue;
    }
    if (program != nullptr && program->mask_after_first_positional && seen_positional &&
        !is_option) {
      out.emplace_back(kMask);
      continue;
    }
    if (!is_option) {
      // A program's rules apply from its name on: behind env, sudo, timeout, docker exec, ...
      if (const Program* named = ProgramOf(word); named != nullptr) {
        program = named;
        seen_positional = false;
        out.push_back(RedactWord(word));
        continue;
      }
    }
    if (program != nullptr) {
      if (ApplyOption(*program, words, &i, &out)) continue;
      if (!is_option && program->mask_after_first_positional) seen_positional = true;
    }
    // "--token x": the word after a secret-named option, unless it is the next option.
    if (is_option && word.find('=') == std::string_view::npos && LooksSecretKey(word) &&
        !IsValuelessSecretOption(word)) {
      out.emplace_back(word);
      if (i + 1 < words.size() && words[i + 1].substr(0, 2) != "--") {
        out.emplace_back(kMask);
        ++i;
      }
      continue;
    }
    out.push_back(RedactWord(word));
  }
  return out;
}

}  // namespace

std::string RedactUrlCredentials(std::string_view text) {
  const size_t scheme = text.find("://");
  if (scheme == std::string_view::npos) return std::string(text);
  const size_t at = text.find('@', scheme + 3);
  const size_t slash = text.find('/', scheme + 3);
  // An '@' after the path starts belongs to the path, not to userinfo.
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) {
    return std::string(text);
  }
  return std::string(text.substr(0, scheme + 3)) + "***" + std::string(text.substr(at));
}

bool LooksSecretKey(std::string_view name) {
  constexpr std::array<std::string_view, 11> kWords = {
      "pass", "pwd", "secret", "token", "key", "auth", "credential", "cookie", "session",
      "bearer", "signature"};
  std::string lower(name.size(), '\0');
  for (size_t i = 0; i < name.size(); ++i) lower[i] = Lower(name[i]);
  for (std::string_view word : kWords) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string RedactCommandLine(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& word : RedactWords(argv)) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

}  // namespace loupe
