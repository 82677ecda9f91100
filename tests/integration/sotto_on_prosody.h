// The fixture the integration suites share: one private Prosody per suite
// and Sotto users, each with their own profile folder and their own
// `sotto rpc` process, driven the way a front end drives Sotto.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "harness/prosody.h"
#include "harness/rpc_client.h"

namespace sotto::test {

// A <message> element as Prosody's stanza_debug logged it: "RECV:" as a
// client wrote it to the server, "SEND:" as the server wrote it to a client.
// Elements nested in carbons or forwards are listed on their own.
struct LoggedMessage {
  bool from_client = false;  // RECV (a client's own stanza: usually no `from`)
  std::string from;          // attribute as logged, "" when absent
  std::string to;
  std::string id;
  std::optional<std::string> body;  // XML entities decoded
};

inline std::string bare_address(const std::string& jid) { return jid.substr(0, jid.find('/')); }

inline std::string xml_unescape(const std::string& text) {
  static const std::pair<const char*, const char*> kEntities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    bool replaced = false;
    if (text[i] == '&') {
      for (const auto& [entity, plain] : kEntities) {
        if (text.compare(i, std::char_traits<char>::length(entity), entity) == 0) {
          out += plain;
          i += std::char_traits<char>::length(entity);
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += text[i++];
  }
  return out;
}

// The message elements in a piece of Prosody's debug log. A log entry starts
// with a timestamp ("Nov 27 08:35:35 "); a stanza's text may span lines.
inline std::vector<LoggedMessage> parse_logged_messages(const std::string& log) {
  static const std::regex kEntryStart(R"(\n[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} )");
  static const std::regex kTo(R"(\sto=(['"])(.*?)\1)");
  static const std::regex kFrom(R"(\sfrom=(['"])(.*?)\1)");
  static const std::regex kId(R"(\sid=(['"])(.*?)\1)");
  std::vector<LoggedMessage> out;
  for (const char* marker : {"RECV: <", "SEND: <"}) {
    const bool from_client = marker[0] == 'R';
    for (std::size_t at = log.find(marker); at != std::string::npos;
         at = log.find(marker, at + 1)) {
      std::smatch next;
      const auto rest_begin = log.begin() + static_cast<std::ptrdiff_t>(at);
      std::size_t end = std::regex_search(rest_begin, log.end(), next, kEntryStart)
                            ? at + static_cast<std::size_t>(next.position(0))
                            : log.size();
      const std::string entry = log.substr(at, end - at);
      for (std::size_t m = entry.find("<message"); m != std::string::npos;) {
        std::size_t next_message = entry.find("<message", m + 1);
        const char after = m + 8 < entry.size() ? entry[m + 8] : '>';
        if (after != ' ' && after != '>' && after != '/') {  // <message-foo>: not ours
          m = next_message;
          continue;
        }
        std::size_t tag_end = entry.find('>', m);
        if (tag_end == std::string::npos) break;
        const std::string tag = entry.substr(m, tag_end - m + 1);
        LoggedMessage message;
        message.from_client = from_client;
        std::smatch attr;
        if (std::regex_search(tag, attr, kTo)) message.to = attr[2];
        if (std::regex_search(tag, attr, kFrom)) message.from = attr[2];
        if (std::regex_search(tag, attr, kId)) message.id = attr[2];
        const std::size_t scope_end =
            next_message == std::string::npos ? entry.size() : next_message;
        std::size_t body = entry.find("<body", tag_end);
        if (body != std::string::npos && body < scope_end) {
          std::size_t open_end = entry.find('>', body);
          if (open_end != std::string::npos && entry[open_end - 1] == '/') {
            message.body = "";
          } else if (open_end != std::string::npos) {
            std::size_t close = entry.find("</body>", open_end);
            message.body = xml_unescape(entry.substr(
                open_end + 1, (close == std::string::npos ? entry.size() : close) - open_end - 1));
          }
        }
        out.push_back(std::move(message));
        m = next_message;
      }
    }
  }
  return out;
}

// Every file under `dir` that contains one of `needles` (as bytes, and in
// UTF-16LE in case anything wrote wide text), with the needle found.
inline std::vector<std::string> files_containing(const std::filesystem::path& dir,
                                                 const std::vector<std::string>& needles) {
  std::vector<std::string> found;
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string data{std::istreambuf_iterator<char>(in), {}};
    for (const auto& needle : needles) {
      std::string wide;
      for (char c : needle) {
        wide += c;
        wide += '\0';
      }
      if (data.find(needle) != std::string::npos || data.find(wide) != std::string::npos) {
        found.push_back(entry.path().filename().string() + ": " + needle);
      }
    }
  }
  EXPECT_GE(files, 2u) << "the profile folder " << dir << " looks empty";
  return found;
}

