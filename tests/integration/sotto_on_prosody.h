// The fixture the integration suites share: one private Prosody per suite
// and Sotto users, each with their own profile folder and their own
// `sotto rpc` process, driven the way a front end drives Sotto.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/prosody.h"
#include "harness/rpc_client.h"

namespace sotto::test {

struct SottoUser {
  std::unique_ptr<TempDir> home;
  std::unique_ptr<RpcProcess> rpc;
  std::string address;
  std::string password;
  std::filesystem::path profile() const { return home->path() / "sotto" / "default"; }
};

class SottoOnProsody : public ::testing::Test {
 protected:
  using json = nlohmann::json;

  static void SetUpTestSuite() { server_ = std::make_unique<Prosody>(); }
  static void TearDownTestSuite() { server_.reset(); }

  // A name no other test of this process uses.
  static std::string unique(std::string_view name) {
    static int counter = 0;
    return std::string(name) + std::to_string(::getpid()) + "x" + std::to_string(counter++);
  }

  // `sotto rpc` on the user's profile folder.
  static void start_rpc(SottoUser& user) {
    user.rpc = std::make_unique<RpcProcess>(
        SOTTO_CLI_PATH, std::vector<std::string>{"rpc"},
        std::map<std::string, std::string>{{"XDG_DATA_HOME", user.home->path().string()}});
  }

  // Ends it the way a front end does (end of input) and expects a clean exit.
  static void stop_rpc(SottoUser& user) {
    user.rpc->close_stdin();
    EXPECT_EQ(user.rpc->wait_exit(std::chrono::seconds(10)), std::optional<int>(0))
        << user.rpc->stderr_text();
    user.rpc.reset();
  }

  // A user with a new profile and `sotto rpc` running; no account yet.
  static SottoUser start_user(std::string_view name) {
    SottoUser user;
    user.home = std::make_unique<TempDir>("sotto-user");
    user.address = unique(name) + "@" + server_->domain();
    user.password = "Pw-" + unique("secret");
    start_rpc(user);
    return user;
  }

  static json server_params(const std::string& address, const std::string& password) {
    return json{
        {"address", address},          {"password", password},          {"host", "127.0.0.1"},
        {"port", server_->c2s_port()}, {"pin", server_->cert_sha256()}, {"remember", true}};
  }

  // A new account, created in-band, remembered, and online.
  static SottoUser registered_online(std::string_view name) {
    SottoUser user = start_user(name);
    user.rpc->call("account.register", server_params(user.address, user.password));
    connect(user);
    return user;
  }

  static void connect(SottoUser& user, json extra = json::object()) {
    json params{{"address", user.address}, {"wait", true}};
    params.update(extra);
    user.rpc->call("account.connect", params);
  }

  static json wait_contact(SottoUser& user, const std::string& address,
                           std::function<bool(const json&)> match) {
    return user.rpc->wait_event([&](const json& e) {
      return e.value("type", "") == "contact.changed" &&
             e["contact"].value("address", "") == address && match(e["contact"]);
    });
  }

  static void wait_request(SottoUser& user, const std::string& from) {
    user.rpc->wait_event([&](const json& e) {
      return e.value("type", "") == "authorization.requested" && e.value("address", "") == from;
    });
  }

  // `a` adds `b` (with `extra` contact.add params); `b` authorizes (and asks
  // back); `a` authorizes in turn; both see subscription "both".
  static void befriend(SottoUser& a, SottoUser& b, json extra = json::object()) {
    json add{{"account", a.address}, {"address", b.address}};
    add.update(extra);
    a.rpc->call("contact.add", add);
    wait_request(b, a.address);
    b.rpc->call("contact.authorize", {{"account", b.address}, {"address", a.address}});
    wait_request(a, b.address);
    a.rpc->call("contact.authorize", {{"account", a.address}, {"address", b.address}});
    wait_contact(a, b.address, [](const json& c) { return c.value("subscription", "") == "both"; });
    wait_contact(b, a.address, [](const json& c) { return c.value("subscription", "") == "both"; });
  }

  static json wait_message(SottoUser& user, const std::string& body,
                           std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return user.rpc->wait_event(
        [&](const json& e) {
          return e.value("type", "") == "message.received" && e.value("body", "") == body;
        },
        timeout);
  }

  static inline std::unique_ptr<Prosody> server_;
};

}  // namespace sotto::test
