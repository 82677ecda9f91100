// "Authenticate contact": make sure the key of a private conversation belongs
// to the contact and not to someone in the middle. Three ways, as in
// docs/otr.md: a question only the contact can answer, a secret both know
// (both compared by the Socialist Millionaires' Protocol, SMP), or comparing
// fingerprints over another channel. The same dialog answers the contact's
// question or secret (answer mode).
#pragma once

#include <QDialog>
#include <QString>

#include <string>
#include <vector>

#include "state.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QStackedWidget;

namespace sotto::desktop {

class FieldError;

class AuthenticateDialog : public QDialog {
  Q_OBJECT

 public:
  AuthenticateDialog(State& state, std::string account, std::string peer,
                     QWidget* parent = nullptr);
  // A running exchange is aborted.
  ~AuthenticateDialog() override;

  const std::string& account() const { return account_; }
  const std::string& peer() const { return peer_; }

  // The contact wants to verify us: answer their question, or the secret we
  // share. Switches to answer mode.
  void answer_question(const QString& question);
  void answer_secret();
  // The exchange's progress and result (the chat forwards SmpProgress here).
  void on_progress(const app::SmpProgress& progress);
  // A question-and-answer or shared-secret exchange is under way.
  bool running() const { return running_; }

 public slots:
  // Cancel (also Escape and closing the window): aborts a running exchange.
  void reject() override;

 private:
  enum class Method { question = 0, secret = 1, fingerprint = 2 };
  enum class Mode { ask, answering_question, answering_secret };
  enum class Tone { neutral, good, bad };

  void build();
  // Reads the padlock and the fingerprints again.
  void refresh();
  void update_controls();
  void show_purported();
  Method method() const;
  void on_ok();
  void ask();
  void answer();
  void save_fingerprint();
  void started(const QString& waiting);
  void finish(const QString& text, Tone tone);
  void show_result(const QString& text, Tone tone);

  State& state_;
  const std::string account_;
  const std::string peer_;
  Mode mode_ = Mode::ask;
  bool private_ = false;
  bool running_ = false;    // an exchange is under way
  bool submitted_ = false;  // our part of it went out
  bool busy_ = false;       // waiting for the engine
  bool finished_ = false;   // a result was shown
  std::vector<std::string> purported_;
  std::vector<bool> purported_verified_;

  QLabel* intro_ = nullptr;
  QComboBox* method_ = nullptr;
  QLabel* not_private_ = nullptr;
  QStackedWidget* pages_ = nullptr;
  QLabel* question_help_ = nullptr;
  QLabel* question_label_ = nullptr;
  QLineEdit* question_ = nullptr;
  FieldError* question_error_ = nullptr;
  QLineEdit* answer_ = nullptr;
  FieldError* answer_error_ = nullptr;
  QLabel* secret_help_ = nullptr;
  QLineEdit* secret_ = nullptr;
  QCheckBox* show_secret_ = nullptr;
  FieldError* secret_error_ = nullptr;
  QLabel* mine_label_ = nullptr;
  QLabel* mine_ = nullptr;
  QLabel* theirs_label_ = nullptr;
  QLabel* theirs_ = nullptr;
  QComboBox* theirs_choice_ = nullptr;
  QComboBox* verified_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* result_ = nullptr;
  QPushButton* ok_ = nullptr;
  QPushButton* cancel_ = nullptr;
};

}  // namespace sotto::desktop
