/* The daemon, request dispatch, access control, the token endpoint, responses and logging.
 * Endpoint logic lives in server-blobs.c and server-manifests.c. */
#include "registry/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "registry/reference.h"
#include "registry/server-internal.h"

#define CONNECTION_MEMORY (256u * 1024)   /* per connection: request headers + one body chunk */
#define CONNECTION_TIMEOUT 300
#define CONNECTION_LIMIT 1024
#define TOKEN_TTL 300

const char *query(struct MHD_Connection *c, const char *key)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

const char *header(struct MHD_Connection *c, const char *key)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, key);
}

enum MHD_Result respond(struct MHD_Connection *c, struct request *req, unsigned status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Docker-Distribution-API-Version", "registry/2.0");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    req->status = status;
    req->responded = true;
    enum MHD_Result r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

enum MHD_Result respond_empty(struct MHD_Connection *c, struct request *req, unsigned status)
{
    return respond(c, req, status, MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT));
}

enum MHD_Result respond_json(struct MHD_Connection *c, struct request *req, unsigned status, const char *content_type,
                             json_t *body, struct MHD_Response **ret_resp_for_headers)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", content_type ? content_type : "application/json");
    req->resp_size = len;
    if (ret_resp_for_headers) {
        *ret_resp_for_headers = resp;
        return MHD_YES;
    }
    return respond(c, req, status, resp);
}

