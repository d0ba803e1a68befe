#include "userspace/protocols/redis/redis_commands.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "gtest/gtest.h"

namespace loupe::redis {
namespace {

TEST(KnownCommands, SortedUniqueUpperCase) {
  const auto commands = KnownCommands();
  EXPECT_GE(commands.size(), 200u);
  EXPECT_TRUE(std::is_sorted(commands.begin(), commands.end()));
  EXPECT_EQ(std::adjacent_find(commands.begin(), commands.end()), commands.end());
  for (std::string_view name : commands) {
    EXPECT_TRUE(IsKnownCommand(name)) << name;
    for (char c : name) EXPECT_FALSE(std::islower(static_cast<unsigned char>(c))) << name;
  }
}

TEST(KnownCommands, CoversTheCommonCommands) {
  for (std::string_view name :
       {"GET", "SET", "DEL", "MGET", "MSET", "HGET", "HSET", "HGETALL", "LPUSH", "RPUSH", "LPOP", "RPOP",
        "LRANGE", "SADD", "SMEMBERS", "ZADD", "ZRANGE", "INCR", "DECR", "EXPIRE", "TTL", "EXISTS", "KEYS",
        "SCAN", "PING", "ECHO", "SELECT", "AUTH", "HELLO", "CLIENT", "CONFIG", "INFO", "MULTI", "EXEC",
        "DISCARD", "WATCH", "PUBLISH", "SUBSCRIBE", "EVAL", "EVALSHA", "XADD", "XREAD", "QUIT",
        "INCRBYFLOAT", "BLPOP", "GETEX", "HEXPIRE", "WAITAOF"}) {
    EXPECT_TRUE(IsKnownCommand(name)) << name;
  }
}

TEST(KnownCommands, AnythingElseIsUnknown) {
  for (std::string_view name : {"LOUPENOSUCHCMD", "NOSUCHC", "get", "", "GET ", "JSON.GET", "CLIENT|LIST",
                                "SETX", "GE"}) {
    EXPECT_FALSE(IsKnownCommand(name)) << name;
  }
}

}  // namespace
}  // namespace loupe::redis
