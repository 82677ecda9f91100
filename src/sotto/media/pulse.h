// Private to sotto/media: the PulseAudio backend of audio.h (pulse.cpp).
#pragma once

#include <memory>

#include "sotto/base/base.h"
#include "sotto/media/audio.h"

namespace sotto::media::detail {

// A port on the PulseAudio server named by $PULSE_SERVER (or the user's
// default). Errc::network when no server answers within a few seconds; no
// server is ever spawned.
[[nodiscard]] Result<std::unique_ptr<AudioPort>> open_pulse(const AudioOptions& options);

}  // namespace sotto::media::detail