// Runs the CLI with XDG_DATA_HOME=home and `input` on its standard input;
// returns what it wrote (stdout and stderr) and its exit status.
inline std::pair<std::string, int> run_cli(const std::filesystem::path& home,
                                           const std::string& args, const std::string& input = {}) {
  const std::string command = "printf '%s' '" + input +
                              "' | DBUS_SESSION_BUS_ADDRESS= XDG_DATA_HOME='" + home.string() +
                              "' '" + SOTTO_CLI_PATH + "' " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {"popen failed", -1};
  std::string out;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  const int status = ::pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

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

  // --- Events -------------------------------------------------------------

  // The first queued event of this type (for `account` when given) that matches.
  static json wait_event_of(SottoUser& user, std::string_view type,
                            std::function<bool(const json&)> match = nullptr,
                            std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return user.rpc->wait_event(
        [&](const json& e) {
          return e.value("type", "") == type && e.value("account", user.address) == user.address &&
                 (!match || match(e));
        },
        timeout);
  }

  // Every event of this type seen so far (taken by a wait or not).
  static std::vector<json> events_of(const SottoUser& user, std::string_view type) {
    std::vector<json> out;
    for (const json& e : user.rpc->events_seen()) {
      if (e.value("type", "") == type) out.push_back(e);
    }
    return out;
  }

  static json send_message(SottoUser& user, const std::string& to, const std::string& body) {
    return user.rpc->call("message.send", {{"account", user.address}, {"to", to}, {"body", body}});
  }

  // Waits until the message with this id reached the server ("sent") or the
  // contact ("delivered": a receipt may overtake the server's ack).
  static json wait_sent(SottoUser& user, const std::string& id,
                        std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return wait_event_of(
        user, "message.state",
        [&](const json& e) {
          const std::string state = e.value("state", "");
          return e.value("id", "") == id && (state == "sent" || state == "delivered");
        },
        timeout);
  }

  // --- OTR (private conversations) ------------------------------------------

  // The account's own OTR fingerprint. A new account gets its key when it
  // first goes online (otr.key "generating", then "ready"): waits for that.
  static std::string otr_key(SottoUser& user) {
    json own = user.rpc->call("otr.fingerprint", {{"account", user.address}});
    if (own["fingerprint"].is_string()) return own["fingerprint"];
    json key = wait_event_of(
        user, "otr.key",
        [](const json& e) {
          const std::string stage = e.value("stage", "");
          return stage == "ready" || stage == "failed";
        },
        std::chrono::seconds(60));
    if (key["stage"] != "ready") throw std::runtime_error("key generation failed: " + key.dump());
    own = user.rpc->call("otr.fingerprint", {{"account", user.address}});
    if (own["fingerprint"] != key["fingerprint"]) {
      throw std::runtime_error("otr.key said " + key.dump() + " but otr.fingerprint says " +
                               own.dump());
    }
    return own["fingerprint"];
  }

  // The next otr.privacy event for this peer, in order.
  static json next_privacy(SottoUser& user, const std::string& peer,
                           std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return wait_event_of(
        user, "otr.privacy", [&](const json& e) { return e.value("peer", "") == peer; }, timeout);
  }

  // Takes this peer's otr.privacy events in order until one says `privacy`
  // ("not_private", "unverified", "verified", "finished"): the padlock shows it.
  static json wait_privacy(SottoUser& user, const std::string& peer, std::string_view privacy,
                           std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      json e = next_privacy(user, peer, std::max(left, std::chrono::milliseconds(1)));
      if (e.value("privacy", "") == privacy) return e;
    }
  }

  static json wait_smp(SottoUser& user, const std::string& peer, std::string_view stage,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return wait_event_of(
        user, "otr.smp",
        [&](const json& e) { return e.value("peer", "") == peer && e.value("stage", "") == stage; },
        timeout);
  }

  static json otr_status(SottoUser& user, const std::string& peer) {
    return user.rpc->call("otr.status", {{"account", user.address}, {"peer", peer}});
  }

  // `a` starts OTR with `b`; both see a private, unverified conversation.
  // Returns {a's event, b's event}.
  static std::pair<json, json> go_private(SottoUser& a, SottoUser& b) {
    a.rpc->call("otr.start", {{"account", a.address}, {"peer", b.address}});
    json seen_by_a = wait_privacy(a, b.address, "unverified");
    json seen_by_b = wait_privacy(b, a.address, "unverified");
    return {seen_by_a, seen_by_b};
  }

  // --- Prosody's stanza log --------------------------------------------------

  static std::uintmax_t server_log_size() {
    std::error_code ignored;
    auto size = std::filesystem::file_size(server_->log_path(), ignored);
    return ignored ? 0 : size;
  }

  static std::string server_log_since(std::uintmax_t offset) {
    std::ifstream in(server_->log_path(), std::ios::binary);
    if (!in) return {};
    in.seekg(static_cast<std::streamoff>(offset));
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // The bodies of messages addressed to `to` (bare address) since `offset`,
  // sent by `from` (bare) as far as the log says (a client's own RECV copy
  // carries no `from`: it counts).
  static std::vector<std::string> logged_bodies(std::uintmax_t offset, const std::string& from,
                                                const std::string& to) {
    std::vector<std::string> bodies;
    for (const LoggedMessage& m : parse_logged_messages(server_log_since(offset))) {
      if (!m.body || bare_address(m.to) != to) continue;
      if (!m.from.empty() && bare_address(m.from) != from) continue;
      bodies.push_back(*m.body);
    }
    return bodies;
  }

  // What an eavesdropper on the server sees of a conversation: every body
  // from `from` to `to` since `offset` starts with "?OTR" (at least
  // `at_least` of them), and none of `plaintexts` appears anywhere in the log.
  static void expect_only_otr_on_the_wire(std::uintmax_t offset, const std::string& from,
                                          const std::string& to,
                                          const std::vector<std::string>& plaintexts,
                                          std::size_t at_least = 1) {
    std::vector<std::string> bodies = logged_bodies(offset, from, to);
    EXPECT_GE(bodies.size(), at_least) << "messages from " << from << " to " << to;
    for (const std::string& body : bodies) {
      EXPECT_EQ(body.rfind("?OTR", 0), 0u)
          << from << " -> " << to << " carried a body that is not OTR: " << body.substr(0, 200);
    }
    const std::string log = server_log_since(offset);
    for (const std::string& plain : plaintexts) {
      EXPECT_EQ(log.find(plain), std::string::npos) << "plaintext in the server's log: " << plain;
    }
  }

  static inline std::unique_ptr<Prosody> server_;
};

}  // namespace sotto::test
