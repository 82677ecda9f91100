// The call window's padlock, letters and controls, fed a call's events as the
// engine would send them (no server): while the keys are agreed it says so;
// encrypted and unverified, it shows the four letters until "They match";
// "They don't match" explains the risk and offers to hang up; verified, a
// closed padlock with "Compare again"; changed keys are a red banner that
// stays until the letters are confirmed again; an unencrypted call says so
// with the reason; a call that could not be encrypted ends with the reason.
// Mute, the keypad and the quality line follow the call; the buttons reach
// the engine (which, for these calls it never made, answers "there is no
// call", said in the window). The options' Calls page and "Require
// encrypted calls" round-trip through the engine.
#include <QCheckBox>
#include <QComboBox>
#include <QFontDatabase>
#include <QFrame>
#include <QLabel>
#include <QListWidget>
#include <QLocale>
#include <QPushButton>
#include <QTest>

#include "call_window.h"
#include "gui_support.h"
#include "look.h"
#include "options_dialog.h"

using namespace sotto;
using namespace sotto::test;

namespace {

const std::string kMe = "me@sip.example.org";

app::CallInfo a_call(std::string id, std::string peer) {
  app::CallInfo call;
  call.id = std::move(id);
  call.account = kMe;
  call.peer = std::move(peer);
  call.outgoing = true;
  call.state = app::CallState::calling;
  call.start = std::chrono::system_clock::now();
  return call;
}

// Connected, with the audio format.
void connect_call(app::CallInfo& call) {
  call.state = app::CallState::active;
  call.connected = std::chrono::system_clock::now();
  call.codec = "opus/48000/2";
}

// What the engine would send.
void feed(GuiUser& user, const app::CallInfo& call) {
  emit user.core->event(app::Event{app::CallChanged{call}});
  QCoreApplication::processEvents();
}

QWidget* call_window_for(GuiUser& user, const app::CallInfo& call) {
  feed(user, call);
  QWidget* window = nullptr;
  for (int i = 0; i < 200 && window == nullptr; ++i) {
    QTest::qWait(10);
    window = top_level("callWindow");
  }
  return window;
}

QString text_of(QWidget* window, const char* name) { return child<QLabel>(window, name)->text(); }

bool shown(QWidget* window, const char* name) {
  auto* widget = child<QWidget>(window, name);
  return widget != nullptr && widget->isVisible();
}

QString call_error(QWidget* window) {
  auto* error = child<desktop::FieldError>(window, "callError");
  return error->isVisible() ? error->text() : QString();
}

}  // namespace

