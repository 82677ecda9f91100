// Calls at the terminal: `sotto call`, and the call commands typed into
// `sotto listen` (answer, reject, hangup, hold, resume).
#include <algorithm>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "stdin_reader.h"
#include "terminal.h"

namespace sotto::cli {

std::string CallPrinter::operator()(const app::CallInfo& call) {
  auto it = known_.find(call.id);
  std::optional<app::CallInfo> before;
  if (it != known_.end()) before = it->second;
  if (call.state == app::CallState::ended) {
    if (it != known_.end()) known_.erase(it);
    return "ended: " + printable_line(call.end_text.empty()
                                          ? std::string(app::to_string(*call.end_reason))
                                          : call.end_text);
  }
  known_.insert_or_assign(call.id, call);
  switch (call.state) {
    case app::CallState::calling:
      return before ? "" : "calling " + call.peer;
    case app::CallState::ringing:
      return before && before->state == app::CallState::ringing ? "" : "ringing";
    case app::CallState::incoming: {
      if (before) return "";
      std::string who = call.peer;
      if (!call.peer_name.empty()) who = printable_line(call.peer_name) + " <" + call.peer + ">";
      return "incoming call from " + who;
    }
    case app::CallState::active:
      if (!before || before->state != app::CallState::active) {
        std::string line = "connected";
        if (!call.codec.empty()) line += " (" + call.codec + ")";
        if (call.remote_hold) line += ", held by them";
        return line;
      }
      if (before->on_hold != call.on_hold) return call.on_hold ? "on hold" : "resumed";
      if (before->remote_hold != call.remote_hold)
        return call.remote_hold ? "held by them" : "resumed by them";
      return "";
    case app::CallState::ended:
      break;
  }
  return "";
}

namespace {

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

std::optional<Result<void>> run_call_command(app::Engine& engine, const std::string& line) {
  std::istringstream words(line);
  std::string verb;
  std::string id;
  words >> verb >> id;
  if (!verb.empty() && verb.front() == '/') verb.erase(0, 1);
  const bool incoming_only = verb == "answer" || verb == "reject" || verb == "busy";
  if (!incoming_only && verb != "hangup" && verb != "hold" && verb != "resume") {
    return std::nullopt;
  }
  auto call = pick_call(engine, id, incoming_only);
  if (!call) return Result<void>(Unexpected(call.error()));
  if (verb == "answer") return engine.answer_call(call->id);
  if (verb == "reject") return engine.reject_call(call->id, false);
  if (verb == "busy") return engine.reject_call(call->id, true);
  if (verb == "hangup") return engine.hang_up(call->id);
  return engine.hold_call(call->id, verb == "hold");
}

int call(Context& ctx, const ParsedArgs& args) {
  const std::string to = args.positional[1];
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
    if (command.empty() || finished) return;
    if (command == "hangup") return hang_up();
    if (command == "hold" || command == "resume" || command == "/hold" || command == "/resume") {
      if (auto done = engine.hold_call(id, command.find("hold") != std::string::npos); !done)
        report(done.error());
      return;
    }
    std::cerr << "sotto: type hold, resume or hangup (or press Ctrl-C to hang up)\n";
  });
  // The end of standard input (a script, /dev/null) leaves the call going.
  std::optional<StdinReader> in;
  if (stdin_is_ours()) {
    in.emplace(
        session.io(), [&](std::string& data) { lines.feed(data); }, [&] { lines.finish(); });
  }
  session.on_interrupt(hang_up);
  if (!finished) {
    std::cerr << "Type hold, resume or hangup; Ctrl-C hangs up.\n";
    session.io().run();
  }
  if (in) in->stop();
  session.drain();
  return exit_code;
}

}  // namespace sotto::cli
