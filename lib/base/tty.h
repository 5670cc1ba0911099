/* The user's terminal around interactive sessions (console proxy, attach, vm console). */
#pragma once

#include <stdbool.h>
#include <termios.h>

/* When fd is a terminal, saves its settings in *saved and switches it to raw mode (cfmakeraw),
 * applied with tcsetattr's `when` (TCSANOW, TCSADRAIN). Returns true only when the terminal is
 * now raw; the caller restores it with tcsetattr(fd, when, saved) on every way out. */
bool tty_enter_raw(int fd, int when, struct termios *saved);
