#include "userspace/protocols/registry.h"

#include "userspace/protocols/http1/http1_protocol.h"
#include "userspace/protocols/memcached/memcached_protocol.h"
#include "userspace/protocols/mysql/mysql_protocol.h"
#include "userspace/protocols/postgresql/postgresql_protocol.h"
#include "userspace/protocols/redis/redis_protocol.h"

namespace loupe {

const std::vector<std::unique_ptr<Protocol>>& AllProtocols() {
  static const auto* protocols = [] {
    auto* list = new std::vector<std::unique_ptr<Protocol>>();
    // One line per protocol. Order matters only among protocols that answer kMaybe.
    list->push_back(MakeHttp1Protocol());
    list->push_back(MakePostgresqlProtocol());
    list->push_back(MakeMysqlProtocol());
    list->push_back(MakeRedisProtocol());
    list->push_back(MakeMemcachedProtocol());
    return list;
  }();
  return *protocols;
}

std::vector<const Protocol*> RegisteredProtocols() {
  std::vector<const Protocol*> protocols;
  for (const auto& protocol : AllProtocols()) protocols.push_back(protocol.get());
  return protocols;
}

}  // namespace loupe
