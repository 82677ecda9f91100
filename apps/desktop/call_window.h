// The window of one call, and the dialog that rings for an incoming one.
//
// CallWindow (object name "callWindow"): who ("peer"), what is going on
// ("callState": "Calling…", "Ringing…", "Connected 00:12", "On hold", "They
// put the call on hold", "Call ended: busy"), the audio format ("codec") and
// how the audio fares ("quality": loss, round trip, jitter).
//
// The padlock ("padlock", "security", "securityDetail") says what is true of
// the call's encryption (ZRTP): "Securing the call…" while the keys are
// agreed (no audio yet); once encrypted and not verified, the four letters
// to read aloud ("sas", in "sasBox") with "sasMatch" (They match) and
// "sasMismatch" (They don't match: "sasWarning" explains that someone may be
// listening and offers "sasWarningHangUp"); verified, "Encrypted; partner
// verified" with a small "sasCompareAgain"; "This call is not encrypted" with
// the reason when the other side has no ZRTP. When the contact's keys
// changed since the last call, a red banner ("keysChangedBanner") says so; it
// stays until the users compared the letters again and confirmed them. A call
// that could not be encrypted while encryption is required ends (the engine
// ends it; the window hangs up too if it ever sees one go on), and the end
// text gives the reason.
//
// Buttons: "mute" (Mute / Unmute), "hold" (Hold / Resume), "keypad" (shows
// "dtmfPad" with the keys "key0".."key9", "keyStar", "keyHash"; what was sent
// in "dtmfSent"; keys the other side pressed in "dtmfReceived") and
// "hangUp"; "callError" says when the engine refused one; "audioProblem"
// says when a microphone or speaker went away. After the end it shows the
// reason for a few seconds with "close", then closes itself. Closing it
// during a call hangs up.
//
// IncomingCallDialog (object name "incomingCall"): not modal, and shown
// without taking the keyboard away from what the user is typing; who calls
// ("caller": name and address, "callee": the account, with several), and
// "answer", "reject" and "busy". It closes itself once the call no longer
// rings here (answered, rejected, or the caller gave up). Escape rejects.
#pragma once

#include <QDialog>
#include <QWidget>

#include <string>

#include "state.h"

class QFrame;
class QLabel;
class QPushButton;
class QTimer;

namespace sotto::desktop {

class FieldError;

// The name to show for the other side of a call: the contact's, else the
// name the caller gave, else the address.
QString call_peer_name(const State& state, const app::CallInfo& call);

class CallWindow : public QWidget {
  Q_OBJECT

 public:
  CallWindow(State& state, std::string id, QWidget* parent = nullptr);

  const std::string& id() const { return id_; }
  bool ended() const { return ended_; }
  QString state_text() const;
  QPushButton* hold_button() const { return hold_; }
  QPushButton* hang_up_button() const { return hang_up_; }
  // Whether the "keys changed" banner is up.
  bool keys_changed_warning() const { return keys_changed_; }

  // How long the window stays after the call ended.
  static constexpr int kLingerMs = 8000;

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void on_event(const app::Event& event);
  void update_view();
  void update_security();
  void update_quality();
  void toggle_hold();
  void toggle_mute();
  void confirm_sas(bool verified);
  void send_key(char key);
  void hang_up();

  State& state_;
  std::string id_;
  app::CallInfo call_;
  bool ended_ = false;
  // The contact's keys changed: up until the letters are confirmed again.
  bool keys_changed_ = false;
  // "They match" was pressed since the banner went up.
  bool confirmed_since_warning_ = false;
  bool failed_hung_up_ = false;
  QLabel* peer_;
  QLabel* state_label_;
  QLabel* codec_;
  QLabel* quality_;
  QFrame* keys_banner_;
  QLabel* keys_banner_text_;
  QLabel* padlock_;
  QLabel* security_;
  QLabel* security_detail_;
  QFrame* sas_box_;
  QLabel* sas_;
  QPushButton* sas_match_;
  QPushButton* sas_mismatch_;
  QFrame* sas_warning_;
  QPushButton* compare_again_;
  FieldError* error_;
  QLabel* audio_problem_;
  QPushButton* mute_;
  QPushButton* hold_;
  QPushButton* keypad_;
  QWidget* dtmf_pad_;
  QLabel* dtmf_sent_;
  QLabel* dtmf_received_;
  QPushButton* hang_up_;
  QPushButton* close_;
  QTimer* tick_;
  QTimer* linger_;
};

class IncomingCallDialog : public QDialog {
  Q_OBJECT

 public:
  IncomingCallDialog(State& state, std::string id, QWidget* parent = nullptr);

  const std::string& id() const { return id_; }

 public Q_SLOTS:
  void answer();
  void reject() override;
  void busy();

 private:
  void on_call_changed(const QString& id);
  void refuse(bool busy);

  State& state_;
  std::string id_;
  FieldError* error_;
};

}  // namespace sotto::desktop
