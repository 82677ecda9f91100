// `sotto rpc`: JSON-RPC 2.0 over stdin/stdout, one object per line (docs/rpc.md).
//
// Everything runs on the core thread: stdin is read with asio (never a
// blocking read), stdout is written through a queue, and every engine event
// becomes an "event" notification. stdout carries nothing but JSON lines.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/posix/stream_descriptor.hpp>
#include <asio/write.hpp>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "json_events.h"
#include "terminal.h"

namespace sotto::cli {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxLine = std::size_t{1} << 20;
constexpr std::size_t kReadChunk = 64 * 1024;

// JSON-RPC 2.0 §5.1
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;

// Engine errors: -32000 - errc, in the range the spec leaves to servers.
int engine_code(Errc code) { return -32000 - static_cast<int>(code); }

// Thrown by Params and caught by dispatch (never leaves this file).
struct InvalidParams {
  std::string message;
};

// Leaves fds 0 and 1 in the blocking mode we found them in (asio makes them
// non-blocking, which the shell sharing a terminal would otherwise inherit).
class StdioModes {
 public:
  StdioModes() : in_(::fcntl(STDIN_FILENO, F_GETFL)), out_(::fcntl(STDOUT_FILENO, F_GETFL)) {}
  ~StdioModes() {
    if (in_ >= 0) ::fcntl(STDIN_FILENO, F_SETFL, in_);
    if (out_ >= 0) ::fcntl(STDOUT_FILENO, F_SETFL, out_);
  }
  StdioModes(const StdioModes&) = delete;
  StdioModes& operator=(const StdioModes&) = delete;

 private:
  int in_;
  int out_;
};

// Queues lines for stdout and writes them without blocking the core thread.
class LineWriter {
 public:
  explicit LineWriter(asio::io_context& io) : out_(io, ::dup(STDOUT_FILENO)) {}

  void on_broken(std::function<void()> handler) { on_broken_ = std::move(handler); }

  void write(const json& message) {
    if (broken_) return;
    queue_.push_back(dump_line(message) + '\n');
    if (queue_.size() == 1) write_front();
  }

 private:
  void write_front() {
    asio::async_write(out_, asio::buffer(queue_.front()), [this](std::error_code ec, std::size_t) {
      queue_.pop_front();
      if (ec) {
        broken_ = true;
        queue_.clear();
        if (on_broken_) on_broken_();
        return;
      }
      if (!queue_.empty()) write_front();
    });
  }

  asio::posix::stream_descriptor out_;
  std::deque<std::string> queue_;  // front() is being written
  bool broken_ = false;
  std::function<void()> on_broken_;
};

// The answer to one request; a notification (no id) gets none.
class Reply {
 public:
  Reply(std::shared_ptr<LineWriter> out, json id, bool wanted)
      : out_(std::move(out)), id_(std::move(id)), wanted_(wanted) {}

  void ok(json result) const {
    if (wanted_) out_->write(json{{"jsonrpc", "2.0"}, {"id", id_}, {"result", std::move(result)}});
  }

  void error(int code, std::string message, json data = nullptr) const {
    if (!wanted_) return;
    json error{{"code", code}, {"message", std::move(message)}};
    if (!data.is_null()) error["data"] = std::move(data);
    out_->write(json{{"jsonrpc", "2.0"}, {"id", id_}, {"error", std::move(error)}});
  }

  void error(const Error& e) const {
    json data{{"errc", std::string(to_string(e.code))}};
    if (!e.detail.empty()) data["detail"] = e.detail;
    error(engine_code(e.code), e.message, std::move(data));
  }

  // A callback for the engine's Result<void> answers.
  std::function<void(Result<void>)> done(json result = json::object()) const {
    return [reply = *this, result = std::move(result)](Result<void> outcome) {
      if (outcome) {
        reply.ok(result);
      } else {
        reply.error(outcome.error());
      }
    };
  }

 private:
  std::shared_ptr<LineWriter> out_;
  json id_;
  bool wanted_;
};

// Typed access to a request's params; a wrong type throws InvalidParams.
class Params {
 public:
  explicit Params(json& params) : params_(params) {}

  std::string string(const char* key) {
    auto value = optional_string(key);
    if (!value) throw InvalidParams{std::string("'") + key + "' is required"};
    return *value;
  }

  std::optional<std::string> optional_string(const char* key) {
    const json* value = find(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) throw InvalidParams{std::string("'") + key + "' must be a string"};
    return value->get<std::string>();
  }

  // Takes a password out of the request, leaving no copy in it.
  std::optional<Secret> secret(const char* key) {
    json* value = find(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) throw InvalidParams{std::string("'") + key + "' must be a string"};
    auto& text = value->get_ref<std::string&>();
    Secret out(text);
    secure_wipe(text);
    return out;
  }

  Secret required_secret(const char* key) {
    auto value = secret(key);
    if (!value) throw InvalidParams{std::string("'") + key + "' is required"};
    return std::move(*value);
  }

  // Given at all, even as null.
  bool present(const char* key) const { return params_.contains(key); }

  // An object parameter, or nullptr when absent (or null).
  json* find_object(const char* key) {
    json* value = find(key);
    if (value != nullptr && !value->is_object())
      throw InvalidParams{std::string("'") + key + "' must be an object"};
    return value;
  }

  bool flag(const char* key, bool fallback = false) {
    const json* value = find(key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean())
      throw InvalidParams{std::string("'") + key + "' must be true or false"};
    return value->get<bool>();
  }

