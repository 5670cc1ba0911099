/* HTTP transport of the client: one curl handle per request, auth negotiation, retries. */
#include "registry/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "registry/base64.h"
#include "registry/client-internal.h"
#include "registry/manifest.h"

#define CAPTURE_MAX (REGISTRY_MANIFEST_MAX + 1)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int registry_client_new(const char *host, const struct registry_client_options *o, struct registry_client **ret,
                        struct berth_error *err)
{
    pthread_once(&curl_once, curl_init_once);
    struct registry_client *c = calloc(1, sizeof(*c));
    if (!c)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (o)
        c->opts = *o;
    if (c->opts.max_attempts <= 0)
        c->opts.max_attempts = 4;
    c->host = strdup(host);
    c->scheme = "https";
    if (!c->host) {
        registry_client_free(c);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    if (c->opts.username) {
        c->user = strdup(c->opts.username);
        c->password = strdup(c->opts.password ? c->opts.password : "");
    } else {
        _cleanup_free_ char *def = NULL;
        const char *file = c->opts.auth_file;
        if (!file)
            file = def = registry_auth_file_default();
        if (file) {
            int r = registry_auth_lookup(file, host, &c->user, &c->password, err);
            if (r < 0) {
                registry_client_free(c);
                return r;
            }
        }
    }
    *ret = c;
    return 0;
}

void registry_client_free(struct registry_client *c)
{
    if (!c)
        return;
    free(c->host);
    free(c->user);
    free(c->password);
    free(c->token);
    free(c);
}

static void forget_headers(struct http_req *r)
{
    free(r->location);
    free(r->content_type);
    free(r->digest);
    free(r->www_auth);
    r->location = r->content_type = r->digest = r->www_auth = NULL;
}

void http_req_reset_response(struct http_req *r)
{
    forget_headers(r);
    r->status = 0;
    /* the buffer stays for the next response; its text goes, or an empty error body on a retry
     * would be read as the previous attempt's */
    r->out_len = 0;
    if (r->out)
        r->out[0] = '\0';
    r->content_length = -1;
}

void http_req_clear(struct http_req *r)
{
    http_req_reset_response(r);
    free(r->out);
    free(r->url);
    r->out = NULL;
    r->out_cap = 0;
    r->url = NULL;
}

static char *header_value(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len <= n + 1 || strncasecmp(line, name, n) || line[n] != ':')
        return NULL;
    const char *v = line + n + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return strndup(v, (size_t) (end - v));
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    struct http_req *r = ud;
    size_t len = size * n;
    char *v;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        /* a new response (after a redirect or 100 Continue): forget the previous one's headers */
        forget_headers(r);
        return len;
    }
    if ((v = header_value(buf, len, "Location"))) {
        free(r->location);
        r->location = v;
    } else if ((v = header_value(buf, len, "Content-Type"))) {
        free(r->content_type);
        r->content_type = v;
    } else if ((v = header_value(buf, len, "Docker-Content-Digest"))) {
        free(r->digest);
        r->digest = v;
    } else if ((v = header_value(buf, len, "WWW-Authenticate"))) {
        free(r->www_auth);
        r->www_auth = v;
    } else if ((v = header_value(buf, len, "Content-Length"))) {
        r->content_length = strtoll(v, NULL, 10);
        free(v);
    }
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    struct http_req *r = ud;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    if (r->sink && (status == 200 || status == 206)) {
        int e = blob_writer_write(r->sink, buf, len, NULL);
        if (e < 0) {
            r->sink_error = e;
            return 0;
        }
        r->sink_written += len;
        return len;
    }
    /* error bodies and manifests: captured, bounded */
    if (r->out_len + len > CAPTURE_MAX) {
        r->too_large = true;
        return 0;
    }
    if (ARRAY_RESERVE(r->out, r->out_cap, r->out_len + len + 1, 4096) < 0)
        return 0;
    memcpy(r->out + r->out_len, buf, len);
    r->out_len += len;
    r->out[r->out_len] = '\0';
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct http_req *r = ud;
    if (r->body) {
        size_t left = r->body_len - r->body_off;
        size_t k = left < size * n ? left : size * n;
        memcpy(buf, r->body + r->body_off, k);
        r->body_off += k;
        return k;
    }
    ssize_t k = pread(r->upload_fd, buf, size * n, (off_t) r->body_off);
    if (k < 0)
        return CURL_READFUNC_ABORT;
    r->body_off += (uint64_t) k;
    return (size_t) k;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct http_req *r = ud;
    struct registry_client *c = r->client;
    if (!r->progress_digest || !c->opts.progress)
        return 0;
    uint64_t now = r->progress_base + (uint64_t) (r->upload_fd >= 0 ? ulnow : dlnow);
    c->opts.progress(c->opts.progress_userdata, r->progress_digest, now, r->progress_total, false);
    return 0;
}

