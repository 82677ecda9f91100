#include "sotto/xmpp/stanza.h"

namespace sotto::xmpp {

Error stanza_error(const Element& stanza) {
  const Element* error = stanza.child("error", ns::client);
  if (error == nullptr) return Error{Errc::protocol, "the server answered with an error", {}};
  std::string condition;
  std::string text;
  for (const auto& node : error->nodes()) {
    const Element* child = std::get_if<Element>(&node);
    if (child == nullptr || child->xmlns() != ns::stanzas) continue;
    if (child->name() == "text") {
      text = child->text();
    } else if (condition.empty()) {
      condition = child->name();
    }
  }
  Errc code = Errc::protocol;
  if (condition == "conflict")
    code = Errc::conflict;
  else if (condition == "item-not-found" || condition == "recipient-unavailable" ||
           condition == "remote-server-not-found")
    code = Errc::not_found;
  else if (condition == "not-allowed" || condition == "forbidden" || condition == "not-authorized")
    code = Errc::not_allowed;
  else if (condition == "service-unavailable" || condition == "feature-not-implemented")
    code = Errc::not_supported;
  else if (condition == "bad-request" || condition == "not-acceptable" ||
           condition == "jid-malformed")
    code = Errc::invalid_argument;
  else if (condition == "remote-server-timeout")
    code = Errc::timeout;
  std::string message = !text.empty() ? text : (condition.empty() ? "unknown error" : condition);
  return Error{code, std::move(message), std::move(condition)};
}

Element make_iq(std::string_view type, std::string id, std::string_view to) {
  Element iq("iq", std::string(ns::client));
  iq.set_attr("type", std::string(type));
  iq.set_attr("id", std::move(id));
  if (!to.empty()) iq.set_attr("to", std::string(to));
  return iq;
}

}  // namespace sotto::xmpp
