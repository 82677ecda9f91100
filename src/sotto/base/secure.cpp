#include <openssl/crypto.h>

#include "sotto/base/base.h"

namespace sotto {

void secure_wipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace sotto
