// CallPrinter: what changed in a call, in a few words, once per change (used
// by `sotto call` and `sotto listen`).
#include "commands.h"
#include "terminal.h"

namespace sotto::cli {

std::string CallPrinter::operator()(const app::CallInfo& call) {
  News said = news(call);
  std::string out = said.state;
  for (const auto& line : said.other) out += (out.empty() ? "" : "\n") + line;
  return out;
}

std::string CallPrinter::operator()(const app::CallDtmf& dtmf) const {
  std::string line = "key " + printable_line(std::string(1, dtmf.digit));
  if (auto it = known_.find(dtmf.id); it != known_.end()) {
    line += " from " + printable_line(it->second.call.peer);
  }
  return line;
}

CallPrinter::News CallPrinter::news(const app::CallInfo& call) {
  News out;
  auto it = known_.find(call.id);
  std::optional<app::CallInfo> before;
  std::optional<Said> said;
  if (it != known_.end()) {
    before = it->second.call;
    said = it->second.said;
  }
  if (call.state == app::CallState::ended) {
    if (it != known_.end()) known_.erase(it);
    out.state = "ended: " + printable_line(call.end_text.empty()
                                               ? std::string(app::to_string(*call.end_reason))
                                               : call.end_text);
    return out;
  }
  const std::string peer = printable_line(call.peer);
  switch (call.state) {
    case app::CallState::calling:
      if (!before) out.state = "calling " + peer;
      break;
    case app::CallState::ringing:
      if (!before || before->state != app::CallState::ringing) out.state = "ringing";
      break;
    case app::CallState::incoming:
      if (!before) {
        std::string who = peer;
        if (!call.peer_name.empty()) who = printable_line(call.peer_name) + " <" + peer + ">";
        out.state = "incoming call from " + who;
      }
      break;
    case app::CallState::active:
      if (!before || before->state != app::CallState::active) {
        out.state = "connected";
        if (!call.codec.empty()) out.state += " (" + printable_line(call.codec) + ")";
        if (call.remote_hold) out.state += ", held by them";
      } else if (before->on_hold != call.on_hold) {
        out.state = call.on_hold ? "on hold" : "resumed";
      } else if (before->remote_hold != call.remote_hold) {
        out.state = call.remote_hold ? "held by them" : "resumed by them";
      }
      out.other = encryption_news(call, said);
      if (before && before->muted != call.muted)
        out.other.push_back(call.muted ? "muted" : "unmuted");
      break;
    case app::CallState::ended:
      break;
  }
  known_.insert_or_assign(call.id, Known{call, said});
  return out;
}

std::string CallPrinter::hint(const std::string& command, const app::CallInfo& call) const {
  return name_calls_ ? command + " " + call.id : command;
}

std::vector<std::string> CallPrinter::encryption_news(const app::CallInfo& call,
                                                      std::optional<Said>& said) {
  // Nothing to say while ZRTP is under way: audio starts once it is done.
  if (call.encryption == app::CallEncryption::negotiating) return {};
  Said now{call.encryption, call.sas, call.sas_verified, call.cache_mismatch};
  if (said && *said == now) return {};
  const std::optional<Said> before = said;
  said = now;

  const std::string peer = printable_line(call.peer);
  const std::string code = printable_line(call.sas);
  const std::string text = printable_line(call.encryption_text);
  switch (call.encryption) {
    case app::CallEncryption::negotiating:
      return {};
    case app::CallEncryption::none:
      return {"NOT ENCRYPTED: " + (text.empty() ? "the other side does not encrypt calls" : text)};
    case app::CallEncryption::failed:
      return {"encryption failed" + (text.empty() ? std::string() : ": " + text)};
    case app::CallEncryption::secure:
      break;
  }
  if (now.mismatch) {
    // Loud, and said again whenever anything about it changes.
    return {"WARNING: " + peer +
            "'s encryption keys changed since your last call. Someone may be listening. "
            "Compare the code " +
            code + " before you say anything private; type " + hint("sas-confirm", call) +
            " once it matches."};
  }
  // The same code as announced before: what changed is whether it was compared.
  const bool same_code =
      before && before->encryption == app::CallEncryption::secure && before->sas == now.sas;
  if (now.verified) {
    if (same_code && !before->verified) {
      return {"verified: the code " + code + " matched; your next calls with " + peer +
              " start verified"};
    }
    return {"encrypted; " + peer + " verified earlier (code " + code + ")"};
  }
  if (same_code && before->verified) {
    return {"not verified any more: compare the code " + code + " with your partner again; type " +
            hint("sas-confirm", call) + " when it matches"};
  }
  std::string line = "encrypted";
  if (!call.cipher.empty()) line += " (" + printable_line(call.cipher) + ")";
  return {line + ". Compare this code with your partner: " + code + " — type " +
          hint("sas-confirm", call) + " when it matches"};
}

}  // namespace sotto::cli
