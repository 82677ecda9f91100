#include "json_events.h"

#include <ctime>
#include <type_traits>

namespace sotto::cli {

// External linkage: clang flags an internal one as unused when every event
// type has its shape and the static_assert branch is never instantiated.
template <class>
inline constexpr bool kAlwaysFalse = false;

namespace {

using nlohmann::json;

}  // namespace

std::string iso8601_utc(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  auto since_epoch = time.time_since_epoch();
  auto seconds = floor<std::chrono::seconds>(since_epoch);
  auto millis = duration_cast<milliseconds>(since_epoch - seconds).count();
  std::time_t t = seconds.count();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03dZ", text, static_cast<int>(millis));
  return out;
}

json error_json(const Error& error) {
  json out{{"errc", std::string(to_string(error.code))}, {"message", error.message}};
  if (!error.detail.empty()) out["detail"] = error.detail;
  return out;
}

json contact_json(const app::Contact& contact) {
  return json{{"account", contact.account},
              {"address", contact.address},
              {"name", contact.name},
              {"groups", contact.groups},
              {"subscription", contact.subscription},
              {"waiting_for_authorization", contact.waiting_for_authorization},
              {"availability", std::string(app::to_string(contact.availability))},
              {"status", contact.status}};
}

json account_json(const app::AccountSettings& account, app::AccountState state) {
  json out{{"address", account.address},
           {"protocol", account.protocol},
           {"host", account.host},
           {"port", account.port},
           {"direct_tls", account.direct_tls},
           {"pinned_cert_sha256", account.pinned_cert_sha256},
           {"remember_password", account.remember_password},
           {"state", std::string(app::to_string(state))}};
  if (account.protocol == "sip") {
    out["transport"] = account.transport;
    out["auth_user"] = account.auth_user;
  }
  return out;
}

json call_info_json(const app::CallInfo& call) {
  json out{{"id", call.id},
           {"account", call.account},
           {"peer", call.peer},
           {"peer_name", call.peer_name},
           {"outgoing", call.outgoing},
           {"state", std::string(app::to_string(call.state))},
           {"on_hold", call.on_hold},
           {"remote_hold", call.remote_hold},
           {"start", iso8601_utc(call.start)}};
  if (call.end_reason) out["end_reason"] = std::string(app::to_string(*call.end_reason));
  if (!call.end_text.empty()) out["end_text"] = call.end_text;
  if (!call.codec.empty()) out["codec"] = call.codec;
  if (call.connected) out["connected"] = iso8601_utc(*call.connected);
  out["encryption"] = std::string(app::to_string(call.encryption));
  if (!call.sas.empty()) out["sas"] = call.sas;
  out["sas_verified"] = call.sas_verified;
  out["cache_mismatch"] = call.cache_mismatch;
  out["cipher"] = call.cipher;
  if (!call.encryption_text.empty()) out["encryption_text"] = call.encryption_text;
  out["muted"] = call.muted;
  const app::CallQuality& q = call.quality;
  json quality{{"loss", q.loss},
               {"jitter_ms", q.jitter_ms},
               {"buffer_ms", q.buffer_ms},
               {"packets_sent", q.packets_sent},
               {"packets_received", q.packets_received},
               {"dropped", q.dropped}};
  if (q.rtt_ms) quality["rtt_ms"] = *q.rtt_ms;
  out["quality"] = std::move(quality);
  return out;
}

json event_json(const app::Event& event) {
  return std::visit(
      [](const auto& e) -> json {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, app::AccountStateChanged>) {
          json out{{"type", "account.state"},
                   {"account", e.account},
                   {"state", std::string(app::to_string(e.state))}};
          if (e.error) out["error"] = error_json(*e.error);
          return out;
        } else if constexpr (std::is_same_v<T, app::ContactsLoaded>) {
          return json{{"type", "contacts.loaded"},
                      {"account", e.account},
                      {"contacts", json_array(e.contacts, contact_json)}};
        } else if constexpr (std::is_same_v<T, app::ContactChanged>) {
          return json{{"type", "contact.changed"},
                      {"account", e.contact.account},
                      {"contact", contact_json(e.contact)}};
        } else if constexpr (std::is_same_v<T, app::ContactRemoved>) {
          return json{{"type", "contact.removed"}, {"account", e.account}, {"address", e.address}};
        } else if constexpr (std::is_same_v<T, app::PresenceChanged>) {
          return json{{"type", "presence"},
                      {"account", e.account},
                      {"address", e.address},
                      {"resource", e.resource},
                      {"availability", std::string(app::to_string(e.availability))},
                      {"status", e.status}};
        } else if constexpr (std::is_same_v<T, app::AuthorizationRequested>) {
          return json{{"type", "authorization.requested"},
                      {"account", e.account},
                      {"address", e.address},
                      {"nick", e.nick}};
        } else if constexpr (std::is_same_v<T, app::AuthorizationDenied>) {
          return json{
              {"type", "authorization.denied"}, {"account", e.account}, {"address", e.address}};
        } else if constexpr (std::is_same_v<T, app::MessageReceived>) {
          return json{{"type", "message.received"},
                      {"account", e.account},
                      {"peer", e.peer},
                      {"resource", e.resource},
                      {"id", e.id},
                      {"body", e.body},
                      {"time", iso8601_utc(e.time)},
                      {"outgoing", e.outgoing},
                      {"delayed", e.delayed},
                      {"from_archive", e.from_archive},
                      {"encrypted", e.encrypted}};
        } else if constexpr (std::is_same_v<T, app::MessageStateChanged>) {
          json out{{"type", "message.state"},
                   {"account", e.account},
                   {"peer", e.peer},
                   {"id", e.id},
                   {"state", std::string(app::to_string(e.state))}};
          if (e.error) out["error"] = error_json(*e.error);
          return out;
        } else if constexpr (std::is_same_v<T, app::PrivacyChanged>) {
          return json{{"type", "otr.privacy"},  {"account", e.account},
                      {"peer", e.peer},         {"privacy", std::string(app::to_string(e.privacy))},
                      {"instance", e.instance}, {"version", e.version},
                      {"resource", e.resource}, {"logging", e.logging}};
        } else if constexpr (std::is_same_v<T, app::OtrNewFingerprint>) {
          return json{{"type", "otr.fingerprint.new"},
                      {"account", e.account},
                      {"peer", e.peer},
                      {"fingerprint", e.fingerprint}};
        } else if constexpr (std::is_same_v<T, app::OtrKeyChanged>) {
          return json{{"type", "otr.key.changed"},
                      {"account", e.account},
                      {"peer", e.peer},
                      {"fingerprint", e.fingerprint},
                      {"known", e.known}};
        } else if constexpr (std::is_same_v<T, app::SmpProgress>) {
          json out{{"type", "otr.smp"},
                   {"account", e.account},
                   {"peer", e.peer},
                   {"stage", std::string(app::to_string(e.stage))},
                   {"percent", e.percent}};
          if (!e.question.empty()) out["question"] = e.question;
          return out;
        } else if constexpr (std::is_same_v<T, app::MessageHeld>) {
          return json{{"type", "message.held"}, {"account", e.account},
                      {"peer", e.peer},         {"id", e.id},
                      {"held", e.held},         {"reason", e.reason}};
        } else if constexpr (std::is_same_v<T, app::OtrProblem>) {
          return json{{"type", "otr.problem"},
                      {"account", e.account},
                      {"peer", e.peer},
                      {"code", e.code},
                      {"message", e.message}};
        } else if constexpr (std::is_same_v<T, app::OtrKeyState>) {
          json out{{"type", "otr.key"},
                   {"account", e.account},
                   {"stage", std::string(app::to_string(e.stage))}};
          if (!e.fingerprint.empty()) out["fingerprint"] = e.fingerprint;
          if (e.error) out["error"] = error_json(*e.error);
          return out;
        } else if constexpr (std::is_same_v<T, app::CallChanged>) {
          return json{
              {"type", "call"}, {"account", e.call.account}, {"call", call_info_json(e.call)}};
        } else if constexpr (std::is_same_v<T, app::CallDtmf>) {
          return json{{"type", "dtmf"}, {"call", e.id}, {"digit", std::string(1, e.digit)}};
        } else if constexpr (std::is_same_v<T, app::AudioDeviceEvent>) {
          return json{{"type", "audio_device"}, {"text", e.text}};
        } else {
          static_assert(kAlwaysFalse<T>, "every event needs a JSON shape");
        }
      },
      event);
}

