// A real profanity (0.13.1) XMPP client for interoperability tests, running
// headless under a private tmux server, logged in to the test Prosody.
//
//   Prosody server;
//   server.register_user("pat", "pw");
//   Profanity pat(server, "pat", "pw");     // started and logged in
//   pat.send("alice@localhost", "hello");   // types `/msg alice@localhost hello`
//   json m = pat.wait_message("alice@localhost", "hi");
//   pat.otr_start("alice@localhost");       // types `/otr start alice@localhost`
//   pat.wait_otr_state("alice@localhost", "untrusted");
//   pat.wait_screen(std::regex("OTR session started"));
//
// Everything lives in a temporary directory: HOME and the XDG directories
// (profanity's accounts file, profrc, logs, OTR keys), the tmux socket and the
// event file. tmux runs as `tmux -S DIR/tmux.sock -f /dev/null -D`, a child of
// this process that gets SIGKILL if the starting thread exits
// (PR_SET_PDEATHSIG); it never touches the user's own tmux server, and
// profanity dies with its terminal. Connections go to 127.0.0.1 only
// (tls.policy=trust accepts the self-signed certificate).
//
// Events: a Python plugin (tests/harness/profanity/sotto_events.py) appends
// JSON lines to events_path(): "connected", "message.received" (from, body:
// after OTR decryption), "message.sent", raw "stanza.received"/"stanza.sent"
// (kind, stanza; message stanzas also with from, to and the <body> text as
// carried on the wire, e.g. OTR ciphertext), "presence", ... wait_event()
// polls that file. What the plugin API cannot see (OTR state, SMP progress,
// command output such as `/otr myfp`) is read from the screen with `tmux
// capture-pane` (screen(), wait_screen(), otr_state()): that shows only the
// current window as it is drawn now.
//
// Input goes through `tmux send-keys -l`: one line per command(). profanity
// reads the network only between keyboard polls, so profrc sets
// `/inpblock timeout` (options.inpblock) with dynamic blocking off.
//
// Needs `profanity` and `tmux` on PATH. Not thread-safe. Errors throw
// std::runtime_error with the tail of profanity's log and the screen.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/prosody.h"

namespace sotto::test {

struct ProfanityOptions {
  // The account's OTR policy: "manual", "opportunistic" or "always".
  std::string otr_policy = "manual";
  std::string resource = "profanity";
  // profanity's keyboard poll (`/inpblock timeout`); network input waits for it.
  std::chrono::milliseconds inpblock{10};
  // Whether the constructor waits for the login (else call wait_logged_in()).
  bool wait_for_login = true;
  std::chrono::milliseconds login_timeout{10000};
  // Extra lines appended to profrc (e.g. "[otr]\nwarn=false").
  std::string extra_profrc;
};

class Profanity {
 public:
  // Writes the accounts file and profrc for `jid` (a full address, or a local
  // part on server.domain()) and starts `profanity -a ACCOUNT -l DEBUG` in a
  // 200x50 tmux pane; waits for the login unless options.wait_for_login is false.
  Profanity(const Prosody& server, const std::string& jid, const std::string& password,
            ProfanityOptions options = {});
  // quit(), then removes the directory. Never throws.
  ~Profanity();
  Profanity(const Profanity&) = delete;
  Profanity& operator=(const Profanity&) = delete;

  const std::string& jid() const { return jid_; }  // bare JID
  const std::string& account() const { return account_; }

