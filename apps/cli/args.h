// A small command-line parser: long options (--name, --name=value, --name value),
// a few short flags (-v), positionals, and "--" to end the options.
#pragma once

#include <charconv>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sotto/base/base.h"

namespace sotto::cli {

struct OptionSpec {
  std::string_view name;  // without the dashes: "host"
  bool takes_value = false;
  char short_name = 0;  // 'v' for -v, or 0
};

class ParsedArgs {
 public:
  std::vector<std::string> positional;

  bool has(std::string_view name) const;
  // The last value given for an option.
  std::optional<std::string> value(std::string_view name) const;
  // Every value given for a repeatable option, in order.
  std::vector<std::string> values(std::string_view name) const;

  void add(std::string_view name, std::string value);

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> options_;
};

// Errors are Errc::invalid_argument with a message for the usage line.
[[nodiscard]] Result<ParsedArgs> parse_args(std::span<const std::string> args,
                                            std::span<const OptionSpec> specs);

// The whole text as a number from min to max; nullopt for anything else.
template <class T>
std::optional<T> parse_number(std::string_view text, T min, T max) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

}  // namespace sotto::cli
