// The daemon's log: one line per event, to stderr in the foreground (with a
// monotonic timestamp) or to syslog (daemon facility) once detached. Lines
// never contain a private or preshared key. Any thread may log; a line is
// written with one call, so lines from two threads never interleave.
#pragma once

#include <string_view>

namespace sluice::log {

enum class Level : int { error = 3, warning = 4, info = 6, debug = 7 };

// Before the first line: where lines go and the lowest level written.
void to_syslog(const char* ident);
void set_level(Level level);

void write(Level level, std::string_view line);
inline void error(std::string_view line) { write(Level::error, line); }
inline void warning(std::string_view line) { write(Level::warning, line); }
inline void info(std::string_view line) { write(Level::info, line); }
inline void debug(std::string_view line) { write(Level::debug, line); }

}  // namespace sluice::log
