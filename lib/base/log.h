/* Logging for binaries (library code returns errors instead of printing). */
#pragma once

#include <stdbool.h>

enum berth_log_level { BERTH_LOG_ERROR, BERTH_LOG_WARNING, BERTH_LOG_INFO, BERTH_LOG_DEBUG };
enum berth_log_format { BERTH_LOG_TEXT, BERTH_LOG_JSON };

/* Where messages go: path NULL means stderr. JSON lines follow runc's {"level","msg","time"}. */
int berth_log_open(const char *path, enum berth_log_format format, enum berth_log_level level);
void berth_log_set_program(const char *name);
void berth_log_close(void);
void berth_log(enum berth_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) berth_log(BERTH_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) berth_log(BERTH_LOG_WARNING, __VA_ARGS__)
#define log_info(...) berth_log(BERTH_LOG_INFO, __VA_ARGS__)
#define log_debug(...) berth_log(BERTH_LOG_DEBUG, __VA_ARGS__)
