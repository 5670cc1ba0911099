#include "base/tty.h"

#include <unistd.h>

bool tty_enter_raw(int fd, int when, struct termios *saved)
{
    if (!isatty(fd) || tcgetattr(fd, saved) < 0)
        return false;
    struct termios raw = *saved;
    cfmakeraw(&raw);
    return tcsetattr(fd, when, &raw) == 0;
}
