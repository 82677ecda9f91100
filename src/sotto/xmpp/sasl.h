// Private to sotto/xmpp: SASL client on GNU SASL (libgsasl 2.2). Chooses the
// strongest mechanism the server offers that we allow, and runs its steps.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sotto/base/base.h"

namespace sotto::xmpp {

enum class ChannelBindingType { none, tls_unique, tls_exporter };

struct SaslOptions {
  std::string authcid;      // the JID's local part
  std::string password;     // wiped by the client's destructor
  std::string authzid;      // usually empty
  bool tls_active = false;  // PLAIN only when true
  // Channel binding data for -PLUS mechanisms; empty type = none available.
  ChannelBindingType cb_type = ChannelBindingType::none;
  std::string cb_data;  // raw bytes (not base64)
};

class SaslClient {
 public:
  // Picks from `offered` (mechanism names from <mechanisms/>), in order:
  // SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS (only with channel binding data),
  // SCRAM-SHA-256, SCRAM-SHA-1, PLAIN (only when tls_active).
  // Errc::auth "the server offers no login method Sotto trusts (offered: ...)"
  // when none fits.
  [[nodiscard]] static Result<std::unique_ptr<SaslClient>> start(
      const std::vector<std::string>& offered, SaslOptions options);

  ~SaslClient();
  SaslClient(const SaslClient&) = delete;
  SaslClient& operator=(const SaslClient&) = delete;

  const std::string& mechanism() const;

  // The initial response, base64 ("=" for an empty one, as RFC 6120 §6.4.2 says).
  [[nodiscard]] Result<std::string> initial_response();

  // A <challenge/> from the server (base64 text) → our <response/> (base64).
  [[nodiscard]] Result<std::string> step(std::string_view challenge_b64);

  // The additional data of <success/> (base64, may be empty). For SCRAM this
  // verifies the server signature: Errc::auth if the server could not prove
  // it knows the password (a man in the middle).
  [[nodiscard]] Result<void> finish(std::string_view success_b64);

 private:
  SaslClient();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sotto::xmpp
