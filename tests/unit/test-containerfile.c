#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/strv.h"
#include "build/build-internal.h"
#include "build/containerfile.h"
#include "build/ignore.h"
#include "build/stage-plan.h"

static struct containerfile *parse_ok(const char *text)
{
    struct containerfile *cf = NULL;
    struct berth_error err = { 0 };
    if (containerfile_parse("Containerfile", text, strlen(text), &cf, &err) < 0)
        fail_msg("%s", err.msg);
    return cf;
}

static void parse_bad(const char *text, const char *msg)
{
    struct containerfile *cf = NULL;
    struct berth_error err = { 0 };
    assert_true(containerfile_parse("Containerfile", text, strlen(text), &cf, &err) < 0);
    assert_null(cf);
    if (!strstr(err.msg, msg))
        fail_msg("'%s' lacks '%s'", err.msg, msg);
}

static void test_lines(void **state)
{
    (void) state;
    struct containerfile *cf = parse_ok("# c\nARG X=1\n\nfrom busybox\nRUN a \\\n# inner comment\n  b\\\n  c\n"
                                        "CMD [\"x\", \"y\"]\nENTRYPOINT [\"x\", 1]\nENV A=1");
    assert_int_equal(cf->n, 6);
    assert_int_equal(cf->ins[1].op, CF_FROM);
    assert_string_equal(cf->ins[1].keyword, "FROM");
    assert_int_equal(cf->ins[1].line, 4);
    assert_int_equal(cf->ins[2].op, CF_RUN);
    assert_int_equal(cf->ins[2].line, 5);
    assert_string_equal(cf->ins[2].args, "a  b c");
    assert_null(cf->ins[2].exec);
    assert_int_equal(json_array_size(cf->ins[3].exec), 2);
    assert_null(cf->ins[4].exec); /* not all strings: shell form */
    containerfile_free(cf);
}

static void test_errors(void **state)
{
    (void) state;
    parse_bad("", "no instructions");
    parse_bad("FROM a\nHEALTHCHECK x\n", "Containerfile:2: unknown or unsupported instruction 'HEALTHCHECK'");
    parse_bad("RUN x\n", "Containerfile:1: the first instruction must be FROM");
    parse_bad("FROM a\nCOPY\n", "Containerfile:2: COPY needs arguments");
    struct containerfile *cf = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(containerfile_parse("Containerfile", "FROM a\0b", 8, &cf, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "NUL"));
}

static void test_words(void **state)
{
    (void) state;
    char **w = NULL;
    assert_int_equal(cf_split_words("a=1 \"b=x y\" c='$z' d\\ e", &w), 0);
    assert_int_equal(strv_length(w), 4);
    assert_string_equal(w[0], "a=1");
    assert_string_equal(w[1], "b=x y");
    assert_string_equal(w[2], "c=$z");
    assert_string_equal(w[3], "d e");
    strv_free(w);
    assert_int_equal(cf_split_words("a \"b", &w), -EINVAL);
}

/* Several FROMs parse (multi-stage builds); the stage syntax is checked when the build runs. */
static void test_multi_stage_parses(void **state)
{
    struct containerfile *cf = NULL;
    struct berth_error err = { 0 };
    const char *text = "FROM a AS build\nRUN x\nFROM b\nCOPY --from=build /x /y\n";
    assert_int_equal(containerfile_parse("Containerfile", text, strlen(text), &cf, &err), 0);
    assert_int_equal(cf->n, 4);
    assert_int_equal(cf->ins[2].op, CF_FROM);
    containerfile_free(cf);
}

static void plan_of(const char *text, const char *target, const char *want_run, size_t want_end)
{
    struct containerfile *cf = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(containerfile_parse("Containerfile", text, strlen(text), &cf, &err), 0);
    bool *run = NULL;
    size_t end = 0;
    assert_int_equal(build_plan(cf, target, &run, &end, &err), 0);
    assert_int_equal(strlen(want_run), cf->n);
    for (size_t i = 0; i < cf->n; i++)
        assert_int_equal(run[i], want_run[i] == '1');
    assert_int_equal(end, want_end);
    free(run);
    containerfile_free(cf);
}

