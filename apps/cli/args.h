// A small command-line parser: long options (--name, --name=value, --name value),
// a few short flags (-v), positionals, and "--" to end the options.
#pragma once

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

}  // namespace sotto::cli
