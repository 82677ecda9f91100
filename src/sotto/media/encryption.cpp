#include "sotto/media/media.h"

namespace sotto::media {

std::string_view to_string(Encryption encryption) {
  switch (encryption) {
    case Encryption::negotiating:
      return "negotiating";
    case Encryption::secure:
      return "secure";
    case Encryption::none:
      return "none";
    case Encryption::failed:
      return "failed";
  }
  return "?";
}

}  // namespace sotto::media