static void add_challenge(struct registry_server *s, struct MHD_Connection *c, struct request *req,
                          struct MHD_Response *resp)
{
    if (s->cfg.auth == REGISTRY_AUTH_BASIC) {
        MHD_add_response_header(resp, "WWW-Authenticate", "Basic realm=\"berth-registry\"");
        return;
    }
    const char *host = header(c, "Host");
    char value[REGISTRY_PATH_MAX + 512];
    int n = snprintf(value, sizeof(value), "Bearer realm=\"%s://%s/token\",service=\"berth-registry\"",
                     s->tls ? "https" : "http", host && !strpbrk(host, "\"\r\n") ? host : "127.0.0.1");
    if (req->route.name[0] && registry_name_is_valid(req->route.name) && n > 0 && (size_t) n < sizeof(value)) {
        const char *actions = (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD")) ? "pull"
                              : !strcmp(req->method, "DELETE")                               ? "delete"
                                                                                             : "pull,push";
        snprintf(value + n, sizeof(value) - (size_t) n, ",scope=\"repository:%s:%s\"", req->route.name, actions);
    }
    MHD_add_response_header(resp, "WWW-Authenticate", value);
}

enum MHD_Result respond_error(struct registry_server *s, struct MHD_Connection *c, struct request *req,
                              unsigned status, const char *code, const char *message, const char *detail_digest)
{
    _cleanup_json_ json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (!e)
        return MHD_NO;
    if (detail_digest)
        json_object_set_new(e, "detail", json_pack("{s:s}", "digest", detail_digest));
    else
        json_object_set_new(e, "detail", json_object());
    _cleanup_json_ json_t *body = json_pack("{s:[O]}", "errors", e);
    if (!body)
        return MHD_NO;
    struct MHD_Response *resp = NULL;
    if (respond_json(c, req, status, "application/json", body, &resp) != MHD_YES)
        return MHD_NO;
    if (status == MHD_HTTP_UNAUTHORIZED)
        add_challenge(s, c, req, resp);
    return respond(c, req, status, resp);
}

static void server_log(struct registry_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void server_log(struct registry_server *s, const char *fmt, ...)
{
    if (!s->cfg.log)
        return;
    char line[REGISTRY_PATH_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    s->cfg.log(s->cfg.log_userdata, line);
}

static const char *required_action(const struct request *req)
{
    if (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"))
        return "pull";
    if (!strcmp(req->method, "DELETE"))
        return "delete";
    return "push";
}

/* Collects every "scope" query parameter (clients send several for cross-repository mounts). */
struct scope_acc {
    char buf[4096];
    size_t len;
    bool overflow;
};

static enum MHD_Result collect_scope(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct scope_acc *a = cls;
    if (!key || strcmp(key, "scope") || !value)
        return MHD_YES;
    size_t n = strlen(value);
    if (a->len + n + 2 > sizeof(a->buf)) {
        a->overflow = true;
        return MHD_NO;
    }
    if (a->len)
        a->buf[a->len++] = ' ';
    memcpy(a->buf + a->len, value, n);
    a->len += n;
    a->buf[a->len] = '\0';
    return MHD_YES;
}

/* Keeps only the pull actions of scope (for anonymous tokens). */
static void scope_pull_only(char *scope)
{
    char out[4096] = "";
    size_t o = 0;
    char *save = NULL;
    for (char *tok = strtok_r(scope, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *colon = strrchr(tok, ':');
        if (!colon || strncmp(tok, "repository:", 11))
            continue;
        bool pull = false;
        char *asave = NULL;
        for (char *a = strtok_r(colon + 1, ",", &asave); a; a = strtok_r(NULL, ",", &asave))
            if (!strcmp(a, "pull"))
                pull = true;
        if (!pull)
            continue;
        *colon = '\0';
        int n = snprintf(out + o, sizeof(out) - o, "%s%s:pull", o ? " " : "", tok);
        if (n < 0 || (size_t) n >= sizeof(out) - o)
            break;
        o += (size_t) n;
    }
    strcpy(scope, out);
}

static enum MHD_Result token_endpoint(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    if (s->cfg.auth != REGISTRY_AUTH_TOKEN)
        return respond_error(s, c, req, 404, "NOT_FOUND", "this registry does not issue tokens", NULL);
    if (strcmp(req->method, "GET"))
        return respond_error(s, c, req, 405, "UNSUPPORTED", "the token endpoint takes GET", NULL);
    struct scope_acc acc = { .len = 0 };
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_scope, &acc);
    if (acc.overflow)
        return respond_error(s, c, req, 400, "DENIED", "scope too long", NULL);
    const char *auth = header(c, "Authorization");
    _cleanup_free_ char *user = NULL, *pw = NULL;
    if (auth) {
        if (registry_parse_basic(auth, &user, &pw) < 0 || !registry_htpasswd_check(s->users, user, pw)) {
            server_log(s, "token: authentication failed for '%s'", user ? user : "?");
            return respond_error(s, c, req, 401, "UNAUTHORIZED", "authentication failed", NULL);
        }
        snprintf(req->user, sizeof(req->user), "%s", user);
    } else {
        if (!s->cfg.anonymous_pull)
            return respond_error(s, c, req, 401, "UNAUTHORIZED", "authentication required", NULL);
        scope_pull_only(acc.buf);
    }
    _cleanup_free_ char *token = NULL;
    if (registry_token_issue(&s->token_key, user ? user : "", acc.buf, TOKEN_TTL, &token) < 0)
        return respond_error(s, c, req, 500, "UNKNOWN", "cannot issue a token", NULL);
    _cleanup_json_ json_t *body = json_pack("{s:s, s:s, s:i}", "token", token, "access_token", token, "expires_in",
                                            TOKEN_TTL);
    return respond_json(c, req, 200, "application/json", body, NULL);
}

/* Whether the request may proceed; responds 401 itself when not. */
static bool authorize(struct registry_server *s, struct MHD_Connection *c, struct request *req, enum MHD_Result *ret)
{
    const char *action = required_action(req);
    const char *repo = req->route.name[0] ? req->route.name : NULL;
    if (s->cfg.auth == REGISTRY_AUTH_NONE)
        return true;
    const char *auth = header(c, "Authorization");
    bool ok = false;
    if (s->cfg.auth == REGISTRY_AUTH_BASIC && auth) {
        _cleanup_free_ char *user = NULL, *pw = NULL;
        if (registry_parse_basic(auth, &user, &pw) == 0 && registry_htpasswd_check(s->users, user, pw)) {
            ok = true;
            snprintf(req->user, sizeof(req->user), "%s", user);
        }
    } else if (s->cfg.auth == REGISTRY_AUTH_TOKEN && auth && !strncasecmp(auth, "Bearer ", 7)) {
        ok = registry_token_check(&s->token_key, auth + 7, repo, action);
        /* A cross-repository mount also needs pull on the source. */
        const char *from = query(c, "from");
        if (ok && req->route.ep == REG_EP_UPLOAD_START && from && query(c, "mount"))
            ok = registry_token_check(&s->token_key, auth + 7, from, "pull");
        if (ok)
            snprintf(req->user, sizeof(req->user), "token");
    }
    /* GET /v2/ always challenges a client without credentials, even with anonymous pulls:
     * that is how clients learn the auth scheme (and fetch an anonymous token). */
    if (!ok && s->cfg.anonymous_pull && !strcmp(action, "pull") && !auth && repo)
        ok = true;
    if (!ok)
        *ret = respond_error(s, c, req, 401, "UNAUTHORIZED", auth ? "authentication failed" : "authentication required",
                             NULL);
    return ok;
}

static bool method_is(const struct request *req, const char *m)
{
    return !strcmp(req->method, m);
}

/* First call for a request: routing, validation, access control, and body arrangements. */
static enum MHD_Result begin(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    enum MHD_Result ret = MHD_YES;
    struct registry_route *rt = &req->route;
    if (rt->ep == REG_EP_TOKEN)
        return MHD_YES;   /* answered in finish */
    if (rt->ep == REG_EP_INVALID)
        return respond_error(s, c, req, 404, "NOT_FOUND", "no such endpoint", NULL);
    if (rt->name[0] && !registry_name_is_valid(rt->name))
        return respond_error(s, c, req, 400, "NAME_INVALID", "invalid repository name", NULL);
    if (!authorize(s, c, req, &ret))
        return ret;
    bool write = !(method_is(req, "GET") || method_is(req, "HEAD"));
    if (write && s->cfg.read_only)
        return respond_error(s, c, req, 405, "UNSUPPORTED", "the registry is read-only", NULL);
    switch (rt->ep) {
    case REG_EP_MANIFEST:
        if (method_is(req, "PUT"))
            req->body = BODY_MANIFEST;
        return MHD_YES;
    case REG_EP_UPLOAD_START:
    case REG_EP_UPLOAD:
        return upload_begin(s, c, req);
    default:
        return MHD_YES;
    }
}

static enum MHD_Result finish(struct registry_server *s, struct MHD_Connection *c, struct request *req)
{
    struct registry_route *rt = &req->route;
    bool get = method_is(req, "GET"), head = method_is(req, "HEAD");
    switch (rt->ep) {
    case REG_EP_TOKEN:
        return token_endpoint(s, c, req);
    case REG_EP_BASE:
        if (get || head) {
            _cleanup_json_ json_t *o = json_object();
            return respond_json(c, req, 200, "application/json", o, NULL);
        }
        break;
    case REG_EP_CATALOG:
        if (get)
            return catalog_list(s, c, req);
        break;
    case REG_EP_MANIFEST:
        if (get || head)
            return manifest_get(s, c, req, head);
        if (method_is(req, "PUT"))
            return manifest_put_finish(s, c, req);
        if (method_is(req, "DELETE"))
            return manifest_delete(s, c, req);
        break;
    case REG_EP_BLOB:
        if (get || head)
            return blob_get(s, c, req, head);
        if (method_is(req, "DELETE"))
            return blob_delete(s, c, req);
        break;
    case REG_EP_UPLOAD_START:
    case REG_EP_UPLOAD:
        return upload_finish(s, c, req);
    case REG_EP_TAGS:
        if (get)
            return tags_list(s, c, req);
        break;
    case REG_EP_REFERRERS:
        if (get)
            return referrers_list(s, c, req);
        break;
    case REG_EP_INVALID:
        break;
    }
    return respond_error(s, c, req, 405, "UNSUPPORTED", "method not allowed on this endpoint", NULL);
}

static int consume(struct registry_server *s, struct request *req, const char *data, size_t len)
{
    switch (req->body) {
    case BODY_NONE:
    case BODY_DISCARD:
        return 0;
    case BODY_MANIFEST:
        if (req->too_large || req->len + len > REGISTRY_MANIFEST_MAX) {
            req->too_large = true;
            return 0;
        }
        if (ARRAY_RESERVE(req->buf, req->cap, req->len + len + 1, 4096) < 0)
            return -ENOMEM;
        memcpy(req->buf + req->len, data, len);
        req->len += len;
        req->buf[req->len] = '\0';
        return 0;
    case BODY_WRITER:
    case BODY_SESSION:
        return upload_consume(s, req, data, len);
    }
    return 0;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls)
{
    struct registry_server *s = cls;
    struct request *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        *con_cls = req;
        req->method = method;
        snprintf(req->url, sizeof(req->url), "%s", url);
        clock_gettime(CLOCK_MONOTONIC, &req->start);
        registry_route_parse(url, &req->route);
        return begin(s, c, req);
    }
    if (*upload_data_size) {
        if (!req->responded && !req->body_error) {
            int r = consume(s, req, upload_data, *upload_data_size);
            if (r < 0)
                req->body_error = r;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->responded)
        return MHD_YES;
    return finish(s, c, req);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct registry_server *s = cls;
    struct request *req = *con_cls;
    if (!req)
        return;
    bool ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
    upload_request_ended(s, req, ok);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double secs = (double) (now.tv_sec - req->start.tv_sec) + (double) (now.tv_nsec - req->start.tv_nsec) / 1e9;
    char addr[INET6_ADDRSTRLEN] = "?";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        if (ci->client_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *) ci->client_addr)->sin_addr, addr, sizeof(addr));
        else if (ci->client_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) ci->client_addr)->sin6_addr, addr, sizeof(addr));
    }
    server_log(s, "%s %s \"%s %s\" %u in=%llu out=%llu %.3fs%s", addr, req->user[0] ? req->user : "-", req->method,
               req->url, req->status, (unsigned long long) req->received, (unsigned long long) req->resp_size, secs,
               ok ? "" : " (client went away)");
    free(req->buf);
    free(req);
    *con_cls = NULL;
}

