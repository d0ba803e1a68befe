#include "userspace/protocols/sql/sql_statement.h"

#include <string>

#include "gtest/gtest.h"

namespace loupe {
namespace {

struct Case {
  std::string_view sql;
  std::string_view operation;
  std::string_view collection;
};

class SqlStatementTest : public ::testing::TestWithParam<Case> {};

TEST_P(SqlStatementTest, OperationAndCollection) {
  EXPECT_EQ(SqlOperation(GetParam().sql), GetParam().operation) << GetParam().sql;
  EXPECT_EQ(SqlCollection(GetParam().sql), GetParam().collection) << GetParam().sql;
}

INSTANTIATE_TEST_SUITE_P(
    Table, SqlStatementTest,
    ::testing::Values(
        Case{"SELECT id, name FROM Orders WHERE id = ?", "SELECT", "orders"},
        Case{"select * from public.orders o where o.id = $1", "SELECT", "public.orders"},
        Case{"SELECT * FROM a JOIN b ON a.id = b.id", "SELECT", ""},
        Case{"SELECT * FROM a, b", "SELECT", ""},
        Case{"SELECT * FROM (SELECT 1) s", "SELECT", ""},
        Case{"SELECT * FROM t WHERE x IN (SELECT y FROM u, v)", "SELECT", "t"},
        Case{"SELECT 1", "SELECT", ""},
        Case{"INSERT INTO pgbench_history (tid, bid) VALUES ($1, $2)", "INSERT", "pgbench_history"},
        Case{"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", "UPDATE", "pgbench_accounts"},
        Case{"DELETE FROM \"Shop\".\"Orders\" WHERE id = ?", "DELETE", "shop.orders"},
        Case{"update `orders` set a = ?", "UPDATE", "orders"},
        Case{"TABLE orders", "TABLE", "orders"},
        // Statements that end inside the words skipped before the table name (a read past the
        // last token, found by fuzzing).
        Case{"UPDATE ONLY", "UPDATE", ""},
        Case{"UPDATE LOW_PRIORITY IGNORE", "UPDATE", ""},
        Case{"TRUNCATE TABLE", "TRUNCATE", ""},
        Case{"DELETE FROM ONLY", "DELETE", ""},
        Case{"CREATE TEMPORARY", "CREATE", ""},
        Case{"DROP TABLE IF EXISTS", "DROP", ""},
        Case{"TRUNCATE TABLE orders", "TRUNCATE", "orders"},
        Case{"CREATE TABLE IF NOT EXISTS orders (id int)", "CREATE", "orders"},
        Case{"CREATE INDEX i ON orders (id)", "CREATE", ""},
        Case{"DROP TABLE a, b", "DROP", ""},
        Case{"WITH x AS (SELECT * FROM t) UPDATE u SET a = ?", "UPDATE", ""},
        Case{"WITH RECURSIVE r(n) AS (VALUES (?) UNION SELECT n FROM r) SELECT * FROM r", "SELECT", ""},
        Case{"  /* hint */ (SELECT a FROM t)", "SELECT", "t"},
        Case{"begin", "BEGIN", ""},
        Case{"COMMIT;", "COMMIT", ""},
        Case{"BEGIN; SELECT count(*) FROM orders; COMMIT", "BEGIN", ""},
        Case{"", "", ""},
        Case{"?", "", ""},
        Case{"SELEC 1", "", ""},
        Case{"END;", "END", ""}));

}  // namespace
}  // namespace loupe