static void test_stage_plan(void **state)
{
    const char *cf = "ARG V=1\n"
                     "FROM a AS unused\nRUN x\n"
                     "FROM a AS base\nRUN y\n"
                     "FROM base AS mid\nCOPY --from=0 /p /q\n"
                     "FROM b AS other\n"
                     "FROM c\nCOPY --from=mid /m /n\nCOPY --from=registry/img /i /j\n";
    /* the final stage needs mid, which needs base (FROM) and stage 0 (--from=0); "other" is unused */
    plan_of(cf, NULL, "11111110111", 11);
    plan_of(cf, "base", "10011000000", 5);
    plan_of(cf, "OTHER", "10000001000", 8); /* names compare case-insensitively */
    /* a variable in --from: every earlier stage may be needed */
    plan_of("FROM a AS one\nFROM b AS two\nFROM c\nCOPY --from=$S /x /y\n", NULL, "1111", 4);
    plan_of("FROM a\nRUN z\n", NULL, "11", 2);

    struct containerfile *c = NULL;
    struct berth_error err = { 0 };
    const char *t = "FROM a AS x\n";
    assert_int_equal(containerfile_parse("Containerfile", t, strlen(t), &c, &err), 0);
    bool *run = NULL;
    size_t end;
    assert_int_equal(build_plan(c, "y", &run, &end, &err), -EINVAL);
    assert_non_null(strstr(berth_error_message(&err), "--target y"));
    containerfile_free(c);
}

static void test_ignore_patterns(void **state)
{
    /* a pattern matches the path or one of its parent directories */
    assert_true(build_ignore_pattern_match("build", "build/x/y.o"));
    assert_true(build_ignore_pattern_match("*.log", "a.log"));
    assert_false(build_ignore_pattern_match("*.log", "sub/a.log")); /* '*' stays in one component */
    assert_true(build_ignore_pattern_match("**/*.log", "sub/deep/a.log"));
    assert_true(build_ignore_pattern_match("**/*.log", "a.log")); /* ** matches zero components */
    assert_true(build_ignore_pattern_match("docs/**/*.md", "docs/a/b/c.md"));
    assert_true(build_ignore_pattern_match("docs/**/*.md", "docs/c.md"));
    assert_false(build_ignore_pattern_match("docs/**/*.md", "doc/c.md"));
    assert_true(build_ignore_pattern_match("f?le[0-9]", "file7"));
    assert_false(build_ignore_pattern_match("f?le[0-9]", "file"));
    assert_true(build_ignore_pattern_match("**", "anything/at/all"));
    assert_false(build_ignore_pattern_match("a/b", "a"));

    struct build_ignore *ig = NULL;
    assert_int_equal(build_ignore_parse("# c\n\n  *.tmp  \n/secret\n./build/\n!build/keep\n\r\n", &ig), 0);
    assert_int_equal(build_ignore_check(ig, "x.tmp", false), IGNORE_EXCLUDED);
    assert_int_equal(build_ignore_check(ig, "secret", false), IGNORE_EXCLUDED);
    assert_int_equal(build_ignore_check(ig, "secret/inner", false), IGNORE_EXCLUDED);
    assert_int_equal(build_ignore_check(ig, "build/out.o", false), IGNORE_EXCLUDED);
    assert_int_equal(build_ignore_check(ig, "build/keep", false), IGNORE_KEEP); /* the last match wins */
    assert_int_equal(build_ignore_check(ig, "build", true), IGNORE_EXCLUDED_DESCEND);
    assert_int_equal(build_ignore_check(ig, "src/main.c", false), IGNORE_KEEP);
    assert_int_equal(build_ignore_check(ig, "", true), IGNORE_KEEP); /* the context itself */
    build_ignore_free(ig);
    assert_int_equal(build_ignore_check(NULL, "x.tmp", false), IGNORE_KEEP);

    /* exceptions only: no directory needs a descent decision */
    assert_int_equal(build_ignore_parse("a\n", &ig), 0);
    assert_int_equal(build_ignore_check(ig, "a", true), IGNORE_EXCLUDED);
    build_ignore_free(ig);
    /* many ** components stay bounded */
    assert_int_equal(build_ignore_parse("**/**/**/**/**/**/**/**/**/**/**/**/z\n", &ig), 0);
    assert_int_equal(build_ignore_check(ig, "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y", false), IGNORE_KEEP);
    build_ignore_free(ig);
}