__attribute__((format(printf, 2, 0)))
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    struct registry_server *s = cls;
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    if (!__atomic_load_n(&s->started, __ATOMIC_ACQUIRE)) {
        /* A start that fails is reported once, with this reason in it (the first message is the
         * precise one; the library follows it with a generic one). */
        if (!s->start_error[0])
            snprintf(s->start_error, sizeof(s->start_error), "%.*s", (int) sizeof(s->start_error) - 1, line);
        return;
    }
    if (!s->cfg.log)
        return;
    /* Bytes that do not parse as HTTP are answered with an error status (400, or 505 when the
     * third word of the "request line" is not an HTTP version) by the library, which logs its HTML
     * error page. Clients told not to verify TLS (skopeo, podman, containerd) try TLS first on a
     * plain listener and then fall back to http://, so this comes with every such pull: say so. */
    unsigned code;
    if (sscanf(line, "Error processing request (HTTP response code is %u", &code) == 1) {
        char msg[256];
        snprintf(msg, sizeof(msg), "refused a request that is not valid HTTP with %u (a client trying TLS on this "
                 "plain-HTTP listener looks like this: skopeo and podman do before they fall back to http://)", code);
        s->cfg.log(s->cfg.log_userdata, msg);
        return;
    }
    s->cfg.log(s->cfg.log_userdata, line);
}

