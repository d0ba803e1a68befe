#include "userspace/core/redact.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// ---- the shapes issue 20 found leaking, each exactly as seen ----------------------------------

TEST(RedactCommandLineTest, PsqlInlineSql) {
  EXPECT_EQ(RedactCommandLine({"psql", "-h", "127.0.0.1", "-U", "app", "-c",
                               "SELECT * FROM users WHERE email = 'a@b.c' AND pin = 4242"}),
            "psql -h 127.0.0.1 -U app -c ***");
  EXPECT_EQ(RedactCommandLine({"psql", "--command=ALTER USER app PASSWORD 'hunter2'"}),
            "psql --command=***");
  EXPECT_EQ(RedactCommandLine({"/usr/bin/psql", "-cSELECT 'hunter2'"}), "/usr/bin/psql -c***");
}

TEST(RedactCommandLineTest, RedisCliPassword) {
  EXPECT_EQ(RedactCommandLine({"redis-cli", "-h", "127.0.0.1", "-a", "hunter2", "PING"}),
            "redis-cli -h 127.0.0.1 -a *** PING");
  // The command's arguments are data: AUTH's password, SET's value.
  EXPECT_EQ(RedactCommandLine({"redis-cli", "-p", "6379", "AUTH", "default", "hunter2"}),
            "redis-cli -p 6379 AUTH *** ***");
  EXPECT_EQ(RedactCommandLine({"redis-cli", "SET", "session:1", "hunter2"}),
            "redis-cli SET *** ***");
  EXPECT_EQ(RedactCommandLine({"redis-cli", "-u", "redis://default:hunter2@127.0.0.1:6379/0"}),
            "redis-cli -u redis://***@127.0.0.1:6379/0");
}

TEST(RedactCommandLineTest, NoAuthWarningDoesNotShiftTheMask) {
  // The old redactor took --no-auth-warning for a secret option and masked "-a" instead of
  // the password after it.
  EXPECT_EQ(RedactCommandLine({"redis-cli", "--no-auth-warning", "-a", "hunter2", "GET", "k"}),
            "redis-cli --no-auth-warning -a *** GET ***");
  EXPECT_EQ(RedactCommandLine({"redis-cli", "-a", "hunter2", "--no-auth-warning", "PING"}),
            "redis-cli -a *** --no-auth-warning PING");
  EXPECT_EQ(RedactCommandLine({"app", "--no-auth-warning", "--port", "80"}),
            "app --no-auth-warning --port 80");
}

TEST(RedactCommandLineTest, CurlAuthorizationHeader) {
  EXPECT_EQ(RedactCommandLine({"curl", "-sS", "-H", "Authorization: Bearer eyJhbGciOi.x.y",
                               "-H", "Accept: application/json", "http://127.0.0.1:8080/api"}),
            "curl -sS -H Authorization: *** -H Accept: application/json "
            "http://127.0.0.1:8080/api");
  EXPECT_EQ(RedactCommandLine({"curl", "--header=Authorization: Basic dXNlcjpodW50ZXIy", "x"}),
            "curl --header=Authorization: *** x");
  EXPECT_EQ(RedactCommandLine({"curl", "-HX-Api-Key: hunter2", "http://h/"}),
            "curl -HX-Api-Key: *** http://h/");
  EXPECT_EQ(RedactCommandLine({"wget", "--header=Authorization: Bearer hunter2", "http://h/"}),
            "wget --header=Authorization: *** http://h/");
}

TEST(RedactCommandLineTest, CurlCookie) {
  EXPECT_EQ(RedactCommandLine({"curl", "-b", "session=hunter2", "http://127.0.0.1/"}),
            "curl -b *** http://127.0.0.1/");
  EXPECT_EQ(RedactCommandLine({"curl", "--cookie", "sid=hunter2; theme=dark", "http://h/"}),
            "curl --cookie *** http://h/");
  EXPECT_EQ(RedactCommandLine({"curl", "-u", "admin:hunter2", "-d", "{\"pin\":4242}", "x"}),
            "curl -u *** -d *** x");
  EXPECT_EQ(RedactCommandLine({"curl", "-H", "Cookie: session=hunter2", "x"}),
            "curl -H Cookie: *** x");
}

TEST(RedactCommandLineTest, UrlQueryStrings) {
  EXPECT_EQ(RedactCommandLine({"curl", "http://127.0.0.1:8080/download?token=hunter2&id=7"}),
            "curl http://127.0.0.1:8080/download?***");
  EXPECT_EQ(RedactCommandLine({"app", "--callback=https://h/cb#access_token=hunter2"}),
            "app --callback=https://h/cb#***");
  EXPECT_EQ(
      RedactCommandLine({"psql", "postgresql://app:hunter2@db:5432/orders?sslmode=require"}),
      "psql postgresql://***@db:5432/orders?***");
}

