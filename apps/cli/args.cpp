#include "args.h"

#include <algorithm>

namespace sotto::cli {

bool ParsedArgs::has(std::string_view name) const { return options_.find(name) != options_.end(); }

std::optional<std::string> ParsedArgs::value(std::string_view name) const {
  auto it = options_.find(name);
  if (it == options_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::values(std::string_view name) const {
  auto it = options_.find(name);
  return it == options_.end() ? std::vector<std::string>{} : it->second;
}

void ParsedArgs::add(std::string_view name, std::string value) {
  auto it = options_.find(name);
  if (it == options_.end())
    it = options_.emplace(std::string(name), std::vector<std::string>{}).first;
  it->second.push_back(std::move(value));
}

Result<ParsedArgs> parse_args(std::span<const std::string> args,
                              std::span<const OptionSpec> specs) {
  ParsedArgs parsed;
  bool options_ended = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_ended || arg == "-" || arg.empty() || arg[0] != '-') {
      parsed.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }
    std::string_view name;
    std::optional<std::string> inline_value;
    if (arg.starts_with("--")) {
      std::string_view body = std::string_view(arg).substr(2);
      if (auto eq = body.find('='); eq != std::string_view::npos) {
        inline_value = std::string(body.substr(eq + 1));
        body = body.substr(0, eq);
      }
      name = body;
    } else if (arg.size() == 2) {
      auto spec = std::find_if(specs.begin(), specs.end(),
                               [&](const OptionSpec& s) { return s.short_name == arg[1]; });
      if (spec == specs.end()) return fail(Errc::invalid_argument, "unknown option " + arg);
      name = spec->name;
    } else {
      return fail(Errc::invalid_argument, "unknown option " + arg);
    }
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const OptionSpec& s) { return s.name == name; });
    if (spec == specs.end())
      return fail(Errc::invalid_argument, "unknown option --" + std::string(name));
    if (!spec->takes_value) {
      if (inline_value)
        return fail(Errc::invalid_argument, "--" + std::string(name) + " takes no value");
      parsed.add(name, {});
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size())
        return fail(Errc::invalid_argument, "--" + std::string(name) + " needs a value");
      inline_value = args[++i];
    }
    parsed.add(name, std::move(*inline_value));
  }
  return parsed;
}

}  // namespace sotto::cli
