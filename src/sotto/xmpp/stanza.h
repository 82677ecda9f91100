// Private to sotto/xmpp: small helpers over stanzas.
#pragma once

#include <string>

#include "sotto/base/base.h"
#include "sotto/xmpp/xml.h"

namespace sotto::xmpp {

// The <error/> of an error stanza (RFC 6120 §8.3): code by condition,
// message from <text/> or the condition's name, detail = condition name.
Error stanza_error(const Element& stanza);

Element make_iq(std::string_view type, std::string id, std::string_view to = {});

}  // namespace sotto::xmpp
