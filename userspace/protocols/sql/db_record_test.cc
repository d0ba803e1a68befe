#include "userspace/protocols/sql/db_record.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Pair;

const SpanAttribute* Find(const Record& r, std::string_view key) {
  for (const auto& a : r.attributes) {
    if (a.key == key) return &a;
  }
  return nullptr;
}

// A failed PostgreSQL call with every field known.
DbCall FailedSelect() {
  DbCall call;
  call.protocol = "postgresql";
  call.system = "postgresql";
  call.db_namespace = "shop";
  call.operation = "SELECT";
  call.collection = "orders";
  call.query_text = "SELECT * FROM orders WHERE id = ?";
  call.status_code = "42P01";
  call.error_type = "42P01";
  call.start_ns = 10;
  call.end_ns = 25;
  return call;
}

ConnectionInfo PostgresConn() {
  ConnectionInfo conn;
  conn.role = Role::kClient;
  conn.server_address = "10.0.0.7";
  conn.server_port = 5432;
  return conn;
}

TEST(MakeDbRecord, FillsSemconvFields) {
  const Record r = MakeDbRecord(FailedSelect(), PostgresConn());
  EXPECT_EQ(r.instrument, &instruments::kDbClient);
  EXPECT_EQ(r.span_kind(), SpanKind::kClient);
  EXPECT_EQ(r.span_name, "SELECT orders");
  EXPECT_TRUE(r.is_error);
  EXPECT_EQ(r.error_type, "42P01");
  EXPECT_EQ(r.start_ns, 10u);
  EXPECT_EQ(r.end_ns, 25u);
  EXPECT_THAT(MetricLabels(r), Contains(Pair("db_system_name", "postgresql")));
  EXPECT_THAT(MetricLabels(r), Contains(Pair("db_collection_name", "orders")));
  EXPECT_THAT(MetricLabels(r), Contains(Pair("server_port", "5432")));
  ASSERT_NE(Find(r, "server.port"), nullptr);
  EXPECT_TRUE(Find(r, "server.port")->is_int);
  ASSERT_NE(Find(r, "db.namespace"), nullptr);
  EXPECT_EQ(Find(r, "db.namespace")->value, "shop");
  EXPECT_EQ(Find(r, "network.peer.address")->value, "10.0.0.7");
}

TEST(MakeDbRecord, OmitsUnknownAttributesAndNamesSpanBySystem) {
  DbCall call;
  call.protocol = "redis";
  call.system = "redis";
  const Record r = MakeDbRecord(call, ConnectionInfo{});
  EXPECT_EQ(r.span_name, "redis");
  EXPECT_FALSE(r.is_error);
  EXPECT_EQ(Find(r, "db.namespace"), nullptr);
  EXPECT_EQ(Find(r, "error.type"), nullptr);
  EXPECT_THAT(MetricLabels(r), Contains(Pair("error_type", "")));
}

// With no span consumer only what the labels read is filled, and the labels are the same.
TEST(MakeDbRecord, MetricsOnlyFillsTheLabelAttributes) {
  const DbCall call = FailedSelect();
  ConnectionInfo conn = PostgresConn();
  const Record full = MakeDbRecord(call, conn);
  conn.span_attributes = false;
  const Record r = MakeDbRecord(call, conn);
  std::vector<std::string_view> keys;
  for (const SpanAttribute& a : r.attributes) keys.push_back(a.key);
  EXPECT_THAT(keys, ElementsAre("db.system.name", "db.operation.name", "db.collection.name",
                                "server.address", "server.port"));
  EXPECT_TRUE(r.span_name.empty());
  EXPECT_EQ(r.error_type, "42P01");
  EXPECT_EQ(MetricLabels(r), MetricLabels(full));
  EXPECT_THAT(MetricLabels(r),
              ElementsAre(Pair("db_system_name", "postgresql"), Pair("db_operation_name", "SELECT"),
                          Pair("db_collection_name", "orders"), Pair("error_type", "42P01"),
                          Pair("server_address", "10.0.0.7"), Pair("server_port", "5432")));
}

TEST(MakeDbRecord, SpanNameWithoutCollection) {
  DbCall call;
  call.system = "mysql";
  call.operation = "BEGIN";
  EXPECT_EQ(DbSpanName(call), "BEGIN");
}

}  // namespace
}  // namespace loupe
