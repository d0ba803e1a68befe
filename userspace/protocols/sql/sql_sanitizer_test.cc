#include "userspace/protocols/sql/sql_sanitizer.h"

#include <string>

#include "gtest/gtest.h"

namespace loupe {
namespace {

struct Case {
  const char* name;
  std::string_view input;
  std::string_view want;
  SqlDialect dialect = SqlDialect::kPostgres;
};

class SanitizeSqlTest : public ::testing::TestWithParam<Case> {};

TEST_P(SanitizeSqlTest, Sanitizes) {
  EXPECT_EQ(SanitizeSql(GetParam().input, GetParam().dialect), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Table, SanitizeSqlTest,
    ::testing::Values(
        Case{"string", "SELECT * FROM t WHERE name = 'bob'", "SELECT * FROM t WHERE name = ?"},
        Case{"doubled_quote", "SELECT 'alice''s book', x", "SELECT ?, x"},
        Case{"backslash_escape", R"(SELECT 'a\'b', x)", "SELECT ?, x"},
        Case{"escape_string_prefix", "SELECT E'a\\nb' || x", "SELECT ? || x"},
        Case{"integers_and_decimals", "UPDATE t SET a = 13.75, b = .5, c = 42 WHERE id = 1",
             "UPDATE t SET a = ?, b = ?, c = ? WHERE id = ?"},
        Case{"exponent_and_hex", "SELECT 1e10, 2.5E-3, 0xDEADbeef", "SELECT ?, ?, ?"},
        Case{"identifiers_with_digits_kept", "SELECT col1 FROM t2", "SELECT col1 FROM t2"},
        Case{"keywords_kept", "SELECT TRUE, FALSE, NULL FROM t", "SELECT TRUE, FALSE, NULL FROM t"},
        Case{"pg_placeholders_kept", "SELECT * FROM t WHERE a = $1 AND b = $12", "SELECT * FROM t WHERE a = $1 AND b = $12"},
        Case{"mysql_placeholders_kept", "SELECT * FROM t WHERE a = ?", "SELECT * FROM t WHERE a = ?"},
        Case{"dollar_quoted", "SELECT $$it's secret$$, 1", "SELECT ?, ?"},
        Case{"tagged_dollar_quote", "DO $fn$ BEGIN RAISE 'x'; END $fn$", "DO ?"},
        Case{"in_list_collapsed", "SELECT * FROM t WHERE id IN (1, 2, 3) AND b in ('a','b')",
             "SELECT * FROM t WHERE id IN (?) AND b in (?)"},
        Case{"in_subquery_kept", "SELECT * FROM t WHERE id IN (SELECT id FROM u)",
             "SELECT * FROM t WHERE id IN (SELECT id FROM u)"},
        Case{"values_not_collapsed", "INSERT INTO t VALUES (1, 'a', 2)", "INSERT INTO t VALUES (?, ?, ?)"},
        Case{"line_comment", "SELECT 1 -- the secret is 1234\nFROM t", "SELECT ? FROM t"},
        Case{"block_comment_nested", "SELECT /* a /* b */ c */ x", "SELECT x"},
        Case{"whitespace_collapsed", "  SELECT\n\t a ,\r\n b   FROM t  ", "SELECT a , b FROM t"},
        Case{"pg_double_quotes_are_identifiers", "SELECT \"Name\" FROM \"Orders\"", "SELECT \"Name\" FROM \"Orders\""},
        Case{"mysql_double_quotes_are_strings", "SELECT * FROM t WHERE a = \"pw\"", "SELECT * FROM t WHERE a = ?",
             SqlDialect::kMySql},
        Case{"mysql_backticks_kept", "SELECT `a` FROM `t` # note 42", "SELECT `a` FROM `t`", SqlDialect::kMySql},
        Case{"unterminated_string_hidden", "SELECT 'top secret", "SELECT ?"},
        Case{"unterminated_dollar_hidden", "SELECT $x$ top secret", "SELECT ?"},
        Case{"negative_number", "SELECT -5", "SELECT -?"},
        Case{"empty", "", ""}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(SanitizeSql, CapsLengthWithEllipsis) {
  std::string long_sql = "SELECT ";
  for (int i = 0; i < 1000; ++i) long_sql += "column_name_" + std::to_string(i) + ", ";
  const std::string got = SanitizeSql(long_sql);
  ASSERT_EQ(got.size(), kMaxSanitizedSqlBytes + 3);
  EXPECT_EQ(got.substr(got.size() - 3), "...");
}

TEST(SanitizeSql, NeverSplitsUtf8WhenCapping) {
  std::string long_sql = "SELECT ";
  while (long_sql.size() < 3 * kMaxSanitizedSqlBytes) long_sql += "\xc3\xa9";  // é
  const std::string got = SanitizeSql(long_sql);
  const std::string body = got.substr(0, got.size() - 3);
  ASSERT_FALSE(body.empty());
  EXPECT_NE(static_cast<unsigned char>(body.back()), 0xc3);
}

TEST(SanitizeSql, NoDigitOfALiteralSurvives) {
  const std::string got = SanitizeSql("INSERT INTO cards VALUES ('4111111111111111', 123, 4.5e3, x'ff')");
  EXPECT_EQ(got.find_first_of("0123456789"), std::string::npos) << got;
}

}  // namespace
}  // namespace loupe
