// MySQL and MariaDB (client/server protocol 4.1+) as seen from the client process.
//
// Reported: one record per COM_QUERY and per COM_STMT_EXECUTE (with the SQL remembered from
// COM_STMT_PREPARE, bounded per connection), and a failed COM_STMT_PREPARE. Ignored, never copied:
// the server greeting (only its version is read, to tell MariaDB), the handshake response and
// every authentication packet (sequence id != 0), COM_CHANGE_USER, COM_PING, COM_QUIT,
// COM_INIT_DB (its schema becomes db.namespace), COM_STMT_CLOSE (no reply; may be glued before
// the next command), other administrative commands. db.system.name is "mariadb" once the greeting
// said so, else "mysql". Server role is ignored: DB calls are reported from clients. Not
// supported: compressed protocol, TLS without the SSL uprobes.
#pragma once

#include <memory>

#include "userspace/protocols/protocol.h"

namespace loupe {

std::unique_ptr<Protocol> MakeMysqlProtocol();

}  // namespace loupe