TEST(RedactCommandLineTest, MysqlAttachedPassword) {
  EXPECT_EQ(RedactCommandLine({"mysql", "-uroot", "-phunter2", "-h127.0.0.1", "shop"}),
            "mysql -uroot -p*** -h127.0.0.1 shop");
  // A bare -p prompts: the next word is the database, not a password.
  EXPECT_EQ(RedactCommandLine({"mysql", "-p", "shop"}), "mysql -p shop");
  EXPECT_EQ(RedactCommandLine({"mysqldump", "--password=hunter2", "shop"}),
            "mysqldump --password=*** shop");
  EXPECT_EQ(RedactCommandLine({"mariadb", "-e", "SELECT 'hunter2'", "shop"}),
            "mariadb -e *** shop");
}

TEST(RedactCommandLineTest, LdapBindPassword) {
  EXPECT_EQ(RedactCommandLine({"ldapsearch", "-x", "-D", "cn=admin,dc=ex", "-w", "hunter2",
                               "-b", "dc=ex", "-s", "sub"}),
            "ldapsearch -x -D cn=admin,dc=ex -w *** -b dc=ex -s sub");
  EXPECT_EQ(RedactCommandLine({"ldapwhoami", "-whunter2"}), "ldapwhoami -w***");
  EXPECT_EQ(RedactCommandLine({"ldappasswd", "-a", "old", "-s", "new"}),
            "ldappasswd -a *** -s ***");
}

// ---- the same, behind wrappers and shells -----------------------------------------------------

TEST(RedactCommandLineTest, RulesApplyBehindWrappersAndInShellScripts) {
  EXPECT_EQ(RedactCommandLine({"sudo", "-u", "mysql", "mysql", "-phunter2"}),
            "sudo -u mysql mysql -p***");
  EXPECT_EQ(RedactCommandLine({"env", "PGPASSWORD=hunter2", "psql", "-c", "SELECT 1"}),
            "env PGPASSWORD=*** psql -c ***");
  EXPECT_EQ(RedactCommandLine({"timeout", "5", "redis-cli", "-a", "hunter2", "PING"}),
            "timeout 5 redis-cli -a *** PING");
  EXPECT_EQ(RedactCommandLine({"/bin/sh", "-c",
                               "curl -H 'Authorization: Bearer hunter2' http://h/ && "
                               "mysql -phunter2 -e \"SELECT 1\""}),
            "/bin/sh -c curl -H 'Authorization: ***' http://h/ && mysql -p*** -e ***");
  EXPECT_EQ(RedactCommandLine({"bash", "-lc", "exec python app.py --password hunter2"}),
            "bash -lc exec python app.py --password ***");
}

TEST(RedactCommandLineTest, InlineCodeIsMasked) {
  EXPECT_EQ(RedactCommandLine({"python3", "-c", "connect(password='hunter2')"}),
            "python3 -c ***");
  EXPECT_EQ(RedactCommandLine({"node", "-e", "auth('hunter2')"}), "node -e ***");
  EXPECT_EQ(RedactCommandLine({"perl", "-ne", "print 'hunter2'", "f"}), "perl -ne *** f");
  EXPECT_EQ(RedactCommandLine({"sqlite3", "app.db", "SELECT * FROM t WHERE pin = 4242"}),
            "sqlite3 app.db ***");
}

// ---- generic rules ----------------------------------------------------------------------------

TEST(RedactCommandLineTest, GenericSecretShapes) {
  EXPECT_EQ(RedactCommandLine({"app", "--password=hunter2"}), "app --password=***");
  EXPECT_EQ(RedactCommandLine({"app", "--token", "abc123", "--port", "80"}),
            "app --token *** --port 80");
  EXPECT_EQ(RedactCommandLine({"app", "--api-key=k", "--client-secret", "s", "AUTH_HEADER=x"}),
            "app --api-key=*** --client-secret *** AUTH_HEADER=***");
  EXPECT_EQ(RedactCommandLine({"app", "--db=mysql://root:pw@127.0.0.1:3306/x"}),
            "app --db=mysql://***@127.0.0.1:3306/x");
  EXPECT_EQ(RedactCommandLine({"app", "--dsn", "host=db user=app password=hunter2 dbname=x"}),
            "app --dsn host=db user=app password=*** dbname=x");
  EXPECT_EQ(RedactCommandLine({"app", "Server=db;Uid=app;Pwd=hunter2;"}),
            "app Server=db;Uid=app;Pwd=***;");
  EXPECT_EQ(RedactCommandLine({"app", "{\"user\":\"a\",\"password\":\"hunter2\"}"}),
            "app {\"user\":\"a\",\"password\":\"***\"}");
  EXPECT_EQ(RedactCommandLine({"app", "Bearer hunter2"}), "app Bearer ***");
  EXPECT_EQ(RedactCommandLine({"java", "-Djavax.net.ssl.keyStorePassword=hunter2", "-jar", "a"}),
            "java -Djavax.net.ssl.keyStorePassword=*** -jar a");
  // The next option is never taken for a secret option's value.
  EXPECT_EQ(RedactCommandLine({"app", "--token", "--port", "80"}), "app --token --port 80");
  EXPECT_EQ(RedactCommandLine({"docker", "login", "--password-stdin", "registry"}),
            "docker login --password-stdin registry");
}

