// Credentials must never reach logs or exported attributes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace loupe {

// "scheme://user:pass@host/path" -> "scheme://***@host/path"; anything else unchanged.
std::string RedactUrlCredentials(std::string_view text);

// Whether a key, option or header name names a secret: it contains pass, pwd, secret, token,
// key, auth, credential, cookie, session, bearer or signature (any case).
bool LooksSecretKey(std::string_view name);

// The command line, words joined by spaces, with every value that may be a secret replaced by
// "***". Only exported when the user opts in (export_command_line): it is a best effort over
// shapes seen in the wild, and a value it cannot classify is kept. Masked, for any program:
//   - secret-named assignments anywhere in a word: --password=x, PGPASSWORD=x, the
//     "host=h password=x" of a libpq conninfo, "Server=s;Pwd=x" of an ODBC string;
//   - the word after a secret-named option (--token x), except negations (--no-auth-warning)
//     and options known to take no value (--askpass, --password-stdin), and never a word that
//     starts with "--" (it is the next option);
//   - in URLs, the user:password@ part, the whole query string and the fragment;
//   - secret-named "Name: value" headers and "name": "value" JSON members;
//   - "Bearer x" / "Basic x" credentials.
// Masked for known programs, wherever they appear in the words (so behind env, sudo, timeout,
// docker exec ... and inside `sh -c` scripts, which are split into words and redacted alike):
//   - SQL and code given inline: psql -c, mysql/mariadb -e, clickhouse-client -q, sqlite3's
//     statements, mongosh --eval, python -c, node/perl/ruby -e, php -r;
//   - passwords of short options: mysql -pX, redis-cli -a, ldapsearch -w, sshpass -p,
//     mosquitto_pub -P, mongosh -p, smbclient -U user%pass, docker login -p;
//   - curl's -u/--user, -b/--cookie, --oauth2-bearer, -d/--data*, -F/--form, --json, -E/--cert,
//     and the values of secret-named headers in -H/--header (also wget's --header);
//   - every argument of a redis-cli command after the command's name (AUTH's password, SET's
//     value).
std::string RedactCommandLine(const std::vector<std::string>& argv);

}  // namespace loupe