static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len, struct berth_error *err)
{
    char host[256];
    const char *port_s;
    memset(ss, 0, sizeof(*ss));
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':' || (size_t) (close - addr - 1) >= sizeof(host))
            return berth_error_set(err, -EINVAL, "--addr '%s': expected [IPv6]:PORT", addr);
        memcpy(host, addr + 1, (size_t) (close - addr - 1));
        host[close - addr - 1] = '\0';
        port_s = close + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon || (size_t) (colon - addr) >= sizeof(host))
            return berth_error_set(err, -EINVAL, "--addr '%s': expected HOST:PORT", addr);
        memcpy(host, addr, (size_t) (colon - addr));
        host[colon - addr] = '\0';
        port_s = colon + 1;
    }
    uint64_t port;
    if (!registry_parse_u64(port_s, &port) || port > 65535)
        return berth_error_set(err, -EINVAL, "--addr '%s': '%s' is not a port number", addr, port_s);
    struct sockaddr_in *v4 = (struct sockaddr_in *) ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) ss;
    if (!host[0] || !strcmp(host, "0.0.0.0")) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        v4->sin_port = htons((uint16_t) port);
        *len = sizeof(*v4);
    } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t) port);
        *len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t) port);
        *len = sizeof(*v6);
    } else if (!strcmp(host, "localhost")) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        v4->sin_port = htons((uint16_t) port);
        *len = sizeof(*v4);
    } else {
        return berth_error_set(err, -EINVAL, "--addr '%s': '%s' is not an IP address", addr, host);
    }
    return 0;
}

/* The listening socket is made here rather than by libmicrohttpd, so that an address in use or not
 * ours is one message with its reason (the library only logs "Failed to bind to port 0", whatever
 * the port, and then fails without saying why). */
