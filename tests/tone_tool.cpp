// sotto-test-tone: WAV tones for scripts (scripts/demo).
//   sotto-test-tone make FREQUENCY SECONDS OUT.wav [RATE=48000]
//   sotto-test-tone hear FREQUENCY IN.wav   -> prints the best 1-second share
//                                              of the tone (0..1); exit 1 below 0.5
#include <cstdlib>
#include <iostream>
#include <span>
#include <string>

#include "sotto/media/audio.h"

int main(int argc, char** argv) {
  using namespace sotto::media;
  const std::string verb = argc > 1 ? argv[1] : "";
  if (verb == "make" && (argc == 5 || argc == 6)) {
    Wav wav;
    wav.rate = argc == 6 ? std::atoi(argv[5]) : 48000;
    wav.samples = make_tone(wav.rate, std::atof(argv[2]), std::atof(argv[3]));
    if (auto written = write_wav(argv[4], wav); !written) {
      std::cerr << "sotto-test-tone: " << written.error().message << "\n";
      return 2;
    }
    return 0;
  }
  if (verb == "hear" && argc == 4) {
    auto wav = read_wav(argv[3]);
    if (!wav) {
      std::cerr << "sotto-test-tone: " << wav.error().message << "\n";
      return 2;
    }
    const double best = wav->channels == 1
                            ? strongest_tone_ratio(wav->samples, wav->rate, std::atof(argv[2]), 1.0)
                            : 0.0;
    std::cout << best << "\n";
    return best >= 0.5 ? 0 : 1;
  }
  std::cerr << "usage: sotto-test-tone make FREQUENCY SECONDS OUT.wav [RATE]\n"
               "       sotto-test-tone hear FREQUENCY IN.wav\n";
  return 2;
}