  // Waits for the plugin's "connected" event; throws on "Login failed", when
  // profanity exits, or on timeout.
  void wait_logged_in(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // From starting tmux to the "connected" event (set by wait_logged_in()).
  std::chrono::milliseconds login_duration() const { return login_duration_; }

  // Types one line (a command or, in a chat window, a message) and Enter.
  // The line must not contain a newline.
  void command(const std::string& line);
  // `/msg JID TEXT`: opens (and focuses) the chat window and sends TEXT.
  void send(const std::string& to, const std::string& text);

  // The first queued plugin event that matches, removed from the queue;
  // others stay queued. Throws on timeout, listing the events seen.
  nlohmann::json wait_event(std::function<bool(const nlohmann::json&)> match,
                            std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // A "message.received" event from `from` (bare JID) with this body.
  nlohmann::json wait_message(const std::string& from, const std::string& body,
                              std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Every event read so far, in order (taken by wait_event or not).
  std::vector<nlohmann::json> events_seen();

  // The visible pane (`tmux capture-pane -p`), one line per screen row.
  std::string screen() const;
  // Polls screen() until `pattern` matches somewhere in it; returns the match
  // results' full match and groups as strings. Throws on timeout with the screen.
  std::vector<std::string> wait_screen(
      const std::regex& pattern, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // This account's OTR fingerprint as `/otr myfp` shows it (five groups of 8
  // hex digits separated by spaces); generates the key (`/otr gen`) if needed.
  // Clears the current window first.
  std::string otr_fingerprint();

  // --- The chat window with a contact (bare JID), and OTR in it. profanity
  // speaks OTR v2 only and shows OTR state and SMP progress only in the chat
  // window (and on the console when that window is not focused); these focus
  // the window first, so screen() and wait_screen() then show it.
  //
  // Focuses the chat window (`/msg JID` opens it if needed) and waits until its
  // title bar names `jid`.
  void focus_chat(const std::string& jid);
  // `/otr start JID`: sends profanity's query (?OTR?v2?) unless private already.
  void otr_start(const std::string& jid);
  // `/otr end` in the chat window.
  void otr_end(const std::string& jid);
  // `/otr secret S`: asks for, or answers with, a shared secret (SMP).
  void otr_secret(const std::string& jid, const std::string& secret);
  // `/otr question "Q" A`: asks the contact Q, expecting A. Q must not contain '"'.
  void otr_question(const std::string& jid, const std::string& question, const std::string& answer);
  // `/otr answer A`: answers the contact's question.
  void otr_answer(const std::string& jid, const std::string& answer);
  // The chat's OTR state as its title bar shows it: "unencrypted", "untrusted"
  // (private, fingerprint not trusted) or "trusted"; "" if the title shows none.
  std::string otr_state(const std::string& jid);
  // Polls otr_state() until it is `state`; throws on timeout with the screen.
  void wait_otr_state(const std::string& jid, const std::string& state,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The contact's fingerprint as `/otr theirfp` shows it (while private).
  std::string otr_their_fingerprint(const std::string& jid);

  // Types /quit and waits (up to 5 s) for profanity to exit, then stops tmux.
  // Idempotent; never throws.
  void quit();
  bool running() const;
  pid_t pid() const { return profanity_pid_; }

  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path home() const;
  std::filesystem::path log_path() const;  // profanity's debug log
  std::filesystem::path events_path() const;

 private:
  std::string tmux(std::vector<std::string> args, bool check = true) const;
  void read_events();
  std::string failure_details() const;
  void stop_tmux();

  TempDir dir_;
  std::string jid_;
  std::string account_;
  ProfanityOptions options_;
  std::vector<std::string> env_;  // for tmux (and so profanity)
  pid_t tmux_pid_ = -1;           // our child: the tmux server (-D)
  pid_t profanity_pid_ = -1;      // the pane's process (tmux's child)
  std::chrono::steady_clock::time_point started_;
  std::chrono::milliseconds login_duration_{0};
  bool logged_in_ = false;

  std::uintmax_t events_offset_ = 0;
  std::string partial_line_;
  std::deque<nlohmann::json> queued_events_;
  std::vector<nlohmann::json> all_events_;
};

// `text` as a regular expression that matches it literally.
std::string regex_escape(const std::string& text);

// A new account on `server` (local part `local`, password "pw-" + local),
// logged in with profanity; prints how long the login took.
std::unique_ptr<Profanity> profanity_for_new_account(Prosody& server, const std::string& local);

}  // namespace sotto::test