TEST(RedactCommandLineTest, NoSecretEverSurvives) {
  const std::vector<std::vector<std::string>> argvs = {
      {"app", "--password=hunter2"},
      {"app", "--password", "hunter2"},
      {"app", "-pwd", "hunter2"},
      {"app", "redis://:hunter2@cache:6379"},
      {"app", "DB_PASS=hunter2"},
      {"app", "--secret=hunter2", "--token=hunter2"},
      {"psql", "-c", "SELECT 'hunter2'"},
      {"redis-cli", "-a", "hunter2"},
      {"redis-cli", "--no-auth-warning", "-a", "hunter2", "PING"},
      {"curl", "-H", "Authorization: Bearer hunter2"},
      {"curl", "-b", "session=hunter2"},
      {"curl", "http://h/?q=hunter2"},
      {"mysql", "-phunter2"},
      {"ldapsearch", "-w", "hunter2"},
      {"sshpass", "-phunter2", "ssh", "h"},
      {"mosquitto_pub", "-P", "hunter2"},
      {"mongosh", "-p", "hunter2"},
      {"smbclient", "-U", "user%hunter2"},
      {"docker", "login", "-u", "me", "-p", "hunter2"},
      {"sh", "-c", "redis-cli -a hunter2 PING"},
  };
  for (const auto& argv : argvs) {
    EXPECT_THAT(RedactCommandLine(argv), Not(HasSubstr("hunter2")))
        << RedactCommandLine(argv);
  }
}

TEST(RedactCommandLineTest, NothingElseChanges) {
  const std::vector<std::string> argv = {"/usr/bin/python3", "-m",      "uvicorn",
                                         "main:app",         "--host",  "0.0.0.0",
                                         "--port",           "8000",    "http://example.com/a@b",
                                         "--workers=4",      "user@host"};
  EXPECT_EQ(RedactCommandLine(argv),
            "/usr/bin/python3 -m uvicorn main:app --host 0.0.0.0 --port 8000 "
            "http://example.com/a@b --workers=4 user@host");
  EXPECT_EQ(RedactCommandLine({"nginx", "-g", "daemon off;"}), "nginx -g daemon off;");
  EXPECT_EQ(RedactCommandLine({"redis-server", "--port", "6379", "--save", ""}),
            "redis-server --port 6379 --save ");
  EXPECT_EQ(RedactCommandLine({"mysql", "-h", "127.0.0.1", "-P", "3306", "-u", "app", "shop"}),
            "mysql -h 127.0.0.1 -P 3306 -u app shop");
  EXPECT_EQ(RedactCommandLine({}), "");
  EXPECT_EQ(RedactCommandLine({"app", "--token"}), "app --token")
      << "a trailing secret option has nothing to hide";
}

TEST(RedactUrlCredentialsTest, OnlyUserinfoGoes) {
  EXPECT_EQ(RedactUrlCredentials("http://u:p@collector:4318/v1"), "http://***@collector:4318/v1");
  EXPECT_EQ(RedactUrlCredentials("http://collector:4318/a@b"), "http://collector:4318/a@b");
  EXPECT_EQ(RedactUrlCredentials("collector:4318"), "collector:4318");
}

TEST(LooksSecretKeyTest, Words) {
  for (const char* key : {"password", "PGPASSWORD", "api_key", "AuthToken", "client-secret",
                          "X-Session-Id", "Cookie", "pwd", "db.credentials"}) {
    EXPECT_TRUE(LooksSecretKey(key)) << key;
  }
  for (const char* key : {"port", "host", "service.name", "deployment.environment", "user"}) {
    EXPECT_FALSE(LooksSecretKey(key)) << key;
  }
}

}  // namespace
}  // namespace loupe