class GuiCallSecurity : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  // Call windows have no parent: none outlives the user it was made for.
  void cleanup() {
    for (QWidget* w : QApplication::topLevelWidgets()) {
      if (w->objectName() == QLatin1String("callWindow")) delete w;
    }
  }

  void lettersStayUntilConfirmed() {
    GuiUser user = new_gui_user();
    auto call = a_call("sec-1", "carol@sip.example.org");
    QWidget* window = call_window_for(user, call);
    QVERIFY(window);
    QCOMPARE(text_of(window, "security"),
             QStringLiteral("Encryption starts when the call connects"));
    QVERIFY(!shown(window, "sasBox"));

    // Connected: the keys are being agreed; no audio yet.
    connect_call(call);
    feed(user, call);
    QCOMPARE(text_of(window, "security"), QStringLiteral("Securing the call…"));
    QVERIFY(shown(window, "securityDetail"));
    QVERIFY(!shown(window, "sasBox"));

    // Encrypted: the letters, large and monospace, with what to do.
    call.encryption = app::CallEncryption::secure;
    call.sas = "k7qz";
    call.cipher = "AES1 HS80 X255";
    feed(user, call);
    QTRY_VERIFY(shown(window, "sasBox"));
    auto* sas = child<QLabel>(window, "sas");
    QCOMPARE(sas->text(), QStringLiteral("k7qz"));
    QCOMPARE(sas->font().family(), QFontDatabase::systemFont(QFontDatabase::FixedFont).family());
    QVERIFY(sas->font().pointSizeF() > 2 * window->font().pointSizeF());
    QVERIFY(sas->accessibleName().contains(QStringLiteral("k 7 q z")));
    QCOMPARE(text_of(window, "sasPrompt"),
             QStringLiteral("Read these letters to your partner and compare them with theirs"));
    QVERIFY(text_of(window, "security").startsWith(QStringLiteral("Encrypted")));
    QVERIFY(!text_of(window, "security").contains(QStringLiteral("verified")));
    QVERIFY(child<QLabel>(window, "security")->toolTip().contains(QStringLiteral("AES1")));
    QVERIFY(!shown(window, "sasCompareAgain"));
    QVERIFY(!shown(window, "keysChangedBanner"));

    // Further events (quality updates) do not make the letters go away.
    call.quality.packets_received = 100;
    call.quality.packets_sent = 100;
    feed(user, call);
    QVERIFY(shown(window, "sasBox"));

    // They don't match: the risk in words, and a way out.
    QVERIFY(!shown(window, "sasWarning"));
    child<QPushButton>(window, "sasMismatch")->click();
    QVERIFY(shown(window, "sasWarning"));
    QVERIFY(text_of(window, "sasWarningText").contains(QStringLiteral("someone may be listening")));
    QVERIFY(shown(window, "sasWarningHangUp"));
    child<QPushButton>(window, "sasWarningStay")->click();
    QVERIFY(!shown(window, "sasWarning"));
    QVERIFY(shown(window, "sasBox"));

    // They match: asks the engine to confirm this call's letters (this call
    // is not the engine's, so it says there is no such call).
    child<QPushButton>(window, "sasMatch")->click();
    QVERIFY2(call_error(window).contains(QStringLiteral("letters match")),
             qPrintable(call_error(window)));
    QVERIFY2(call_error(window).contains(QStringLiteral("no call sec-1")),
             qPrintable(call_error(window)));
    QVERIFY(shown(window, "sasBox"));  // until the engine says so

    // The engine says verified: the closed padlock, and "Compare again".
    call.sas_verified = true;
    feed(user, call);
    QCOMPARE(text_of(window, "security"), QStringLiteral("Encrypted; partner verified"));
    QVERIFY(!shown(window, "sasBox"));
    QVERIFY(shown(window, "sasCompareAgain"));
    child<QPushButton>(window, "sasCompareAgain")->click();
    QVERIFY2(call_error(window).contains(QStringLiteral("no call sec-1")),
             qPrintable(call_error(window)));
    call.sas_verified = false;
    feed(user, call);
    QVERIFY(shown(window, "sasBox"));
    QVERIFY(!shown(window, "sasCompareAgain"));
  }

  void changedKeysAreABannerUntilTheLettersAreConfirmed() {
    GuiUser user = new_gui_user();
    auto call = a_call("sec-2", "dave@sip.example.org");
    call.peer_name = "Dave";
    connect_call(call);
    QWidget* window = call_window_for(user, call);
    QVERIFY(window);
    call.encryption = app::CallEncryption::secure;
    call.sas = "m2pw";
    call.cache_mismatch = true;
    feed(user, call);
    QTRY_VERIFY(shown(window, "keysChangedBanner"));
    QCOMPARE(text_of(window, "keysChangedText"),
             QStringLiteral("Warning: the encryption keys of Dave changed since your last call. "
                            "Someone may be listening. Compare the letters before you say "
                            "anything private."));
    QVERIFY(child<QFrame>(window, "keysChangedBanner")->styleSheet().contains("#c0392b"));
    QVERIFY(shown(window, "sasBox"));
    QCOMPARE(text_of(window, "sas"), QStringLiteral("m2pw"));

    // It does not go away by itself: not when the flag drops, not when the
    // engine calls the contact verified without the letters being confirmed.
    call.cache_mismatch = false;
    feed(user, call);
    QVERIFY(shown(window, "keysChangedBanner"));
    call.sas_verified = true;
    feed(user, call);
    QVERIFY(shown(window, "keysChangedBanner"));
    QVERIFY(shown(window, "sasBox"));
    QVERIFY(!text_of(window, "security").contains(QStringLiteral("verified")));

    // Confirmed again: gone once the engine agrees.
    child<QPushButton>(window, "sasMatch")->click();
    QVERIFY(shown(window, "keysChangedBanner"));
    feed(user, call);
    QVERIFY(!shown(window, "keysChangedBanner"));
    QCOMPARE(text_of(window, "security"), QStringLiteral("Encrypted; partner verified"));
  }

  void unencryptedCallSaysSoAndAFailedOneEndsWithTheReason() {
    GuiUser user = new_gui_user();
    auto call = a_call("plain-1", "erin@sip.example.org");
    connect_call(call);
    QWidget* window = call_window_for(user, call);
    QVERIFY(window);
    call.encryption = app::CallEncryption::none;
    call.encryption_text = "the other side does not encrypt calls (no ZRTP)";
    feed(user, call);
    QCOMPARE(text_of(window, "security"), QStringLiteral("This call is not encrypted"));
    QVERIFY(shown(window, "securityDetail"));
    QCOMPARE(text_of(window, "securityDetail"),
             QStringLiteral("the other side does not encrypt calls (no ZRTP)"));
    QVERIFY(!child<QLabel>(window, "padlock")->pixmap().isNull());
    QVERIFY(!shown(window, "sasBox"));
    QVERIFY(!shown(window, "sasCompareAgain"));

    // Required and not possible: the call ends, and says why.
    call.encryption = app::CallEncryption::failed;
    call.encryption_text = "the other side does not encrypt calls (no ZRTP)";
    feed(user, call);
    QCOMPARE(text_of(window, "security"), QStringLiteral("The call could not be encrypted"));
    call.state = app::CallState::ended;
    call.end_reason = app::CallEndReason::failed;
    call.end_text = "the call could not be encrypted: the other side does not encrypt calls";
    feed(user, call);
    QCOMPARE(text_of(window, "callState"),
             QStringLiteral("Call ended: the call could not be encrypted: the other side does "
                            "not encrypt calls"));
    QVERIFY(shown(window, "close"));
    QVERIFY(!shown(window, "hangUp"));
  }

  void muteKeypadAndQualityFollowTheCall() {
    GuiUser user = new_gui_user();
    auto call = a_call("ctl-1", "frank@sip.example.org");
    QWidget* window = call_window_for(user, call);
    QVERIFY(window);
    auto* mute = child<QPushButton>(window, "mute");
    auto* keypad = child<QPushButton>(window, "keypad");
    QVERIFY(mute && keypad);
    QVERIFY(!mute->isEnabled());
    QVERIFY(!keypad->isEnabled());
    QVERIFY(!shown(window, "quality"));
    QVERIFY(!mute->accessibleName().isEmpty());

    connect_call(call);
    call.encryption = app::CallEncryption::secure;
    call.sas = "abcd";
    call.sas_verified = true;
    feed(user, call);
    QVERIFY(mute->isEnabled());
    QVERIFY(keypad->isEnabled());
    QCOMPARE(mute->text(), QStringLiteral("&Mute"));
    QVERIFY(!mute->isChecked());

    // Mute asks the engine; the button shows what the engine says.
    mute->click();
    QVERIFY(!mute->isChecked());
    QVERIFY2(call_error(window).contains(QStringLiteral("could not be muted")) &&
                 call_error(window).contains(QStringLiteral("no call ctl-1")),
             qPrintable(call_error(window)));
    call.muted = true;
    feed(user, call);
    QVERIFY(mute->isChecked());
    QCOMPARE(mute->text(), QStringLiteral("Un&mute"));
    call.muted = false;
    feed(user, call);
    QVERIFY(!mute->isChecked());

    // The keypad: twelve keys; a click and a typed key both go to the engine.
    QVERIFY(!shown(window, "dtmfPad"));
    keypad->click();
    QVERIFY(shown(window, "dtmfPad"));
    for (const char* key : {"key0", "key1", "key2", "key3", "key4", "key5", "key6", "key7", "key8",
                            "key9", "keyStar", "keyHash"}) {
      QVERIFY2(shown(window, key), key);
      QVERIFY2(!child<QPushButton>(window, key)->accessibleName().isEmpty(), key);
    }
    child<QPushButton>(window, "key5")->click();
    QVERIFY2(call_error(window).contains(QStringLiteral("The key 5 could not be sent")) &&
                 call_error(window).contains(QStringLiteral("no call ctl-1")),
             qPrintable(call_error(window)));
    window->activateWindow();
    QTest::keyClick(window, Qt::Key_NumberSign);
    QTRY_VERIFY2(call_error(window).contains(QStringLiteral("The key # could not be sent")),
                 qPrintable(call_error(window)));
    keypad->click();
    QVERIFY(!shown(window, "dtmfPad"));

    // The other side pressed a key.
    emit user.core->event(app::Event{app::CallDtmf{"ctl-1", '7'}});
    QTRY_VERIFY(shown(window, "dtmfReceived"));
    QCOMPARE(text_of(window, "dtmfReceived"), QStringLiteral("They pressed 7"));
    emit user.core->event(app::Event{app::CallDtmf{"other-call", '9'}});
    QCoreApplication::processEvents();
    QCOMPARE(text_of(window, "dtmfReceived"), QStringLiteral("They pressed 7"));

    // The quality line: loss, round trip and jitter, as they change.
    call.quality.loss = 0.025;
    call.quality.jitter_ms = 12.4;
    call.quality.rtt_ms = 48;
    call.quality.packets_sent = 500;
    call.quality.packets_received = 490;
    feed(user, call);
    QVERIFY(shown(window, "quality"));
    const QLocale locale;
    QCOMPARE(text_of(window, "quality"), QStringLiteral("Loss %1 %, round trip 48 ms, jitter 12 ms")
                                             .arg(locale.toString(2.5, 'f', 1)));
    QVERIFY(child<QLabel>(window, "quality")->accessibleName().contains(QStringLiteral("48 ms")));
    call.quality.loss = 0.1;
    call.quality.rtt_ms = 230;
    feed(user, call);
    QCOMPARE(text_of(window, "quality"),
             QStringLiteral("Loss %1 %, round trip 230 ms, jitter 12 ms")
                 .arg(locale.toString(10.0, 'f', 1)));
    QVERIFY(text_of(window, "codec").contains(QStringLiteral("opus/48000/2")));

    // A device went away: said in the window.
    emit user.core->event(app::Event{app::AudioDeviceEvent{"The microphone went away."}});
    QTRY_VERIFY(shown(window, "audioProblem"));
    QCOMPARE(text_of(window, "audioProblem"), QStringLiteral("The microphone went away."));

    // Ended: nothing to press any more.
    call.state = app::CallState::ended;
    call.end_reason = app::CallEndReason::hung_up;
    feed(user, call);
    QVERIFY(!mute->isEnabled());
    QVERIFY(!keypad->isEnabled());
    QVERIFY(!shown(window, "quality"));
  }

  void optionsKeepCallSettings() {
    GuiUser user = new_gui_user();
    QVERIFY(user.core->sync([](app::Engine& e) {
      return e.set_audio_settings([] {
        app::AudioSettings file;
        file.backend = "file";
        file.input_wav = "/tmp/in.wav";
        file.output_wav = "/tmp/out.wav";
        return file;
      }());
    }));
    {
      desktop::OptionsDialog options(*user.state, user.window.get());
      options.show();
      options.show_page(desktop::OptionsDialog::Page::security);
      auto* require = child<QCheckBox>(&options, "requireCallEncryption");
      QVERIFY(require && require->isVisible());
      QVERIFY(!require->isChecked());  // off by default
      require->click();
      QVERIFY(user.core->sync([](app::Engine& e) { return e.require_call_encryption(); }));

      options.show_page(desktop::OptionsDialog::Page::calls);
      auto* microphone = child<QComboBox>(&options, "microphone");
      auto* speaker = child<QComboBox>(&options, "speaker");
      auto* echo = child<QCheckBox>(&options, "echoCancellation");
      auto* noise = child<QCheckBox>(&options, "noiseSuppression");
      QVERIFY(microphone && speaker && echo && noise);
      QVERIFY(microphone->isVisible());
      QCOMPARE(microphone->itemText(0), QStringLiteral("System default"));
      QCOMPARE(speaker->itemText(0), QStringLiteral("System default"));
      QCOMPARE(microphone->currentIndex(), 0);
      QVERIFY(echo->isChecked());
      QVERIFY(noise->isChecked());
      // Whatever devices this machine has, each one offered is one the
      // engine listed, inputs for the microphone, outputs for the speaker.
      const auto devices = user.core->sync([](app::Engine& e) { return e.audio_devices(); });
      int inputs = 0;
      for (const auto& d : devices) inputs += d.input;
      QCOMPARE(microphone->count(), 1 + inputs);
      QCOMPARE(speaker->count(), 1 + static_cast<int>(devices.size()) - inputs);
      QCOMPARE(child<QLabel>(&options, "noAudioDevices")->isVisible(), devices.empty());

      echo->click();
      if (microphone->count() > 1) microphone->setCurrentIndex(1);
      auto saved = user.core->sync([](app::Engine& e) { return e.audio_settings(); });
      QVERIFY(!saved.echo_cancellation);
      QVERIFY(saved.noise_suppression);
      QCOMPARE(saved.input_device, microphone->currentData().toString().toStdString());
      // The backend and its files are left as they were.
      QCOMPARE(saved.backend, std::string("file"));
      QCOMPARE(saved.input_wav, std::string("/tmp/in.wav"));
      QCOMPARE(saved.output_wav, std::string("/tmp/out.wav"));
    }
    // A device chosen before that is not there now stays chosen, and says so.
    QVERIFY(user.core->sync([](app::Engine& e) {
      app::AudioSettings settings = e.audio_settings();
      settings.output_device = "alsa_output.gone-headset";
      return e.set_audio_settings(settings);
    }));
    desktop::OptionsDialog again(*user.state, user.window.get());
    again.show();
    again.show_page(desktop::OptionsDialog::Page::calls);
    QVERIFY(child<QCheckBox>(&again, "requireCallEncryption")->isChecked());
    QVERIFY(!child<QCheckBox>(&again, "echoCancellation")->isChecked());
    auto* speaker = child<QComboBox>(&again, "speaker");
    QCOMPARE(speaker->currentData().toString(), QStringLiteral("alsa_output.gone-headset"));
    QVERIFY(speaker->currentText().contains(QStringLiteral("not connected")));
    // Back to the default.
    speaker->setCurrentIndex(0);
    QCOMPARE(user.core->sync([](app::Engine& e) { return e.audio_settings(); }).output_device,
             std::string());
    child<QCheckBox>(&again, "requireCallEncryption")->click();
    QVERIFY(!user.core->sync([](app::Engine& e) { return e.require_call_encryption(); }));
  }
};

QTEST_MAIN(GuiCallSecurity)
#include "gui_call_security_test.moc"
