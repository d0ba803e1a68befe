// Cheap, lexical facts about one SQL statement, for db.operation.name and db.collection.name.
// No parser: when a fact is not cheaply certain the answer is "".
#pragma once

#include <string>
#include <string_view>

namespace loupe {

// The statement's verb upper-cased: SELECT, INSERT, BEGIN, ... For WITH ... the main statement's
// verb when found at the top level, else "WITH". "" when the text does not start with a known
// statement verb (typos, garbage), so that operation names stay a bounded set.
// Works on raw or sanitized text; quoted parts are skipped.
std::string SqlOperation(std::string_view sql);

// The single table a simple statement works on, lower-cased, schema kept ("public.orders"):
// SELECT ... FROM t, INSERT INTO t, UPDATE t, DELETE FROM t, TABLE t, TRUNCATE t, COPY t,
// CREATE/DROP/ALTER TABLE t. "" for joins, sub-selects, several tables or anything unclear.
std::string SqlCollection(std::string_view sql);

}  // namespace loupe
