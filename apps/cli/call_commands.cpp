// Calls at the terminal: `sotto call`, the call commands typed into it and
// into `sotto listen` (answer, reject, hangup, hold, resume, mute, the SAS,
// phone keys), the audio options, and `sotto calls ...`.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "commands.h"
#include "stdin_reader.h"
#include "terminal.h"

namespace sotto::cli {

namespace {

// What `sotto call` takes on standard input.
constexpr const char* kCallTyping =
    "mute, unmute, hold, resume, sas-confirm, sas-reset, dtmf DIGITS or hangup";

// The call a typed command means: the one whose id starts with `id`, or
// without an id the only call (for answer and reject: the only incoming one).
Result<app::CallInfo> pick_call(app::Engine& engine, const std::string& id, bool incoming_only) {
  std::vector<app::CallInfo> calls = engine.calls();
  std::vector<app::CallInfo> matches;
  for (const auto& call : calls) {
    if (!id.empty() ? call.id.starts_with(id)
                    : !incoming_only || call.state == app::CallState::incoming) {
      matches.push_back(call);
    }
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty()) {
    if (!id.empty()) return fail(Errc::not_found, "there is no call " + id);
    return fail(Errc::not_found, incoming_only ? "no call is ringing here" : "there is no call");
  }
  std::string ids;
  for (const auto& call : matches) ids += (ids.empty() ? "" : ", ") + call.id;
  return fail(Errc::invalid_argument, "there are several calls; name one: " + ids);
}

}  // namespace

std::optional<Result<void>> run_call_command(app::Engine& engine, const std::string& line,
                                             const std::string& call_id) {
  std::istringstream words(line);
  std::string verb;
  words >> verb;
  if (!verb.empty() && verb.front() == '/') verb.erase(0, 1);
  static const std::set<std::string, std::less<>> kVerbs{
      "answer", "reject", "busy",        "hangup",    "hold", "resume",
      "mute",   "unmute", "sas-confirm", "sas-reset", "dtmf"};
  if (!kVerbs.contains(verb)) return std::nullopt;
  const bool incoming_only = verb == "answer" || verb == "reject" || verb == "busy";
  if (incoming_only && !call_id.empty()) return std::nullopt;
  std::string digits;
  if (verb == "dtmf" && !(words >> digits)) {
    return Result<void>(
        fail(Errc::invalid_argument, "say which keys to send: dtmf DIGITS (0-9, *, #, A-D)"));
  }
  std::string id;
  words >> id;
  if (std::string extra; words >> extra) {
    return Result<void>(fail(Errc::invalid_argument,
                             "too many words for " + verb + ": \"" + printable_line(extra) + "\""));
  }
  std::string target;
  if (!call_id.empty()) {
    if (!id.empty() && !call_id.starts_with(id))
      return Result<void>(
          fail(Errc::not_found, "there is no call " + printable_line(id) + " here"));
    target = call_id;
  } else {
    auto call = pick_call(engine, id, incoming_only);
    if (!call) return Result<void>(Unexpected(call.error()));
    target = call->id;
  }
  if (verb == "answer") return engine.answer_call(target);
  if (verb == "reject") return engine.reject_call(target, false);
  if (verb == "busy") return engine.reject_call(target, true);
  if (verb == "hangup") return engine.hang_up(target);
  if (verb == "hold" || verb == "resume") return engine.hold_call(target, verb == "hold");
  if (verb == "mute" || verb == "unmute") return engine.mute_call(target, verb == "mute");
  if (verb == "sas-confirm" || verb == "sas-reset")
    return engine.confirm_sas(target, verb == "sas-confirm");
  return engine.send_dtmf(target, digits);
}

// --- audio options ------------------------------------------------------------

const std::vector<OptionSpec>& audio_options() {
  static const std::vector<OptionSpec> options{
      {"audio", true}, {"audio-in", true}, {"audio-out", true}};
  return options;
}

int apply_audio_options(Context& ctx, const ParsedArgs& args) {
  auto backend = args.value("audio");
  auto in = args.value("audio-in");
  auto out = args.value("audio-out");
  if (!backend && !in && !out) return kExitOk;
  if (backend && *backend != "pulse" && *backend != "file" && *backend != "null") {
    return usage_error(ctx, "--audio takes pulse, file or null");
  }
  if ((in || out) && backend && *backend != "file") {
    return usage_error(ctx, "--audio-in and --audio-out are WAV files for --audio file");
  }
  if ((in && in->empty()) || (out && out->empty())) {
    return usage_error(ctx, "--audio-in and --audio-out need a file name");
  }
  app::AudioSettings settings = ctx.engine.audio_settings();
  settings.backend = backend.value_or("file");
  settings.input_wav.clear();
  settings.output_wav.clear();
  std::error_code ec;
  if (in) {
    if (!std::filesystem::is_regular_file(*in, ec)) {
      return report(Error{Errc::not_found, "there is no WAV file " + printable_line(*in), {}});
    }
    settings.input_wav = std::filesystem::absolute(*in, ec).string();
  }
  if (out) settings.output_wav = std::filesystem::absolute(*out, ec).string();
  if (auto set = ctx.engine.set_audio_settings(settings); !set) return report(set.error());
  return kExitOk;
}

// --- calls require-encryption, calls devices ------------------------------------

int calls_require_encryption(Context& ctx, const ParsedArgs& args) {
  app::Engine& engine = ctx.engine;
  if (args.positional.empty()) {
    if (engine.require_call_encryption()) {
      std::cout << "Require encryption is on: a call that cannot be encrypted (ZRTP) is ended\n"
                   "with the reason, never continued in the clear.\n";
    } else {
      std::cout << "Require encryption is off: every call tries ZRTP, and one that cannot be\n"
                   "encrypted goes on in the clear, marked NOT ENCRYPTED. To end such calls "
                   "instead:\n  "
                << command_prefix(ctx) << " calls require-encryption on\n";
    }
    return kExitOk;
  }
  const std::string& choice = args.positional[0];
  if (choice != "on" && choice != "off") return usage_error(ctx, "say on or off");
  const bool on = choice == "on";
  if (auto set = engine.set_require_call_encryption(on); !set) return report(set.error());
  std::cout << (on ? "Require encryption is on: from the next call, a call that cannot be\n"
                     "encrypted is ended.\n"
                   : "Require encryption is off: from the next call, a call that cannot be\n"
                     "encrypted goes on in the clear, marked NOT ENCRYPTED.\n");
  return kExitOk;
}

int calls_devices(Context& ctx, const ParsedArgs&) {
  const app::AudioSettings settings = ctx.engine.audio_settings();
  const std::vector<app::AudioDevice> devices = ctx.engine.audio_devices();
  if (devices.empty()) {
    std::cout << "No audio devices found (is PulseAudio running?).\n";
  } else {
    std::vector<std::vector<std::string>> rows{{"KIND", "NAME", "DESCRIPTION"}};
    for (const auto& device : devices) {
      rows.push_back({device.input ? "microphone" : "speaker", printable_line(device.name),
                      printable_line(device.description)});
    }
    print_table(rows);
  }
  auto or_default = [](const std::string& name) {
    return name.empty() ? std::string("the default") : printable_line(name);
  };
  std::cout << "\nCalls use: " << settings.backend;
  if (settings.backend == "pulse") {
    std::cout << " (microphone: " << or_default(settings.input_device)
              << ", speaker: " << or_default(settings.output_device) << ")";
  } else if (settings.backend == "file") {
    std::cout << " (in: " << (settings.input_wav.empty() ? "silence" : settings.input_wav)
              << ", out: " << (settings.output_wav.empty() ? "discarded" : settings.output_wav)
              << ")";
  }
  std::cout << "; echo cancellation " << (settings.echo_cancellation ? "on" : "off")
            << ", noise suppression " << (settings.noise_suppression ? "on" : "off") << ".\n";
  return kExitOk;
}

int call(Context& ctx, const ParsedArgs& args) {
  const std::string to = args.positional[1];
  if (int applied = apply_audio_options(ctx, args); applied != kExitOk) return applied;
  auto account = online(ctx, args, args.positional[0]);
  if (!account) return kExitError;
  auto& session = ctx.session;
  auto& engine = ctx.engine;

  std::string id;
  bool connected = false;
  bool finished = false;
  int exit_code = kExitOk;
  CallPrinter printer;
  std::vector<app::CallInfo> early;  // events of call() before it returned the id
  auto finish = [&](int code) {
    if (finished) return;
    finished = true;
    exit_code = code;
    session.shut_down_async([&] { session.io().stop(); });
  };
  auto show = [&](const app::CallInfo& info) {
    if (std::string line = printer(info); !line.empty()) std::cout << line << std::endl;
    if (info.state == app::CallState::active) connected = true;
    if (info.state == app::CallState::ended) finish(connected ? kExitOk : kExitError);
  };
  ScopedSubscription subscription(engine, [&](const app::Event& event) {
    if (const auto* change = std::get_if<app::AccountStateChanged>(&event)) {
      if (change->account != *account || change->state != app::AccountState::failed) return;
      std::cerr << "sotto: " << *account << " failed"
                << (change->error ? ": " + printable_line(change->error->message) : "") << '\n';
      return finish(kExitError);
    }
    if (const auto* key = std::get_if<app::CallDtmf>(&event)) {
      if (!id.empty() && key->id == id) std::cout << printer(*key) << std::endl;
      return;
    }
    if (const auto* device = std::get_if<app::AudioDeviceEvent>(&event)) {
      std::cout << "audio: " << printable_line(device->text) << std::endl;
      return;
    }
    const auto* changed = std::get_if<app::CallChanged>(&event);
    if (changed == nullptr) return;
    if (id.empty()) return early.push_back(changed->call);
    if (changed->call.id == id) show(changed->call);
  });

  auto started = engine.call(*account, to);
  if (!started) {
    report(started.error());
    session.shut_down();
    return kExitError;
  }
  id = *started;
  for (const auto& info : early) {
    if (info.id == id) show(info);
  }
  early.clear();

  auto hang_up = [&] {
    if (finished) return;
    if (auto ended = engine.hang_up(id); !ended) {
      report(ended.error());
      finish(kExitError);
    }
  };
  LineSplitter lines([&](std::string& line) {
    std::string command = line;
    if (command == "/quit" || command == "quit" || command == "/hangup") command = "hangup";
    if (command.find_first_not_of(" \t") == std::string::npos || finished) return;
    if (command == "hangup") return hang_up();
    auto done = run_call_command(engine, command, id);
    if (!done) {
      std::cerr << "sotto: type " << kCallTyping << " (or press Ctrl-C to hang up)\n";
    } else if (!*done) {
      report(done->error());
    }
  });
  // The end of standard input (a script, /dev/null) leaves the call going.
  std::optional<StdinReader> in;
  if (stdin_is_ours()) {
    in.emplace(
        session.io(), [&](std::string& data) { lines.feed(data); }, [&] { lines.finish(); });
  }
  session.on_interrupt(hang_up);
  if (!finished) {
    std::cerr << "Type " << kCallTyping << "; Ctrl-C hangs up.\n";
    session.io().run();
  }
  if (in) in->stop();
  session.drain();
  return exit_code;
}

}  // namespace sotto::cli
