// The window of one call, and the dialog that rings for an incoming one.
//
// CallWindow (object name "callWindow"): who ("peer"), what is going on
// ("callState": "Calling…", "Ringing…", "Connected 00:12", "On hold", "They
// put the call on hold", "Call ended: busy"), the audio format ("codec"),
// the open padlock with "This call is not encrypted" ("security": calls are
// not encrypted until ZRTP comes with the media), and the buttons "hold"
// (Hold / Resume) and "hangUp"; "callError" says when the engine refused
// one. After the end it shows the reason for a few seconds with "close",
// then closes itself. Closing it during a call hangs up.
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

  // How long the window stays after the call ended.
  static constexpr int kLingerMs = 8000;

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void update_view();
  void toggle_hold();
  void hang_up();

  State& state_;
  std::string id_;
  app::CallInfo call_;
  bool ended_ = false;
  QLabel* peer_;
  QLabel* state_label_;
  QLabel* codec_;
  QLabel* security_;
  FieldError* error_;
  QPushButton* hold_;
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
