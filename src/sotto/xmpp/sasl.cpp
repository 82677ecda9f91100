#include "sotto/xmpp/sasl.h"

#include <array>
#include <cstring>
#include <utility>

#include <gsasl.h>
#include <openssl/crypto.h>

namespace sotto::xmpp {

namespace {

constexpr std::string_view kServerUnproven =
    "the server could not prove it knows your password; the connection may be intercepted";

// What the gsasl callback hands out for one session (the session hook points here).
struct Credentials {
  std::string authcid;
  std::string password;
  std::string authzid;
  ChannelBindingType cb_type = ChannelBindingType::none;
  std::string cb_b64;  // gsasl wants GSASL_CB_TLS_* base64-encoded
  bool offer_cb = false;
};

int set_property(Gsasl_session* session, Gsasl_property property, const std::string& value) {
  return gsasl_property_set_raw(session, property, value.data(), value.size());
}

int supply_property(Gsasl* /*ctx*/, Gsasl_session* session, Gsasl_property property) {
  const auto* creds = static_cast<const Credentials*>(gsasl_session_hook_get(session));
  if (creds == nullptr) return GSASL_NO_CALLBACK;
  switch (property) {
    case GSASL_AUTHID:
      return set_property(session, property, creds->authcid);
    case GSASL_PASSWORD:
      if (creds->password.empty()) return GSASL_NO_CALLBACK;
      return set_property(session, property, creds->password);
    case GSASL_AUTHZID:
      if (creds->authzid.empty()) return GSASL_NO_CALLBACK;
      return set_property(session, property, creds->authzid);
    case GSASL_CB_TLS_EXPORTER:
      if (!creds->offer_cb || creds->cb_type != ChannelBindingType::tls_exporter) break;
      return set_property(session, property, creds->cb_b64);
    case GSASL_CB_TLS_UNIQUE:
      if (!creds->offer_cb || creds->cb_type != ChannelBindingType::tls_unique) break;
      return set_property(session, property, creds->cb_b64);
    default:
      break;
  }
  return GSASL_NO_CALLBACK;
}

// gsasl_init once per process; never torn down (sessions may outlive static destructors).
Gsasl* context() {
  static Gsasl* const ctx = [] {
    Gsasl* created = nullptr;
    if (gsasl_init(&created) != GSASL_OK) return static_cast<Gsasl*>(nullptr);
    gsasl_callback_set(created, supply_property);
    return created;
  }();
  return ctx;
}

// gsasl frees properties without clearing them; clear the secrets in place first.
void wipe_secret_properties(Gsasl_session* session) {
  constexpr std::array kSecrets = {GSASL_PASSWORD, GSASL_SCRAM_SALTED_PASSWORD,
                                   GSASL_SCRAM_SERVERKEY, GSASL_SCRAM_STOREDKEY};
  for (Gsasl_property property : kSecrets) {
    const char* value = gsasl_property_fast(session, property);
    if (value != nullptr) OPENSSL_cleanse(const_cast<char*>(value), std::strlen(value));
  }
}

// Owns a buffer gsasl allocated; clears it before freeing (a PLAIN response holds the password).
struct GsaslBuffer {
  char* data = nullptr;
  ~GsaslBuffer() {
    if (data == nullptr) return;
    OPENSSL_cleanse(data, std::strlen(data));
    gsasl_free(data);
  }
  std::string str() const { return data == nullptr ? std::string() : std::string(data); }
};

std::string base64(std::string_view raw) {
  char* out = nullptr;
  size_t out_len = 0;
  if (gsasl_base64_to(raw.data(), raw.size(), &out, &out_len) != GSASL_OK) return {};
  std::string encoded(out, out_len);
  gsasl_free(out);
  return encoded;
}

// RFC 5802 §6: a client that supports channel binding but picked a non-PLUS
// mechanism sends gs2 flag "y", so a server that does support it can detect a
// stripped mechanism list. libgsasl 2.2.0 cannot send "y": given channel
// binding data outside -PLUS it adds a cb-name and rejects its own message
// (GSASL_AUTHENTICATION_ERROR). So we hand it the data there only if this
// libgsasl is seen to produce a valid "y" header; otherwise it sends "n".
bool library_sends_cb_flag_y() {
  static const bool sends_y = [] {
    Gsasl* ctx = context();
    if (ctx == nullptr) return false;
    Credentials probe;
    probe.authcid = "probe";
    probe.cb_type = ChannelBindingType::tls_exporter;
    probe.cb_b64 = base64("probe");
    probe.offer_cb = true;
    Gsasl_session* session = nullptr;
    if (gsasl_client_start(ctx, "SCRAM-SHA-1", &session) != GSASL_OK) return false;
    gsasl_session_hook_set(session, &probe);
    char* out = nullptr;
    size_t out_len = 0;
    const int rc = gsasl_step(session, "", 0, &out, &out_len);
    const bool ok = rc == GSASL_NEEDS_MORE && out_len > 3 && std::string_view(out, 3) == "y,,";
    gsasl_free(out);
    gsasl_finish(session);
    return ok;
  }();
  return sends_y;
}

bool is_scram(std::string_view mechanism) { return mechanism.starts_with("SCRAM-"); }

bool contains(const std::vector<std::string>& names, std::string_view name) {
  for (const auto& offered : names) {
    if (offered == name) return true;
  }
  return false;
}

std::string join(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

Unexpected step_failure(int rc) {
  return fail(Errc::auth, std::string("the login exchange failed: ") + gsasl_strerror(rc));
}

}  // namespace

struct SaslClient::Impl {
  Gsasl_session* session = nullptr;
  std::string mechanism;
  Credentials creds;
  bool complete = false;  // gsasl returned GSASL_OK: for SCRAM, the server is verified