/* The exact instruction list: bodies are taken off the lines, the next instruction follows. */
static void test_heredoc_instructions(void **state)
{
    (void) state;
    struct containerfile *cf = parse_ok("FROM a\n"
                                        "RUN <<EOF\n"
                                        "echo 1\n"
                                        "# not a comment here\n"
                                        "\n"
                                        "EOF\n"
                                        "COPY <<A <<B /dir/\n"
                                        "a\n"
                                        "A\n"
                                        "B\n"
                                        "RUN [\"echo\", \"<<EOF\"]\n"
                                        "RUN echo \"<<X\" '<<Y' a\\<<Z <<<W\n"
                                        "ADD <<x.txt /x\r\n"
                                        "body\r\n"
                                        "x.txt\r\n"
                                        "RUN python3 <<EOF > /out\n"
                                        "print(1)\n"
                                        "EOF");
    assert_int_equal(cf->n, 7);
    assert_int_equal(cf->ins[1].op, CF_RUN);
    assert_int_equal(cf->ins[1].line, 2);
    assert_string_equal(cf->ins[1].args, "<<EOF");
    assert_int_equal(cf->ins[1].n_heredocs, 1);
    assert_string_equal(cf->ins[1].heredocs[0].name, "EOF");
    assert_string_equal(cf->ins[1].heredocs[0].content, "echo 1\n# not a comment here\n\n");
    assert_true(cf->ins[1].heredocs[0].expand);
    assert_false(cf->ins[1].heredocs[0].strip_tabs);
    assert_true(cf_heredoc_only(&cf->ins[1]));

    assert_int_equal(cf->ins[2].op, CF_COPY);
    assert_int_equal(cf->ins[2].line, 7);
    assert_int_equal(cf->ins[2].n_heredocs, 2);
    assert_string_equal(cf->ins[2].heredocs[0].name, "A");
    assert_string_equal(cf->ins[2].heredocs[0].content, "a\n");
    assert_string_equal(cf->ins[2].heredocs[1].name, "B");
    assert_string_equal(cf->ins[2].heredocs[1].content, "");
    assert_false(cf_heredoc_only(&cf->ins[2]));

    /* Markers inside quotes, escaped, mid-word or "<<<" are not heredocs. */
    assert_int_equal(cf->ins[3].line, 11);
    assert_non_null(cf->ins[3].exec);
    assert_int_equal(cf->ins[3].n_heredocs, 0);
    assert_int_equal(cf->ins[4].line, 12);
    assert_int_equal(cf->ins[4].n_heredocs, 0);

    assert_int_equal(cf->ins[5].op, CF_ADD);
    assert_int_equal(cf->ins[5].line, 13);
    assert_string_equal(cf->ins[5].heredocs[0].name, "x.txt");
    assert_string_equal(cf->ins[5].heredocs[0].content, "body\r\n");

    assert_int_equal(cf->ins[6].line, 16);
    assert_string_equal(cf->ins[6].args, "python3 <<EOF > /out");
    assert_string_equal(cf->ins[6].heredocs[0].content, "print(1)\n");
    assert_false(cf_heredoc_only(&cf->ins[6]));
    containerfile_free(cf);
}

static void test_heredoc_tabs_and_quotes(void **state)
{
    (void) state;
    struct containerfile *cf = parse_ok("FROM a\n"
                                        "RUN <<-EOF\n"
                                        "\t\techo a\n"
                                        "\t  b\t\n"
                                        "\t\tEOF\n"
                                        "RUN <<EOF\n"
                                        "\tkept\n"
                                        "\tEOF\n"
                                        "EOF\n"
                                        "COPY <<\"Q1\" <<-'Q2' /d/\n"
                                        "$HOME\n"
                                        "Q1\n"
                                        "\t${X}\n"
                                        "\tQ2\n"
                                        "RUN cat <<EOF>/f\n"
                                        "x\n"
                                        "EOF\n");
    assert_int_equal(cf->n, 5);
    assert_string_equal(cf->ins[1].heredocs[0].content, "echo a\n  b\t\n");
    assert_true(cf->ins[1].heredocs[0].strip_tabs);
    /* Without "-" tabs stay, and "\tEOF" does not end the body. */
    assert_string_equal(cf->ins[2].heredocs[0].content, "\tkept\n\tEOF\n");
    assert_string_equal(cf->ins[3].heredocs[0].name, "Q1");
    assert_false(cf->ins[3].heredocs[0].expand);
    assert_string_equal(cf->ins[3].heredocs[0].content, "$HOME\n");
    assert_string_equal(cf->ins[3].heredocs[1].name, "Q2");
    assert_false(cf->ins[3].heredocs[1].expand);
    assert_true(cf->ins[3].heredocs[1].strip_tabs);
    assert_string_equal(cf->ins[3].heredocs[1].content, "${X}\n");
    assert_int_equal(cf->ins[4].line, 15);
    assert_string_equal(cf->ins[4].heredocs[0].name, "EOF");
    containerfile_free(cf);
}