  std::optional<std::int64_t> integer(const char* key, std::int64_t min, std::int64_t max) {
    const json* value = find(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_number_integer() || value->get<int64_t>() < min || value->get<int64_t>() > max) {
      throw InvalidParams{std::string("'") + key + "' must be a whole number from " +
                          std::to_string(min) + " to " + std::to_string(max)};
    }
    return value->get<int64_t>();
  }

  std::optional<bool> optional_flag(const char* key) {
    if (find(key) == nullptr) return std::nullopt;
    return flag(key);
  }

  bool required_flag(const char* key) {
    const json* value = find(key);
    if (value == nullptr) throw InvalidParams{std::string("'") + key + "' is required"};
    return flag(key);
  }

  uint16_t port(const char* key) {
    const json* value = find(key);
    if (value == nullptr) return 0;
    if (!value->is_number_integer() || value->get<int64_t>() < 0 || value->get<int64_t>() > 65535) {
      throw InvalidParams{std::string("'") + key + "' must be a port number (0 to 65535)"};
    }
    return static_cast<uint16_t>(value->get<int64_t>());
  }

  std::vector<std::string> strings(const char* key) {
    const json* value = find(key);
    if (value == nullptr) return {};
    std::vector<std::string> out;
    if (value->is_array()) {
      for (const auto& item : *value) {
        if (!item.is_string()) break;
        out.push_back(item.get<std::string>());
      }
      if (out.size() == value->size()) return out;
    }
    throw InvalidParams{std::string("'") + key + "' must be an array of strings"};
  }

  app::Availability availability(const char* key, app::Availability fallback) {
    auto text = optional_string(key);
    if (!text) return fallback;
    auto parsed = app::parse_availability(*text);
    if (!parsed) {
      throw InvalidParams{std::string("'") + key +
                          "' must be available, chat, away, xa, dnd or offline"};
    }
    return *parsed;
  }

