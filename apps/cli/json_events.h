// The JSON shapes shared by `sotto rpc` notifications and `sotto listen --json`
// (documented in docs/rpc.md). No password ever appears in them.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "sotto/app/app.h"
#include "sotto/base/base.h"

namespace sotto::cli {

// {"type": "message.received", ...}: one object per engine event.
nlohmann::json event_json(const app::Event& event);

nlohmann::json contact_json(const app::Contact& contact);
nlohmann::json account_json(const app::AccountSettings& account, app::AccountState state);
// {"errc": "certificate", "message": "...", "detail": "..."}; detail only when set.
nlohmann::json error_json(const Error& error);

// History and the profile, for `sotto rpc` and `sotto history ... --json`.
nlohmann::json history_json(const app::HistoryMessage& message);
nlohmann::json conversation_json(const app::ConversationSummary& conversation);
nlohmann::json call_json(const app::CallEntry& call);
// A call going on (or just ended): the "call" of the call event and call.list.
nlohmann::json call_info_json(const app::CallInfo& call);
nlohmann::json profile_json(const app::ProfileInfo& info);

// Private conversations, for `sotto rpc` and `sotto otr ... --json`.
nlohmann::json otr_status_json(const app::OtrStatus& status);
nlohmann::json otr_fingerprint_json(const app::OtrFingerprint& fingerprint);

// A JSON array of items, each made by to_json (one of the functions above).
template <class Items, class ToJson>
nlohmann::json json_array(const Items& items, ToJson to_json) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& item : items) out.push_back(to_json(item));
  return out;
}

// "2026-11-27T12:01:02.345Z"
std::string iso8601_utc(std::chrono::system_clock::time_point time);

// One compact line (no newline); invalid UTF-8 from the network becomes U+FFFD
// instead of an exception.
std::string dump_line(const nlohmann::json& value);

}  // namespace sotto::cli