static void test_heredoc_errors(void **state)
{
    (void) state;
    parse_bad("FROM a\nRUN true\nRUN <<EOF\nx\nEOFX\n", "Containerfile:3: RUN: unterminated heredoc '<<EOF': no line 'EOF' ends it");
    parse_bad("FROM a\nCOPY <<A <<B /d/\nA\nb\n", "Containerfile:2: COPY: unterminated heredoc '<<B'");
    parse_bad("FROM a\nRUN <<-EOF", "Containerfile:2: RUN: unterminated heredoc '<<-EOF'");
    parse_bad("FROM a\nRUN a \\\n  <<EOF\n", "Containerfile:3: RUN: unterminated heredoc");
    parse_bad("FROM a\nCMD <<EOF\nx\nEOF\n", "Containerfile:2: CMD does not take a heredoc");
    parse_bad("FROM a\nENV A <<EOF\n", "Containerfile:2: ENV does not take a heredoc");
    parse_bad("FROM a\nRUN <<\"EOF\n", "Containerfile:2: RUN: unbalanced quote in heredoc marker");
    parse_bad("FROM a\nRUN <<..\n..\n", "Containerfile:2: RUN: bad heredoc delimiter");
    parse_bad("FROM a\nRUN cat <<\n", "bad heredoc delimiter");
    parse_bad("FROM a\nCOPY <<a/b /x\n", "bad heredoc delimiter");
    parse_bad("FROM a\nRUN <<'A'x\nA\n", "bad heredoc delimiter");
    parse_bad("FROM a\nRUN cat 3<<EOF\nEOF\n", "Containerfile:2: RUN: heredocs on a file descriptor ('3<<') are not supported");
}

static void assert_argv(const struct cf_instruction *in, const char *expected_json)
{
    json_t *argv = build_run_argv(in);
    assert_non_null(argv);
    char *got = json_dumps(argv, JSON_COMPACT);
    if (strcmp(got, expected_json))
        fail_msg("argv %s, expected %s", got, expected_json);
    free(got);
    json_decref(argv);
}

/* What RUN gives the container for each heredoc form. */
static void test_heredoc_run_argv(void **state)
{
    (void) state;
    struct containerfile *cf = parse_ok("FROM a\n"
                                        "RUN <<-EOF\n"
                                        "\techo $X\n"
                                        "EOF\n"
                                        "RUN <<EOF\n"
                                        "#!/usr/bin/env  python3 \n"
                                        "print(1)\n"
                                        "BERTH_HEREDOC_0\n"
                                        "EOF\n"
                                        "RUN <<EOF\n"
                                        "#!/bin/sh\n"
                                        "EOF\n"
                                        "RUN cat <<'A' <<-B > /f\n"
                                        "$x\n"
                                        "A\n"
                                        "\ty\n"
                                        "\tB\n"
                                        "RUN echo plain\n");
    assert_argv(&cf->ins[1], "[\"/bin/sh\",\"-c\",\"echo $X\\n\"]");
    /* The body holds "BERTH_HEREDOC_0": berth's own delimiter moves on. */
    assert_argv(&cf->ins[2], "[\"/bin/sh\",\"-c\",\"exec \\\"$0\\\" \\\"$@\\\" /dev/fd/3 3<<'BERTH_HEREDOC_1'\\n"
                             "#!/usr/bin/env  python3 \\nprint(1)\\nBERTH_HEREDOC_0\\nBERTH_HEREDOC_1\\n\","
                             "\"/usr/bin/env\",\"python3\"]");
    assert_argv(&cf->ins[3], "[\"/bin/sh\",\"-c\",\"exec \\\"$0\\\" \\\"$@\\\" /dev/fd/3 3<<'BERTH_HEREDOC_0'\\n"
                             "#!/bin/sh\\nBERTH_HEREDOC_0\\n\",\"/bin/sh\"]");
    assert_argv(&cf->ins[4], "[\"/bin/sh\",\"-c\",\"cat <<'A' <<-B > /f\\n$x\\nA\\ny\\nB\\n\"]");
    assert_argv(&cf->ins[5], "[\"/bin/sh\",\"-c\",\"echo plain\"]");
    containerfile_free(cf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_multi_stage_parses),
        cmocka_unit_test(test_ignore_patterns),
        cmocka_unit_test(test_stage_plan),
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_heredoc_instructions),
        cmocka_unit_test(test_heredoc_tabs_and_quotes),
        cmocka_unit_test(test_heredoc_errors),
        cmocka_unit_test(test_heredoc_run_argv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