 private:
  json* find(const char* key) {
    auto it = params_.find(key);
    if (it == params_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  json& params_;
};

// "alice@example.org" for "sip:alice@example.org".
std::string without_sip_scheme(const std::string& address) {
  if (address.size() > 4 &&
      (address.compare(0, 4, "sip:") == 0 || address.compare(0, 4, "SIP:") == 0))
    return address.substr(4);
  return address;
}

class RpcServer {
 public:
  // Account addresses as the engine spells them in events: the stored
  // address of a known account (XMPP addresses compare without case), else
  // the bare, lower-cased form.
  std::string canonical(const std::string& address) const {
    const std::string key = without_sip_scheme(address);
    const auto accounts = engine_.accounts();
    for (const auto& account : accounts) {
      if (account.address == key) return key;
    }
    auto jid = Jid::parse(key);
    if (!jid) return key;
    for (const auto& account : accounts) {
      auto other = Jid::parse(account.address);
      if (other && other->bare() == jid->bare()) return account.address;
    }
    return jid->bare_str();
  }

  explicit RpcServer(Context& ctx)
      : ctx_(ctx),
        engine_(ctx.engine),
        out_(std::make_shared<LineWriter>(ctx.session.io())),
        in_(ctx.session.io(), ::dup(STDIN_FILENO)),
        chunk_(kReadChunk, '\0'),
        subscription_(engine_.subscribe([this](const app::Event& event) { on_event(event); })) {
    out_->on_broken([this] { shutdown(std::nullopt); });
  }

  ~RpcServer() { engine_.unsubscribe(subscription_); }
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;

  void start() { read_more(); }

  // Disconnects everything, answers `reply` once done, and stops the loop.
  void shutdown(std::optional<Reply> reply) {
    if (reply) shutdown_replies_.push_back(*reply);
    if (shutting_down_) return;
    shutting_down_ = true;
    ctx_.session.shut_down_async([this] {
      for (const Reply& r : shutdown_replies_) r.ok(json::object());
      shutdown_replies_.clear();
      std::error_code ignored;
      in_.close(ignored);
      ctx_.session.io().stop();  // main then drains: stdout is flushed, streams close
    });
  }

 private:
  using Method = void (RpcServer::*)(Params&, const Reply&);
  struct MethodSpec {
    Method method;
    std::vector<std::string_view> params;
  };

  static const std::map<std::string, MethodSpec, std::less<>>& methods() {
    static const std::map<std::string, MethodSpec, std::less<>> table{
        {"account.add",
         {&RpcServer::account_add,
          {"address", "password", "host", "port", "direct_tls", "pin", "remember", "protocol",
           "transport", "auth_user"}}},
        {"account.list", {&RpcServer::account_list, {}}},
        {"account.remove", {&RpcServer::account_remove, {"address"}}},
        {"account.register",
         {&RpcServer::account_register,
          {"address", "password", "host", "port", "direct_tls", "pin", "remember", "protocol",
           "transport", "auth_user"}}},
        {"account.connect",
         {&RpcServer::account_connect, {"address", "password", "availability", "status", "wait"}}},
        {"account.disconnect", {&RpcServer::account_disconnect, {"address"}}},
        {"account.passwd", {&RpcServer::account_passwd, {"address", "new_password"}}},
        {"account.pin", {&RpcServer::account_pin, {"address", "sha256"}}},
        {"account.state", {&RpcServer::account_state, {"address"}}},
        {"contact.add", {&RpcServer::contact_add, {"account", "address", "name", "groups"}}},
        {"contact.update", {&RpcServer::contact_update, {"account", "address", "name", "groups"}}},
        {"contact.remove", {&RpcServer::contact_remove, {"account", "address"}}},
        {"contact.list", {&RpcServer::contact_list, {"account"}}},
        {"contact.authorize", {&RpcServer::contact_authorize, {"account", "address"}}},
        {"contact.deny", {&RpcServer::contact_deny, {"account", "address"}}},
        {"contact.requests", {&RpcServer::contact_requests, {"account"}}},
        {"presence.set", {&RpcServer::presence_set, {"account", "availability", "status"}}},
        {"message.send", {&RpcServer::message_send, {"account", "to", "body"}}},
        {"engine.unacked", {&RpcServer::engine_unacked, {}}},
        {"call.start", {&RpcServer::call_start, {"account", "to"}}},
        {"call.answer", {&RpcServer::call_answer, {"id"}}},
        {"call.reject", {&RpcServer::call_reject, {"id", "busy"}}},
        {"call.hangup", {&RpcServer::call_hangup, {"id"}}},
        {"call.hold", {&RpcServer::call_hold, {"id", "on"}}},
        {"call.list", {&RpcServer::call_list, {}}},
        {"call.sas_confirm", {&RpcServer::call_sas_confirm, {"id", "verified"}}},
        {"call.mute", {&RpcServer::call_mute, {"id", "on"}}},
        {"call.dtmf", {&RpcServer::call_dtmf, {"id", "digits"}}},
        {"calls.settings", {&RpcServer::calls_settings, {}}},
        {"calls.set", {&RpcServer::calls_set, {"require_encryption", "audio"}}},
        {"audio.devices", {&RpcServer::audio_devices, {}}},
        {"profile.info", {&RpcServer::profile_info, {}}},
        {"profile.unlock", {&RpcServer::profile_unlock, {"password"}}},
        {"profile.lock", {&RpcServer::profile_lock, {}}},
        {"profile.passwd", {&RpcServer::profile_passwd, {"current", "new"}}},
        {"profile.check", {&RpcServer::profile_check, {}}},
        {"profile.packetLogging", {&RpcServer::profile_packet_logging, {}}},
        {"profile.setPacketLogging", {&RpcServer::profile_set_packet_logging, {"on"}}},
        {"history.list", {&RpcServer::history_list, {}}},
        {"history.show", {&RpcServer::history_show, {"account", "peer", "before", "limit"}}},
        {"history.search", {&RpcServer::history_search, {"words", "limit"}}},
        {"history.delete", {&RpcServer::history_delete, {"account", "peer", "all"}}},
        {"history.calls", {&RpcServer::history_calls, {"limit"}}},
        {"history.deleteCalls", {&RpcServer::history_delete_calls, {}}},
        {"history.logging", {&RpcServer::history_logging, {"account", "peer"}}},
        {"history.setLogging", {&RpcServer::history_set_logging, {"on", "account", "peer"}}},
        {"otr.keygen", {&RpcServer::otr_keygen, {"account"}}},
        {"otr.fingerprint", {&RpcServer::otr_fingerprint, {"account"}}},
        {"otr.status", {&RpcServer::otr_status, {"account", "peer"}}},
        {"otr.start", {&RpcServer::otr_start, {"account", "peer"}}},
        {"otr.end", {&RpcServer::otr_end, {"account", "peer"}}},
        {"otr.smpAsk", {&RpcServer::otr_smp_ask, {"account", "peer", "question", "secret"}}},
        {"otr.smpAnswer", {&RpcServer::otr_smp_answer, {"account", "peer", "answer"}}},
        {"otr.smpAbort", {&RpcServer::otr_smp_abort, {"account", "peer"}}},
        {"otr.trust", {&RpcServer::otr_trust, {"account"}}},
        {"otr.verify", {&RpcServer::otr_verify, {"account", "peer", "fingerprint", "verified"}}},
        {"otr.forget", {&RpcServer::otr_forget, {"account", "peer", "fingerprint"}}},
        {"otr.policy", {&RpcServer::otr_policy, {"account", "peer"}}},
        {"otr.setPolicy", {&RpcServer::otr_set_policy, {"policy", "account", "peer"}}},
        {"otr.importPidgin", {&RpcServer::otr_import_pidgin, {"account", "keys", "fingerprints"}}},
        {"shutdown", {&RpcServer::shutdown_method, {}}},
    };
    return table;
  }

  // --- input -------------------------------------------------------------

  void read_more() {
    in_.async_read_some(asio::buffer(chunk_),
                        [this](std::error_code ec, std::size_t n) { on_read(ec, n); });
  }

  void on_read(std::error_code ec, std::size_t n) {
    if (ec == asio::error::operation_aborted) return;
    std::string_view data(chunk_.data(), n);
    while (!data.empty()) {
      const std::size_t newline = data.find('\n');
      std::string_view piece = data.substr(0, newline);
      if (!discarding_) {
        if (line_.size() + piece.size() > kMaxLine) {
          secure_wipe(line_);
          discarding_ = true;
          Reply(out_, nullptr, true)
              .error(kInvalidRequest, "the request is longer than 1 MiB; it was skipped");
        } else {
          line_.append(piece);
        }
      }
      if (newline == std::string_view::npos) break;
      data.remove_prefix(newline + 1);
      if (discarding_) {
        discarding_ = false;  // the rest of the long line is gone; start afresh
        continue;
      }
      std::string line = std::move(line_);
      line_.clear();
      on_line(line);
    }
    std::fill_n(chunk_.begin(), n, '\0');
    if (ec) {  // end of input (or a read error): the last line may lack its newline
      if (!discarding_ && !line_.empty()) {
        std::string line = std::move(line_);
        line_.clear();
        on_line(line);
      }
      shutdown(std::nullopt);
      return;
    }
    read_more();
  }

  void on_line(std::string& line) {
    if (std::all_of(line.begin(), line.end(),
                    [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
      return;
    }
    json request = json::parse(line, nullptr, /*allow_exceptions=*/false);
    secure_wipe(line);
    if (request.is_discarded()) {
      return Reply(out_, nullptr, true).error(kParseError, "parse error: the line is not JSON");
    }
    dispatch(request);
  }

  void dispatch(json& request) {
    if (request.is_array()) {
      return Reply(out_, nullptr, true)
          .error(kInvalidRequest, "batches are not supported: send one request per line");
    }
    if (!request.is_object()) {
      return Reply(out_, nullptr, true).error(kInvalidRequest, "a request is a JSON object");
    }
    const bool has_id = request.contains("id");
    json id = has_id ? request["id"] : json(nullptr);
    if (!id.is_null() && !id.is_string() && !id.is_number()) {
      return Reply(out_, nullptr, true)
          .error(kInvalidRequest, "the id must be a string, a number or null");
    }
    // A request without an id is a notification: it is carried out, never answered.
    Reply reply(out_, id, has_id);
    auto version = request.find("jsonrpc");
    if (version == request.end() || *version != "2.0") {
      return reply.error(kInvalidRequest, "\"jsonrpc\" must be \"2.0\"");
    }
    auto method = request.find("method");
    if (method == request.end() || !method->is_string()) {
      return reply.error(kInvalidRequest, "\"method\" must be a string");
    }
    const std::string& name = method->get_ref<const std::string&>();
    auto spec = methods().find(name);
    if (spec == methods().end()) {
      return reply.error(kMethodNotFound, "there is no method \"" + name + "\"");
    }
    json params = json::object();
    if (auto it = request.find("params"); it != request.end()) params = std::move(*it);
    if (!params.is_object()) {
      return reply.error(kInvalidParams, "params must be an object (named parameters)");
    }
    for (const auto& [key, value] : params.items()) {
      const auto& known = spec->second.params;
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        return reply.error(kInvalidParams, "\"" + name + "\" takes no parameter \"" + key + "\"");
      }
    }
    if (shutting_down_ && name != "shutdown") {
      return reply.error(Error{Errc::cancelled, "sotto is shutting down", {}});
    }
    if (!engine_.unlocked() && !name.starts_with("profile.") && name != "shutdown" &&
        name != "engine.unacked") {
      return reply.error(Error{Errc::not_allowed, "the profile is locked", {}});
    }
    Params access(params);
    try {
      (this->*(spec->second.method))(access, reply);
    } catch (const InvalidParams& invalid) {
      reply.error(kInvalidParams, invalid.message);
    }
  }

  // --- events --------------------------------------------------------------

  void on_event(const app::Event& event) {
    out_->write(json{{"jsonrpc", "2.0"}, {"method", "event"}, {"params", event_json(event)}});
    if (const auto* change = std::get_if<app::AccountStateChanged>(&event)) {
      if (change->error) last_error_.insert_or_assign(change->account, *change->error);
      answer_connect_waiters(*change);
    }
  }

  void answer_connect_waiters(const app::AccountStateChanged& change) {
    if (change.state == app::AccountState::connecting) return;
    if (change.state == app::AccountState::reconnecting && !change.error) return;
    auto [first, last] = connect_waiters_.equal_range(change.account);
    std::vector<Reply> waiting;
    for (auto it = first; it != last; ++it) waiting.push_back(it->second);
    connect_waiters_.erase(first, last);
    for (const Reply& reply : waiting) {
      if (change.state == app::AccountState::online) {
        reply.ok(json{{"state", "online"}});
      } else if (change.error) {
        reply.error(*change.error);
      } else {
        reply.error(
            Error{Errc::cancelled, change.account + " was disconnected before it got online", {}});
      }
    }
  }

  // --- accounts ----------------------------------------------------------------

  static app::AccountSettings account_settings(Params& p) {
    app::AccountSettings settings;
    settings.address = p.string("address");
    settings.host = p.optional_string("host").value_or("");
    settings.port = p.port("port");
    settings.direct_tls = p.flag("direct_tls");
    settings.pinned_cert_sha256 = p.optional_string("pin").value_or("");
    settings.remember_password = p.flag("remember");
    settings.protocol = p.optional_string("protocol").value_or("xmpp");
    if (settings.protocol != "xmpp" && settings.protocol != "sip")
      throw InvalidParams{"'protocol' must be xmpp or sip"};
    settings.transport = p.optional_string("transport").value_or("udp");
    settings.auth_user = p.optional_string("auth_user").value_or("");
    if (settings.protocol == "sip") settings.address = without_sip_scheme(settings.address);
    return settings;
  }

  json account_result(const std::string& address) {
    const std::string key = canonical(address);
    for (const auto& account : engine_.accounts()) {
      if (account.address == key) return account_json(account, engine_.state(key));
    }
    return json::object();
  }

  void account_add(Params& p, const Reply& reply) {
    app::AccountSettings settings = account_settings(p);
    auto password = p.secret("password").value_or(Secret());
    if (auto added = engine_.add_account(settings, password.value); !added) {
      return reply.error(added.error());
    }
    reply.ok(account_result(settings.address));
  }

  void account_list(Params&, const Reply& reply) {
    json accounts = json::array();
    for (const auto& account : engine_.accounts()) {
      accounts.push_back(account_json(account, engine_.state(account.address)));
    }
    reply.ok(std::move(accounts));
  }

  void account_remove(Params& p, const Reply& reply) {
    if (auto removed = engine_.remove_account(p.string("address")); !removed) {
      return reply.error(removed.error());
    }
    reply.ok(json::object());
  }

  void account_register(Params& p, const Reply& reply) {
    app::AccountSettings settings = account_settings(p);
    Secret password = p.required_secret("password");
    std::string address = settings.address;
    engine_.register_account(std::move(settings), password.value,
                             [this, reply, address](Result<void> result) {
                               if (!result) return reply.error(result.error());
                               reply.ok(account_result(address));
                             });
  }

  void account_connect(Params& p, const Reply& reply) {
    const std::string address = canonical(p.string("address"));
    std::optional<Secret> password = p.secret("password");
    const app::Availability availability =
        p.availability("availability", app::Availability::available);
    std::string status = p.optional_string("status").value_or("");
    const bool wait = p.flag("wait");

    if (engine_.state(address) == app::AccountState::online) {
      return reply.ok(json{{"state", "online"}});
    }
    std::optional<std::string> secret;
    if (password) secret = password->value;
    last_error_.erase(address);
    if (auto started = engine_.connect(address, std::move(secret), availability, std::move(status));
        !started) {
      return reply.error(started.error());
    }
    const app::AccountState state = engine_.state(address);
    if (!wait || state == app::AccountState::online) {
      return reply.ok(json{{"state", std::string(app::to_string(state))}});
    }
    if (state == app::AccountState::failed || state == app::AccountState::offline) {
      auto error = last_error_.find(address);
      return reply.error(error != last_error_.end()
                             ? error->second
                             : Error{Errc::network, "could not connect " + address, {}});
    }
    connect_waiters_.emplace(address, reply);
  }

  void account_disconnect(Params& p, const Reply& reply) {
    const std::string address = canonical(p.string("address"));
    if (!known_account(address))
      return reply.error(Error{Errc::not_found, "no account " + address, {}});
    engine_.disconnect(address);
    reply.ok(json{{"state", std::string(app::to_string(engine_.state(address)))}});
  }

  void account_passwd(Params& p, const Reply& reply) {
    const std::string address = p.string("address");
    Secret password = p.required_secret("new_password");
    engine_.change_password(address, password.value, reply.done());
  }

  void account_pin(Params& p, const Reply& reply) {
    const std::string address = p.string("address");
    if (auto pinned = engine_.pin_certificate(address, p.string("sha256")); !pinned) {
      return reply.error(pinned.error());
    }
    reply.ok(account_result(address));
  }

  void account_state(Params& p, const Reply& reply) {
    const std::string address = canonical(p.string("address"));
    if (!known_account(address))
      return reply.error(Error{Errc::not_found, "no account " + address, {}});
    json result{{"state", std::string(app::to_string(engine_.state(address)))}};
    if (app::Provider* provider = engine_.provider(address)) {
      if (auto fingerprint = provider->server_certificate(); !fingerprint.empty()) {
        result["server_certificate"] = fingerprint;
      }
    }
    if (auto error = last_error_.find(address); error != last_error_.end()) {
      result["error"] = error_json(error->second);
    }
    reply.ok(std::move(result));
  }

  bool known_account(const std::string& address) {
    const auto accounts = engine_.accounts();
    return std::any_of(accounts.begin(), accounts.end(),
                       [&](const app::AccountSettings& a) { return a.address == address; });
  }

  // --- contacts -------------------------------------------------------------------

  void contact_add(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    const std::string address = p.string("address");
    engine_.add_contact(account, address, p.optional_string("name").value_or(""),
                        p.strings("groups"), reply.done());
  }

  void contact_update(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    const std::string address = p.string("address");
    engine_.update_contact(account, address, p.optional_string("name").value_or(""),
                           p.strings("groups"), reply.done());
  }

  void contact_remove(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    engine_.remove_contact(account, p.string("address"), reply.done());
  }

  void contact_list(Params& p, const Reply& reply) {
    auto contacts = engine_.contacts(p.string("account"));
    if (!contacts) return reply.error(contacts.error());
    reply.ok(json_array(*contacts, contact_json));
  }

  void contact_authorize(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    reply.done()(engine_.authorize(account, p.string("address")));
  }

  void contact_deny(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    reply.done()(engine_.deny(account, p.string("address")));
  }

  void contact_requests(Params& p, const Reply& reply) {
    auto pending = engine_.pending_requests(p.string("account"));
    if (!pending) return reply.error(pending.error());
    reply.ok(json(*pending));
  }

  // --- presence, messages, engine ---------------------------------------------------

  void presence_set(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    if (!p.optional_string("availability")) throw InvalidParams{"'availability' is required"};
    const app::Availability availability =
        p.availability("availability", app::Availability::available);
    reply.done()(
        engine_.set_presence(account, availability, p.optional_string("status").value_or("")));
  }

  void message_send(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    const std::string to = p.string("to");
    auto sent = engine_.send_message(account, to, p.string("body"));
    if (!sent) return reply.error(sent.error());
    reply.ok(json{{"id", sent->id}, {"encrypted", sent->encrypted}, {"held", sent->held}});
  }

  // --- calls ---------------------------------------------------------------------

  void call_start(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    auto id = engine_.call(account, p.string("to"));
    if (!id) return reply.error(id.error());
    reply.ok(json{{"id", *id}});
  }

  void call_answer(Params& p, const Reply& reply) {
    reply.done()(engine_.answer_call(p.string("id")));
  }

  void call_reject(Params& p, const Reply& reply) {
    const std::string id = p.string("id");
    reply.done()(engine_.reject_call(id, p.flag("busy")));
  }

  void call_hangup(Params& p, const Reply& reply) { reply.done()(engine_.hang_up(p.string("id"))); }

  void call_hold(Params& p, const Reply& reply) {
    const std::string id = p.string("id");
    reply.done()(engine_.hold_call(id, p.required_flag("on")));
  }

  void call_list(Params&, const Reply& reply) {
    reply.ok(json_array(engine_.calls(), call_info_json));
  }

  void call_sas_confirm(Params& p, const Reply& reply) {
    const std::string id = p.string("id");
    reply.done()(engine_.confirm_sas(id, p.flag("verified", true)));
  }

  void call_mute(Params& p, const Reply& reply) {
    const std::string id = p.string("id");
    reply.done()(engine_.mute_call(id, p.required_flag("on")));
  }

  void call_dtmf(Params& p, const Reply& reply) {
    const std::string id = p.string("id");
    reply.done()(engine_.send_dtmf(id, p.string("digits")));
  }

  json calls_settings_json() const {
    const app::AudioSettings a = engine_.audio_settings();
    return json{{"require_encryption", engine_.require_call_encryption()},
                {"audio",
                 {{"backend", a.backend},
                  {"input_device", a.input_device},
                  {"output_device", a.output_device},
                  {"input_wav", a.input_wav},
                  {"output_wav", a.output_wav},
                  {"echo_cancellation", a.echo_cancellation},
                  {"noise_suppression", a.noise_suppression}}}};
  }

  void calls_settings(Params&, const Reply& reply) { reply.ok(calls_settings_json()); }

  // Every parameter is checked before anything changes.
  void calls_set(Params& p, const Reply& reply) {
    std::optional<bool> require = p.optional_flag("require_encryption");
    std::optional<app::AudioSettings> audio;
    if (json* given = p.find_object("audio")) {
      Params a(*given);
      for (const auto& [key, value] : given->items()) {
        static const std::vector<std::string_view> kKeys{
            "backend",    "input_device",      "output_device",    "input_wav",
            "output_wav", "echo_cancellation", "noise_suppression"};
        if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end())
          throw InvalidParams{"'audio' takes no key \"" + key + "\""};
      }
      app::AudioSettings next = engine_.audio_settings();
      auto backend = a.optional_string("backend");
      auto input_wav = a.optional_string("input_wav");
      auto output_wav = a.optional_string("output_wav");
      // A WAV file implies the file backend; another backend drops the files.
      if (!backend && ((input_wav && !input_wav->empty()) || (output_wav && !output_wav->empty())))
        backend = "file";
      if (backend) {
        if (*backend != "pulse" && *backend != "file" && *backend != "null")
          throw InvalidParams{"'audio.backend' must be pulse, file or null"};
        if (*backend != next.backend) {
          next.input_wav.clear();
          next.output_wav.clear();
        }
        next.backend = *backend;
      }
      if (input_wav) next.input_wav = *input_wav;
      if (output_wav) next.output_wav = *output_wav;
      if (next.backend != "file" && (!next.input_wav.empty() || !next.output_wav.empty()))
        throw InvalidParams{"'audio.input_wav' and 'audio.output_wav' need the file backend"};
      if (auto device = a.optional_string("input_device")) next.input_device = *device;
      if (auto device = a.optional_string("output_device")) next.output_device = *device;
      next.echo_cancellation = a.flag("echo_cancellation", next.echo_cancellation);
      next.noise_suppression = a.flag("noise_suppression", next.noise_suppression);
      audio = std::move(next);
    }
    if (audio) {
      if (auto set = engine_.set_audio_settings(*audio); !set) return reply.error(set.error());
    }
    if (require) {
      if (auto set = engine_.set_require_call_encryption(*require); !set)
        return reply.error(set.error());
    }
    reply.ok(calls_settings_json());
  }

  void audio_devices(Params&, const Reply& reply) {
    reply.ok(json_array(engine_.audio_devices(), [](const app::AudioDevice& d) {
      return json{{"name", d.name}, {"description", d.description}, {"input", d.input}};
    }));
  }

  void engine_unacked(Params&, const Reply& reply) {
    reply.ok(json{{"count", engine_.unacknowledged_messages()}});
  }

  void shutdown_method(Params&, const Reply& reply) { shutdown(reply); }

  // --- profile ---------------------------------------------------------------------

  void profile_info(Params&, const Reply& reply) { answer_profile_info(reply); }

  void answer_profile_info(const Reply& reply) {
    auto info = engine_.profile_info();
    if (!info) return reply.error(info.error());
    reply.ok(profile_json(*info));
  }

  void profile_unlock(Params& p, const Reply& reply) {
    Secret password = p.required_secret("password");
    engine_.unlock(password.value, [this, reply](Result<void> unlocked) {
      if (!unlocked) return reply.error(unlocked.error());
      answer_profile_info(reply);
    });
  }

  void profile_lock(Params&, const Reply& reply) {
    engine_.lock();
    last_error_.clear();
    answer_profile_info(reply);
  }

  void profile_passwd(Params& p, const Reply& reply) {
    std::optional<Secret> current = p.secret("current");
    std::optional<Secret> next = p.secret("new");
    auto text = [](const std::optional<Secret>& s) -> std::optional<std::string> {
      if (!s) return std::nullopt;
      return s->value;
    };
    auto answer = [this, reply](Result<void> done) {
      if (!done) return reply.error(done.error());
      answer_profile_info(reply);
    };
    if (engine_.protection() == app::ProfileProtection::none) {
      engine_.create_profile(text(next), std::move(answer));
    } else {
      engine_.change_master_password(text(current), text(next), std::move(answer));
    }
  }

  void profile_check(Params&, const Reply& reply) { reply.done()(engine_.check_profile()); }

  json packet_logging_json() const {
    return json{{"on", engine_.packet_logging()}, {"dir", engine_.packet_log_dir().string()}};
  }

  void profile_packet_logging(Params&, const Reply& reply) { reply.ok(packet_logging_json()); }

  void profile_set_packet_logging(Params& p, const Reply& reply) {
    if (auto set = engine_.set_packet_logging(p.required_flag("on")); !set) {
      return reply.error(set.error());
    }
    reply.ok(packet_logging_json());
  }

  // --- history ---------------------------------------------------------------------

  static constexpr std::int64_t kMaxPage = 10000;

  void history_list(Params&, const Reply& reply) {
    auto list = engine_.conversations();
    if (!list) return reply.error(list.error());
    reply.ok(json_array(*list, conversation_json));
  }

  void history_show(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    const std::string peer = p.string("peer");
    auto before = p.integer("before", 1, INT64_MAX);
    auto limit = p.integer("limit", 1, kMaxPage).value_or(50);
    auto page = engine_.history(account, peer, before, static_cast<std::size_t>(limit));
    if (!page) return reply.error(page.error());
    reply.ok(json_array(*page, history_json));
  }

  void history_search(Params& p, const Reply& reply) {
    const std::string words = p.string("words");
    auto limit = p.integer("limit", 1, kMaxPage).value_or(50);
    auto hits = engine_.search_history(words, static_cast<std::size_t>(limit));
    if (!hits) return reply.error(hits.error());
    reply.ok(json_array(*hits, history_json));
  }

  void history_delete(Params& p, const Reply& reply) {
    const bool all = p.flag("all");
    auto account = p.optional_string("account");
    auto peer = p.optional_string("peer");
    if (all ? (account || peer) : !(account && peer)) {
      throw InvalidParams{"give 'account' and 'peer', or 'all': true"};
    }
    auto deleted = all ? engine_.delete_all_history() : engine_.delete_history(*account, *peer);
    if (!deleted) return reply.error(deleted.error());
    reply.ok(json{{"deleted", *deleted}});
  }

  void history_calls(Params& p, const Reply& reply) {
    auto limit = p.integer("limit", 1, kMaxPage).value_or(50);
    auto calls = engine_.call_history(static_cast<std::size_t>(limit));
    if (!calls) return reply.error(calls.error());
    reply.ok(json_array(*calls, call_json));
  }

  void history_delete_calls(Params&, const Reply& reply) {
    auto deleted = engine_.delete_call_history();
    if (!deleted) return reply.error(deleted.error());
    reply.ok(json{{"deleted", *deleted}});
  }

  void history_logging(Params& p, const Reply& reply) {
    auto account = p.optional_string("account");
    auto peer = p.optional_string("peer");
    if (account.has_value() != peer.has_value()) {
      throw InvalidParams{"give both 'account' and 'peer', or neither"};
    }
    json out{{"global", engine_.log_history()}};
    if (account) {
      auto own = engine_.contact_log_history(*account, *peer);
      if (!own) return reply.error(own.error());
      out["contact"] = *own;
      out["on"] = *own && engine_.log_history();
    } else {
      out["on"] = engine_.log_history();
    }
    reply.ok(std::move(out));
  }

  void history_set_logging(Params& p, const Reply& reply) {
    const bool on = p.required_flag("on");
    auto account = p.optional_string("account");
    auto peer = p.optional_string("peer");
    if (account.has_value() != peer.has_value()) {
      throw InvalidParams{"give both 'account' and 'peer', or neither"};
    }
    reply.done()(account ? engine_.set_contact_log_history(*account, *peer, on)
                         : engine_.set_log_history(on));
  }

  // --- private conversations (OTR) ----------------------------------------------

  void otr_keygen(Params& p, const Reply& reply) {
    engine_.generate_otr_key(p.string("account"), [reply](Result<std::string> fingerprint) {
      if (!fingerprint) return reply.error(fingerprint.error());
      reply.ok(json{{"fingerprint", *fingerprint}});
    });
  }

  void otr_fingerprint(Params& p, const Reply& reply) {
    auto fingerprint = engine_.otr_fingerprint(p.string("account"));
    if (!fingerprint) return reply.error(fingerprint.error());
    reply.ok(json{{"fingerprint", *fingerprint ? json(**fingerprint) : json(nullptr)}});
  }

  void otr_status(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    auto status = engine_.otr_status(account, p.string("peer"));
    if (!status) return reply.error(status.error());
    reply.ok(otr_status_json(*status));
  }

  void otr_start(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    reply.done()(engine_.start_otr(account, p.string("peer")));
  }

  void otr_end(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    reply.done()(engine_.end_otr(account, p.string("peer")));
  }

  void otr_smp_ask(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    const std::string peer = p.string("peer");
    std::optional<std::string> question = p.optional_string("question");
    Secret secret = p.required_secret("secret");
    reply.done()(engine_.smp_ask(account, peer, std::move(question), secret.value));
  }

  void otr_smp_answer(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    const std::string peer = p.string("peer");
    Secret answer = p.required_secret("answer");
    reply.done()(engine_.smp_answer(account, peer, answer.value));
  }

  void otr_smp_abort(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    reply.done()(engine_.smp_abort(account, p.string("peer")));
  }

  void otr_trust(Params& p, const Reply& reply) {
    auto known = engine_.otr_fingerprints(p.optional_string("account").value_or(""));
    if (!known) return reply.error(known.error());
    reply.ok(json_array(*known, otr_fingerprint_json));
  }

  static std::string fingerprint_param(Params& p) {
    auto fingerprint = parse_otr_fingerprint(p.string("fingerprint"));
    if (!fingerprint)
      throw InvalidParams{"'fingerprint' must be an OTR fingerprint: 40 hex digits"};
    return *fingerprint;
  }

  void otr_verify(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    const std::string peer = p.string("peer");
    const std::string fingerprint = fingerprint_param(p);
    const bool verified = p.flag("verified", true);
    reply.done()(engine_.set_fingerprint_verified(account, peer, fingerprint, verified));
  }

  void otr_forget(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    const std::string peer = p.string("peer");
    reply.done()(engine_.forget_fingerprint(account, peer, fingerprint_param(p)));
  }

  void otr_policy(Params& p, const Reply& reply) {
    auto account = p.optional_string("account");
    auto peer = p.optional_string("peer");
    if (account.has_value() != peer.has_value()) {
      throw InvalidParams{"give both 'account' and 'peer', or neither"};
    }
    if (account) {
      auto own = engine_.contact_otr_policy(*account, *peer);
      if (!own) return reply.error(own.error());
      if (*own)
        return reply.ok(
            json{{"policy", std::string(app::to_string(**own))}, {"contact_policy", true}});
    }
    reply.ok(json{{"policy", std::string(app::to_string(engine_.otr_policy()))},
                  {"contact_policy", false}});
  }

  void otr_set_policy(Params& p, const Reply& reply) {
    if (!p.present("policy")) throw InvalidParams{"'policy' is required"};
    auto text = p.optional_string("policy");
    auto account = p.optional_string("account");
    auto peer = p.optional_string("peer");
    if (account.has_value() != peer.has_value()) {
      throw InvalidParams{"give both 'account' and 'peer', or neither"};
    }
    std::optional<app::OtrPolicy> policy;
    if (text && *text != "default") {
      policy = app::parse_otr_policy(*text);
      if (!policy) {
        throw InvalidParams{
            "'policy' must be manual, opportunistic, always, require, or (for a contact) "
            "default or null"};
      }
    }
    if (!account) {
      if (!policy) {
        throw InvalidParams{
            "the global 'policy' must be manual, opportunistic, always or require; default and "
            "null clear a contact's own"};
      }
      return reply.done()(engine_.set_otr_policy(*policy));
    }
    reply.done()(engine_.set_contact_otr_policy(*account, *peer, policy));
  }

  void otr_import_pidgin(Params& p, const Reply& reply) {
    const std::string account = p.string("account");
    auto path = [&](const char* key) -> std::optional<std::filesystem::path> {
      auto text = p.optional_string(key);
      if (!text) return std::nullopt;
      return std::filesystem::path(*text);
    };
    auto keys = path("keys");
    auto fingerprints = path("fingerprints");
    if (!keys && !fingerprints) throw InvalidParams{"give 'keys', 'fingerprints' or both"};
    auto imported = engine_.import_pidgin_otr(account, keys, fingerprints);
    if (!imported) return reply.error(imported.error());
    reply.ok(json{{"keys", imported->keys}, {"fingerprints", imported->fingerprints}});
  }

  Context& ctx_;
  app::Engine& engine_;
  std::shared_ptr<LineWriter> out_;
  asio::posix::stream_descriptor in_;
  std::string chunk_;
  std::string line_;
  bool discarding_ = false;
  bool shutting_down_ = false;
  std::vector<Reply> shutdown_replies_;
  std::multimap<std::string, Reply> connect_waiters_;
  std::map<std::string, Error> last_error_;
  app::Engine::Subscription subscription_;
};

}  // namespace

int rpc(Context& ctx, const ParsedArgs& args) {
  if (int applied = apply_audio_options(ctx, args); applied != kExitOk) return applied;
  StdioModes modes;
  RpcServer server(ctx);
  ctx.session.on_interrupt([&server] { server.shutdown(std::nullopt); });
  server.start();
  log::info("rpc", "ready: one JSON-RPC 2.0 request per line on stdin");
  ctx.session.io().run();
  ctx.session.drain();
  return kExitOk;
}

}  // namespace sotto::cli
