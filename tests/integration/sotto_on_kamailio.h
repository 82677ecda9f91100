// The SIP suites' fixture: one private Kamailio per suite and Sotto users,
// each with their own profile folder and `sotto rpc` process, holding a SIP
// account user@127.0.0.1 registered through Kamailio (UDP unless asked).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "harness/kamailio.h"
#include "harness/rpc_client.h"
#include "integration/sotto_on_prosody.h"  // SottoUser, run_cli

namespace sotto::test {

class SottoOnKamailio : public ::testing::Test {
 protected:
  using json = nlohmann::json;

  static void SetUpTestSuite() { kamailio_ = std::make_unique<Kamailio>(); }
  static void TearDownTestSuite() { kamailio_.reset(); }

  static std::string unique(std::string_view name) {
    static int counter = 0;
    return std::string(name) + std::to_string(::getpid()) + "x" + std::to_string(counter++);
  }

  static std::string user_of(const SottoUser& user) {
    return user.address.substr(0, user.address.find('@'));
  }

  static uint16_t port_for(const Kamailio& server, const std::string& transport) {
    if (transport == "tcp") return server.tcp_port();
    if (transport == "tls") return server.tls_port();
    return server.udp_port();
  }

  // A new profile with `sotto rpc` running and a Kamailio user for it (no
  // Sotto account yet).
  static SottoUser start_sip_user(std::string_view name, Kamailio& server = *kamailio_) {
    SottoUser user;
    user.home = std::make_unique<TempDir>("sotto-user");
    const std::string id = unique(name);
    user.address = id + "@" + server.domain();
    user.password = "Pw-" + unique("secret");
    server.add_user(id, user.password);
    user.rpc = std::make_unique<RpcProcess>(
        SOTTO_CLI_PATH, std::vector<std::string>{"rpc"},
        std::map<std::string, std::string>{{"XDG_DATA_HOME", user.home->path().string()}});
    return user;
  }

  // account.add params for this user's SIP account through the server.
  static json sip_account(const SottoUser& user, const std::string& transport = "udp",
                          Kamailio& server = *kamailio_, bool pin = true) {
    json params{{"address", user.address}, {"password", user.password},
                {"protocol", "sip"},       {"transport", transport},
                {"host", "127.0.0.1"},     {"port", port_for(server, transport)},
                {"remember", true}};
    if (pin && transport == "tls") params["pin"] = server.cert_sha256();
    return params;
  }

  static void connect(SottoUser& user) {
    user.rpc->call("account.connect", {{"address", user.address}, {"wait", true}}, 30s);
  }

  // A user whose SIP account is added and registered ("online").
  static SottoUser online(std::string_view name, const std::string& transport = "udp",
                          Kamailio& server = *kamailio_) {
    SottoUser user = start_sip_user(name, server);
    user.rpc->call("account.add", sip_account(user, transport, server));
    connect(user);
    return user;
  }

  static std::string account_state(SottoUser& user) {
    return user.rpc->call("account.state", {{"address", user.address}}).value("state", "");
  }

  // --- Calls ----------------------------------------------------------------

  // The "call" object of the first queued call event that matches.
  static json wait_call(SottoUser& user, std::function<bool(const json& call)> match,
                        std::chrono::milliseconds timeout = 20s) {
    json e = user.rpc->wait_event(
        [&](const json& e) {
          return e.value("type", "") == "call" && e.contains("call") && e["call"].is_object() &&
                 match(e["call"]);
        },
        timeout);
    return e["call"];
  }

  // The next event of call `id` (or of any call when id is empty) in `state`.
  static json wait_call_state(SottoUser& user, const std::string& id, std::string_view state,
                              std::chrono::milliseconds timeout = 20s) {
    return wait_call(
        user,
        [&](const json& c) {
          return (id.empty() || c.value("id", "") == id) && c.value("state", "") == state;
        },
        timeout);
  }

  // `caller` calls `callee`: returns {caller's call id, callee's incoming call}
  // once the callee sees it ring and the caller sees "ringing".
  static std::pair<std::string, json> ring(SottoUser& caller, SottoUser& callee) {
    json started =
        caller.rpc->call("call.start", {{"account", caller.address}, {"to", callee.address}});
    const std::string id = started.value("id", "");
    EXPECT_FALSE(id.empty()) << started.dump();
    json incoming = wait_call(callee, [&](const json& c) {
      return c.value("state", "") == "incoming" && c.value("peer", "") == caller.address;
    });
    wait_call_state(caller, id, "ringing");
    return {id, incoming};
  }

  static json wait_message(SottoUser& user, const std::string& body,
                           std::chrono::milliseconds timeout = 20s) {
    return user.rpc->wait_event(
        [&](const json& e) {
          return e.value("type", "") == "message.received" && e.value("body", "") == body;
        },
        timeout);
  }

  static json send_message(SottoUser& user, const std::string& to, const std::string& body) {
    return user.rpc->call("message.send", {{"account", user.address}, {"to", to}, {"body", body}});
  }

  static inline std::unique_ptr<Kamailio> kamailio_;
};

}  // namespace sotto::test
