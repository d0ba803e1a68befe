#include "userspace/protocols/http1/route.h"

#include <ostream>
#include <string>

#include "gtest/gtest.h"

namespace loupe::http1 {
namespace {

struct RouteCase {
  const char* name;
  std::string path;
  std::string route;
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const RouteCase& c, std::ostream* os) { *os << c.name; }

class NormalizeRouteTest : public testing::TestWithParam<RouteCase> {};

TEST_P(NormalizeRouteTest, Normalizes) {
  EXPECT_EQ(NormalizeRoute(GetParam().path), GetParam().route) << GetParam().path;
}

INSTANTIATE_TEST_SUITE_P(
    Table, NormalizeRouteTest,
    testing::Values(
        RouteCase{"empty", "", "/"},
        RouteCase{"root", "/", "/"},
        RouteCase{"only_slashes", "///", "/"},
        RouteCase{"static", "/api/v1/users", "/api/v1/users"},
        RouteCase{"no_leading_slash", "users/7", "/users/{id}"},
        RouteCase{"numeric_id", "/users/42", "/users/{id}"},
        RouteCase{"numeric_ids_nested", "/users/42/orders/1001", "/users/{id}/orders/{id}"},
        RouteCase{"query_dropped", "/search?q=secret&page=2", "/search"},
        RouteCase{"fragment_dropped", "/docs/intro#install", "/docs/intro"},
        RouteCase{"query_before_fragment", "/a?x=1#y", "/a"},
        RouteCase{"query_only", "?token=abc", "/"},
        RouteCase{"repeated_slashes", "//api///users//", "/api/users"},
        RouteCase{"trailing_slash", "/users/", "/users"},
        RouteCase{"uuid_lower", "/orders/550e8400-e29b-41d4-a716-446655440000",
                  "/orders/{id}"},
        RouteCase{"uuid_upper", "/orders/550E8400-E29B-41D4-A716-446655440000/items",
                  "/orders/{id}/items"},
        RouteCase{"hex_sha", "/commits/3f2a9c1b7d", "/commits/{id}"},
        RouteCase{"hex_8_chars", "/objects/deadbee1", "/objects/{id}"},
        RouteCase{"hex_word_without_digit_kept", "/coffee/deadbeef", "/coffee/deadbeef"},
        RouteCase{"short_hex_kept", "/colors/abc123", "/colors/abc123"},
        RouteCase{"version_segment_kept", "/v2/oauth2/token", "/v2/oauth2/token"},
        RouteCase{"sha256_word_kept", "/hash/sha256", "/hash/sha256"},
        RouteCase{"invoice_number", "/invoices/INV-2024-000123", "/invoices/{id}"},
        RouteCase{"mixed_token", "/reset/aZ3kP9qLm2Xv7RtY", "/reset/{id}"},
        RouteCase{"base64_token", "/t/dGhpcyBpcyBhIHRva2Vu1Q==", "/t/{id}"},
        RouteCase{"long_word_kept", "/authentication-providers", "/authentication-providers"},
        RouteCase{"very_long_segment",
                  "/p/" + std::string(60, 'a'), "/p/{id}"},
        RouteCase{"email", "/users/jane@example.com", "/users/{id}"},
        RouteCase{"email_encoded", "/users/jane%40example.com/profile", "/users/{id}/profile"},
        RouteCase{"percent_encoded_word_kept", "/files/my%20doc", "/files/my%20doc"},
        RouteCase{"non_ascii", "/caf\xc3\xa9/menu", "/{id}/menu"},
        RouteCase{"control_byte", std::string("/a\x01" "b/c", 6), "/{id}/c"},
        RouteCase{"matrix_params", "/cart;jsessionid=0123456789ABCDEF0123/items",
                  "/cart/items"},
        RouteCase{"already_normalized", "/users/{id}", "/users/{id}"},
        RouteCase{"segment_cap", "/a/b/c/d/e/f/g/h/i/j", "/a/b/c/d/e/f/g/h/{...}"},
        RouteCase{"exactly_eight", "/a/b/c/d/e/f/g/h", "/a/b/c/d/e/f/g/h"},
        RouteCase{"length_cap",
                  "/" + std::string(40, 'x') + "/" + std::string(40, 'y') + "/" +
                      std::string(40, 'z') + "/tail",
                  "/" + std::string(40, 'x') + "/" + std::string(40, 'y') + "/{...}"}),
    [](const testing::TestParamInfo<RouteCase>& info) { return info.param.name; });

TEST(NormalizeRouteTest, IsAlwaysBounded) {
  std::string path;
  for (int i = 0; i < 200; ++i) path += "/segment" + std::string(i % 7, 'q');
  const std::string route = NormalizeRoute(path);
  EXPECT_LE(route.size(), kMaxRouteLength);
  EXPECT_EQ(route.substr(route.size() - kRouteElided.size()), kRouteElided);
}

TEST(NormalizeRouteTest, DistinctIdsCollapseToOneRoute) {
  EXPECT_EQ(NormalizeRoute("/users/1/orders/abcdef0123456789"),
            NormalizeRoute("/users/99999/orders/0123456789abcdef"));
}

}  // namespace
}  // namespace loupe::http1