static char *basic_header(const struct registry_client *c)
{
    _cleanup_free_ char *plain = NULL;
    if (asprintf(&plain, "%s:%s", c->user, c->password) < 0)
        return NULL;
    _cleanup_free_ char *enc = base64_encode(plain, strlen(plain), false);
    char *h = NULL;
    if (!enc || asprintf(&h, "Authorization: Basic %s", enc) < 0)
        return NULL;
    return h;
}

/* One transfer. Returns the curl result; the HTTP status lands in r->status. */
static CURLcode perform(struct registry_client *c, struct http_req *r, const char *url, const char *auth_header)
{
    CURL *h = curl_easy_init();
    if (!h)
        return CURLE_OUT_OF_MEMORY;
    r->curl = h;
    struct curl_slist *hdrs = NULL;
    char line[512];
    if (r->accept) {
        snprintf(line, sizeof(line), "Accept: %s", r->accept);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (r->content_type_req) {
        snprintf(line, sizeof(line), "Content-Type: %s", r->content_type_req);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (r->range) {
        snprintf(line, sizeof(line), "Range: %s", r->range);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (auth_header)
        hdrs = curl_slist_append(hdrs, auth_header);
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "berth/" BERTH_VERSION);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
    /* a stalled transfer (under 1 KiB/s for 60s) is an error to retry, not a hang */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (c->opts.ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->opts.ca_file);
    if (c->opts.tls_insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (r->progress_digest) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
    }
    if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(r->method, "PUT") || !strcmp(r->method, "PATCH") ||
               (!strcmp(r->method, "POST") && (r->body || r->upload_fd >= 0))) {
        r->body_off = 0;
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t) (r->body ? r->body_len : r->upload_fd >= 0 ? r->upload_size : 0));
        if (strcmp(r->method, "PUT"))
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (!strcmp(r->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    } else if (strcmp(r->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    r->curl = NULL;
    return rc;
}

/* Fetches a bearer token for the challenge with our credentials (or anonymously). */
static int fetch_token(struct registry_client *c, const struct registry_challenge *ch, struct berth_error *err)
{
    if (!ch->realm)
        return berth_error_set(err, -EACCES, "%s: Bearer challenge without a realm", c->host);
    CURL *esc = curl_easy_init();
    if (!esc)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_free_ char *url = NULL;
    char *svc = ch->service ? curl_easy_escape(esc, ch->service, 0) : NULL;
    char *scope = ch->scope ? curl_easy_escape(esc, ch->scope, 0) : NULL;
    int n = asprintf(&url, "%s%sservice=%s%s%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?", svc ? svc : "",
                     scope ? "&scope=" : "", scope ? scope : "");
    curl_free(svc);
    curl_free(scope);
    curl_easy_cleanup(esc);
    if (n < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    struct http_req r = { .method = "GET", .upload_fd = -1, .client = c };
    _cleanup_free_ char *auth = c->user ? basic_header(c) : NULL;
    CURLcode rc = perform(c, &r, url, auth);
    int ret = 0;
    if (rc != CURLE_OK) {
        ret = berth_error_set(err, -EIO, "token service %s: %s", ch->realm, curl_easy_strerror(rc));
    } else if (r.status == 401 || r.status == 403) {
        ret = berth_error_set(err, -EACCES, "%s: authentication failed%s", c->host,
                              c->user ? " (wrong user name or password)" : " (run berth login)");
    } else if (r.status != 200) {
        ret = berth_error_set(err, -EIO, "token service %s answered HTTP %ld", ch->realm, r.status);
    } else {
        _cleanup_json_ json_t *j = NULL;
        const char *tok = NULL;
        if (json_load_buffer(r.out ? r.out : "", r.out_len, "token response", &j, err) < 0 ||
            (json_opt_string(j, "token", "token response", &tok, err) < 0) ||
            (!tok && json_opt_string(j, "access_token", "token response", &tok, err) < 0) || !tok) {
            ret = berth_error_set(err, -EIO, "token service %s: no token in the response", ch->realm);
        } else {
            free(c->token);
            c->token = strdup(tok);
            if (!c->token)
                ret = berth_error_set(err, -ENOMEM, "out of memory");
        }
    }
    http_req_clear(&r);
    return ret;
}

static bool transient(CURLcode rc, long status)
{
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR ||
        rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE || rc == CURLE_GOT_NOTHING)
        return true;
    return rc == CURLE_OK && (status == 429 || status == 502 || status == 503 || status == 504);
}

static void backoff(int attempt)
{
    struct timespec ts = { 0, 250L * 1000 * 1000 };
    for (int i = 1; i < attempt && ts.tv_sec < 4; i++) {
        ts.tv_nsec *= 2;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
        }
    }
    nanosleep(&ts, NULL);
}

int http_do(struct registry_client *c, struct http_req *r, const char *path_or_url, struct berth_error *err)
{
    bool authed_retry = false;
    for (int attempt = 1;; attempt++) {
        http_req_reset_response(r);
        free(r->url);
        r->url = NULL;
        if (!strncmp(path_or_url, "http://", 7) || !strncmp(path_or_url, "https://", 8))
            r->url = strdup(path_or_url);
        else if (asprintf(&r->url, "%s://%s%s", c->scheme, c->host, path_or_url) < 0)
            r->url = NULL;
        if (!r->url)
            return berth_error_set(err, -ENOMEM, "out of memory");
        _cleanup_free_ char *auth = NULL;
        if (c->token) {
            if (asprintf(&auth, "Authorization: Bearer %s", c->token) < 0)
                return berth_error_set(err, -ENOMEM, "out of memory");
        } else if (c->basic && c->user) {
            auth = basic_header(c);
        }
        CURLcode rc = perform(c, r, r->url, auth);
        if (r->sink_error)
            return berth_error_errno(err, r->sink_error, "storing %s", r->progress_digest ? r->progress_digest : "blob");
        if (r->too_large)
            return berth_error_set(err, -E2BIG, "%s: response larger than %u bytes", r->url, CAPTURE_MAX);
        /* An HTTPS attempt against a plain-HTTP registry: allowed only with --tls-verify=false. */
        if ((rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_RECV_ERROR) && !strcmp(c->scheme, "https") &&
            c->opts.tls_insecure && !c->scheme_fixed && strncmp(path_or_url, "http", 4)) {
            c->scheme = "http";
            c->scheme_fixed = true;
            attempt--;
            continue;
        }
        if (rc == CURLE_OK)
            c->scheme_fixed = true;
        if (rc == CURLE_OK && r->status == 401 && !authed_retry && r->www_auth) {
            struct registry_challenge ch;
            if (registry_challenge_parse(r->www_auth, &ch) < 0)
                return berth_error_set(err, -EACCES, "%s: unparseable WWW-Authenticate '%s'", c->host, r->www_auth);
            int q = 0;
            if (!strcasecmp(ch.scheme, "Bearer")) {
                q = fetch_token(c, &ch, err);
            } else if (!strcasecmp(ch.scheme, "Basic")) {
                if (!c->user)
                    q = berth_error_set(err, -EACCES, "%s: authentication required (run berth login %s)", c->host,
                                        c->host);
                c->basic = true;
            } else {
                q = berth_error_set(err, -EACCES, "%s: unsupported auth scheme '%s'", c->host, ch.scheme);
            }
            registry_challenge_clear(&ch);
            if (q < 0)
                return q;
            authed_retry = true;
            attempt--;
            continue;
        }
        if (rc == CURLE_OK && r->status == 401)
            return berth_error_set(err, -EACCES, "%s: authentication failed%s", c->host,
                                   c->user ? " (wrong user name or password?)" : " (run berth login)");
        if (transient(rc, r->status) && attempt < c->opts.max_attempts && !r->no_retry) {
            backoff(attempt);
            continue;
        }
        if (rc != CURLE_OK)
            return berth_error_set(err, rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE
                                            ? -EPERM : -EIO,
                                   "%s: %s%s", r->url, curl_easy_strerror(rc),
                                   rc == CURLE_PEER_FAILED_VERIFICATION ? " (use --tls-verify=false for a registry "
                                                                          "with a self-signed certificate)"
                                   : rc == CURLE_SSL_CONNECT_ERROR ? " (a plain-HTTP registry needs --tls-verify=false)"
                                                                   : "");
        return 0;
    }
}

/* The first error of a distribution-spec error body, for messages. */
const char *http_error_text(const struct http_req *r, char *buf, size_t size)
{
    snprintf(buf, size, "HTTP %ld", r->status);
    if (!r->out)
        return buf;
    json_t *j = json_loads(r->out, 0, NULL);
    json_t *e = json_array_get(json_object_get(j, "errors"), 0);
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (code)
        snprintf(buf, size, "HTTP %ld %s%s%s", r->status, code, msg ? ": " : "", msg ? msg : "");
    json_decref(j);
    return buf;
}