static int listen_on(const struct sockaddr_storage *ss, socklen_t len, const char *addr, uint16_t *ret_port,
                     struct berth_error *err)
{
    _cleanup_close_ int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return berth_error_errno(err, -errno, "cannot listen on %s: socket", addr);
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (ss->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0))
        return berth_error_errno(err, -errno, "cannot listen on %s: setsockopt", addr);
    if (bind(fd, (const struct sockaddr *) ss, len) < 0 || listen(fd, SOMAXCONN) < 0)
        return berth_error_errno(err, -errno, "cannot listen on %s", addr);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    if (getsockname(fd, (struct sockaddr *) &bound, &blen) < 0)
        return berth_error_errno(err, -errno, "cannot listen on %s: getsockname", addr);
    *ret_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &bound)->sin6_port
                                                  : ((struct sockaddr_in *) &bound)->sin_port);
    return TAKE_FD(fd);
}

int registry_server_start(const struct registry_server_config *cfg, struct registry_server **ret,
                          struct berth_error *err)
{
    const char *addr = cfg->addr ? cfg->addr : "127.0.0.1:5000";
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int r = parse_addr(addr, &ss, &sslen, err);
    if (r < 0)
        return r;
    if (!!cfg->tls_cert != !!cfg->tls_key)
        return berth_error_set(err, -EINVAL, "--tls-cert and --tls-key go together");
    if (cfg->auth != REGISTRY_AUTH_NONE && !cfg->htpasswd)
        return berth_error_set(err, -EINVAL, "--auth needs an htpasswd file");
    struct registry_server *s = calloc(1, sizeof(*s));
    if (!s)
        return berth_error_set(err, -ENOMEM, "out of memory");
    s->cfg = *cfg;
    pthread_mutex_init(&s->sessions_lock, NULL);
    if (cfg->tls_cert) {
        s->tls = true;
        if ((r = fs_read_file(cfg->tls_cert, 1 << 20, &s->cert_pem, NULL, err)) < 0 ||
            (r = fs_read_file(cfg->tls_key, 1 << 20, &s->key_pem, NULL, err)) < 0)
            goto fail;
    }
    if (cfg->auth != REGISTRY_AUTH_NONE && (r = registry_htpasswd_load(cfg->htpasswd, &s->users, err)) < 0)
        goto fail;
    if (registry_token_key_init(&s->token_key) < 0) {
        r = berth_error_set(err, -EIO, "cannot generate a token signing key");
        goto fail;
    }
    if ((r = registry_storage_open(cfg->root, &s->storage, err)) < 0)
        goto fail;
    sessions_expire_stored(s);
    s->stored_swept = time(NULL);
    int lfd = listen_on(&ss, sslen, addr, &s->port, err);
    if (lfd < 0) {
        r = lfd;
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (s->tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        { MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert_pem },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, s->key_pem },
        { MHD_OPTION_END, 0, NULL },
    };
    struct MHD_OptionItem no_opts[] = { { MHD_OPTION_END, 0, NULL } };
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handler, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
                                 MHD_OPTION_LISTEN_SOCKET, lfd,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) CONNECTION_TIMEOUT,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned) CONNECTION_LIMIT,
                                 MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                                 MHD_OPTION_ARRAY, s->tls ? tls_opts : no_opts,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        /* The socket is ours until the daemon exists, and the address was free: what is left is TLS. */
        close(lfd);
        r = s->tls ? berth_error_set(err, -EINVAL, "cannot serve HTTPS on %s with %s and %s: %s", addr, cfg->tls_cert,
                                     cfg->tls_key, s->start_error[0] ? s->start_error : "unusable key or certificate")
                   : berth_error_set(err, -EIO, "cannot serve on %s: %s", addr,
                                     s->start_error[0] ? s->start_error : "the HTTP server did not start");
        goto fail;
    }
    __atomic_store_n(&s->started, true, __ATOMIC_RELEASE);
    *ret = s;
    return 0;
fail:
    registry_server_stop(s);
    return r;
}

uint16_t registry_server_port(const struct registry_server *s)
{
    return s->port;
}

void registry_server_stop(struct registry_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    sessions_close_all(s);
    registry_storage_free(s->storage);
    registry_htpasswd_free(s->users);
    free(s->cert_pem);
    free(s->key_pem);
    pthread_mutex_destroy(&s->sessions_lock);
    free(s);
}