std::string dump_line(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json history_json(const app::HistoryMessage& m) {
  json out{{"row", m.row},           {"account", m.account},
           {"peer", m.peer},         {"id", m.id},
           {"body", m.body},         {"time", iso8601_utc(m.time)},
           {"outgoing", m.outgoing}, {"encrypted", m.encrypted}};
  if (!m.resource.empty()) out["resource"] = m.resource;
  if (m.state) out["state"] = std::string(app::to_string(*m.state));
  return out;
}

json conversation_json(const app::ConversationSummary& c) {
  return json{{"account", c.account},
              {"peer", c.peer},
              {"messages", c.messages},
              {"last", iso8601_utc(c.last)}};
}

json call_json(const app::CallEntry& call) {
  json out{{"row", call.row},           {"account", call.account},          {"peer", call.peer},
           {"outgoing", call.outgoing}, {"start", iso8601_utc(call.start)}, {"reason", call.reason},
           {"secured", call.secured}};
  if (call.end) out["end"] = iso8601_utc(*call.end);
  return out;
}

json otr_status_json(const app::OtrStatus& status) {
  return json{{"privacy", std::string(app::to_string(status.privacy))},
              {"instance", status.instance},
              {"version", status.version},
              {"resource", status.resource},
              {"fingerprint", status.fingerprint ? json(*status.fingerprint) : json(nullptr)},
              {"policy", std::string(app::to_string(status.policy))},
              {"contact_policy", status.contact_policy},
              {"held", status.held},
              {"logging", status.logging}};
}

json otr_fingerprint_json(const app::OtrFingerprint& fingerprint) {
  return json{{"account", fingerprint.account},
              {"peer", fingerprint.peer},
              {"fingerprint", fingerprint.fingerprint},
              {"verified", fingerprint.verified},
              {"active", fingerprint.active}};
}

json profile_json(const app::ProfileInfo& info) {
  json out{{"dir", info.dir.string()},
           {"protection", std::string(app::to_string(info.protection))},
           {"unlocked", info.unlocked},
           {"log_history", info.log_history}};
  if (info.unlocked) {
    out["accounts"] = info.accounts;
    out["messages"] = info.messages;
    out["calls"] = info.calls;
    out["bytes_on_disk"] = info.bytes_on_disk;
  }
  return out;
}

}  // namespace sotto::cli
