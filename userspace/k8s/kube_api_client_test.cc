#include "userspace/k8s/kube_api_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "userspace/k8s/fake_kube_api.h"

namespace loupe {
namespace {

TEST(InClusterApiConfigTest, FromTheServiceEnvironmentAndTheServiceAccount) {
  const std::string dir = ::testing::TempDir() + "/serviceaccount";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/token") << "secret-token";
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}};
  auto getenv = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  absl::StatusOr<KubeApiConfig> config = InClusterApiConfig(getenv, dir);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->base_url, "https://10.96.0.1:443");
  EXPECT_EQ(config->token_file, dir + "/token");
  EXPECT_EQ(config->ca_file, dir + "/ca.crt");

  env["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  EXPECT_EQ(InClusterApiConfig(getenv, dir)->base_url, "https://[fd00::1]:443");

  absl::StatusOr<KubeApiConfig> no_token = InClusterApiConfig(getenv, dir + "/missing");
  EXPECT_FALSE(no_token.ok());
  EXPECT_THAT(no_token.status().message(), ::testing::HasSubstr("kubernetes.token_file"));
  EXPECT_THAT(no_token.status().message(), ::testing::Not(::testing::HasSubstr("secret-token")));

  env.clear();
  EXPECT_THAT(InClusterApiConfig(getenv, dir).status().message(),
              ::testing::HasSubstr("kubernetes.api_url"));
}

TEST(CurlKubeApiClientTest, BodiesAndLinesAreBounded) {
  std::unique_ptr<FakeKubeApi> api = std::move(FakeKubeApi::Start().value());
  api->SetResponse("/big", 200, std::string(2000, 'x'));
  CurlKubeApiOptions options;
  options.max_body_bytes = 1000;
  options.max_line_bytes = 100;
  auto client = std::move(CurlKubeApiClient::Create({api->url(), "", ""}, options).value());
  absl::StatusOr<KubeResponse> big = client->Get("/big");
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
  absl::StatusOr<KubeResponse> missing = client->Get("/missing");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);

  std::vector<std::string> lines;
  api->PushWatchLine("first");
  api->PushWatchLine(std::string(50, 'y'));
  api->EndWatch();
  absl::StatusOr<KubeResponse> watched = client->Watch(
      "/w?watch=true",
      [&](std::string_view line) {
        lines.emplace_back(line);
        return true;
      },
      nullptr);
  ASSERT_TRUE(watched.ok()) << watched.status();
  EXPECT_EQ(watched->status, 200);
  EXPECT_THAT(lines, ::testing::ElementsAre("first", std::string(50, 'y')));

  api->PushWatchLine(std::string(150, 'z'));
  api->EndWatch();
  EXPECT_EQ(client->Watch("/w?watch=true", [](std::string_view) { return true; }, nullptr)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(CurlKubeApiClientTest, FailuresNeverCarryTheToken) {
  const std::string token_file = ::testing::TempDir() + "/k8s_client_token";
  std::ofstream(token_file) << "very-secret-token";
  auto client = std::move(
      CurlKubeApiClient::Create({"http://127.0.0.1:1", token_file, ""}, {}).value());
  absl::StatusOr<KubeResponse> response = client->Get("/api/v1/pods");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), ::testing::Not(::testing::HasSubstr("very-secret")));
}

}  // namespace
}  // namespace loupe