  ~Impl() {
    if (session != nullptr) {
      wipe_secret_properties(session);
      gsasl_finish(session);
    }
    OPENSSL_cleanse(creds.password.data(), creds.password.size());
  }
};

SaslClient::SaslClient() : impl_(std::make_unique<Impl>()) {}

SaslClient::~SaslClient() = default;

const std::string& SaslClient::mechanism() const { return impl_->mechanism; }

Result<std::unique_ptr<SaslClient>> SaslClient::start(const std::vector<std::string>& offered,
                                                      SaslOptions options) {
  std::unique_ptr<SaslClient> client(new SaslClient());
  Credentials& creds = client->impl_->creds;
  // Copied, not moved: a moved-from short string keeps its bytes in place.
  creds.password.assign(options.password);
  OPENSSL_cleanse(options.password.data(), options.password.size());
  options.password.clear();

  auto has_nul = [](const std::string& s) { return s.find('\0') != std::string::npos; };
  if (has_nul(options.authcid) || has_nul(options.authzid) || has_nul(creds.password)) {
    return fail(Errc::invalid_argument, "the user name or password contains a NUL character");
  }

  Gsasl* ctx = context();
  if (ctx == nullptr) return fail(Errc::auth, "the SASL library could not be initialised");

  const bool have_cb = options.cb_type != ChannelBindingType::none && !options.cb_data.empty();
  struct Candidate {
    const char* name;
    bool allowed;
  };
  // RFC 5802 §4 / RFC 7677: mechanism names are matched exactly (upper case).
  const std::array candidates = {
      Candidate{"SCRAM-SHA-256-PLUS", have_cb}, Candidate{"SCRAM-SHA-1-PLUS", have_cb},
      Candidate{"SCRAM-SHA-256", true},         Candidate{"SCRAM-SHA-1", true},
      Candidate{"PLAIN", options.tls_active},
  };
  const char* chosen = nullptr;
  for (const auto& candidate : candidates) {
    if (candidate.allowed && contains(offered, candidate.name) &&
        gsasl_client_support_p(ctx, candidate.name) != 0) {
      chosen = candidate.name;
      break;
    }
  }
  if (chosen == nullptr) {
    return fail(Errc::auth,
                "the server offers no login method Sotto trusts (offered: " + join(offered) + ")");
  }

  Impl& impl = *client->impl_;
  impl.mechanism = chosen;
  creds.authcid = std::move(options.authcid);
  creds.authzid = std::move(options.authzid);
  if (have_cb) {
    creds.cb_type = options.cb_type;
    creds.cb_b64 = base64(options.cb_data);
    const bool plus = impl.mechanism.ends_with("-PLUS");
    creds.offer_cb = plus || (is_scram(impl.mechanism) && library_sends_cb_flag_y());
  }

  const int rc = gsasl_client_start(ctx, chosen, &impl.session);
  if (rc != GSASL_OK) {
    impl.session = nullptr;
    return fail(Errc::auth,
                std::string("could not start the ") + chosen + " login: " + gsasl_strerror(rc));
  }
  gsasl_session_hook_set(impl.session, &creds);
  return client;
}

Result<std::string> SaslClient::initial_response() {
  GsaslBuffer out;
  const int rc = gsasl_step64(impl_->session, "", &out.data);
  if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) return step_failure(rc);
  if (rc == GSASL_OK) impl_->complete = true;
  if (out.data == nullptr || *out.data == '\0') return std::string("=");  // RFC 6120 §6.4.2
  return out.str();
}

Result<std::string> SaslClient::step(std::string_view challenge_b64) {
  const std::string challenge(challenge_b64);
  GsaslBuffer out;
  const int rc = gsasl_step64(impl_->session, challenge.c_str(), &out.data);
  if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) return step_failure(rc);
  // RFC 6120 §6.4.6: a server may send SCRAM's server-final as a challenge.
  if (rc == GSASL_OK) impl_->complete = true;
  return out.str();
}

Result<void> SaslClient::finish(std::string_view success_b64) {
  if (impl_->complete) {
    if (!success_b64.empty()) {
      return fail(Errc::protocol, "the server sent unexpected data after the login finished");
    }
    return {};
  }
  const std::string success(success_b64);
  GsaslBuffer out;
  const int rc = gsasl_step64(impl_->session, success.c_str(), &out.data);
  if (rc == GSASL_OK && out.str().empty()) {
    impl_->complete = true;
    return {};
  }
  if (is_scram(impl_->mechanism)) return fail(Errc::auth, std::string(kServerUnproven));
  return fail(Errc::auth, "the server reported success before the login exchange finished");
}

}  // namespace sotto::xmpp
